//! Tests of `config.json` resolution.
use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<ModelConfig> {
    ModelConfig::from_value(&v, Path::new("config.json"))
}

fn base() -> Value {
    json!({
        "architectures": ["LlamaForCausalLM"], "vocab_size": 100, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        "tie_word_embeddings": true, "eos_token_id": [1, 2], "torch_dtype": "bfloat16"
    })
}

#[test]
fn v4_and_v5_configs_resolve_the_same() {
    let v4 = parse(base()).unwrap();
    let mut v5 = base();
    let o = v5.as_object_mut().unwrap();
    o.remove("rope_theta");
    let mut rp = o.remove("rope_scaling").unwrap();
    rp["rope_theta"] = json!(500000.0);
    o.insert("rope_parameters".into(), rp);
    let dt = o.remove("torch_dtype").unwrap();
    o.insert("dtype".into(), dt);
    assert_eq!(parse(v5).unwrap(), v4);
    assert_eq!(v4.head_dim, 16);
    assert_eq!(v4.eos_token_ids, vec![1, 2]);
    assert!(matches!(v4.rope_scaling, RopeScaling::Llama3 { .. }));
}

#[test]
fn roundtrip_through_hf_json() {
    let cfg = parse(base()).unwrap();
    let again = parse(cfg.to_hf_json("bfloat16")).unwrap();
    assert_eq!(cfg, again);
}

#[test]
fn refusals_name_the_field() {
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str)> = vec![
        (
            |v| v["architectures"] = json!(["GPT2LMHeadModel"]),
            "`architectures`",
        ),
        (
            |v| v["rope_scaling"]["rope_type"] = json!("yarn"),
            "`rope_scaling.rope_type`",
        ),
        (|v| v["hidden_act"] = json!("relu2"), "`hidden_act`"),
        (
            |v| v["num_key_value_heads"] = json!(3),
            "`num_key_value_heads`",
        ),
        (|v| v["hidden_size"] = json!("64"), "`hidden_size`"),
        (
            |v| {
                v.as_object_mut().unwrap().remove("vocab_size");
            },
            "`vocab_size`",
        ),
        (
            |v| v["rope_scaling"]["factor"] = json!(-1.0),
            "`rope_scaling.factor`",
        ),
        (
            |v| v["partial_rotary_factor"] = json!(0.5),
            "`partial_rotary_factor`",
        ),
    ];
    for (edit, field) in cases {
        let mut v = base();
        edit(&mut v);
        let err = parse(v).unwrap_err().to_string();
        assert!(
            err.contains(field) && err.contains("config.json"),
            "{field}: {err}"
        );
    }
}

#[test]
fn zero_heads_or_kv_heads_is_an_error_not_a_panic() {
    for (field, value) in [
        ("num_key_value_heads", 0),
        ("num_attention_heads", 0),
        ("hidden_size", 0),
        ("num_hidden_layers", 0),
        ("head_dim", 0),
        ("vocab_size", 0),
        ("intermediate_size", 0),
        ("max_position_embeddings", 0),
    ] {
        let mut v = base();
        v[field] = json!(value);
        let err = parse(v).unwrap_err().to_string();
        assert!(
            err.contains(&format!("`{field}`")) && err.contains("must be positive"),
            "{field}: {err}"
        );
    }
    // Both zero: the first one read is named, and nothing divides by zero on the way.
    let mut v = base();
    v["num_attention_heads"] = json!(0);
    v["num_key_value_heads"] = json!(0);
    assert!(parse(v).is_err());
}

#[test]
fn oversized_dimensions_are_refused_before_allocating() {
    let cases: &[(&str, Value, &str)] = &[
        ("num_hidden_layers", json!(u64::MAX), "1024"),
        ("num_hidden_layers", json!(1_000_000_000_000u64), "1024"),
        ("hidden_size", json!(1u64 << 40), "131072"),
        ("intermediate_size", json!(1u64 << 40), "1048576"),
        ("vocab_size", json!(1u64 << 40), "4194304"),
        ("num_attention_heads", json!(1u64 << 20), "1024"),
        ("num_key_value_heads", json!(1u64 << 20), "1024"),
        ("head_dim", json!(1u64 << 20), "8192"),
        ("max_position_embeddings", json!(1u64 << 40), "16777216"),
    ];
    for (field, value, limit) in cases {
        let mut v = base();
        v[*field] = value.clone();
        let err = parse(v).unwrap_err().to_string();
        assert!(
            err.contains(&format!("`{field}`")) && err.contains(limit),
            "{field}: {err}"
        );
    }
    let mut v = base();
    v["rope_scaling"]["original_max_position_embeddings"] = json!(0);
    let err = parse(v).unwrap_err().to_string();
    assert!(
        err.contains("`rope_scaling.original_max_position_embeddings`"),
        "{err}"
    );
    // A derived head width past the limit names head_dim.
    let mut v = base();
    v["hidden_size"] = json!(1 << 17);
    v["num_attention_heads"] = json!(1);
    v["num_key_value_heads"] = json!(1);
    let err = parse(v).unwrap_err().to_string();
    assert!(err.contains("`head_dim`") && err.contains("8192"), "{err}");
}

#[test]
fn parameter_count_past_the_limit_is_an_error() {
    // Every field within its own limit; together ~2e14 parameters.
    let mut v = base();
    v["num_hidden_layers"] = json!(1024);
    v["hidden_size"] = json!(1 << 17);
    v["num_attention_heads"] = json!(1024);
    v["num_key_value_heads"] = json!(1024);
    v["intermediate_size"] = json!(1 << 20);
    let err = parse(v).unwrap_err().to_string();
    assert!(
        err.contains("`num_hidden_layers`") && err.contains(&MAX_PARAMETERS.to_string()),
        "{err}"
    );
    // A hand-built configuration whose count overflows u64 saturates instead of wrapping.
    let mut cfg = parse(base()).unwrap();
    cfg.hidden_size = usize::MAX / 2;
    cfg.vocab_size = usize::MAX / 2;
    assert_eq!(cfg.checked_num_parameters(), None);
    assert_eq!(cfg.num_parameters(), usize::MAX);
}

#[test]
fn family_defaults() {
    let mut q = base();
    q["architectures"] = json!(["Qwen2ForCausalLM"]);
    q["use_sliding_window"] = json!(true);
    q["sliding_window"] = json!(16);
    q["max_window_layers"] = json!(1);
    let q = parse(q).unwrap();
    assert!(q.qkv_bias && !q.o_bias);
    assert_eq!(
        q.layer_attention,
        vec![LayerAttention::Full, LayerAttention::Sliding(16)]
    );
    let mut m = base();
    m["architectures"] = json!(["MistralForCausalLM"]);
    m["sliding_window"] = json!(8);
    m["head_dim"] = Value::Null;
    let m = parse(m).unwrap();
    assert_eq!(m.layer_attention, vec![LayerAttention::Sliding(8); 2]);
    assert_eq!(m.head_dim, 16);
}

#[test]
fn smollm2_parameter_count() {
    let v = json!({"architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576,
        "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
        "num_key_value_heads": 3, "tie_word_embeddings": true});
    // SmolLM2-135M's model card: 134,515,008 parameters.
    assert_eq!(parse(v).unwrap().num_parameters(), 134_515_008);
}

#[test]
fn qwen3_has_qk_norm_and_its_parameter_count() {
    // Qwen3-0.6B's config.json (the published numbers); its model card: 0.6B parameters,
    // transformers counts 596,049,920 (tied embeddings).
    let v = json!({"architectures": ["Qwen3ForCausalLM"], "vocab_size": 151936,
        "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
        "attention_bias": false, "tie_word_embeddings": true, "max_window_layers": 28,
        "use_sliding_window": false, "sliding_window": null, "rms_norm_eps": 1e-6});
    let c = parse(v).unwrap();
    assert!(c.qk_norm == QkNorm::PerHead && !c.qkv_bias && !c.o_bias);
    assert_eq!(c.layer_attention, vec![LayerAttention::Full; 28]);
    assert_eq!(c.num_parameters(), 596_049_920);
    let mut other = base();
    other["architectures"] = json!(["FalconForCausalLM"]);
    let e = parse(other).unwrap_err().to_string();
    assert!(
        e.contains("`FalconForCausalLM` is not supported")
            && e.contains("Qwen2ForCausalLM, Qwen3ForCausalLM")
            && e.contains("GPTNeoXForCausalLM")
            && e.contains("Qwen3MoeForCausalLM"),
        "{e}"
    );
}

#[test]
fn smollm3_layers_without_rope() {
    let mut v = base();
    v["architectures"] = json!(["SmolLM3ForCausalLM"]);
    v["num_hidden_layers"] = json!(8);
    // Derived as transformers derives it: every 4th layer has no RoPE.
    let c = parse(v.clone()).unwrap();
    assert_eq!(
        c.layer_rope,
        [true, true, true, false, true, true, true, false]
    );
    v["no_rope_layer_interval"] = json!(2);
    assert_eq!(
        parse(v.clone()).unwrap().layer_rope[..4],
        [true, false, true, false]
    );
    v["no_rope_layer_interval"] = json!(0);
    let e = parse(v.clone()).unwrap_err().to_string();
    assert!(e.contains("no_rope_layer_interval"), "{e}");
    v["no_rope_layer_interval"] = json!(2);
    // An explicit list wins; sliding layer types only count with use_sliding_window.
    v["no_rope_layers"] = json!([0, 1, 1, 1, 1, 1, 1, 1]);
    v["layer_types"] = json!(vec!["sliding_attention"; 8]);
    v["sliding_window"] = json!(16);
    let c = parse(v.clone()).unwrap();
    assert!(!c.layer_rope[0] && c.layer_rope[1]);
    assert_eq!(c.layer_attention, vec![LayerAttention::Full; 8]);
    v["use_sliding_window"] = json!(true);
    assert_eq!(
        parse(v.clone()).unwrap().layer_attention,
        vec![LayerAttention::Sliding(16); 8]
    );
    v["no_rope_layers"] = json!([0, 1, 2, 1, 1, 1, 1, 1]);
    let e = parse(v.clone()).unwrap_err().to_string();
    assert!(e.contains("no_rope_layers") && e.contains("entry 2"), "{e}");
    v["no_rope_layers"] = json!([1, 1]);
    let e = parse(v).unwrap_err().to_string();
    assert!(
        e.contains("no_rope_layers") && e.contains("8 entries"),
        "{e}"
    );
}

#[test]
fn olmo_has_no_norm_parameters_and_a_checked_clip() {
    let mut v = base();
    v["architectures"] = json!(["OlmoForCausalLM"]);
    v["clip_qkv"] = json!(8.0);
    v["rms_norm_eps"] = json!(1e-3);
    let c = parse(v.clone()).unwrap();
    assert!(c.norm == NormKind::Parameterless && c.clip_qkv == Some(8.0));
    // OLMo's LayerNorm always uses 1e-5, whatever the file says.
    assert_eq!(c.rms_norm_eps, 1e-5);
    let mut with_norms = c.clone();
    with_norms.norm = NormKind::Rms;
    let h = c.hidden_size as u64;
    let layers = c.num_hidden_layers as u64;
    assert_eq!(
        with_norms.checked_num_parameters().unwrap() - c.checked_num_parameters().unwrap(),
        h * (2 * layers + 1)
    );
    v["clip_qkv"] = json!(-1.0);
    let e = parse(v).unwrap_err().to_string();
    assert!(e.contains("clip_qkv") && e.contains("positive"), "{e}");
}

/// The fixture `config.json`s are written by transformers 5 (`rope_parameters`, `dtype`); the
/// same models as transformers 4.x wrote them (`rope_theta`/`rope_scaling`, GPT-NeoX's
/// `rotary_pct`/`rotary_emb_base`, Gemma 3's `rope_local_base_freq` and
/// `sliding_window_pattern`, Gemma 2 without `layer_types`, Qwen3-MoE's `num_experts`) resolve
/// to the same configuration.
#[test]
fn transformers_4_spellings_of_each_family_resolve_as_the_5_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name).join("config.json")).unwrap())
            .unwrap()
    };
    type Edit = fn(&mut serde_json::Map<String, Value>);
    let cases: Vec<(&str, Edit)> = vec![
        ("gpt-neox", |o| {
            o.remove("rope_parameters");
            o.insert("rotary_pct".into(), json!(0.25));
            o.insert("rotary_emb_base".into(), json!(10000));
        }),
        ("phi3", |o| {
            let mut rp = o.remove("rope_parameters").unwrap();
            let rp = rp.as_object_mut().unwrap();
            o.insert("rope_theta".into(), rp.remove("rope_theta").unwrap());
            o.insert(
                "rope_scaling".into(),
                json!({"type": "longrope", "short_factor": rp["short_factor"],
                       "long_factor": rp["long_factor"]}),
            );
        }),
        ("gemma2", |o| {
            o.remove("rope_parameters");
            o.remove("layer_types");
            o.insert("rope_theta".into(), json!(10000.0));
        }),
        ("gemma3", |o| {
            o.remove("rope_parameters");
            o.remove("layer_types");
            o.insert("rope_theta".into(), json!(1_000_000.0));
            o.insert("rope_local_base_freq".into(), json!(10000.0));
            o.insert("sliding_window_pattern".into(), json!(2));
        }),
        ("mixtral", |o| {
            o.remove("rope_parameters");
            o.insert("rope_theta".into(), json!(1_000_000.0));
        }),
        ("olmoe", |o| {
            o.remove("rope_parameters");
            o.insert("rope_theta".into(), json!(10000.0));
        }),
        ("qwen3-moe", |o| {
            o.remove("rope_parameters");
            o.insert("rope_theta".into(), json!(1_000_000.0));
            let e = o.remove("num_local_experts").unwrap();
            o.insert("num_experts".into(), e);
        }),
    ];
    for (name, edit) in cases {
        let v5 = read(name);
        let mut v4 = v5.clone();
        let o = v4.as_object_mut().unwrap();
        let dtype = o.remove("dtype").unwrap();
        o.insert("torch_dtype".into(), dtype);
        edit(o);
        let (a, b) = (parse(v5).unwrap(), parse(v4).unwrap());
        assert_eq!(a, b, "{name}");
        // And what glassbox writes reads back the same.
        assert_eq!(
            parse(a.to_hf_json("float32")).unwrap().layer_attention,
            a.layer_attention
        );
        let mut again = parse(a.to_hf_json("float32")).unwrap();
        again.dtype = a.dtype.clone();
        assert_eq!(again, a, "{name}: written config.json");
    }
}

#[test]
fn expert_counts_are_bounded_and_checked() {
    let mut v = base();
    v["architectures"] = json!(["MixtralForCausalLM"]);
    v["num_hidden_layers"] = json!(1024);
    v["num_local_experts"] = json!(4096);
    v["hidden_size"] = json!(8);
    v["num_attention_heads"] = json!(1);
    v["num_key_value_heads"] = json!(1);
    v["intermediate_size"] = json!(1);
    let e = parse(v.clone()).unwrap_err().to_string();
    assert!(e.contains("`num_experts`") && e.contains("65536"), "{e}");
    v["num_hidden_layers"] = json!(2);
    v["num_local_experts"] = json!(4);
    v["num_experts_per_tok"] = json!(5);
    let e = parse(v).unwrap_err().to_string();
    assert!(
        e.contains("`num_experts_per_tok`") && e.contains("only 4 experts"),
        "{e}"
    );
}
