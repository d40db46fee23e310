//! The families llama.cpp runs, as its GGUF files describe them: the `general.architecture`
//! name, the `<arch>.*` hyper-parameters, and what a configuration may use so that llama.cpp's
//! graph for that name computes what glassbox computes (anything else is refused by field name).
//!
//! | glassbox | GGUF arch | RoPE rows | notes |
//! |---|---|---|---|
//! | Llama, Mistral, Mixtral | `llama` | permuted | Mistral's window as `attention.sliding_window`, Mixtral's experts as `expert_count` |
//! | Qwen2, Qwen3, Qwen3-MoE | `qwen2`, `qwen3`, `qwen3moe` | as is | |
//! | Gemma 2, Gemma 3 | `gemma2`, `gemma3` | as is | norms stored `1 + w` |
//! | Phi-3 | `phi3` | as is | fused `attn_qkv`, `ffn_up` = `[gate; up]`, LongRoPE factor tensors |
//! | OLMo, OLMo 2, OLMoE | `olmo`, `olmo2`, `olmoe` | permuted (OLMo), as is | |
//! | GPT-NeoX | `gptneox` | as is | q/k/v regrouped |
//! | SmolLM3 | `smollm3` | permuted | no RoPE in every fourth layer (llama.cpp's fixed pattern) |
//!
//! Llama 3's RoPE scaling has no metadata in llama.cpp: its converter writes the per-frequency
//! divisors as the tensor `rope_freqs.weight`. glassbox writes that tensor too, and keeps the
//! exact scaling object in `glassbox.rope_scaling` so that the import restores it.

use serde_json::{Value as Json, json};

use super::{GgufFile, GgufWriter, Value};
use crate::config::{
    Activation, Architecture, LayerAttention, ModelConfig, NormKind, Residual, RopeScaling,
};
use crate::{ModelError, Result};

/// How one family is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// `general.architecture`.
    pub name: &'static str,
    /// Whether q/k rows are permuted (llama.cpp's normal, adjacent-pair RoPE).
    pub permute: bool,
}

/// The GGUF architecture of `arch`.
pub(crate) fn spec_of(arch: Architecture) -> Option<Spec> {
    let (name, permute) = match arch {
        Architecture::Llama | Architecture::Mistral | Architecture::Mixtral => ("llama", true),
        Architecture::Qwen2 => ("qwen2", false),
        Architecture::Qwen3 => ("qwen3", false),
        Architecture::Qwen3Moe => ("qwen3moe", false),
        Architecture::Gemma2 => ("gemma2", false),
        Architecture::Gemma3 => ("gemma3", false),
        Architecture::Phi3 => ("phi3", false),
        Architecture::Olmo => ("olmo", true),
        Architecture::Olmo2 => ("olmo2", false),
        Architecture::Olmoe => ("olmoe", false),
        Architecture::GptNeoX => ("gptneox", false),
        Architecture::SmolLm3 => ("smollm3", true),
    };
    Some(Spec { name, permute })
}

fn refuse(cfg: &ModelConfig, field: &str, why: impl std::fmt::Display) -> ModelError {
    ModelError::Input(format!(
        "{}: `{field}` {why}; llama.cpp's graph for this family cannot run it, so it is not \
         exported to GGUF",
        cfg.architecture.class_name()
    ))
}

/// The layers llama.cpp's `gemma2` (period 2) and `gemma3` (period 6) graphs slide: all but every
/// `period`-th.
fn gemma_pattern(layers: usize, period: usize, window: usize) -> Vec<LayerAttention> {
    (0..layers)
        .map(|l| {
            if (l + 1) % period == 0 {
                LayerAttention::Full
            } else {
                LayerAttention::Sliding(window)
            }
        })
        .collect()
}

/// The family's spec, or an [`ModelError::Input`] naming the first field llama.cpp would not
/// honour.
pub(crate) fn check(cfg: &ModelConfig) -> Result<Spec> {
    use Architecture as A;
    let arch = cfg.architecture;
    let spec = spec_of(arch).ok_or_else(|| {
        ModelError::Input(format!(
            "GGUF export does not cover {} yet",
            arch.class_name()
        ))
    })?;
    let default_act = match arch {
        A::Gemma2 | A::Gemma3 => Activation::GeluTanh,
        A::GptNeoX => cfg.hidden_act,
        _ => Activation::Silu,
    };
    if cfg.hidden_act != default_act {
        return Err(refuse(
            cfg,
            "hidden_act",
            format!("is {:?}", cfg.hidden_act),
        ));
    }
    let bias_ok = matches!(arch, A::Qwen2 | A::GptNeoX);
    if cfg.qkv_bias && !bias_ok {
        return Err(refuse(cfg, "attention_bias", "is set"));
    }
    if (cfg.o_bias || cfg.mlp_bias) && arch != A::GptNeoX {
        return Err(refuse(cfg, "mlp_bias", "or an output bias is set"));
    }
    if cfg.clip_qkv.is_some() && arch != A::Olmo {
        return Err(refuse(cfg, "clip_qkv", "is set"));
    }
    if cfg.rotary_dim != cfg.head_dim && arch != A::GptNeoX {
        return Err(refuse(cfg, "partial_rotary_factor", "is below 1"));
    }
    if arch == A::SmolLm3 {
        // llama.cpp's `smollm3` graph skips RoPE in every fourth layer, whatever the file says.
        let pattern = (0..cfg.num_hidden_layers).map(|l| (l + 1) % 4 != 0);
        if !cfg.layer_rope.iter().copied().eq(pattern) {
            return Err(refuse(
                cfg,
                "no_rope_layers",
                "differs from llama.cpp's pattern (no RoPE in every fourth layer)",
            ));
        }
    } else if cfg.layer_rope.iter().any(|r| !r) {
        return Err(refuse(
            cfg,
            "no_rope_layers",
            "turns RoPE off in some layers",
        ));
    }
    if !matches!(arch, A::Gemma2) {
        if cfg.attn_logit_softcapping.is_some() {
            return Err(refuse(cfg, "attn_logit_softcapping", "is set"));
        }
        if cfg.final_logit_softcapping.is_some() {
            return Err(refuse(cfg, "final_logit_softcapping", "is set"));
        }
    }
    if let Some(q) = cfg.query_pre_attn_scalar {
        // llama.cpp scales scores by head_dim^-½ for the sizes a tiny or ordinary Gemma has.
        if q != cfg.head_dim as f64 {
            return Err(refuse(
                cfg,
                "query_pre_attn_scalar",
                format!("is {q}, not head_dim ({})", cfg.head_dim),
            ));
        }
    }
    match &cfg.rope_scaling {
        RopeScaling::None | RopeScaling::Linear { .. } => {}
        RopeScaling::Llama3 { .. } if spec.name == "llama" => {}
        RopeScaling::LongRope { .. } if arch == A::Phi3 => {}
        other => return Err(refuse(cfg, "rope_scaling", format!("is {other:?}"))),
    }
    if let Some((_, s)) = &cfg.local_rope
        && *s != RopeScaling::None
    {
        return Err(refuse(
            cfg,
            "rope_parameters.sliding_attention",
            "scales RoPE",
        ));
    }
    let window = crate::config::hf_json::first_window(cfg);
    match (arch, window) {
        (A::Gemma2, Some(w)) => {
            if cfg.layer_attention != gemma_pattern(cfg.num_hidden_layers, 2, w) {
                return Err(refuse(
                    cfg,
                    "layer_types",
                    "differs from llama.cpp's pattern (every second layer global)",
                ));
            }
        }
        // llama.cpp's `llama` graph attends to every earlier position: a window is only
        // exported when no sequence can exceed it.
        (A::Mistral, Some(w)) if w < cfg.max_position_embeddings => {
            return Err(refuse(
                cfg,
                "sliding_window",
                format!(
                    "is {w}, below max_position_embeddings ({}), and llama.cpp's `llama` graph \
                     has no sliding window",
                    cfg.max_position_embeddings
                ),
            ));
        }
        // Gemma 3's pattern is written per layer (`attention.sliding_window_pattern`).
        (A::Gemma3, Some(w)) | (A::Mistral, Some(w)) => {
            let one_window = cfg.layer_attention.iter().all(|a| match a {
                LayerAttention::Sliding(x) => *x == w,
                LayerAttention::Full => arch == A::Gemma3,
            });
            if !one_window {
                return Err(refuse(cfg, "layer_types", "mixes windows"));
            }
        }
        (_, Some(_)) => return Err(refuse(cfg, "sliding_window", "is set")),
        (_, None) => {}
    }
    if let Some(moe) = &cfg.moe {
        if moe.sparse_layers.iter().any(|s| !s) {
            return Err(refuse(cfg, "mlp_only_layers", "makes some layers dense"));
        }
        // llama.cpp renormalises the chosen experts' weights for Mixtral and Qwen3-MoE, and
        // does not for OLMoE.
        let norm = arch != A::Olmoe;
        if moe.norm_topk_prob != norm {
            return Err(refuse(
                cfg,
                "norm_topk_prob",
                format!("is {}", moe.norm_topk_prob),
            ));
        }
    }
    Ok(spec)
}

/// llama.cpp's per-frequency divisors for Llama 3's scaling (`rope_freqs.weight`), computed as
/// glassbox's RoPE computes them (f32), so that `base^(-2i/d) / factor_i` is glassbox's
/// frequency.
pub(crate) fn llama3_factors(cfg: &ModelConfig) -> Option<Vec<f32>> {
    let RopeScaling::Llama3 {
        factor,
        low_freq_factor,
        high_freq_factor,
        original_max_position_embeddings,
    } = cfg.rope_scaling
    else {
        return None;
    };
    let (factor, low, high) = (
        factor as f32,
        low_freq_factor as f32,
        high_freq_factor as f32,
    );
    let old_ctx = original_max_position_embeddings as f32;
    let d = cfg.rotary_dim;
    Some(
        (0..d / 2)
            .map(|i| {
                let f = 1.0 / (cfg.rope_theta as f32).powf((2 * i) as f32 / d as f32);
                let wavelen = 2.0 * std::f32::consts::PI / f;
                if wavelen > old_ctx / low {
                    factor
                } else if wavelen >= old_ctx / high {
                    let smooth = (old_ctx / wavelen - low) / (high - low);
                    1.0 / ((1.0 - smooth) / factor + smooth)
                } else {
                    1.0
                }
            })
            .collect(),
    )
}

/// Writes the `<arch>.*` hyper-parameters of `cfg`.
pub(crate) fn write_hparams(w: &mut GgufWriter, cfg: &ModelConfig, spec: Spec) {
    let a = spec.name;
    let k = |s: &str| format!("{a}.{s}");
    let u = |x: usize| Value::U32(x as u32);
    w.set(&k("context_length"), u(cfg.max_position_embeddings));
    w.set(&k("embedding_length"), u(cfg.hidden_size));
    w.set(&k("block_count"), u(cfg.num_hidden_layers));
    w.set(&k("feed_forward_length"), u(cfg.intermediate_size));
    w.set(&k("attention.head_count"), u(cfg.num_attention_heads));
    w.set(&k("attention.head_count_kv"), u(cfg.num_key_value_heads));
    w.set(&k("rope.freq_base"), Value::F32(cfg.rope_theta as f32));
    let eps = Value::F32(cfg.rms_norm_eps as f32);
    match cfg.norm {
        NormKind::Rms | NormKind::RmsPlusOne => w.set(&k("attention.layer_norm_rms_epsilon"), eps),
        NormKind::LayerNorm | NormKind::Parameterless => {
            w.set(&k("attention.layer_norm_epsilon"), eps)
        }
    }
    w.set(&k("vocab_size"), u(cfg.vocab_size));
    w.set(&k("rope.dimension_count"), u(cfg.rotary_dim));
    if cfg.head_dim * cfg.num_attention_heads != cfg.hidden_size {
        w.set(&k("attention.key_length"), u(cfg.head_dim));
        w.set(&k("attention.value_length"), u(cfg.head_dim));
    }
    if let Some(win) = crate::config::hf_json::first_window(cfg) {
        w.set(&k("attention.sliding_window"), u(win));
        if cfg.architecture == Architecture::Gemma3 {
            let pattern = cfg
                .layer_attention
                .iter()
                .map(|a| Value::Bool(matches!(a, LayerAttention::Sliding(_))))
                .collect();
            w.set(
                &k("attention.sliding_window_pattern"),
                Value::Array(pattern),
            );
        }
    }
    if let Some(c) = cfg.attn_logit_softcapping {
        w.set(&k("attn_logit_softcapping"), Value::F32(c as f32));
    }
    if let Some(c) = cfg.final_logit_softcapping {
        w.set(&k("final_logit_softcapping"), Value::F32(c as f32));
    }
    if let Some((theta, _)) = &cfg.local_rope {
        w.set(&k("rope.freq_base_swa"), Value::F32(*theta as f32));
    }
    if let Some(moe) = &cfg.moe {
        w.set(&k("expert_count"), u(moe.num_experts));
        w.set(&k("expert_used_count"), u(moe.top_k));
        w.set(
            &k("expert_feed_forward_length"),
            u(moe.expert_intermediate_size),
        );
        // Training only (llama.cpp has no use for it), kept so that the import restores it.
        w.set(
            "glassbox.router_aux_loss_coef",
            Value::F64(moe.router_aux_loss_coef),
        );
    }
    if let Some(c) = cfg.clip_qkv {
        w.set(&k("attention.clamp_kqv"), Value::F32(c as f32));
    }
    if cfg.residual == Residual::Parallel {
        w.set(&k("use_parallel_residual"), Value::Bool(true));
    }
    match &cfg.rope_scaling {
        RopeScaling::None => {}
        RopeScaling::Linear { factor } => {
            w.set(&k("rope.scaling.type"), Value::String("linear".into()));
            w.set(&k("rope.scaling.factor"), Value::F32(*factor as f32));
        }
        RopeScaling::Llama3 { .. } => {}
        RopeScaling::LongRope {
            original_max_position_embeddings,
            factor,
            attention_factor,
            ..
        } => {
            // As transformers (and glassbox's RoPE) default it: sqrt(1 + ln f / ln original).
            let original = *original_max_position_embeddings as f64;
            let f = factor.unwrap_or(cfg.max_position_embeddings as f64 / original);
            let s = attention_factor.unwrap_or(if f <= 1.0 {
                1.0
            } else {
                (1.0 + f.ln() / original.ln()).sqrt()
            });
            w.set(&k("rope.scaling.attn_factor"), Value::F32(s as f32));
            w.set(
                &k("rope.scaling.original_context_length"),
                u(*original_max_position_embeddings),
            );
        }
    }
    if cfg.rope_scaling != RopeScaling::None {
        let json = crate::config::hf_json::scaling_json(&cfg.rope_scaling);
        w.set("glassbox.rope_scaling", Value::String(json.to_string()));
    }
}

/// The `config.json` (transformers' keys) the metadata and tensors of `f` describe.
pub(crate) fn read_config(f: &GgufFile) -> Result<Json> {
    use Architecture as A;
    let bad = |m: String| ModelError::Gguf {
        path: f.path.clone(),
        message: m,
    };
    let name = f
        .get("general.architecture")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("metadata `general.architecture` is missing".into()))?;
    let k = |s: &str| format!("{name}.{s}");
    let opt = |s: &str| f.get(&k(s)).and_then(Value::as_u64);
    let num = |s: &str| -> Result<u64> {
        opt(s).ok_or_else(|| bad(format!("metadata `{}` is missing or not an integer", k(s))))
    };
    let float = |s: &str| f.get(&k(s)).map(short_float).and_then(|v| v.as_f64());
    let has = |t: &str| f.tensor(t).is_some();
    let arch = match name {
        "llama" if opt("expert_count").unwrap_or(0) > 0 => A::Mixtral,
        "llama" if opt("attention.sliding_window").is_some() => A::Mistral,
        other => A::ALL
            .into_iter()
            .find(|a| spec_of(*a).is_some_and(|s| s.name == other && *a != A::Mistral))
            .ok_or_else(|| {
                bad(format!(
                    "metadata `general.architecture` is `{other}`, a family glassbox does not read"
                ))
            })?,
    };
    let hidden = num("embedding_length")?;
    let layers = num("block_count")?;
    let heads = num("attention.head_count")?;
    let kv_heads = opt("attention.head_count_kv").unwrap_or(heads);
    if heads == 0 || layers == 0 || kv_heads == 0 {
        return Err(bad("head or layer count of 0".into()));
    }
    let head_dim = opt("attention.key_length").unwrap_or(hidden / heads);
    let embd = f
        .tensor("token_embd.weight")
        .ok_or_else(|| bad("no tensor `token_embd.weight`".into()))?;
    let eps = float("attention.layer_norm_rms_epsilon")
        .or_else(|| float("attention.layer_norm_epsilon"))
        .ok_or_else(|| {
            bad(format!(
                "metadata `{}` is missing",
                k("attention.layer_norm_rms_epsilon")
            ))
        })?;
    let theta = float("rope.freq_base").unwrap_or(10000.0);
    let mut c = json!({
        "architectures": [arch.class_name()],
        "model_type": arch.model_type(),
        "vocab_size": embd.dims.get(1).copied().unwrap_or(0),
        "hidden_size": hidden,
        "intermediate_size": num("feed_forward_length")?,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": num("context_length")?,
        "rms_norm_eps": eps,
        "rope_theta": theta,
        "tie_word_embeddings": !has("output.weight"),
        "torch_dtype": "float32",
    });
    if arch != A::GptNeoX {
        c["head_dim"] = json!(head_dim);
    }
    let bias = has("blk.0.attn_q.bias") || has("blk.0.attn_qkv.bias");
    c["attention_bias"] = json!(bias);
    if let Some(win) = opt("attention.sliding_window") {
        c["sliding_window"] = json!(win);
        let period = match arch {
            A::Gemma2 => 2,
            A::Gemma3 => 6,
            _ => 0,
        };
        let given: Option<Vec<bool>> = match f.get(&k("attention.sliding_window_pattern")) {
            Some(Value::Array(v)) => Some(v.iter().map(|b| *b == Value::Bool(true)).collect()),
            _ => None,
        };
        if period > 0 {
            let types: Vec<&str> = (0..layers)
                .map(|l| {
                    let sliding = match &given {
                        Some(v) => v.get(l as usize).copied().unwrap_or(false),
                        None => (l + 1) % period != 0,
                    };
                    if !sliding {
                        "full_attention"
                    } else {
                        "sliding_attention"
                    }
                })
                .collect();
            c["layer_types"] = json!(types);
        }
    }
    match arch {
        A::Gemma2 | A::Gemma3 => {
            c["query_pre_attn_scalar"] = json!(head_dim);
            c["attn_logit_softcapping"] = json!(float("attn_logit_softcapping"));
            c["final_logit_softcapping"] = json!(float("final_logit_softcapping"));
            c["hidden_activation"] = json!("gelu_pytorch_tanh");
            if let Some(t) = float("rope.freq_base_swa") {
                c["rope_local_base_freq"] = json!(t);
            }
        }
        A::GptNeoX => {
            c["rotary_emb_base"] = json!(theta);
            c["layer_norm_eps"] = json!(eps);
            let rot = opt("rope.dimension_count").unwrap_or(head_dim);
            c["rotary_pct"] = json!(rot as f64 / head_dim as f64);
            c["use_parallel_residual"] = json!(true);
            c["hidden_act"] = json!("gelu");
        }
        A::Olmo => c["clip_qkv"] = json!(float("attention.clamp_kqv")),
        _ => {}
    }
    if let Some(e) = opt("expert_count") {
        let key = if arch == A::Mixtral {
            "num_local_experts"
        } else {
            "num_experts"
        };
        c[key] = json!(e);
        c["num_experts_per_tok"] = json!(num("expert_used_count")?);
        c["norm_topk_prob"] = json!(arch != A::Olmoe);
        if let Some(coef) = f
            .get("glassbox.router_aux_loss_coef")
            .and_then(Value::as_f64)
        {
            c["router_aux_loss_coef"] = json!(coef);
        }
        if let Some(ff) = opt("expert_feed_forward_length") {
            c["moe_intermediate_size"] = json!(ff);
        }
    }
    c["rope_scaling"] = rope_scaling(f, &k, head_dim).map_err(bad)?;
    for (gguf, hf) in [
        ("tokenizer.ggml.bos_token_id", "bos_token_id"),
        ("tokenizer.ggml.eos_token_id", "eos_token_id"),
    ] {
        if let Some(id) = f.get(gguf).and_then(Value::as_u64) {
            c[hf] = json!(id);
        }
    }
    Ok(c)
}

/// An f32 metadata value as the shortest decimal that rounds to it (`1e-5`, not
/// `9.99999974e-6`), as the `config.json` it came from most likely wrote it.
fn short_float(v: &Value) -> Value {
    match v {
        Value::F32(x) => x
            .to_string()
            .parse::<f64>()
            .map_or(Value::F64(f64::from(*x)), Value::F64),
        other => other.clone(),
    }
}

/// The `rope_scaling` object: glassbox's own record when present, else what llama.cpp's keys
/// and tensors tell.
fn rope_scaling(
    f: &GgufFile,
    k: &dyn Fn(&str) -> String,
    head_dim: u64,
) -> std::result::Result<Json, String> {
    if let Some(s) = f.get("glassbox.rope_scaling").and_then(Value::as_str) {
        return serde_json::from_str(s)
            .map_err(|e| format!("metadata `glassbox.rope_scaling` is not JSON: {e}"));
    }
    let float = |s: &str| f.get(&k(s)).map(short_float).and_then(|v| v.as_f64());
    match f.get(&k("rope.scaling.type")).and_then(Value::as_str) {
        None | Some("none") => {}
        Some("linear") => {
            let factor = float("rope.scaling.factor")
                .ok_or_else(|| format!("metadata `{}` is missing", k("rope.scaling.factor")))?;
            return Ok(json!({"rope_type": "linear", "factor": factor}));
        }
        Some(other) => {
            return Err(format!(
                "metadata `{}` is `{other}`, which glassbox does not implement",
                k("rope.scaling.type")
            ));
        }
    }
    if f.tensor("rope_factors_long.weight").is_some() {
        let read = |n: &str| -> std::result::Result<Vec<f64>, String> {
            let v = f.tensor_f32(n).map_err(|e| e.to_string())?;
            Ok(v.into_iter().map(f64::from).collect())
        };
        let orig = f
            .get(&k("rope.scaling.original_context_length"))
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                format!(
                    "metadata `{}` is missing",
                    k("rope.scaling.original_context_length")
                )
            })?;
        let mut o = json!({
            "rope_type": "longrope",
            "short_factor": read("rope_factors_short.weight")?,
            "long_factor": read("rope_factors_long.weight")?,
            "original_max_position_embeddings": orig,
        });
        if let Some(a) = float("rope.scaling.attn_factor") {
            o["attention_factor"] = json!(a);
        }
        return Ok(o);
    }
    if f.tensor("rope_freqs.weight").is_some() {
        return Err(format!(
            "tensor `rope_freqs.weight` scales RoPE per frequency (Llama 3), but the file does \
             not record the scaling parameters (`glassbox.rope_scaling`); a head width of \
             {head_dim} alone does not determine them"
        ));
    }
    Ok(Json::Null)
}
