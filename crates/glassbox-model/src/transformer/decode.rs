//! The batch-invariant decoding step of [`Transformer`]: one new token for each of several
//! independent sequences, each with its own [`SeqCache`], as the server's scheduler runs it.

use candle_core::Tensor;

use super::{Linear, Transformer};
use crate::seq_cache::SeqCache;
use crate::{ModelError, Result};

impl Transformer {
    /// One decoding step for several independent sequences, each with its own [`SeqCache`]:
    /// `tokens[i]` is sequence `i`'s newest token, fed at position `caches[i].len()`. Returns each
    /// sequence's next-token logits.
    ///
    /// Batch invariance: the weight products run on all rows at once through the matrix–vector
    /// kernel, whose every output is one dot product computed the same way whatever the number of
    /// rows (and threads); norms and element-wise operations work row by row; RoPE and attention
    /// run per sequence over its own cache, as plain loops with a fixed order. A sequence's
    /// logits are therefore bit-identical whether it is decoded alone or beside others, which
    /// lets a server batch requests without changing any request's result. (On a non-CPU device
    /// or non-f32 weights the products fall back to GEMM and the promise does not hold.)
    pub fn decode_step(
        &self,
        tokens: &[u32],
        caches: &mut [&mut SeqCache],
    ) -> Result<Vec<Vec<f32>>> {
        use rayon::prelude::*;
        let n = tokens.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if caches.len() != n {
            return Err(ModelError::Input(format!(
                "{} caches for {n} sequences",
                caches.len()
            )));
        }
        let max_pos = self.cfg.max_position_embeddings;
        let mut positions = Vec::with_capacity(n);
        for (i, c) in caches.iter().enumerate() {
            if c.len() + 1 > max_pos {
                return Err(ModelError::Input(format!(
                    "sequence {i}: {} positions exceed the model's max_position_embeddings ({max_pos})",
                    c.len() + 1
                )));
            }
            positions.push(vec![c.len() as u32]);
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.cfg.vocab_size) {
            return Err(ModelError::Input(format!(
                "token id {bad} is outside the vocabulary (size {})",
                self.cfg.vocab_size
            )));
        }
        let (nq, nkv, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.num_key_value_heads,
            self.cfg.head_dim,
        );
        let half = hd / 2;
        // (n, 1, hd/2) each, flattened: row i is sequence i's position.
        let (cos, sin) = self.rope.cos_sin(&positions, &self.device)?;
        let (cos, sin) = (
            cos.flatten_all()?.to_vec1::<f32>()?,
            sin.flatten_all()?.to_vec1::<f32>()?,
        );
        // transformers' rotate_half convention: (x1, x2) -> (x1·cos − x2·sin, x2·cos + x1·sin).
        let rope = |x: &mut [f32], heads: usize, i: usize| {
            let (c, s) = (
                &cos[i * half..(i + 1) * half],
                &sin[i * half..(i + 1) * half],
            );
            for h in 0..heads {
                let v = &mut x[h * hd..(h + 1) * hd];
                for j in 0..half {
                    let (a, b) = (v[j], v[j + half]);
                    v[j] = a * c[j] - b * s[j];
                    v[j + half] = b * c[j] + a * s[j];
                }
            }
        };
        let ids = Tensor::from_vec(tokens.to_vec(), n, &self.device)?;
        // (n) -> (n, H)
        let mut x = self.embed.index_select(&ids, 0)?;
        for (l, layer) in self.layers.iter().enumerate() {
            let h = match &layer.input_norm {
                Some(n) => self.norm(&x, n)?,
                None => x.clone(),
            };
            // (n, H) -> (n, nq·hd), (n, nkv·hd)
            let q = self.clip(layer.q.forward_rows(&h)?)?;
            let k = self.clip(layer.k.forward_rows(&h)?)?;
            let q = self.head_norm(q, layer.q_norm.as_ref(), n * nq)?;
            let k = self.head_norm(k, layer.k_norm.as_ref(), n * nkv)?;
            let mut q = q.flatten_all()?.to_vec1::<f32>()?;
            let mut k = k.flatten_all()?.to_vec1::<f32>()?;
            let v = self
                .clip(layer.v.forward_rows(&h)?)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let mut y = vec![0f32; n * nq * hd];
            // One task per sequence: its RoPE, cache append and attention, in a fixed order.
            caches
                .par_iter_mut()
                .zip(q.par_chunks_mut(nq * hd))
                .zip(k.par_chunks_mut(nkv * hd))
                .zip(v.par_chunks(nkv * hd))
                .zip(y.par_chunks_mut(nq * hd))
                .enumerate()
                .for_each(|(i, ((((cache, qi), ki), vi), yi))| {
                    if layer.rope {
                        rope(qi, nq, i);
                        rope(ki, nkv, i);
                    }
                    cache.push(l, ki, vi);
                    cache.attend(l, qi, nq, layer.attention, yi);
                });
            let y = Tensor::from_vec(y, (n, nq * hd), &self.device)?;
            let a = layer.o.forward_rows(&y)?;
            let mlp = |h: &Tensor| -> Result<Tensor> {
                let gate = layer.gate.forward_rows(h)?.silu()?;
                let up = layer.up.forward_rows(h)?;
                layer.down.forward_rows(&(gate * up)?)
            };
            x = match &layer.post_ff_norm {
                Some(ff) => {
                    let x = (&x + self.norm(&a, &layer.post_attention_norm)?)?;
                    let m = mlp(&x)?;
                    (&x + self.norm(&m, ff)?)?
                }
                None => {
                    let x = (x + a)?;
                    let h = self.norm(&x, &layer.post_attention_norm)?;
                    (&x + mlp(&h)?)?
                }
            };
        }
        for c in caches.iter_mut() {
            c.advance();
        }
        let x = self.norm(&x, &self.norm)?;
        let head = Linear {
            w: self.lm_head.as_ref().unwrap_or(&self.embed).clone(),
            b: None,
        };
        Ok(head.forward_rows(&x)?.to_vec2()?)
    }
}
