//! Each fused kernel against the composed ops it replaces.

use super::*;
use candle_core::{D, Var};
use candle_core::{Device, Tensor};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..n)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn max_rel(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-30);
    a.iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// The value and the gradients (for `vars`) of `f` with the fused and the composed path,
/// backpropagating `Σ f · r` for a fixed random `r`.
fn compare(
    vars: &[Var],
    fused: impl Fn(&[Tensor]) -> Tensor,
    composed: impl Fn(&[Tensor]) -> Tensor,
    tol: f32,
) {
    let xs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let (a, b) = (fused(&xs), composed(&xs));
    assert_eq!(a.dims(), b.dims());
    assert!(max_rel(&a, &b) <= tol, "values: {}", max_rel(&a, &b));
    let r = rand(a.dims(), 99);
    let ga = (a * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gb = (b * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for (i, v) in vars.iter().enumerate() {
        let (x, y) = (ga.get(v).unwrap(), gb.get(v).unwrap());
        assert!(max_rel(x, y) <= tol, "gradient {i}: {}", max_rel(x, y));
    }
}

#[test]
fn cross_entropy_and_its_gradient_equal_the_composed_ops() {
    let logits = Var::from_tensor(&(rand(&[37, 300], 1) * 3.0).unwrap()).unwrap();
    let targets: Vec<u32> = (0..37).map(|i| (i * 53 % 300) as u32).collect();
    let weights: Vec<f32> = (0..37).map(|i| (i % 3) as f32 * 0.5).collect();
    for w in [None, Some(weights.as_slice())] {
        let t = Tensor::new(targets.as_slice(), &Device::Cpu).unwrap();
        compare(
            std::slice::from_ref(&logits),
            |x| cross_entropy(&x[0], &targets, w, 1.0 / 37.0).unwrap(),
            |x| {
                let logp = candle_nn::ops::log_softmax(&x[0], 1).unwrap();
                let picked = logp.gather(&t.unsqueeze(1).unwrap(), 1).unwrap();
                let picked = picked.squeeze(1).unwrap();
                let picked = match w {
                    Some(w) => (picked * Tensor::new(w, &Device::Cpu).unwrap()).unwrap(),
                    None => picked,
                };
                (picked.sum_all().unwrap() * (-1.0 / 37.0)).unwrap()
            },
            2e-6,
        );
    }
    let e = cross_entropy(logits.as_tensor(), &[300; 37], None, 1.0).unwrap_err();
    assert!(e.to_string().contains("target 300"), "{e}");
}

#[test]
fn masked_softmax_and_its_gradient_equal_the_composed_ops() {
    let scores = Var::from_tensor(&rand(&[2, 3, 5, 7], 2)).unwrap();
    // A causal mask with an offset of 2 and a padded first key in batch 1.
    let mut m = vec![0f32; 2 * 5 * 7];
    for b in 0..2 {
        for q in 0..5 {
            for k in 0..7 {
                if k > q + 2 || (b == 1 && k == 0) {
                    m[(b * 5 + q) * 7 + k] = f32::NEG_INFINITY;
                }
            }
        }
    }
    let mask = Tensor::from_vec(m, (2, 1, 5, 7), &Device::Cpu).unwrap();
    for mask in [Some(&mask), None] {
        compare(
            std::slice::from_ref(&scores),
            |x| masked_softmax(&x[0], mask, 0.37).unwrap(),
            |x| {
                let s = (&x[0] * 0.37).unwrap();
                let s = match mask {
                    Some(m) => s.broadcast_add(m).unwrap(),
                    None => s,
                };
                candle_nn::ops::softmax(&s, D::Minus1).unwrap()
            },
            2e-6,
        );
    }
}

#[test]
fn rms_norm_and_its_gradients_equal_the_composed_ops() {
    let x = Var::from_tensor(&rand(&[2, 9, 24], 3)).unwrap();
    let w = Var::from_tensor(&(rand(&[24], 4) + 1.0).unwrap()).unwrap();
    compare(
        &[x, w],
        |v| rms_norm(&v[0], &v[1], 1e-5).unwrap(),
        |v| {
            let ms = v[0].sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
            let d = (ms + 1e-5).unwrap().sqrt().unwrap();
            v[0].broadcast_div(&d)
                .unwrap()
                .broadcast_mul(&v[1])
                .unwrap()
        },
        2e-6,
    );
}

#[test]
fn rope_and_its_gradient_equal_the_composed_ops() {
    let x = Var::from_tensor(&rand(&[2, 3, 5, 8], 9)).unwrap();
    let cos = rand(&[2, 5, 4], 10);
    let sin = rand(&[2, 5, 4], 11);
    compare(
        std::slice::from_ref(&x),
        |v| rope(&v[0], &cos, &sin).unwrap(),
        |v| {
            let c = Tensor::cat(&[&cos, &cos], D::Minus1).unwrap();
            let s = Tensor::cat(&[&sin, &sin], D::Minus1).unwrap();
            let (c, s) = (c.unsqueeze(1).unwrap(), s.unsqueeze(1).unwrap());
            let x1 = v[0].narrow(D::Minus1, 0, 4).unwrap();
            let x2 = v[0].narrow(D::Minus1, 4, 4).unwrap();
            let rot = Tensor::cat(&[&x2.neg().unwrap(), &x1], D::Minus1).unwrap();
            (v[0].broadcast_mul(&c).unwrap() + rot.broadcast_mul(&s).unwrap()).unwrap()
        },
        0.0,
    );
}

#[test]
fn swiglu_and_its_gradients_equal_the_composed_ops() {
    let g = Var::from_tensor(&(rand(&[3, 5000], 5) * 4.0).unwrap()).unwrap();
    let u = Var::from_tensor(&rand(&[3, 5000], 6)).unwrap();
    compare(
        &[g, u],
        |v| swiglu(&v[0], &v[1]).unwrap(),
        |v| (v[0].silu().unwrap() * &v[1]).unwrap(),
        2e-6,
    );
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let x = rand(&[64, 40], 7);
    let w = rand(&[40], 8);
    let targets: Vec<u32> = (0..64).map(|i| i as u32 % 40).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let xv = Var::from_tensor(&x).unwrap();
            let wv = Var::from_tensor(&w).unwrap();
            let y = rms_norm(xv.as_tensor(), wv.as_tensor(), 1e-6).unwrap();
            let loss = cross_entropy(&y, &targets, None, 1.0 / 64.0).unwrap();
            let g = loss.backward().unwrap();
            let bits = |t: &Tensor| -> Vec<u32> {
                t.flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            (
                bits(&loss.reshape(1).unwrap()),
                bits(g.get(&xv).unwrap()),
                bits(g.get(&wv).unwrap()),
            )
        })
    };
    assert_eq!(run(1), run(3));
}
