//! Which GGUF tensor holds which transformers tensors, and how the bytes change on the way.
//!
//! One table per configuration (`table`), read in both directions: the export gathers each
//! entry's HF tensors into one GGUF tensor, the import splits it back. Most entries copy bytes;
//! the others are llama.cpp's conventions:
//!
//! - `Rule::Permute`: llama.cpp's `llama`-style graphs rotate adjacent pairs where transformers
//!   rotates the two halves of a head (`rotate_half`), so q/k rows are reordered per head;
//!   NEOX-style graphs (Qwen, Gemma, Phi-3, OLMo 2, OLMoE, GPT-NeoX) take HF's order as is.
//! - `Rule::PlusOne`: Gemma's norms compute `x · (1 + w)`; llama.cpp's multiply by the stored
//!   weight, so its converter stores `1 + w` (and the import subtracts one again: exact up to
//!   the rounding of `1 + w` in f32, half an ulp of one).
//! - `Rule::Stack`: a mixture of experts' per-expert matrices as one 3-D tensor
//!   `[experts, rows, cols]` (outermost first).
//! - `Rule::PerHeadQkv`: GPT-NeoX's `query_key_value` interleaves q, k and v per head; llama.cpp
//!   wants the q rows of every head, then k, then v.

use crate::config::{ModelConfig, NormKind, QkvLayout};
use crate::families::{FfnNames, QkvNames, layer_names, model_names};

/// How an entry's bytes differ from the HF tensors'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Unchanged.
    Plain,
    /// Rows reordered from half-split to interleaved pairs, `heads` heads of `head_dim`.
    Permute { heads: usize },
    /// Stored as `1 + w`.
    PlusOne,
    /// The HF tensors stacked along a new outermost dimension.
    Stack,
    /// Rows `(heads, 3, head_dim)` regrouped as `(3, heads, head_dim)`.
    PerHeadQkv { heads: usize },
}

/// One GGUF tensor.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Its GGUF name (`blk.0.attn_q.weight`).
    pub gguf: String,
    /// The HF tensors it holds (one, except for [`Rule::Stack`]).
    pub hf: Vec<String>,
    pub rule: Rule,
}

/// Every GGUF tensor of `cfg` (the derived RoPE factor tensors aside), in transformers' order.
/// `permute`: whether q/k rows are reordered for a `llama`-style RoPE.
pub(crate) fn table(cfg: &ModelConfig, permute: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    let norm_rule = if cfg.norm == NormKind::RmsPlusOne {
        Rule::PlusOne
    } else {
        Rule::Plain
    };
    let one = |out: &mut Vec<Entry>, g: String, hf: String, rule: Rule| {
        out.push(Entry {
            gguf: g,
            hf: vec![hf],
            rule,
        });
    };
    // A norm: weight (and LayerNorm's bias), none when the family's norms have no parameters.
    let norm = |out: &mut Vec<Entry>, g: &str, hf: &Option<String>| {
        let Some(hf) = hf else { return };
        match cfg.norm {
            NormKind::Parameterless => {}
            NormKind::Rms | NormKind::RmsPlusOne => {
                one(
                    out,
                    format!("{g}.weight"),
                    format!("{hf}.weight"),
                    norm_rule,
                );
            }
            NormKind::LayerNorm => {
                one(
                    out,
                    format!("{g}.weight"),
                    format!("{hf}.weight"),
                    Rule::Plain,
                );
                one(out, format!("{g}.bias"), format!("{hf}.bias"), Rule::Plain);
            }
        }
    };
    let linear = |out: &mut Vec<Entry>, g: &str, hf: &str, bias: bool, rule: Rule| {
        one(out, format!("{g}.weight"), format!("{hf}.weight"), rule);
        if bias {
            one(out, format!("{g}.bias"), format!("{hf}.bias"), rule);
        }
    };
    let names = model_names(cfg);
    one(
        &mut out,
        "token_embd.weight".into(),
        format!("{}.weight", names.embed),
        Rule::Plain,
    );
    for l in 0..cfg.num_hidden_layers {
        let n = layer_names(cfg, l);
        let b = |s: &str| format!("blk.{l}.{s}");
        norm(&mut out, &b("attn_norm"), &n.pre_attn);
        let (q_rule, k_rule) = if permute {
            (
                Rule::Permute {
                    heads: cfg.num_attention_heads,
                },
                Rule::Permute {
                    heads: cfg.num_key_value_heads,
                },
            )
        } else {
            (Rule::Plain, Rule::Plain)
        };
        match &n.qkv {
            QkvNames::Separate { q, k, v } => {
                linear(&mut out, &b("attn_q"), q, cfg.qkv_bias, q_rule);
                linear(&mut out, &b("attn_k"), k, cfg.qkv_bias, k_rule);
                linear(&mut out, &b("attn_v"), v, cfg.qkv_bias, Rule::Plain);
            }
            QkvNames::Fused(qkv) => {
                let rule = match cfg.qkv_layout {
                    QkvLayout::FusedPerHead => Rule::PerHeadQkv {
                        heads: cfg.num_attention_heads,
                    },
                    _ => Rule::Plain,
                };
                linear(&mut out, &b("attn_qkv"), qkv, cfg.qkv_bias, rule);
            }
        }
        linear(&mut out, &b("attn_output"), &n.o, cfg.o_bias, Rule::Plain);
        if let (Some(q), Some(k)) = (&n.q_norm, &n.k_norm) {
            one(
                &mut out,
                b("attn_q_norm.weight"),
                format!("{q}.weight"),
                norm_rule,
            );
            one(
                &mut out,
                b("attn_k_norm.weight"),
                format!("{k}.weight"),
                norm_rule,
            );
        }
        norm(&mut out, &b("post_attention_norm"), &n.post_attn);
        // GPT-NeoX's second (parallel) norm is llama.cpp's `ffn_norm` as well.
        norm(&mut out, &b("ffn_norm"), &n.pre_ffn);
        match &n.ffn {
            FfnNames::Gated { gate, up, down } => {
                linear(&mut out, &b("ffn_gate"), gate, cfg.mlp_bias, Rule::Plain);
                linear(&mut out, &b("ffn_up"), up, cfg.mlp_bias, Rule::Plain);
                linear(&mut out, &b("ffn_down"), down, cfg.mlp_bias, Rule::Plain);
            }
            // Phi-3: llama.cpp's `ffn_up` holds `[gate; up]` and splits it in the graph.
            FfnNames::FusedGated { gate_up, down } => {
                linear(&mut out, &b("ffn_up"), gate_up, cfg.mlp_bias, Rule::Plain);
                linear(&mut out, &b("ffn_down"), down, cfg.mlp_bias, Rule::Plain);
            }
            FfnNames::Plain { up, down } => {
                linear(&mut out, &b("ffn_up"), up, cfg.mlp_bias, Rule::Plain);
                linear(&mut out, &b("ffn_down"), down, cfg.mlp_bias, Rule::Plain);
            }
            FfnNames::Moe { router, experts } => {
                linear(&mut out, &b("ffn_gate_inp"), router, false, Rule::Plain);
                for (i, g) in ["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"]
                    .into_iter()
                    .enumerate()
                {
                    out.push(Entry {
                        gguf: b(&format!("{g}.weight")),
                        hf: experts.iter().map(|e| format!("{}.weight", e[i])).collect(),
                        rule: Rule::Stack,
                    });
                }
            }
        }
        norm(&mut out, &b("post_ffw_norm"), &n.post_ffn);
    }
    norm(&mut out, "output_norm", &Some(names.final_norm));
    if !cfg.tie_word_embeddings {
        one(
            &mut out,
            "output.weight".into(),
            format!("{}.weight", names.lm_head),
            Rule::Plain,
        );
    }
    out
}

/// Permutes the rows of a `[heads·d, cols]` matrix (or a bias, `cols` 1) from HF's half-split
/// order to llama.cpp's interleaved one (`inverse`: back).
pub fn permute_rows(w: &[f32], heads: usize, d: usize, cols: usize, inverse: bool) -> Vec<f32> {
    reorder(w, &permuted_order(heads, d, inverse), cols)
}

/// Row `i` of the result is row `order[i]` of `w` (`cols` per row).
fn reorder(w: &[f32], order: &[usize], cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; w.len()];
    for (to, &from) in order.iter().enumerate() {
        out[to * cols..(to + 1) * cols].copy_from_slice(&w[from * cols..(from + 1) * cols]);
    }
    out
}

/// [`permute_rows`] as indices: row `i` of the result is row `order[i]` of the input.
pub(crate) fn permuted_order(heads: usize, d: usize, inverse: bool) -> Vec<usize> {
    let mut order = vec![0; heads * d];
    for h in 0..heads {
        for i in 0..d / 2 {
            for j in 0..2 {
                let ggml = h * d + i * 2 + j;
                let hf = h * d + j * (d / 2) + i;
                let (to, from) = if inverse { (hf, ggml) } else { (ggml, hf) };
                order[to] = from;
            }
        }
    }
    order
}

/// Regroups rows `(heads, 3, d)` as `(3, heads, d)` (`inverse`: back); `cols` per row.
pub(crate) fn regroup_qkv(w: &[f32], heads: usize, cols: usize, inverse: bool) -> Vec<f32> {
    let rows = w.len() / cols.max(1);
    reorder(w, &regrouped_order(heads, rows, inverse), cols)
}

/// [`regroup_qkv`] as indices, for `rows` rows.
fn regrouped_order(heads: usize, rows: usize, inverse: bool) -> Vec<usize> {
    let d = rows / (3 * heads).max(1);
    let mut order = vec![0; rows];
    for h in 0..heads {
        for part in 0..3 {
            for r in 0..d {
                let hf = (h * 3 + part) * d + r;
                let ggml = (part * heads + h) * d + r;
                let (to, from) = if inverse { (hf, ggml) } else { (ggml, hf) };
                order[to] = from;
            }
        }
    }
    order
}

/// For an entry of `rows` GGUF rows holding `n` HF matrices: each matrix's GGUF rows, in order
/// (what [`import`] does to the values, as row indices); `None` where the rule changes values.
pub(crate) fn import_rows(
    rule: Rule,
    head_dim: usize,
    rows: usize,
    n: usize,
) -> Option<Vec<Vec<usize>>> {
    match rule {
        Rule::Plain => Some(vec![(0..rows).collect()]),
        Rule::Permute { heads } if heads * head_dim == rows => {
            Some(vec![permuted_order(heads, head_dim, true)])
        }
        Rule::Stack => {
            let each = rows / n.max(1);
            Some(
                (0..n)
                    .map(|p| (p * each..(p + 1) * each).collect())
                    .collect(),
            )
        }
        Rule::PerHeadQkv { heads } => Some(vec![regrouped_order(heads, rows, true)]),
        Rule::Permute { .. } | Rule::PlusOne => None,
    }
}

/// The GGUF data of an entry from its HF tensors' f32 data (each `cols` wide).
pub(crate) fn export(rule: Rule, head_dim: usize, parts: Vec<Vec<f32>>, cols: usize) -> Vec<f32> {
    let mut parts = parts;
    match rule {
        Rule::Stack => parts.concat(),
        _ => {
            let data = parts.pop().unwrap_or_default();
            match rule {
                Rule::Permute { heads } => permute_rows(&data, heads, head_dim, cols, false),
                Rule::PlusOne => data.iter().map(|w| 1.0 + w).collect(),
                Rule::PerHeadQkv { heads } => regroup_qkv(&data, heads, cols, false),
                Rule::Plain | Rule::Stack => data,
            }
        }
    }
}

/// The HF tensors' f32 data of an entry from its GGUF data (`n` HF tensors, each `cols` wide).
pub(crate) fn import(
    rule: Rule,
    head_dim: usize,
    data: Vec<f32>,
    n: usize,
    cols: usize,
) -> Vec<Vec<f32>> {
    match rule {
        Rule::Stack => {
            let each = data.len() / n.max(1);
            data.chunks(each.max(1)).map(<[f32]>::to_vec).collect()
        }
        Rule::Permute { heads } => vec![permute_rows(&data, heads, head_dim, cols, true)],
        Rule::PlusOne => vec![data.iter().map(|g| g - 1.0).collect()],
        Rule::PerHeadQkv { heads } => vec![regroup_qkv(&data, heads, cols, true)],
        Rule::Plain => vec![data],
    }
}
