//! Rotary position embeddings (Su et al., "RoFormer", 2021, <https://arxiv.org/abs/2104.09864>)
//! in the "rotate half" layout transformers uses for Llama, Mistral and Qwen2
//! (`modeling_rope_utils.py` and `apply_rotary_pos_emb` in `modeling_llama.py`).
//!
//! Frequencies and angles are computed in f32 exactly as transformers does (`base ** (2i / d)`,
//! then `position * inv_freq` in f32), because logits are compared with it at 1e-4.

use candle_core::{Device, Tensor};

use crate::Result;
use crate::config::RopeScaling;

/// Inverse frequencies of the rotated part of a head (`rotary_dim / 2` values), with the
/// configured scaling applied.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f32>,
    /// LongRoPE: frequencies for sequences past `long_from` positions, and the factor cos and
    /// sin are multiplied by.
    long: Option<(Vec<f32>, usize)>,
    attention_factor: f32,
}

impl Rope {
    /// Frequencies for `rotary_dim` rotated dimensions with base `theta`; `max_position_embeddings`
    /// sets LongRoPE's default attention factor.
    pub fn new(
        head_dim: usize,
        theta: f64,
        scaling: &RopeScaling,
        max_position_embeddings: usize,
    ) -> Self {
        let base = theta as f32;
        let mut inv_freq: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
            .collect();
        let mut long = None;
        let mut attention_factor = 1.0f32;
        match *scaling {
            RopeScaling::None => {}
            RopeScaling::LongRope {
                ref short_factor,
                ref long_factor,
                original_max_position_embeddings,
                factor,
                attention_factor: given,
            } => {
                // transformers `_compute_longrope_parameters`: inv_freq = 1 / (ext · base^(2i/d))
                // in f32, attention factor sqrt(1 + ln f / ln original) unless given.
                let original = original_max_position_embeddings;
                let f = factor.unwrap_or(max_position_embeddings as f64 / original as f64);
                attention_factor = given.unwrap_or(if f <= 1.0 {
                    1.0
                } else {
                    (1.0 + f.ln() / (original as f64).ln()).sqrt()
                }) as f32;
                let scaled = |ext: &[f64]| -> Vec<f32> {
                    (0..head_dim)
                        .step_by(2)
                        .zip(ext)
                        .map(|(i, &e)| 1.0 / (e as f32 * base.powf(i as f32 / head_dim as f32)))
                        .collect()
                };
                long = Some((scaled(long_factor), original));
                inv_freq = scaled(short_factor);
            }
            RopeScaling::Linear { factor } => {
                inv_freq.iter_mut().for_each(|f| *f /= factor as f32);
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                // transformers `_compute_llama3_parameters`: wavelengths longer than
                // old_ctx / low_freq_factor are divided by `factor`, shorter than
                // old_ctx / high_freq_factor kept, and the band between interpolated.
                let (factor, low, high) = (
                    factor as f32,
                    low_freq_factor as f32,
                    high_freq_factor as f32,
                );
                let old_ctx = original_max_position_embeddings as f32;
                let low_wavelen = old_ctx / low;
                let high_wavelen = old_ctx / high;
                for f in inv_freq.iter_mut() {
                    let wavelen = 2.0 * std::f32::consts::PI / *f;
                    if wavelen > low_wavelen {
                        *f /= factor;
                    } else if wavelen >= high_wavelen {
                        let smooth = (old_ctx / wavelen - low) / (high - low);
                        *f = (1.0 - smooth) * *f / factor + smooth * *f;
                    }
                }
            }
        }
        Self {
            inv_freq,
            long,
            attention_factor,
        }
    }

    /// The inverse frequencies.
    pub fn inv_freq(&self) -> &[f32] {
        &self.inv_freq
    }

    /// `cos` and `sin` tables, each `(B, T, rotary_dim / 2)`, for the given positions (`B` rows
    /// of `T` positions each). With LongRoPE a row whose last position reaches the pre-training
    /// context uses the long factors throughout.
    pub fn cos_sin(&self, positions: &[Vec<u32>], device: &Device) -> Result<(Tensor, Tensor)> {
        let b = positions.len();
        let t = positions.first().map_or(0, Vec::len);
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(b * t * half);
        let mut sin = Vec::with_capacity(b * t * half);
        let a = self.attention_factor;
        for row in positions {
            let freqs = match &self.long {
                Some((long, from)) if row.iter().max().is_some_and(|&m| m as usize + 1 > *from) => {
                    long
                }
                _ => &self.inv_freq,
            };
            for &p in row {
                for &f in freqs {
                    let angle = p as f32 * f;
                    if a == 1.0 {
                        cos.push(angle.cos());
                        sin.push(angle.sin());
                    } else {
                        cos.push(angle.cos() * a);
                        sin.push(angle.sin() * a);
                    }
                }
            }
        }
        Ok((
            Tensor::from_vec(cos, (b, t, half), device)?,
            Tensor::from_vec(sin, (b, t, half), device)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let plain = Rope::new(64, 500_000.0, &RopeScaling::None, 8192);
        let scaled = Rope::new(
            64,
            500_000.0,
            &RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192,
            },
            131072,
        );
        // Highest frequency (wavelength 2π) is untouched; the lowest is divided by the factor.
        assert_eq!(plain.inv_freq()[0], scaled.inv_freq()[0]);
        let last = plain.inv_freq().len() - 1;
        assert!((plain.inv_freq()[last] / 8.0 - scaled.inv_freq()[last]).abs() < 1e-12);
    }
}
