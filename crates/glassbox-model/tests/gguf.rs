//! GGUF against llama.cpp's own Python package (`tests/fixtures/gguf/reference.gguf`, written by
//! `make_gguf_fixture.py` beside it): its metadata read back, its quantized blocks reproduced
//! byte for byte from the source tensor, its dequantization equal bit for bit, the file itself
//! rewritten byte for byte; and malformed files refused naming the key or tensor.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use glassbox_model::gguf::quant::{dequantize, quantize};
use glassbox_model::gguf::{GgufFile, GgufWriter, TensorType, Value};

fn reference() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gguf/reference.gguf")
}

#[test]
fn metadata_of_every_type_reads_as_written() {
    let f = GgufFile::open(&reference()).unwrap();
    assert_eq!(f.version, 3);
    assert_eq!(f.alignment, 32);
    let get = |k: &str| f.get(k).unwrap().clone();
    assert_eq!(get("general.architecture"), Value::String("llama".into()));
    assert_eq!(get("test.u8"), Value::U8(7));
    assert_eq!(get("test.i8"), Value::I8(-7));
    assert_eq!(get("test.u16"), Value::U16(65535));
    assert_eq!(get("test.i16"), Value::I16(-300));
    assert_eq!(get("test.u32"), Value::U32(4_000_000_000));
    assert_eq!(get("test.i32"), Value::I32(-2_000_000_000));
    assert_eq!(get("test.f32"), Value::F32(1.5));
    assert_eq!(get("test.bool"), Value::Bool(true));
    assert_eq!(get("test.string"), Value::String("héllo wörld".into()));
    assert_eq!(get("test.u64"), Value::U64((1 << 63) + 5));
    assert_eq!(get("test.i64"), Value::I64(-(1 << 40)));
    assert_eq!(get("test.f64"), Value::F64(0.1));
    assert_eq!(
        get("test.strings"),
        Value::Array(vec![
            Value::String("a".into()),
            Value::String("bc".into()),
            Value::String(String::new())
        ])
    );
    assert_eq!(
        get("test.ints"),
        Value::Array(vec![Value::I32(1), Value::I32(-2), Value::I32(3)])
    );
    let src = f.tensor("src").unwrap();
    assert_eq!(src.dims, vec![64, 3]);
    assert_eq!(f.tensor("src.q4_0").unwrap().ty, TensorType::Q4_0);
}

#[test]
fn quantization_and_dequantization_equal_ggml_reference_bit_for_bit() {
    let f = GgufFile::open(&reference()).unwrap();
    let src = f.tensor_f32("src").unwrap();
    assert_eq!(src.len(), 192);
    for (name, ty) in [
        ("src.f16", TensorType::F16),
        ("src.bf16", TensorType::BF16),
        ("src.q8_0", TensorType::Q8_0),
        ("src.q4_0", TensorType::Q4_0),
        ("src.q4_1", TensorType::Q4_1),
        ("src.q5_0", TensorType::Q5_0),
        ("src.q5_1", TensorType::Q5_1),
    ] {
        let theirs = f.tensor_bytes(name).unwrap();
        assert_eq!(quantize(ty, &src).unwrap(), theirs, "{name}: our blocks");
        if let Some(deq) = name.strip_prefix("src.").map(|q| format!("deq.{q}"))
            && f.tensor(&deq).is_some()
        {
            let want = f.tensor_f32(&deq).unwrap();
            let got = dequantize(ty, &theirs).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{name}: dequantized");
        }
    }
}

/// Random blocks of llama.cpp's Q4_1, Q5_0, Q5_1 and k-quants dequantized bit for bit as
/// `gguf.quants` dequantizes them (their quantization: `tests/kquant.rs` and the test above).
#[test]
fn quantized_block_types_dequantize_as_ggml_does() {
    let f = GgufFile::open(&reference()).unwrap();
    for (name, ty) in [
        ("q4_1", TensorType::Q4_1),
        ("q5_0", TensorType::Q5_0),
        ("q5_1", TensorType::Q5_1),
        ("q4_k", TensorType::Q4_K),
        ("q5_k", TensorType::Q5_K),
        ("q6_k", TensorType::Q6_K),
    ] {
        let raw = f.tensor(&format!("raw.{name}")).unwrap();
        assert_eq!((raw.ty, raw.dims.clone()), (ty, vec![512, 2]), "{name}");
        let got = f.tensor_f32(&format!("raw.{name}")).unwrap();
        let want = f.tensor_f32(&format!("deq.raw.{name}")).unwrap();
        assert_eq!(got.len(), 1024);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{name}");
        let blocks = 1024 / ty.block_len();
        assert_eq!(
            quantize(ty, &got).unwrap().len(),
            blocks * ty.block_bytes(),
            "{name}"
        );
    }
}

#[test]
fn the_writer_reproduces_the_reference_file_byte_for_byte() {
    let f = GgufFile::open(&reference()).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in &f.metadata {
        w.set(k, v.clone());
    }
    for t in &f.tensors {
        w.add_tensor(
            &t.name,
            t.dims.clone(),
            t.ty,
            f.tensor_bytes(&t.name).unwrap(),
        )
        .unwrap();
    }
    assert_eq!(w.to_bytes(), std::fs::read(reference()).unwrap());
}

/// A small file: one array entry and one Q8_0 tensor, and where its fields are.
fn small() -> (Vec<u8>, usize, usize) {
    let mut w = GgufWriter::new();
    w.set(
        "tokenizer.ggml.tokens",
        Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
    );
    w.add_tensor(
        "blk.0.attn_q.weight",
        vec![32, 2],
        TensorType::Q8_0,
        quantize(TensorType::Q8_0, &[0.5; 64]).unwrap(),
    )
    .unwrap();
    let b = w.to_bytes();
    let find = |pat: &[u8]| b.windows(pat.len()).position(|x| x == pat).unwrap();
    // The array's element count follows its key, type (9) and element type (8).
    let count_at = find(b"tokenizer.ggml.tokens") + 21 + 4 + 4;
    // The tensor's type code follows its name, dimension count and two dimensions.
    let type_at = find(b"blk.0.attn_q.weight") + 19 + 4 + 16;
    (b, count_at, type_at)
}

fn err(bytes: &[u8]) -> String {
    GgufFile::from_bytes(bytes, "bad.gguf".as_ref())
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_files_are_refused_naming_the_key_or_tensor() {
    let (good, count_at, type_at) = small();
    let f = GgufFile::from_bytes(&good, "good.gguf".as_ref()).unwrap();
    assert_eq!(f.tensors.len(), 1);
    // Truncated anywhere: an error, never a panic.
    for cut in [0, 3, 10, 30, count_at + 3, type_at, good.len() - 40] {
        let e = err(&good[..cut]);
        assert!(
            e.contains("bad.gguf") && e.contains("invalid GGUF"),
            "{cut}: {e}"
        );
    }
    assert!(err(&good[..good.len() - 40]).contains("blk.0.attn_q.weight"));
    // Not GGUF.
    assert!(err(b"GGUFxxxx").contains("version") || err(b"GGUFxxxx").contains("bytes"));
    assert!(err(b"PK\x03\x04aaaaaaaaaaaaaaaaaaaaaaaa").contains("magic"));
    // An array longer than the file.
    let mut b = good.clone();
    b[count_at..count_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = err(&b);
    assert!(
        e.contains("tokenizer.ggml.tokens") && e.contains("longer than"),
        "{e}"
    );
    // An unknown tensor type.
    let mut b = good.clone();
    b[type_at..type_at + 4].copy_from_slice(&99u32.to_le_bytes());
    let e = err(&b);
    assert!(
        e.contains("blk.0.attn_q.weight") && e.contains("type 99"),
        "{e}"
    );
    // A data offset outside the file.
    let mut b = good.clone();
    b[type_at + 4..type_at + 12].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = err(&b);
    assert!(
        e.contains("blk.0.attn_q.weight") && e.contains("outside"),
        "{e}"
    );
    // A misaligned offset.
    let mut b = good;
    b[type_at + 4..type_at + 12].copy_from_slice(&3u64.to_le_bytes());
    assert!(err(&b).contains("alignment"));
}

fn llama(tied: bool) -> glassbox_model::Transformer {
    let cfg = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 96,
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "hidden_act": "silu", "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": tied, "attention_bias": false,
        "mlp_bias": false,
    });
    let cfg = glassbox_model::ModelConfig::from_value(&cfg, "config.json".as_ref()).unwrap();
    glassbox_model::Transformer::random(cfg, 7, &candle_core::Device::Cpu).unwrap()
}

fn logits(m: &glassbox_model::Transformer) -> Vec<f32> {
    let ids =
        candle_core::Tensor::new(&[[1u32, 5, 9, 33, 2, 70, 4]], &candle_core::Device::Cpu).unwrap();
    m.forward(&ids, &[], None, glassbox_model::Logits::All)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// A Llama exported to GGUF f32 and read back is the same model bit for bit (the q/k row
/// permutation undone); Q8_0 and Q4_0 copies give logits near the original's.
#[test]
fn a_llama_survives_the_trip_through_gguf() {
    use glassbox_model::gguf::llama::{Provenance, load_transformer, to_gguf};
    let tmp = tempfile::tempdir().unwrap();
    for tied in [false, true] {
        let m = llama(tied);
        let prov = Provenance {
            name: "t".into(),
            license: Some("apache-2.0".into()),
            source_sha256: Some("ab".repeat(32)),
            glassbox_version: String::new(),
        };
        let want = logits(&m);
        for (ty, tol) in [
            (TensorType::F32, 0.0),
            (TensorType::F16, 2e-3),
            (TensorType::Q8_0, 2e-2),
            (TensorType::Q4_0, 0.3),
            (TensorType::Q5_1, 0.15),
        ] {
            let p = tmp.path().join(format!("m-{tied}-{}.gguf", ty.name()));
            to_gguf(&m, ty, &prov).unwrap().write(&p).unwrap();
            let f = GgufFile::open(&p).unwrap();
            assert_eq!(f.get("llama.block_count"), Some(&Value::U32(2)));
            assert_eq!(
                f.get("general.license"),
                Some(&Value::String("apache-2.0".into()))
            );
            assert_eq!(f.tensor("output.weight").is_none(), tied);
            assert_eq!(
                f.tensor("blk.1.attn_norm.weight").unwrap().ty,
                TensorType::F32
            );
            assert_eq!(f.tensor("blk.0.attn_q.weight").unwrap().dims, vec![64, 64]);
            assert_eq!(f.tensor("blk.0.attn_k.weight").unwrap().ty, ty);
            let back = load_transformer(&f, &candle_core::Device::Cpu).unwrap();
            if ty == TensorType::F32 {
                for ((a, x), (b, y)) in m.named_tensors().iter().zip(back.named_tensors()) {
                    assert_eq!(a, &b);
                    let (x, y): (Vec<f32>, Vec<f32>) = (
                        x.flatten_all().unwrap().to_vec1().unwrap(),
                        y.flatten_all().unwrap().to_vec1().unwrap(),
                    );
                    assert_eq!(x, y, "{a}");
                }
            }
            let got = logits(&back);
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
            let diff = want
                .iter()
                .zip(&got)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                diff <= tol * scale,
                "{tied} {}: logits differ by {diff}",
                ty.name()
            );
        }
    }
    // The q/k permutation changes the stored rows (it is not the identity here).
    let m = llama(false);
    let f32_file = tmp.path().join("m-false-f32.gguf");
    let f = GgufFile::open(&f32_file).unwrap();
    let stored = f.tensor_f32("blk.0.attn_q.weight").unwrap();
    let q = m
        .named_tensors()
        .into_iter()
        .find(|(n, _)| n == "model.layers.0.self_attn.q_proj.weight")
        .unwrap()
        .1;
    let hf: Vec<f32> = q.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(stored.len(), hf.len());
    assert_ne!(stored, hf);
}
