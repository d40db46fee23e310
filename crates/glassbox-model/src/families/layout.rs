//! Every tensor a configuration needs, with the name transformers gives it: the one table that
//! loading, saving, random initialisation and training all read.

use crate::config::{MlpLayout, ModelConfig, NormKind, QkNorm, QkvLayout, Residual};

use super::family;

/// Model-level tensor names (without `.weight`).
#[derive(Debug, Clone)]
pub(crate) struct ModelNames {
    pub embed: String,
    pub final_norm: String,
    pub lm_head: String,
}

/// How a layer's q/k/v are named.
#[derive(Debug, Clone)]
pub(crate) enum QkvNames {
    Separate { q: String, k: String, v: String },
    Fused(String),
}

/// How a layer's MLP is named.
#[derive(Debug, Clone)]
pub(crate) enum FfnNames {
    Gated {
        gate: String,
        up: String,
        down: String,
    },
    FusedGated {
        gate_up: String,
        down: String,
    },
    Plain {
        up: String,
        down: String,
    },
    /// Router and `(gate, up, down)` of each expert.
    Moe {
        router: String,
        experts: Vec<[String; 3]>,
    },
}

/// A layer's tensor names (without `.weight`/`.bias`); `None` where the layer has no such norm.
#[derive(Debug, Clone)]
pub(crate) struct LayerNames {
    pub pre_attn: Option<String>,
    pub post_attn: Option<String>,
    pub pre_ffn: Option<String>,
    pub post_ffn: Option<String>,
    pub qkv: QkvNames,
    pub o: String,
    pub q_norm: Option<String>,
    pub k_norm: Option<String>,
    pub ffn: FfnNames,
}

pub(crate) fn model_names(cfg: &ModelConfig) -> ModelNames {
    let n = &family(cfg.architecture).names;
    ModelNames {
        embed: n.embed.to_string(),
        final_norm: n.final_norm.to_string(),
        lm_head: n.lm_head.to_string(),
    }
}

pub(crate) fn layer_names(cfg: &ModelConfig, l: usize) -> LayerNames {
    let n = &family(cfg.architecture).names;
    let p = format!("{}.{l}", n.layers);
    let at = |s: &str| format!("{p}.{s}");
    let attn = |s: &str| format!("{p}.{}.{s}", n.attn);
    let mlp = |s: &str| format!("{p}.{}.{s}", n.mlp);
    let (pre_attn, post_attn, pre_ffn, post_ffn) = match cfg.residual {
        Residual::PreNorm | Residual::Parallel => (
            Some(at("input_layernorm")),
            None,
            Some(at("post_attention_layernorm")),
            None,
        ),
        Residual::PostNorm => (
            None,
            Some(at("post_attention_layernorm")),
            None,
            Some(at("post_feedforward_layernorm")),
        ),
        Residual::Sandwich => (
            Some(at("input_layernorm")),
            Some(at("post_attention_layernorm")),
            Some(at("pre_feedforward_layernorm")),
            Some(at("post_feedforward_layernorm")),
        ),
    };
    let qkv = match cfg.qkv_layout {
        QkvLayout::Separate => QkvNames::Separate {
            q: attn(n.q),
            k: attn(n.k),
            v: attn(n.v),
        },
        QkvLayout::Fused | QkvLayout::FusedPerHead => QkvNames::Fused(attn(n.qkv)),
    };
    let (q_norm, k_norm) = match cfg.qk_norm {
        QkNorm::None => (None, None),
        _ => (Some(attn("q_norm")), Some(attn("k_norm"))),
    };
    let ffn = match &cfg.moe {
        Some(moe) if cfg.is_sparse(l) => {
            let m = |s: &str| format!("{p}.{}.{s}", n.moe);
            FfnNames::Moe {
                router: m(n.router),
                experts: (0..moe.num_experts)
                    .map(|e| {
                        [n.expert_gate, n.expert_up, n.expert_down]
                            .map(|w| m(&format!("experts.{e}.{w}")))
                    })
                    .collect(),
            }
        }
        _ => match cfg.mlp_layout {
            MlpLayout::Gated => FfnNames::Gated {
                gate: mlp(n.gate),
                up: mlp(n.up),
                down: mlp(n.down),
            },
            MlpLayout::FusedGated => FfnNames::FusedGated {
                gate_up: mlp(n.gate_up),
                down: mlp(n.down),
            },
            MlpLayout::Plain => FfnNames::Plain {
                up: mlp(n.up),
                down: mlp(n.down),
            },
        },
    };
    LayerNames {
        pre_attn,
        post_attn,
        pre_ffn,
        post_ffn,
        qkv,
        o: attn(n.o),
        q_norm,
        k_norm,
        ffn,
    }
}

/// HF names and shapes of every tensor the configuration needs, in transformers' order.
pub fn tensor_shapes(cfg: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim);
    let (nq, nkv) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
    let names = model_names(cfg);
    let mut out = vec![(format!("{}.weight", names.embed), vec![cfg.vocab_size, h])];
    let norm = |out: &mut Vec<(String, Vec<usize>)>, name: &Option<String>| {
        if let Some(name) = name {
            match cfg.norm {
                NormKind::Parameterless => {}
                NormKind::Rms | NormKind::RmsPlusOne => {
                    out.push((format!("{name}.weight"), vec![h]));
                }
                NormKind::LayerNorm => {
                    out.push((format!("{name}.weight"), vec![h]));
                    out.push((format!("{name}.bias"), vec![h]));
                }
            }
        }
    };
    let linear =
        |out: &mut Vec<(String, Vec<usize>)>, name: &str, rows: usize, cols: usize, bias| {
            out.push((format!("{name}.weight"), vec![rows, cols]));
            if bias {
                out.push((format!("{name}.bias"), vec![rows]));
            }
        };
    for l in 0..cfg.num_hidden_layers {
        let n = layer_names(cfg, l);
        norm(&mut out, &n.pre_attn);
        match &n.qkv {
            QkvNames::Separate { q, k, v } => {
                for (name, rows) in [(q, nq), (k, nkv), (v, nkv)] {
                    linear(&mut out, name, rows, h, cfg.qkv_bias);
                }
            }
            QkvNames::Fused(name) => linear(&mut out, name, nq + 2 * nkv, h, cfg.qkv_bias),
        }
        linear(&mut out, &n.o, h, nq, cfg.o_bias);
        let (qn, kn) = match cfg.qk_norm {
            QkNorm::None => (0, 0),
            QkNorm::PerHead => (hd, hd),
            QkNorm::Whole => (nq, nkv),
        };
        if let (Some(q), Some(k)) = (&n.q_norm, &n.k_norm) {
            out.push((format!("{q}.weight"), vec![qn]));
            out.push((format!("{k}.weight"), vec![kn]));
        }
        norm(&mut out, &n.post_attn);
        norm(&mut out, &n.pre_ffn);
        match &n.ffn {
            FfnNames::Gated { gate, up, down } => {
                linear(&mut out, gate, i, h, cfg.mlp_bias);
                linear(&mut out, up, i, h, cfg.mlp_bias);
                linear(&mut out, down, h, i, cfg.mlp_bias);
            }
            FfnNames::FusedGated { gate_up, down } => {
                linear(&mut out, gate_up, 2 * i, h, cfg.mlp_bias);
                linear(&mut out, down, h, i, cfg.mlp_bias);
            }
            FfnNames::Plain { up, down } => {
                linear(&mut out, up, i, h, cfg.mlp_bias);
                linear(&mut out, down, h, i, cfg.mlp_bias);
            }
            FfnNames::Moe { router, experts } => {
                let (e, ei) = cfg
                    .moe
                    .as_ref()
                    .map_or((0, 0), |m| (m.num_experts, m.expert_intermediate_size));
                linear(&mut out, router, e, h, false);
                for [gate, up, down] in experts {
                    linear(&mut out, gate, ei, h, false);
                    linear(&mut out, up, ei, h, false);
                    linear(&mut out, down, h, ei, false);
                }
            }
        }
        norm(&mut out, &n.post_ffn);
    }
    norm(&mut out, &Some(names.final_norm));
    if !cfg.tie_word_embeddings {
        out.push((format!("{}.weight", names.lm_head), vec![cfg.vocab_size, h]));
    }
    out
}
