//! A single sequence's keys and values in plain memory, for batched decoding
//! ([`crate::Transformer::decode_step`]): each layer holds `len × n_kv × head_dim` floats for keys
//! and the same for values, position-major, and grows by appending. Attention over it runs as
//! ordinary loops with a fixed summation order, one sequence at a time, so a sequence's result
//! never depends on the others in the batch.

use candle_core::Tensor;

use crate::Result;
use crate::config::LayerAttention;
use crate::kv_cache::KvCache;

/// One sequence's cached keys and values.
#[derive(Debug, Clone)]
pub struct SeqCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    kv_heads: usize,
    head_dim: usize,
    /// The token ids cached, in order.
    fed: Vec<u32>,
}

impl SeqCache {
    /// The contents of a single-row, unpadded [`KvCache`] (as a prefill leaves it).
    pub fn from_kv_cache(c: &KvCache) -> Result<Self> {
        if c.batch() != 1 || c.pad().iter().any(|&p| p > 0) {
            return Err(crate::ModelError::Input(
                "a sequence cache comes from a single-row cache without padding".into(),
            ));
        }
        let len = c.len();
        let mut k = Vec::new();
        let mut v = Vec::new();
        let (mut kv_heads, mut head_dim) = (0, 0);
        for l in 0..c.layers() {
            let (kt, vt) = c.layer(l)?;
            // (1, n_kv, len, hd) -> (1, len, n_kv, hd): position-major.
            let flat = |t: &Tensor| -> Result<Vec<f32>> {
                Ok(t.narrow(2, 0, len)?
                    .transpose(1, 2)?
                    .contiguous()?
                    .flatten_all()?
                    .to_vec1::<f32>()?)
            };
            kv_heads = kt.dim(1)?;
            head_dim = kt.dim(3)?;
            k.push(flat(&kt)?);
            v.push(flat(&vt)?);
        }
        let mut fed = c.fed().first().cloned().unwrap_or_default();
        fed.truncate(len);
        Ok(Self {
            k,
            v,
            len,
            kv_heads,
            head_dim,
            fed,
        })
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends layer `l`'s key and value of the new position (`n_kv × head_dim` each).
    pub(crate) fn push(&mut self, l: usize, k: &[f32], v: &[f32]) {
        self.k[l].extend_from_slice(k);
        self.v[l].extend_from_slice(v);
    }

    /// Marks the new position, token `token`, as cached (after every layer pushed it).
    pub(crate) fn advance(&mut self, token: u32) {
        self.len += 1;
        self.fed.push(token);
    }

    /// The token ids cached, in order.
    pub fn fed(&self) -> &[u32] {
        &self.fed
    }

    /// Attention of one query position (`q`: `n_q × head_dim`, already rotated) over every
    /// cached position of layer `l` (the new one included), into `out` (`n_q × head_dim`).
    /// Query head `h` reads key/value head `h / (n_q / n_kv)`; scores are `q·k · scale`, then
    /// `cap · tanh(s / cap)` with a soft cap; softmax subtracts the maximum.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn attend(
        &self,
        l: usize,
        q: &[f32],
        n_q: usize,
        attention: LayerAttention,
        scale: f32,
        softcap: Option<f32>,
        out: &mut [f32],
    ) {
        let (nkv, hd) = (self.kv_heads, self.head_dim);
        let g = n_q / nkv;
        let s = self.k[l].len() / (nkv * hd);
        let first = match attention {
            LayerAttention::Full => 0,
            LayerAttention::Sliding(w) => s.saturating_sub(w),
        };
        let (keys, values) = (&self.k[l], &self.v[l]);
        let mut scores = vec![0f32; s - first];
        for h in 0..n_q {
            let kvh = h / g;
            let qh = &q[h * hd..(h + 1) * hd];
            let mut max = f32::NEG_INFINITY;
            for (j, p) in (first..s).enumerate() {
                let kp = &keys[(p * nkv + kvh) * hd..(p * nkv + kvh + 1) * hd];
                let mut d = crate::cpu_kernels::dot(qh, kp) * scale;
                if let Some(cap) = softcap {
                    d = (d / cap).tanh() * cap;
                }
                scores[j] = d;
                max = max.max(d);
            }
            let mut sum = 0f32;
            for x in scores.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            let o = &mut out[h * hd..(h + 1) * hd];
            o.iter_mut().for_each(|x| *x = 0.0);
            for (j, p) in (first..s).enumerate() {
                let w = scores[j] / sum;
                let vp = &values[(p * nkv + kvh) * hd..(p * nkv + kvh + 1) * hd];
                for (a, b) in o.iter_mut().zip(vp) {
                    *a += w * b;
                }
            }
        }
    }
}
