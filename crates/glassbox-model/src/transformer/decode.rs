//! The batch-invariant decoding step of [`Transformer`]: one new token for each of several
//! independent sequences, each with its own [`SeqCache`], as the server's scheduler runs it.

use std::sync::{Mutex, PoisonError};

use candle_core::Tensor;

use super::{Linear, Mm, Transformer};
use crate::seq_cache::SeqCache;
use crate::{ModelError, Result};

impl Transformer {
    /// One decoding step for several independent sequences, each with its own [`SeqCache`]:
    /// `tokens[i]` is sequence `i`'s newest token, fed at position `caches[i].len()`. Returns each
    /// sequence's next-token logits.
    ///
    /// Batch invariance: the weight products run on all rows at once through the matrix–vector
    /// kernel, whose every output is one dot product computed the same way whatever the number of
    /// rows (and threads); norms and element-wise operations work row by row; a mixture of
    /// experts routes and sums each row on its own; RoPE and attention run per sequence over its
    /// own cache, as plain loops with a fixed order. A sequence's logits are therefore
    /// bit-identical whether it is decoded alone or beside others, which lets a server batch
    /// requests without changing any request's result. (On a non-CPU device or non-f32 weights
    /// the products fall back to GEMM and the promise does not hold.)
    pub fn decode_step(
        &self,
        tokens: &[u32],
        caches: &mut [&mut SeqCache],
    ) -> Result<Vec<Vec<f32>>> {
        // The step's many short products run on a team that stays awake through it
        // (`crate::team`): same results, fewer thread wake-ups.
        crate::team::session(|| self.decode_step_body(tokens, caches))
    }

    fn decode_step_body(
        &self,
        tokens: &[u32],
        caches: &mut [&mut SeqCache],
    ) -> Result<Vec<Vec<f32>>> {
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
        // LongRoPE: a sequence reaching the pre-training context is recomputed alone with the
        // long factors (as transformers' Phi-3 drops its cache there); the rest decode together.
        if let Some(at) = self.rope_switch()
            && caches.iter().any(|c| c.len() == at)
        {
            let mut out = vec![Vec::new(); n];
            let mut rest_tokens = Vec::new();
            let mut rest_caches: Vec<&mut SeqCache> = Vec::new();
            let mut rest_index = Vec::new();
            for (i, c) in caches.iter_mut().enumerate() {
                if c.len() == at {
                    let mut all = c.fed().to_vec();
                    all.push(tokens[i]);
                    let ids = Tensor::from_vec(all.clone(), (1, all.len()), &self.device)?;
                    let mut kv = crate::KvCache::new(&self.cfg, vec![0], &self.device);
                    let logits = self.forward(&ids, &[], Some(&mut kv), crate::Logits::Last)?;
                    out[i] = logits.flatten_all()?.to_vec1::<f32>()?;
                    **c = SeqCache::from_kv_cache(&kv)?;
                } else {
                    rest_tokens.push(tokens[i]);
                    rest_caches.push(&mut **c);
                    rest_index.push(i);
                }
            }
            let rest = self.decode_step_body(&rest_tokens, &mut rest_caches)?;
            for (i, logits) in rest_index.into_iter().zip(rest) {
                out[i] = logits;
            }
            return Ok(out);
        }
        let (nq, nkv, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.num_key_value_heads,
            self.cfg.head_dim,
        );
        let half = self.cfg.rotary_dim / 2;
        // Per RoPE: (n, 1, rd/2) each, flattened; row i is sequence i's position.
        let mut tables = Vec::with_capacity(self.ropes.len());
        for r in &self.ropes {
            let (cos, sin) = r.cos_sin(&positions, &self.device)?;
            tables.push((
                cos.flatten_all()?.to_vec1::<f32>()?,
                sin.flatten_all()?.to_vec1::<f32>()?,
            ));
        }
        // transformers' rotate_half convention over the first rotary_dim dimensions of each head:
        // (x1, x2) -> (x1·cos − x2·sin, x2·cos + x1·sin).
        let rope = |x: &mut [f32], heads: usize, i: usize, table: &(Vec<f32>, Vec<f32>)| {
            let (c, s) = (
                &table.0[i * half..(i + 1) * half],
                &table.1[i * half..(i + 1) * half],
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
        let scale = self.cfg.attention_scale() as f32;
        let softcap = self.cfg.attn_logit_softcapping.map(|c| c as f32);
        let ids = Tensor::from_vec(tokens.to_vec(), n, &self.device)?;
        // (n) -> (n, H)
        let mut x = self.embed_tokens(&ids)?;
        for (l, layer) in self.layers.iter().enumerate() {
            let h = self.maybe_norm(&x, layer.pre_attn.as_ref())?;
            // (n, H) -> (n, nq·hd), (n, nkv·hd)
            let [q, k, v] = self.qkv_rows(layer, &h, Mm::Rows)?;
            let mut q = q.flatten_all()?.to_vec1::<f32>()?;
            let mut k = k.flatten_all()?.to_vec1::<f32>()?;
            let v = v.flatten_all()?.to_vec1::<f32>()?;
            let mut y = vec![0f32; n * nq * hd];
            let table = layer.rope.map(|r| &tables[r]);
            // One task per sequence: its RoPE, cache append and attention, in a fixed order (on
            // the step's team; each task locks only its own sequence's parts).
            {
                let seqs: Vec<Mutex<_>> = caches
                    .iter_mut()
                    .zip(q.chunks_mut(nq * hd))
                    .zip(k.chunks_mut(nkv * hd))
                    .zip(v.chunks(nkv * hd))
                    .zip(y.chunks_mut(nq * hd))
                    .map(Mutex::new)
                    .collect();
                crate::team::for_each_task(n, &|i| {
                    let mut seq = seqs[i].lock().unwrap_or_else(PoisonError::into_inner);
                    let ((((cache, qi), ki), vi), yi) = &mut *seq;
                    if let Some(t) = table {
                        rope(qi, nq, i, t);
                        rope(ki, nkv, i, t);
                    }
                    cache.push(l, ki, vi);
                    cache.attend(l, qi, nq, layer.attention, scale, softcap, yi);
                });
            }
            let y = Tensor::from_vec(y, (n, nq * hd), &self.device)?;
            let a = layer.o.mm(&y, Mm::Rows)?;
            let a = self.maybe_norm(&a, layer.post_attn.as_ref())?;
            x = self.join(layer, x, a, |h| self.ffn(layer, h, Mm::Rows, None))?;
        }
        for (c, &t) in caches.iter_mut().zip(tokens) {
            c.advance(t);
        }
        let x = self.apply_norm(&x, &self.norm)?;
        let head = Linear {
            w: self.lm_head.as_ref().unwrap_or(&self.embed).clone(),
            b: None,
            lora: None,
        };
        Ok(self.cap_logits(head.mm(&x, Mm::Rows)?)?.to_vec2()?)
    }
}
