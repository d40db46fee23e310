//! The key/value cache of incremental decoding.
//!
//! Keys and values of every layer live in preallocated `(B, n_kv, capacity, head_dim)` buffers
//! that grow by doubling; appending writes in place, and attention reads a narrowed view, which
//! candle's matmul consumes without a copy. Rows of a batch share one length: prompts of
//! different lengths are left-padded, and the padding is recorded in [`KvCache::pad`] so that
//! attention masks it out.

use candle_core::{DType, Device, Tensor};

use crate::Result;
use crate::config::ModelConfig;

/// Cached keys and values for a batch of sequences. Not `Clone`: its buffers are written in
/// place, so two handles must never share them.
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    capacity: usize,
    batch: usize,
    kv_heads: usize,
    head_dim: usize,
    pad: Vec<usize>,
    /// Every token id fed so far, per row (padding slots included), so that a model whose RoPE
    /// changes with the sequence length (LongRoPE) can rebuild the cache.
    fed: Vec<Vec<u32>>,
    device: Device,
}

impl KvCache {
    /// An empty cache for `pad.len()` rows, where row `r` begins with `pad[r]` padding slots.
    pub fn new(cfg: &ModelConfig, pad: Vec<usize>, device: &Device) -> Self {
        Self {
            layers: vec![None; cfg.num_hidden_layers],
            len: 0,
            capacity: 0,
            batch: pad.len(),
            fed: vec![Vec::new(); pad.len()],
            kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
            pad,
            device: device.clone(),
        }
    }

    /// Slots filled so far (padding included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows in the batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Number of layers.
    pub fn layers(&self) -> usize {
        self.layers.len()
    }

    /// Layer `l`'s key and value buffers `(B, n_kv, capacity, head_dim)`; the first
    /// [`KvCache::len`] slots are filled.
    pub fn layer(&self, l: usize) -> Result<(Tensor, Tensor)> {
        match self.layers.get(l) {
            Some(Some((k, v))) => Ok((k.clone(), v.clone())),
            _ => Err(crate::ModelError::Input(format!(
                "the cache has no layer {l} yet"
            ))),
        }
    }

    /// Left-padding slots of each row.
    pub fn pad(&self) -> &[usize] {
        &self.pad
    }

    /// Forgets every slot from `len` on (to reuse a shared prefix, as a chat does between turns).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        let len = self.len;
        self.fed.iter_mut().for_each(|f| f.truncate(len));
    }

    /// A cache whose row `i` is a copy of this cache's row `rows[i]` (rows may repeat): shared
    /// prefixes (evaluation contexts) computed once and continued several ways in one batch.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Self> {
        if rows.is_empty() || rows.iter().any(|&r| r >= self.batch) {
            return Err(crate::ModelError::Input(format!(
                "select_rows needs row indices below {} (got {rows:?})",
                self.batch
            )));
        }
        let n = rows.len();
        let filled = self.len > 0 && self.layers.iter().all(Option::is_some);
        let layers = if filled {
            let idx = Tensor::from_vec(
                rows.iter().map(|&r| r as u32).collect::<Vec<u32>>(),
                n,
                &self.device,
            )?;
            self.layers
                .iter()
                .map(|e| match e {
                    Some((k, v)) => {
                        let pick = |t: &Tensor| -> Result<Tensor> {
                            Ok(t.narrow(2, 0, self.len)?
                                .contiguous()?
                                .index_select(&idx, 0)?)
                        };
                        Ok(Some((pick(k)?, pick(v)?)))
                    }
                    None => Ok(None),
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            vec![None; self.layers.len()]
        };
        Ok(Self {
            layers,
            len: if filled { self.len } else { 0 },
            capacity: if filled { self.len } else { 0 },
            batch: n,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            pad: rows.iter().map(|&r| self.pad[r]).collect(),
            fed: rows
                .iter()
                .map(|&r| {
                    if filled {
                        self.fed[r].clone()
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
            device: self.device.clone(),
        })
    }

    /// The token ids fed so far, one list per row (padding slots included).
    pub fn fed(&self) -> &[Vec<u32>] {
        &self.fed
    }

    /// Makes room for `extra` more slots, reallocating (doubling) when needed.
    pub(crate) fn reserve(&mut self, extra: usize) -> Result<()> {
        let needed = self.len + extra;
        if needed <= self.capacity {
            return Ok(());
        }
        let capacity = needed.max(self.capacity * 2).max(64);
        let shape = (self.batch, self.kv_heads, capacity, self.head_dim);
        for entry in self.layers.iter_mut() {
            let k = Tensor::zeros(shape, DType::F32, &self.device)?;
            let v = Tensor::zeros(shape, DType::F32, &self.device)?;
            if let Some((old_k, old_v)) = entry.as_ref()
                && self.len > 0
            {
                k.slice_set(&old_k.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                v.slice_set(&old_v.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
            }
            *entry = Some((k, v));
        }
        self.capacity = capacity;
        Ok(())
    }

    /// Writes this step's keys and values `(B, n_kv, T, head_dim)` of `layer` after the cached
    /// slots and returns views of all slots so far, `(B, n_kv, len + T, head_dim)`.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let t = k.dim(2)?;
        let (ck, cv) = self.layers[layer]
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("kv cache used before reserve".into()))?;
        ck.slice_set(&k.contiguous()?, 2, self.len)?;
        cv.slice_set(&v.contiguous()?, 2, self.len)?;
        Ok((
            ck.narrow(2, 0, self.len + t)?,
            cv.narrow(2, 0, self.len + t)?,
        ))
    }

    /// Marks `t` more slots as filled (after every layer has appended them).
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
    }

    /// Records the token ids of the slots just appended (one list per row).
    pub(crate) fn record(&mut self, rows: Vec<Vec<u32>>) {
        for (f, r) in self.fed.iter_mut().zip(rows) {
            f.extend(r);
        }
    }
}
