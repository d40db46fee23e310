//! The blocks of [`Transformer`]'s forward pass: norms, activations, RoPE, attention, the dense
//! MLPs and the mixture of experts, each in a fused (inference) and a differentiable (training)
//! form that agree within f32 rounding.

use candle_core::{D, Tensor};

use super::{Expert, Ffn, Kernels, Layer, Linear, Mm, Norm, Qkv, RouterRecord, Transformer};
use crate::Result;
use crate::config::{Activation, QkNorm};
use crate::kv_cache::KvCache;
use crate::topk::topk_like_torch;

impl Transformer {
    /// Rows of the embedding matrix for `ids` `(N)`, scaled by `sqrt(H)` where the family says.
    pub(super) fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        let x = match &self.embed {
            super::Weight::Dense(e) => e.index_select(ids, 0)?.to_dtype(candle_core::DType::F32)?,
            super::Weight::Quant(q) => {
                let ids = ids.to_vec1::<u32>()?;
                let h = q.dims().1;
                Tensor::from_vec(q.rows_f32(&ids), (ids.len(), h), &self.device)?
            }
        };
        if self.cfg.embed_scale {
            // transformers multiplies by sqrt(H) cast to the activations' dtype.
            let s = (self.cfg.hidden_size as f64).sqrt() as f32;
            Ok((x * f64::from(s))?)
        } else {
            Ok(x)
        }
    }

    /// `cap · tanh(z / cap)` of the output logits, where the family soft-caps them.
    pub(super) fn cap_logits(&self, z: Tensor) -> Result<Tensor> {
        match self.cfg.final_logit_softcapping {
            Some(cap) => Ok(((z / cap)?.tanh()? * cap)?),
            None => Ok(z),
        }
    }

    pub(super) fn maybe_norm(&self, x: &Tensor, n: Option<&Norm>) -> Result<Tensor> {
        match n {
            Some(n) => self.apply_norm(x, n),
            None => Ok(x.clone()),
        }
    }

    /// `n` over the last dimension, row by row.
    pub(super) fn apply_norm(&self, x: &Tensor, n: &Norm) -> Result<Tensor> {
        let eps = self.cfg.rms_norm_eps;
        match n {
            Norm::Rms(w) => self.rms_norm(x, w),
            Norm::RmsPlusOne(w) => self.rms_norm(x, &(w + 1.0)?),
            Norm::Plain => {
                let xc = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
                let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
                Ok(xc.broadcast_div(&(var + eps)?.sqrt()?)?)
            }
            Norm::Layer(w, b) => match self.kernels {
                Kernels::Fused => Ok(candle_nn::ops::layer_norm(
                    &x.contiguous()?,
                    w,
                    b,
                    eps as f32,
                )?),
                Kernels::Differentiable => {
                    let xc = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
                    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
                    Ok(xc
                        .broadcast_div(&(var + eps)?.sqrt()?)?
                        .broadcast_mul(w)?
                        .broadcast_add(b)?)
                }
            },
        }
    }

    fn rms_norm(&self, x: &Tensor, w: &Tensor) -> Result<Tensor> {
        let eps = self.cfg.rms_norm_eps;
        match self.kernels {
            Kernels::Fused => Ok(candle_nn::ops::rms_norm(&x.contiguous()?, w, eps as f32)?),
            Kernels::Differentiable if crate::fused::applies(x) && crate::fused::applies(w) => {
                Ok(crate::fused::rms_norm(x, w, eps)?)
            }
            Kernels::Differentiable => {
                // transformers: x * rsqrt(mean(x²) + eps) * w
                let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
                Ok(x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)?)
            }
        }
    }

    /// The query/key norm `n` of `x` (`rows` heads of `head_dim` in all, any leading shape):
    /// over each head, or over each whole projection row, as the configuration says.
    pub(super) fn head_norm(&self, x: Tensor, n: Option<&Norm>, rows: usize) -> Result<Tensor> {
        match n {
            None => Ok(x),
            Some(n) if self.cfg.qk_norm == QkNorm::Whole => self.apply_norm(&x, n),
            Some(n) => {
                let shape = x.dims().to_vec();
                let y = self.apply_norm(&x.reshape((rows, self.cfg.head_dim))?, n)?;
                Ok(y.reshape(shape)?)
            }
        }
    }

    /// OLMo's q/k/v clamp to `±clip_qkv`, when the configuration sets it.
    pub(super) fn clip(&self, x: Tensor) -> Result<Tensor> {
        match self.cfg.clip_qkv {
            Some(c) => Ok(x.clamp(-c as f32, c as f32)?),
            None => Ok(x),
        }
    }

    /// The MLP activation.
    pub(super) fn act(&self, x: &Tensor) -> Result<Tensor> {
        let diff = self.kernels == Kernels::Differentiable;
        Ok(match self.cfg.hidden_act {
            Activation::Silu => x.silu()?,
            Activation::Gelu if !diff => x.gelu_erf()?,
            // 0.5 · x · (1 + erf(x / √2)), from ops with exact gradients.
            Activation::Gelu => ((x * 0.5)? * ((x / std::f64::consts::SQRT_2)?.erf()? + 1.0)?)?,
            Activation::GeluTanh if !diff => x.gelu()?,
            // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³))).
            Activation::GeluTanh => {
                let inner =
                    ((x + (x.powf(3.0)? * 0.044715)?)? * (2.0 / std::f64::consts::PI).sqrt())?;
                ((x * 0.5)? * (inner.tanh()? + 1.0)?)?
            }
        })
    }

    /// RoPE of the first `rotary_dim` dimensions of `x` `(B, n, T, hd)`; the rest pass through.
    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let hd = self.cfg.head_dim;
        let rd = self.cfg.rotary_dim;
        if rd == hd {
            return self.rope_full(x, cos, sin);
        }
        let rot = self.rope_full(&x.narrow(D::Minus1, 0, rd)?.contiguous()?, cos, sin)?;
        let pass = x.narrow(D::Minus1, rd, hd - rd)?;
        Ok(Tensor::cat(&[&rot, &pass], D::Minus1)?.contiguous()?)
    }

    fn rope_full(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        match self.kernels {
            Kernels::Fused => Ok(candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)?),
            Kernels::Differentiable
                if crate::fused::applies(x) && crate::fused::applies(cos) && cos.rank() == 3 =>
            {
                Ok(crate::fused::rope(x, cos, sin)?)
            }
            Kernels::Differentiable => {
                // x·cos + rotate_half(x)·sin, with cos/sin (B, T, d/2) duplicated to d and
                // broadcast over heads: (B, 1, T, d).
                let cos = Tensor::cat(&[cos, cos], D::Minus1)?.unsqueeze(1)?;
                let sin = Tensor::cat(&[sin, sin], D::Minus1)?.unsqueeze(1)?;
                let half = x.dim(D::Minus1)? / 2;
                let x1 = x.narrow(D::Minus1, 0, half)?;
                let x2 = x.narrow(D::Minus1, half, half)?;
                let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
                Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
            }
        }
    }

    fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        match self.kernels {
            Kernels::Fused => Ok(candle_nn::ops::softmax_last_dim(&x.contiguous()?)?),
            Kernels::Differentiable => Ok(candle_nn::ops::softmax(x, D::Minus1)?),
        }
    }

    /// q, k, v `(M, n·hd)` of the token rows `x` `(M, H)`: the projections, split when fused,
    /// then the QK-norm and the clamp (transformers' order: OLMoE normalises, then clips).
    pub(super) fn qkv_rows(&self, layer: &Layer, x: &Tensor, mm: Mm) -> Result<[Tensor; 3]> {
        let (nq, nkv, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.num_key_value_heads,
            self.cfg.head_dim,
        );
        let m = x.dim(0)?;
        let [q, k, v] = match &layer.qkv {
            Qkv::Separate { q, k, v } => match Linear::mm_many([q, k, v], x, mm)? {
                Some(y) => y,
                None => [q.mm(x, mm)?, k.mm(x, mm)?, v.mm(x, mm)?],
            },
            Qkv::Fused { qkv, per_head } => {
                let y = qkv.mm(x, mm)?;
                if *per_head {
                    // GPT-NeoX: (M, nq·3·hd) viewed as (M, nq, 3·hd), chunked into q, k, v.
                    let y = y.reshape((m, nq, 3 * hd))?;
                    let part = |i: usize| -> Result<Tensor> {
                        Ok(y.narrow(2, i * hd, hd)?
                            .contiguous()?
                            .reshape((m, nq * hd))?)
                    };
                    [part(0)?, part(1)?, part(2)?]
                } else {
                    [
                        y.narrow(1, 0, nq * hd)?.contiguous()?,
                        y.narrow(1, nq * hd, nkv * hd)?.contiguous()?,
                        y.narrow(1, (nq + nkv) * hd, nkv * hd)?.contiguous()?,
                    ]
                }
            }
        };
        let q = self.clip(self.head_norm(q, layer.q_norm.as_ref(), m * nq)?)?;
        let k = self.clip(self.head_norm(k, layer.k_norm.as_ref(), m * nkv)?)?;
        Ok([q, k, self.clip(v)?])
    }

    /// Self-attention of `x` `(B, T, H)` (already normalised) through `layer`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn attention(
        &self,
        l: usize,
        layer: &Layer,
        x: &Tensor,
        rope: Option<(&Tensor, &Tensor)>,
        mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (b, t, hsz) = x.dims3()?;
        let (nq, nkv, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.num_key_value_heads,
            self.cfg.head_dim,
        );
        let g = nq / nkv;
        let [q, k, v] =
            self.qkv_rows(layer, &x.reshape((b * t, hsz))?, Mm::Batched(self.kernels))?;
        // (B·T, n·hd) -> (B, T, n, hd) -> (B, n, T, hd)
        let q = q.reshape((b, t, nq, hd))?.transpose(1, 2)?;
        let k = k.reshape((b, t, nkv, hd))?.transpose(1, 2)?;
        let v = v.reshape((b, t, nkv, hd))?.transpose(1, 2)?.contiguous()?;
        let (q, k) = match rope {
            Some((cos, sin)) => (self.rope(&q, cos, sin)?, self.rope(&k, cos, sin)?),
            None => (q, k.contiguous()?),
        };
        let (k, v) = match cache {
            Some(c) => c.append(l, &k, &v)?,
            None => (k, v),
        };
        let s = k.dim(2)?;
        // Decoding one token of one sequence: plain loops over the cache, one task per head.
        if b == 1
            && t == 1
            && mask.is_none()
            && self.kernels == Kernels::Fused
            && let Some(y) = self.one_query_attention(&q, &k, &v)?
        {
            return layer.o.forward(&y, self.kernels);
        }
        // Query head h reads key/value head h / g (transformers' repeat_kv), so the g heads of a
        // group are adjacent: (B, nq, T, hd) -> (B, nkv, g·T, hd).
        let q = q.contiguous()?.reshape((b, nkv, g * t, hd))?;
        let scale = self.cfg.attention_scale();
        // (B, nkv, g·T, hd) @ (B, nkv, hd, S) -> (B, nkv, g·T, S) -> (B, nq, T, S)
        let raw = q.matmul(&k.transpose(2, 3)?)?;
        // Training: scale, mask and softmax in one kernel with its backward pass.
        if self.kernels == Kernels::Differentiable
            && self.cfg.attn_logit_softcapping.is_none()
            && crate::fused::applies(&raw)
            && mask.is_none_or(|m| m.dims() == [b, 1, t, s] && crate::fused::applies(m))
        {
            let probs = crate::fused::masked_softmax(&raw.reshape((b, nq, t, s))?, mask, scale)?;
            return self.attention_output(layer, &probs, &v, (b, nkv, g, t, s, hd));
        }
        let scores = (raw * scale)?.reshape((b, nq, t, s))?;
        let scores = match self.cfg.attn_logit_softcapping {
            Some(cap) => ((scores / cap)?.tanh()? * cap)?,
            None => scores,
        };
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = self.softmax(&scores)?;
        self.attention_output(layer, &probs, &v, (b, nkv, g, t, s, hd))
    }

    /// The output projection of the attention `probs` `(B, nq, T, S)` over values `v`.
    fn attention_output(
        &self,
        layer: &Layer,
        probs: &Tensor,
        v: &Tensor,
        (b, nkv, g, t, s, hd): (usize, usize, usize, usize, usize, usize),
    ) -> Result<Tensor> {
        // (B, nkv, g·T, S) @ (B, nkv, S, hd) -> (B, nkv, g·T, hd) -> (B, nq, T, hd) -> (B, T, nq·hd)
        let nq = nkv * g;
        let y = probs.reshape((b, nkv, g * t, s))?.matmul(v)?;
        let y = y
            .reshape((b, nq, t, hd))?
            .transpose(1, 2)?
            .reshape((b, t, nq * hd))?;
        layer.o.forward(&y, self.kernels)
    }

    /// Attention of one query `q` `(1, nq, 1, hd)` over the cached keys and values `(1, nkv,
    /// S, hd)` (f32 on the CPU; `None` otherwise, for the tensor path): for each query head, the
    /// scaled (and soft-capped) scores, their softmax and the weighted sum of values, as the
    /// tensor path computes them but without its transposes, copies and matrix products of
    /// three rows — a head per task on the decoding step's team. `(1, 1, nq·hd)`.
    fn one_query_attention(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Option<Tensor>> {
        use candle_core::{CpuStorage, Storage};
        use std::sync::{Mutex, PoisonError};
        let (nq, nkv, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.num_key_value_heads,
            self.cfg.head_dim,
        );
        let s = k.dim(2)?;
        if !k.device().is_cpu() || !v.device().is_cpu() {
            // The tensor path (no copy of the query to the host first).
            return Ok(None);
        }
        let q = q.flatten_all()?.to_vec1::<f32>()?;
        let (ks, kl) = k.storage_and_layout();
        let (vs, vl) = v.storage_and_layout();
        let (Storage::Cpu(CpuStorage::F32(kd)), Storage::Cpu(CpuStorage::F32(vd))) = (&*ks, &*vs)
        else {
            return Ok(None);
        };
        let shape = [1, nkv, s, hd];
        if q.len() != nq * hd
            || kl.dims() != shape
            || vl.dims() != shape
            || kl.stride()[3] != 1
            || vl.stride()[3] != 1
        {
            return Ok(None);
        }
        let (kst, vst) = (kl.stride(), vl.stride());
        let (k0, v0) = (kl.start_offset(), vl.start_offset());
        // The last element each reads must be inside its buffer.
        let end = |o: usize, st: &[usize], d: &[f32]| {
            o + (nkv - 1) * st[1] + (s - 1) * st[2] + hd <= d.len()
        };
        if s == 0 || !end(k0, kst, kd) || !end(v0, vst, vd) {
            return Ok(None);
        }
        let scale = self.cfg.attention_scale() as f32;
        let cap = self.cfg.attn_logit_softcapping;
        let g = nq / nkv;
        let mut y = vec![0f32; nq * hd];
        {
            let heads: Vec<Mutex<&mut [f32]>> = y.chunks_mut(hd).map(Mutex::new).collect();
            crate::team::for_each_task(nq, &|h| {
                let kv = h / g;
                let qh = &q[h * hd..(h + 1) * hd];
                let mut p: Vec<f32> = (0..s)
                    .map(|j| {
                        let at = k0 + kv * kst[1] + j * kst[2];
                        let dot = crate::cpu_kernels::dot(qh, &kd[at..at + hd]);
                        let x = dot * scale;
                        match cap {
                            Some(c) => (x * (1.0 / c) as f32).tanh() * c as f32,
                            None => x,
                        }
                    })
                    .collect();
                let max = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for x in p.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                let mut out = heads[h].lock().unwrap_or_else(PoisonError::into_inner);
                for (j, &pj) in p.iter().enumerate() {
                    let at = v0 + kv * vst[1] + j * vst[2];
                    let w = pj / sum;
                    for (o, &vv) in out.iter_mut().zip(&vd[at..at + hd]) {
                        *o += w * vv;
                    }
                }
            });
        }
        Ok(Some(Tensor::from_vec(y, (1, 1, nq * hd), &self.device)?))
    }

    fn gated(&self, e: &Expert, x: &Tensor, mm: Mm) -> Result<Tensor> {
        // down(act(gate(x)) * up(x))
        let (gate, up) = match Linear::mm_many([&e.gate, &e.up], x, mm)? {
            Some([g, u]) => (g, u),
            None => (e.gate.mm(x, mm)?, e.up.mm(x, mm)?),
        };
        e.down.mm(&self.gate_times_up(&gate, &up)?, mm)
    }

    /// `act(gate) · up`; SiLU in training runs as one fused kernel with its backward pass.
    fn gate_times_up(&self, gate: &Tensor, up: &Tensor) -> Result<Tensor> {
        if self.kernels == Kernels::Differentiable
            && self.cfg.hidden_act == Activation::Silu
            && crate::fused::applies(gate)
            && crate::fused::applies(up)
        {
            return crate::fused::swiglu(gate, up);
        }
        Ok((self.act(gate)? * up)?)
    }

    /// The residual stream after a layer, from its input `x`, its attention output `a` (already
    /// through the post-attention norm, if any) and its MLP `ffn`: `x + a + ffn(norm(x))` with
    /// GPT-NeoX's parallel residual, else `y + norm(ffn(norm(y)))` with `y = x + a`. Used by the
    /// forward pass and the decoding step alike.
    pub(super) fn join(
        &self,
        layer: &Layer,
        x: Tensor,
        a: Tensor,
        ffn: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if self.cfg.residual == crate::config::Residual::Parallel {
            let m = ffn(&self.maybe_norm(&x, layer.pre_ffn.as_ref())?)?;
            return Ok(((m + a)? + &x)?);
        }
        let x = (x + a)?;
        let m = ffn(&self.maybe_norm(&x, layer.pre_ffn.as_ref())?)?;
        let m = self.maybe_norm(&m, layer.post_ffn.as_ref())?;
        Ok((&x + m)?)
    }

    /// The MLP of the token rows `x` `(N, H)`; sparse layers append their routing to `record`.
    pub(super) fn ffn(
        &self,
        layer: &Layer,
        x: &Tensor,
        mm: Mm,
        record: Option<&mut Vec<RouterRecord>>,
    ) -> Result<Tensor> {
        match &layer.ffn {
            Ffn::Gated(e) => self.gated(e, x, mm),
            Ffn::FusedGated { gate_up, down } => {
                let y = gate_up.mm(x, mm)?;
                let i = y.dim(1)? / 2;
                let (gate, up) = (y.narrow(1, 0, i)?, y.narrow(1, i, i)?);
                down.mm(&self.gate_times_up(&gate, &up)?, mm)
            }
            Ffn::Plain { up, down } => down.mm(&self.act(&up.mm(x, mm)?)?, mm),
            Ffn::Moe { router, experts } => self.moe(router, experts, x, mm, record),
        }
    }

    /// A sparse mixture of experts over the token rows `x` `(N, H)`, as transformers computes it:
    /// softmax of the router logits in f32, the top `k` experts per row chosen (and ties broken)
    /// as `torch.topk` does, their probabilities optionally renormalised, and each expert's
    /// weighted output added into its rows expert by expert in index order. Each row's result
    /// depends on that row alone.
    fn moe(
        &self,
        router: &Linear,
        experts: &[Expert],
        x: &Tensor,
        mm: Mm,
        record: Option<&mut Vec<RouterRecord>>,
    ) -> Result<Tensor> {
        let Some(cfg) = &self.cfg.moe else {
            return Err(crate::ModelError::Input(
                "a sparse layer in a model without a mixture-of-experts configuration".into(),
            ));
        };
        let k = cfg.top_k;
        let n = x.dim(0)?;
        let logits = router.mm(x, mm)?;
        let probs = self.softmax(&logits)?;
        let rows: Vec<Vec<f32>> = probs.to_vec2()?;
        let chosen: Vec<Vec<usize>> = rows.iter().map(|r| topk_like_torch(r, k)).collect();
        let flat: Vec<u32> = chosen
            .iter()
            .flat_map(|c| c.iter().map(|&e| e as u32))
            .collect();
        let idx = Tensor::from_vec(flat, (n, k), x.device())?;
        let mut w = probs.gather(&idx, 1)?;
        if cfg.norm_topk_prob {
            w = w.broadcast_div(&w.sum_keepdim(1)?)?;
        }
        let w = w.flatten_all()?;
        let mut out = x.zeros_like()?;
        let mut counts = vec![0f32; experts.len()];
        for (e, expert) in experts.iter().enumerate() {
            let mut token = Vec::new();
            let mut slot = Vec::new();
            for (r, c) in chosen.iter().enumerate() {
                if let Some(j) = c.iter().position(|&x| x == e) {
                    token.push(r as u32);
                    slot.push((r * k + j) as u32);
                }
            }
            if token.is_empty() {
                continue;
            }
            counts[e] = token.len() as f32;
            let len = token.len();
            let token = Tensor::from_vec(token, len, x.device())?;
            let slot = Tensor::from_vec(slot, len, x.device())?;
            let y = self.gated(expert, &x.index_select(&token, 0)?, mm)?;
            let we = w.index_select(&slot, 0)?.unsqueeze(1)?;
            out = out.index_add(&token, &y.broadcast_mul(&we)?, 0)?;
        }
        if let Some(rec) = record {
            rec.push(RouterRecord { probs, counts });
        }
        Ok(out)
    }
}
