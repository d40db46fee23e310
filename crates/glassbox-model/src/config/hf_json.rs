//! [`ModelConfig`] written back as `config.json`.

use serde_json::{Map, Value, json};

use super::{LayerAttention, ModelConfig, RopeScaling};
use crate::families;

/// A scaling object as transformers 4.x writes it (`null` for plain RoPE).
pub(crate) fn scaling_json(scaling: &RopeScaling) -> Value {
    match scaling {
        RopeScaling::None => Value::Null,
        RopeScaling::Linear { factor } => json!({"rope_type": "linear", "factor": factor}),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } => json!({
            "rope_type": "llama3",
            "factor": factor,
            "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor,
            "original_max_position_embeddings": original_max_position_embeddings,
        }),
        RopeScaling::LongRope {
            short_factor,
            long_factor,
            original_max_position_embeddings,
            factor,
            attention_factor,
        } => {
            let mut m = Map::new();
            m.insert("rope_type".into(), json!("longrope"));
            m.insert("type".into(), json!("longrope"));
            m.insert("short_factor".into(), json!(short_factor));
            m.insert("long_factor".into(), json!(long_factor));
            m.insert(
                "original_max_position_embeddings".into(),
                json!(original_max_position_embeddings),
            );
            if let Some(f) = factor {
                m.insert("factor".into(), json!(f));
            }
            if let Some(a) = attention_factor {
                m.insert("attention_factor".into(), json!(a));
            }
            Value::Object(m)
        }
    }
}

/// The first sliding window of the layers, if any layer slides.
pub(crate) fn first_window(cfg: &ModelConfig) -> Option<usize> {
    cfg.layer_attention.iter().find_map(|a| match a {
        LayerAttention::Sliding(w) => Some(*w),
        LayerAttention::Full => None,
    })
}

/// `layer_types` as transformers writes it.
pub(crate) fn layer_types(cfg: &ModelConfig) -> Value {
    let types: Vec<&str> = cfg
        .layer_attention
        .iter()
        .map(|a| match a {
            LayerAttention::Full => "full_attention",
            LayerAttention::Sliding(_) => "sliding_attention",
        })
        .collect();
    json!(types)
}

impl ModelConfig {
    /// `config.json` as transformers 4.x writes it (read by transformers 4.x and 5.x alike).
    /// `dtype` is the dtype the weights are saved in (`"float32"`, `"bfloat16"`, `"float16"`).
    pub fn to_hf_json(&self, dtype: &str) -> Value {
        let mut m = Map::new();
        m.insert(
            "architectures".into(),
            json!([self.architecture.class_name()]),
        );
        m.insert("model_type".into(), json!(self.architecture.model_type()));
        m.insert("vocab_size".into(), json!(self.vocab_size));
        m.insert("hidden_size".into(), json!(self.hidden_size));
        m.insert("intermediate_size".into(), json!(self.intermediate_size));
        m.insert("num_hidden_layers".into(), json!(self.num_hidden_layers));
        m.insert(
            "num_attention_heads".into(),
            json!(self.num_attention_heads),
        );
        m.insert(
            "num_key_value_heads".into(),
            json!(self.num_key_value_heads),
        );
        m.insert("head_dim".into(), json!(self.head_dim));
        m.insert("hidden_act".into(), json!(self.hidden_act.hf_name()));
        m.insert(
            "max_position_embeddings".into(),
            json!(self.max_position_embeddings),
        );
        m.insert("rms_norm_eps".into(), json!(self.rms_norm_eps));
        m.insert("rope_theta".into(), json!(self.rope_theta));
        m.insert("rope_scaling".into(), scaling_json(&self.rope_scaling));
        m.insert(
            "tie_word_embeddings".into(),
            json!(self.tie_word_embeddings),
        );
        families::write(self, &mut m);
        if let Some(b) = self.bos_token_id {
            m.insert("bos_token_id".into(), json!(b));
        }
        match self.eos_token_ids.as_slice() {
            [] => {}
            [one] => {
                m.insert("eos_token_id".into(), json!(one));
            }
            many => {
                m.insert("eos_token_id".into(), json!(many));
            }
        }
        if let Some(p) = self.pad_token_id {
            m.insert("pad_token_id".into(), json!(p));
        }
        m.insert("torch_dtype".into(), json!(dtype));
        m.insert("use_cache".into(), json!(true));
        Value::Object(m)
    }
}
