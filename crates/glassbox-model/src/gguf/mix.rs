//! Which type each tensor of an exported model gets: one type for every matrix
//! ([`GgufQuant::Uniform`]) or one of llama.cpp's k-quant mixes ([`GgufQuant::Mix`]: `q4_k_m`,
//! `q5_k_m`, `q6_k`, `q4_k_s`, `q5_k_s`), chosen as `llama-quantize` chooses them for a model
//! without Mixture-of-Experts when no importance matrix is given.
//!
//! The rules of a mix, for the tensors llama.cpp quantizes (matrices whose name ends in `weight`,
//! norms excluded — those stay f32):
//!
//! - every matrix starts at the mix's base type: Q4_K (`q4_k_*`), Q5_K (`q5_k_*`), Q6_K (`q6_k`);
//! - `output.weight`, and `token_embd.weight` when the model has no separate `output.weight`
//!   (tied embeddings), become Q6_K, or Q8_0 when their rows are not whole 256-weight blocks;
//! - `_m`: `attn_v` and `ffn_down` become Q6_K in the layers that get more bits — the first and
//!   last eighth, and every third layer in between (`i < n/8`, `i ≥ 7n/8`, `(i − n/8) % 3 = 2`);
//!   a fused `attn_qkv` becomes Q5_K (`q4_k_m`) or Q6_K (`q5_k_m`);
//! - `q4_k_s`: `attn_v` of the first 4 layers and `ffn_down` of the first eighth become Q5_K;
//! - a 70B Llama (80 layers with grouped-query attention) raises the remaining Q4_K `attn_v`
//!   to Q5_K;
//! - a matrix whose rows are not whole blocks of its type falls back: Q4_K → Q5_0, Q5_K → Q5_1,
//!   Q6_K → Q8_0 (32-weight blocks), and to f16 when even those do not fit. (Where llama.cpp
//!   refuses a model — a Q8_0 matrix whose rows are not whole 32-weight blocks — glassbox writes
//!   f16.)
//!
//! The layer counters run in llama.cpp's tensor order (by layer, then by name), which for one
//! `attn_v` and one `ffn_down` per layer is the layer index.

use super::TensorType;

/// One of llama.cpp's k-quant file types (`llama-quantize`'s `Q4_K_M` …).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KMix {
    /// Q4_K, more bits for the first `attn_v` and `ffn_down` layers (file type 14).
    Q4_K_S,
    /// Q4_K, Q6_K for `attn_v`/`ffn_down` of the layers that matter most (15).
    Q4_K_M,
    /// Q5_K throughout (16).
    Q5_K_S,
    /// Q5_K, Q6_K for `attn_v`/`ffn_down` of the layers that matter most (17).
    Q5_K_M,
    /// Q6_K throughout (18).
    Q6_K,
}

impl KMix {
    const ALL: [KMix; 5] = [
        KMix::Q4_K_M,
        KMix::Q5_K_M,
        KMix::Q6_K,
        KMix::Q4_K_S,
        KMix::Q5_K_S,
    ];

    /// llama.cpp's name in lower case (`q4_k_m`).
    pub fn name(self) -> &'static str {
        match self {
            KMix::Q4_K_S => "q4_k_s",
            KMix::Q4_K_M => "q4_k_m",
            KMix::Q5_K_S => "q5_k_s",
            KMix::Q5_K_M => "q5_k_m",
            KMix::Q6_K => "q6_k",
        }
    }

    /// llama.cpp's `general.file_type` (`LLAMA_FTYPE_MOSTLY_*`).
    pub fn file_type(self) -> u32 {
        match self {
            KMix::Q4_K_S => 14,
            KMix::Q4_K_M => 15,
            KMix::Q5_K_S => 16,
            KMix::Q5_K_M => 17,
            KMix::Q6_K => 18,
        }
    }

    /// The type most matrices get.
    pub fn base(self) -> TensorType {
        match self {
            KMix::Q4_K_S | KMix::Q4_K_M => TensorType::Q4_K,
            KMix::Q5_K_S | KMix::Q5_K_M => TensorType::Q5_K,
            KMix::Q6_K => TensorType::Q6_K,
        }
    }
}

/// How an export stores its matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgufQuant {
    /// Every matrix as this type (norms f32). A matrix whose rows are not whole blocks falls back
    /// as in a mix for the k-quants (as `llama-quantize --pure` does), to f16 for the others.
    Uniform(TensorType),
    /// A llama.cpp k-quant mix.
    Mix(KMix),
}

impl From<TensorType> for GgufQuant {
    fn from(t: TensorType) -> Self {
        GgufQuant::Uniform(t)
    }
}

impl From<KMix> for GgufQuant {
    fn from(m: KMix) -> Self {
        GgufQuant::Mix(m)
    }
}

/// The names [`GgufQuant::from_name`] accepts, for messages and help.
pub const NAMES: &str = "f32, f16, bf16, q8_0, q6_k, q5_k_m, q5_k_s, q5_k, q5_1, q5_0, q4_k_m, q4_k_s, q4_k, q4_1 or q4_0";

impl GgufQuant {
    /// From a name as llama.cpp spells it in lower case: a mix (`q4_k_m`; `q6_k` is the Q6_K
    /// mix) or a type (`q8_0`, `q4_k`).
    pub fn from_name(name: &str) -> Option<Self> {
        if let Some(m) = KMix::ALL.into_iter().find(|m| m.name() == name) {
            return Some(GgufQuant::Mix(m));
        }
        TensorType::from_name(name).map(GgufQuant::Uniform)
    }

    /// The name [`GgufQuant::from_name`] reads back.
    pub fn name(self) -> &'static str {
        match self {
            GgufQuant::Uniform(t) => t.name(),
            GgufQuant::Mix(m) => m.name(),
        }
    }

    /// llama.cpp's `general.file_type` for the file.
    pub fn file_type(self) -> u32 {
        match self {
            GgufQuant::Mix(m) => m.file_type(),
            GgufQuant::Uniform(t) => match t {
                TensorType::F32 => 0,
                TensorType::F16 => 1,
                TensorType::Q4_0 => 2,
                TensorType::Q4_1 => 3,
                TensorType::Q8_0 => 7,
                TensorType::Q5_0 => 8,
                TensorType::Q5_1 => 9,
                // `llama-quantize --pure Q4_K_M` (and Q5_K_M) write these.
                TensorType::Q4_K => 15,
                TensorType::Q5_K => 17,
                TensorType::Q6_K => 18,
                TensorType::BF16 => 32,
            },
        }
    }

    /// Whether the file holds block-quantized tensors (`general.quantization_version`).
    pub fn is_quantized(self) -> bool {
        !matches!(
            self,
            GgufQuant::Uniform(TensorType::F32 | TensorType::F16 | TensorType::BF16)
        )
    }

    /// The type of every tensor of `tensors` (GGUF name, dimensions innermost first), in that
    /// order, for a model of `n_layer` layers; `llama_70b`: an 80-layer Llama with grouped-query
    /// attention (llama.cpp gives its `attn_v` more bits).
    pub fn tensor_types(
        self,
        tensors: &[(String, Vec<u64>)],
        n_layer: usize,
        llama_70b: bool,
    ) -> Vec<TensorType> {
        let mix = match self {
            GgufQuant::Mix(m) => m,
            GgufQuant::Uniform(ty) => {
                return tensors
                    .iter()
                    .map(|(_, dims)| match dims.len() {
                        0 | 1 => TensorType::F32,
                        _ if is_k_quant(ty) => fallback(ty, dims[0]),
                        _ if dims[0].is_multiple_of(ty.block_len() as u64) => ty,
                        _ => TensorType::F16,
                    })
                    .collect();
            }
        };
        let n_layer = n_layer as i64;
        let n_attn_v = tensors
            .iter()
            .filter(|(n, _)| matches!(category(n), Category::AttnV | Category::AttnQkv))
            .count() as i64;
        let tied = !tensors.iter().any(|(n, _)| n == "output.weight");
        // llama.cpp visits tensors by layer (non-layer ones first), then by name.
        let layer = |n: &str| -> i64 {
            n.strip_prefix("blk.")
                .and_then(|r| r.split('.').next())
                .and_then(|l| l.parse().ok())
                .unwrap_or(-1)
        };
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        order.sort_by(|&a, &b| {
            let (na, nb) = (&tensors[a].0, &tensors[b].0);
            (layer(na), na).cmp(&(layer(nb), nb))
        });
        let (mut i_attn_v, mut i_ffn_down) = (0i64, 0i64);
        let mut out = vec![TensorType::F32; tensors.len()];
        for i in order {
            let (name, dims) = &tensors[i];
            if !quantized(name, dims) {
                continue;
            }
            let cat = category(name);
            let base = mix.base();
            let ty = match cat {
                Category::Output | Category::TokenEmbd if cat == Category::Output || tied => {
                    if !dims[0].is_multiple_of(base.block_len() as u64) {
                        TensorType::Q8_0
                    } else {
                        TensorType::Q6_K
                    }
                }
                Category::AttnV | Category::AttnQkv => {
                    let mut t = base;
                    if cat == Category::AttnQkv {
                        t = match mix {
                            KMix::Q4_K_M => TensorType::Q5_K,
                            KMix::Q5_K_M => TensorType::Q6_K,
                            _ => t,
                        };
                    } else if matches!(mix, KMix::Q4_K_M | KMix::Q5_K_M)
                        && more_bits(i_attn_v, n_attn_v)
                    {
                        t = TensorType::Q6_K;
                    } else if mix == KMix::Q4_K_S && i_attn_v < 4 {
                        t = TensorType::Q5_K;
                    }
                    if llama_70b && t == TensorType::Q4_K {
                        t = TensorType::Q5_K;
                    }
                    i_attn_v += 1;
                    t
                }
                Category::FfnDown => {
                    let t = match mix {
                        KMix::Q4_K_M | KMix::Q5_K_M if more_bits(i_ffn_down, n_layer) => {
                            TensorType::Q6_K
                        }
                        KMix::Q4_K_S if i_ffn_down < n_layer / 8 => TensorType::Q5_K,
                        _ => base,
                    };
                    i_ffn_down += 1;
                    t
                }
                _ => base,
            };
            out[i] = fallback(ty, dims[0]);
        }
        out
    }
}

fn is_k_quant(t: TensorType) -> bool {
    matches!(t, TensorType::Q4_K | TensorType::Q5_K | TensorType::Q6_K)
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third one
/// in between.
fn more_bits(i: i64, n: i64) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// `ty`, or what llama.cpp uses instead when rows of `cols` weights are not whole blocks of it.
fn fallback(ty: TensorType, cols: u64) -> TensorType {
    let fits = |t: TensorType| cols.is_multiple_of(t.block_len() as u64);
    if fits(ty) {
        return ty;
    }
    let next = match ty {
        TensorType::Q4_K => TensorType::Q5_0,
        TensorType::Q5_K => TensorType::Q5_1,
        TensorType::Q6_K => TensorType::Q8_0,
        _ => TensorType::F16,
    };
    if fits(next) { next } else { TensorType::F16 }
}

/// Whether llama.cpp quantizes the tensor (else it keeps the source's f32).
fn quantized(name: &str, dims: &[u64]) -> bool {
    dims.len() >= 2 && name.ends_with("weight") && !name.contains("_norm.weight")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Output,
    TokenEmbd,
    AttnV,
    AttnQkv,
    FfnDown,
    Other,
}

/// llama.cpp's broad tensor categories, by name.
fn category(name: &str) -> Category {
    match name {
        "output.weight" => Category::Output,
        "token_embd.weight" => Category::TokenEmbd,
        n if n.contains("attn_qkv.weight") || n.contains("attn_kv_b.weight") => Category::AttnQkv,
        n if n.contains("attn_v.weight") => Category::AttnV,
        n if n.contains("ffn_down") => Category::FfnDown,
        _ => Category::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TensorType::*;

    /// A Llama's GGUF tensors: `n` layers of hidden `h`, MLP `f`, untied output when `output`.
    fn llama(n: usize, h: u64, f: u64, output: bool) -> Vec<(String, Vec<u64>)> {
        let mut t = vec![("token_embd.weight".to_string(), vec![h, 1000])];
        for l in 0..n {
            for (p, d) in [
                ("attn_norm.weight", vec![h]),
                ("attn_q.weight", vec![h, h]),
                ("attn_k.weight", vec![h, h / 4]),
                ("attn_v.weight", vec![h, h / 4]),
                ("attn_output.weight", vec![h, h]),
                ("ffn_norm.weight", vec![h]),
                ("ffn_gate.weight", vec![h, f]),
                ("ffn_up.weight", vec![h, f]),
                ("ffn_down.weight", vec![f, h]),
            ] {
                t.push((format!("blk.{l}.{p}"), d));
            }
        }
        t.push(("output_norm.weight".into(), vec![h]));
        if output {
            t.push(("output.weight".into(), vec![h, 1000]));
        }
        t
    }

    fn of(t: &[(String, Vec<u64>)], ty: &[TensorType], name: &str) -> TensorType {
        ty[t.iter().position(|(n, _)| n == name).unwrap()]
    }

    #[test]
    fn q4_k_m_gives_more_bits_to_the_layers_that_matter() {
        let t = llama(16, 512, 1536, true);
        let ty = GgufQuant::Mix(KMix::Q4_K_M).tensor_types(&t, 16, false);
        // n = 16: more bits for i < 2, i >= 14, and (i - 2) % 3 == 2: 4, 7, 10, 13.
        let more = [0, 1, 4, 7, 10, 13, 14, 15];
        for l in 0..16 {
            let want = if more.contains(&l) { Q6_K } else { Q4_K };
            assert_eq!(of(&t, &ty, &format!("blk.{l}.attn_v.weight")), want, "{l}");
            assert_eq!(
                of(&t, &ty, &format!("blk.{l}.ffn_down.weight")),
                want,
                "{l}"
            );
            assert_eq!(of(&t, &ty, &format!("blk.{l}.attn_q.weight")), Q4_K);
            assert_eq!(of(&t, &ty, &format!("blk.{l}.attn_norm.weight")), F32);
        }
        assert_eq!(of(&t, &ty, "output.weight"), Q6_K);
        assert_eq!(of(&t, &ty, "token_embd.weight"), Q4_K);
        assert_eq!(of(&t, &ty, "output_norm.weight"), F32);
    }

    #[test]
    fn rows_that_are_not_whole_k_blocks_fall_back() {
        // SmolLM2-135M's shape: hidden 576 (not a multiple of 256), MLP 1536, tied.
        let t = llama(30, 576, 1536, false);
        for (mix, base_fb) in [
            (KMix::Q4_K_M, Q5_0),
            (KMix::Q5_K_M, Q5_1),
            (KMix::Q6_K, Q8_0),
        ] {
            let ty = GgufQuant::Mix(mix).tensor_types(&t, 30, false);
            assert_eq!(of(&t, &ty, "token_embd.weight"), Q8_0, "{mix:?}");
            assert_eq!(of(&t, &ty, "blk.3.attn_q.weight"), base_fb, "{mix:?}");
            // ffn_down's rows are 1536 long: whole blocks.
            assert_eq!(of(&t, &ty, "blk.3.ffn_down.weight"), mix.base(), "{mix:?}");
            // attn_v of a layer with more bits is Q6_K, whose fallback is Q8_0.
            assert_eq!(of(&t, &ty, "blk.0.attn_v.weight"), Q8_0, "{mix:?}");
            assert_eq!(of(&t, &ty, "blk.3.attn_v.weight"), base_fb, "{mix:?}");
        }
        let ty = GgufQuant::Uniform(Q4_K).tensor_types(&t, 30, false);
        assert_eq!(of(&t, &ty, "token_embd.weight"), Q5_0);
        assert_eq!(fallback(Q4_K, 48), F16);
        assert_eq!(fallback(Q8_0, 48), F16);
        let ty = GgufQuant::Uniform(Q8_0).tensor_types(&llama(1, 48, 64, true), 1, false);
        assert_eq!((ty[1], ty[2]), (F32, F16));
    }

    #[test]
    fn small_mixes_and_tied_embeddings() {
        let t = llama(8, 256, 512, false);
        let ty = GgufQuant::Mix(KMix::Q4_K_S).tensor_types(&t, 8, false);
        assert_eq!(of(&t, &ty, "token_embd.weight"), Q6_K);
        for l in 0..8 {
            let v = if l < 4 { Q5_K } else { Q4_K };
            assert_eq!(of(&t, &ty, &format!("blk.{l}.attn_v.weight")), v);
            let d = if l < 1 { Q5_K } else { Q4_K };
            assert_eq!(of(&t, &ty, &format!("blk.{l}.ffn_down.weight")), d);
        }
        let ty = GgufQuant::Mix(KMix::Q4_K_S).tensor_types(&t, 8, true);
        assert_eq!(of(&t, &ty, "blk.6.attn_v.weight"), Q5_K);
        let ty = GgufQuant::Mix(KMix::Q5_K_S).tensor_types(&t, 8, false);
        assert!(ty.iter().all(|&t| matches!(t, Q5_K | Q6_K | F32)));
    }

    #[test]
    fn names_and_file_types() {
        for (n, ft) in [
            ("q4_k_m", 15),
            ("q4_k_s", 14),
            ("q5_k_m", 17),
            ("q5_k_s", 16),
            ("q6_k", 18),
            ("q8_0", 7),
            ("q5_1", 9),
            ("f16", 1),
        ] {
            let q = GgufQuant::from_name(n).unwrap();
            assert_eq!(q.name(), n);
            assert_eq!(q.file_type(), ft, "{n}");
        }
        assert_eq!(GgufQuant::from_name("q4_k"), Some(GgufQuant::Uniform(Q4_K)));
        assert!(GgufQuant::from_name("q3_k_m").is_none());
    }
}
