use super::*;

const TYPES: [TensorType; 8] = [
    TensorType::Q8_0,
    TensorType::Q4_0,
    TensorType::Q4_1,
    TensorType::Q5_0,
    TensorType::Q5_1,
    TensorType::Q4_K,
    TensorType::Q5_K,
    TensorType::Q6_K,
];

/// Offsets of the f16 fields of a block (scales and minima), which random bytes could make
/// infinite or NaN.
fn f16_fields(ty: TensorType) -> &'static [usize] {
    match ty {
        TensorType::Q8_0 | TensorType::Q4_0 | TensorType::Q5_0 => &[0],
        TensorType::Q4_1 | TensorType::Q5_1 | TensorType::Q4_K | TensorType::Q5_K => &[0, 2],
        _ => &[208],
    }
}

/// A `rows × cols` matrix of random blocks: every bit pattern of the quantized values, scales
/// and minima drawn in ±[0.001, 0.1].
fn random_matrix(ty: TensorType, rows: usize, cols: usize, seed: u64) -> QMatrix {
    let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
    let n = rows * cols / ty.block_len() * ty.block_bytes();
    let mut data: Vec<u8> = (0..n).map(|_| (rng.next_u64() >> 24) as u8).collect();
    for blk in data.chunks_exact_mut(ty.block_bytes()) {
        for &at in f16_fields(ty) {
            let sign = if rng.next_f64() < 0.5 { -1.0 } else { 1.0 };
            let v = sign * (0.001 + 0.099 * rng.next_f64());
            blk[at..at + 2].copy_from_slice(&half::f16::from_f64(v).to_le_bytes());
        }
    }
    QMatrix::new(ty, rows, cols, data).unwrap()
}

fn random_x(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (rng.next_f64() * 4.0 - 2.0) as f32)
        .collect()
}

/// The activations as the kernels see them, back in f32 (`q · d` per block).
fn dequantized_activations(a: &Activations, j: usize) -> Vec<f64> {
    let r = a.row(j);
    let block = r.q.len() / r.d.len();
    r.q.iter()
        .enumerate()
        .map(|(i, &q)| q as f64 * r.d[i / block] as f64)
        .collect()
}

#[test]
fn every_kernel_equals_the_dequantized_product() {
    for ty in TYPES {
        let (rows, cols) = (5, 512);
        let w = random_matrix(ty, rows, cols, 7);
        let wf = w.dequantize();
        let x = random_x(2 * cols, 11);
        let act = Activations::quantize(ty, &x, 2, cols);
        let kernels = all_kernels(ty);
        assert_eq!(kernels[0] as usize, portable_kernel(ty) as usize);
        assert!(kernels.iter().any(|k| *k as usize == kernel(ty) as usize));
        for (name, dot) in kernels.into_iter().enumerate() {
            for j in 0..2 {
                let xf = dequantized_activations(&act, j);
                for r in 0..rows {
                    let want: f64 = wf[r * cols..(r + 1) * cols]
                        .iter()
                        .zip(&xf)
                        .map(|(&a, &b)| a as f64 * b)
                        .sum();
                    let got = dot(
                        &w.data()[r * w.row_bytes()..(r + 1) * w.row_bytes()],
                        &act.row(j),
                    );
                    let scale: f64 = wf[r * cols..(r + 1) * cols]
                        .iter()
                        .zip(&xf)
                        .map(|(&a, &b)| (a as f64 * b).abs())
                        .sum();
                    assert!(
                        (got as f64 - want).abs() <= 1e-5 * scale,
                        "{} kernel {name} row {r}: {got} vs {want}",
                        ty.name()
                    );
                }
            }
        }
    }
}

#[test]
fn activation_quantization_follows_ggml() {
    // Q8_0: d = max|x| / 127 rounded to f16, q = x · 127 / max|x| rounded, ties to even.
    let mut x = vec![0.0f32; 32];
    x[0] = -1.27;
    x[1] = 0.005;
    x[2] = 0.025;
    let a = Activations::quantize(TensorType::Q8_0, &x, 1, 32);
    let r = a.row(0);
    assert_eq!(r.d[0], half::f16::from_f32(0.01).to_f32());
    assert_eq!(&r.q[..3], &[-127, 0, 2]); // 0.5 and 2.5: ties to even
    assert_eq!(r.sums[0], -125);
    // Q8_K: the value of largest magnitude maps to -127, the scale carries the sign.
    let mut x = vec![0.25f32; 256];
    x[3] = 2.0;
    let a = Activations::quantize(TensorType::Q6_K, &x, 1, 256);
    let r = a.row(0);
    assert_eq!(r.q[3], -127);
    assert!(r.d[0] < 0.0);
    assert_eq!(r.q[0], -16); // 0.25 · -63.5 = -15.875
    assert_eq!(r.sums[0], -127 + 15 * -16);
    // All zeros: zero scale, zero values.
    let a = Activations::quantize(TensorType::Q4_K, &[0.0; 256], 1, 256);
    assert_eq!(a.row(0).d[0], 0.0);
    assert!(a.row(0).q.iter().all(|&q| q == 0));
}

#[test]
fn products_are_the_same_for_one_row_or_many() {
    // Six rows: the four-row kernels for the first four, the one-row kernel for the rest.
    for ty in TYPES {
        let (rows, cols, m) = (70, 256, 6);
        let w = random_matrix(ty, rows, cols, 3);
        let x = random_x(m * cols, 5);
        let all = w.matmul_t(&x, m);
        for j in 0..m {
            let one = w.matmul_t(&x[j * cols..(j + 1) * cols], 1);
            assert_eq!(
                &all[j * rows..(j + 1) * rows],
                one.as_slice(),
                "{}",
                ty.name()
            );
        }
    }
}

#[test]
fn the_tensor_op_and_row_helpers() {
    let w = random_matrix(TensorType::Q8_0, 4, 64, 1);
    let w = std::sync::Arc::new(w);
    let x = random_x(2 * 64, 2);
    let t = Tensor::from_vec(x.clone(), (2, 64), &candle_core::Device::Cpu).unwrap();
    let y: Vec<f32> = w
        .matmul_t_tensor(&t)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(y, w.matmul_t(&x, 2));
    let full = w.dequantize();
    assert_eq!(
        w.rows_f32(&[2, 0]),
        [&full[128..192], &full[0..64]].concat()
    );
    let swapped = w.with_rows(&[3, 2, 1, 0]).unwrap();
    assert_eq!(swapped.rows_f32(&[0]), full[192..256].to_vec());
    assert!(w.with_rows(&[4]).is_err());
    assert!(QMatrix::new(TensorType::Q8_0, 2, 48, vec![0; 2 * 51]).is_err());
    assert!(QMatrix::new(TensorType::Q8_0, 2, 64, vec![0; 5]).is_err());
    assert!(QMatrix::new(TensorType::F32, 2, 64, vec![0; 512]).is_err());
}

#[test]
fn quantized_products_track_the_f32_product() {
    // Q8_0 weights from real values: the product with 8-bit activations stays within 1% of the
    // f32 product of the original matrices.
    let (rows, cols) = (16, 256);
    let wf = random_x(rows * cols, 9);
    let x = random_x(cols, 10);
    let w = QMatrix::quantize(TensorType::Q8_0, rows, cols, &wf).unwrap();
    let y = w.matmul_t(&x, 1);
    for r in 0..rows {
        let exact: f32 = wf[r * cols..(r + 1) * cols]
            .iter()
            .zip(&x)
            .map(|(a, b)| a * b)
            .sum();
        let norm: f32 = wf[r * cols..(r + 1) * cols]
            .iter()
            .zip(&x)
            .map(|(a, b)| (a * b).abs())
            .sum();
        assert!((y[r] - exact).abs() < 0.01 * norm, "{} vs {exact}", y[r]);
    }
}

#[test]
fn several_matrices_in_one_pass_give_each_ones_bits() {
    let (cols, m) = (256, 5);
    let x = random_x(m * cols, 21);
    for ty in TYPES {
        let a = random_matrix(ty, 40, cols, 1);
        let b = random_matrix(ty, 8, cols, 2);
        let c = random_matrix(ty, 33, cols, 3);
        let many = matmul_t_many(&[&a, &b, &c], &x, m);
        assert_eq!(
            many,
            vec![a.matmul_t(&x, m), b.matmul_t(&x, m), c.matmul_t(&x, m)]
        );
    }
    // Mixed types are computed one by one.
    let a = random_matrix(TensorType::Q8_0, 4, cols, 1);
    let b = random_matrix(TensorType::Q4_0, 4, cols, 2);
    assert_eq!(
        matmul_t_many(&[&a, &b], &x, m),
        vec![a.matmul_t(&x, m), b.matmul_t(&x, m)]
    );
}

#[test]
fn activation_rounding_is_round_ties_even_in_its_range() {
    let mut rng = glassbox_core::rng::Rng::seed_from_u64(7);
    let mut xs: Vec<f32> = vec![
        0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -127.5, 127.0,
    ];
    xs.extend(
        (0..100_000).map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 260.0),
    );
    // Every representable value near the ties, on both sides.
    for k in -128i32..=128 {
        let t = k as f32 + 0.5;
        xs.extend([t, t.next_up(), t.next_down()]);
    }
    for x in xs {
        // Equal as numbers (a negative value rounding to zero gives +0 here, −0 there: both
        // quantize to 0).
        assert_eq!(round_small(x), x.round_ties_even(), "{x}");
        assert_eq!(round_small(x) as i8, x.round_ties_even() as i8, "{x}");
    }
    assert_eq!(round_small(f32::INFINITY), f32::INFINITY);
    assert_eq!(round_small(f32::NEG_INFINITY), f32::NEG_INFINITY);
    assert!(round_small(f32::NAN).is_nan());
}

#[test]
fn the_simd_variants_of_a_type_give_the_same_bits() {
    // On a CPU with AVX-VNNI: the unsigned-weights-and-bias kernels against the sign-flip
    // ones (random bytes include Q8_0's −128).
    for ty in [TensorType::Q8_0, TensorType::Q4_0, TensorType::Q5_0] {
        let (rows, cols) = (9, 640);
        let w = random_matrix(ty, rows, cols, 3);
        let x = random_x(3 * cols, 5);
        let act = Activations::quantize(ty, &x, 3, cols);
        let simd = &all_kernels(ty)[1..];
        for r in 0..rows {
            let wr = &w.data()[r * w.row_bytes()..(r + 1) * w.row_bytes()];
            for j in 0..3 {
                let bits: Vec<u32> = simd.iter().map(|k| k(wr, &act.row(j)).to_bits()).collect();
                assert!(
                    bits.windows(2).all(|p| p[0] == p[1]),
                    "{} row {r}: {bits:?}",
                    ty.name()
                );
            }
        }
    }
}
