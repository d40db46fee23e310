//! Weight matrices that stay quantized in memory, and the products that read them block by block.
//!
//! A [`QMatrix`] holds a GGUF tensor's bytes unchanged (`rows` output rows of `cols` inputs, each
//! row whole blocks of its type). A product `x @ Wᵀ` first quantizes each row of the f32
//! activations `x` to 8 bits, as ggml does — Q8_0 blocks of 32 (one f16-rounded scale each) for
//! the 32-element weight types, Q8_K blocks of 256 (an f32 scale and sums of 16) for the k-quants
//! — and then computes every output as integer dot products of a weight block with its
//! activation block, scaled by the two blocks' scales:
//!
//! `Σ_blocks d_w · d_x · Σ_i q_w[i] · q_x[i]` (plus `m · d_x · Σ q_x` for types with a minimum).
//!
//! Reading 1 byte (Q8_0) or ½ byte (Q4) per weight instead of 4 is the point: decoding is bound
//! by memory bandwidth. The kernels are portable Rust (`scalar`) with AVX2 versions of the
//! common types (`avx2`, chosen at run time); the two agree to f32 rounding of the block sums'
//! order, and each output is one dot product computed the same way whatever the number of rows,
//! so batched and single-row products give the same bits.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use crate::gguf::TensorType;
use crate::gguf::quant::dequantize;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;
pub(crate) use scalar::scale_min_k4;

/// Output rows per rayon task.
const ROWS_PER_TASK: usize = 16;

/// Elements per Q8_K activation block (the k-quants' super-block).
pub const QK_K: usize = 256;

/// A quantized weight matrix `(rows, cols)` in its GGUF block layout.
#[derive(Debug, Clone)]
pub struct QMatrix {
    ty: TensorType,
    rows: usize,
    cols: usize,
    data: Vec<u8>,
}

/// Whether products read `ty` on its blocks (the 8-, 5- and 4-bit block types and k-quants).
pub fn supported(ty: TensorType) -> bool {
    !matches!(ty, TensorType::F32 | TensorType::F16 | TensorType::BF16)
}

impl QMatrix {
    /// A matrix of `rows × cols` elements stored as `data` (whole rows of `ty`'s blocks).
    pub fn new(ty: TensorType, rows: usize, cols: usize, data: Vec<u8>) -> Result<Self, String> {
        if !supported(ty) {
            return Err(format!("{} is not a block-quantized type", ty.name()));
        }
        if cols == 0 || !cols.is_multiple_of(ty.block_len()) {
            return Err(format!(
                "rows of {cols} elements are not whole {} blocks of {}",
                ty.name(),
                ty.block_len()
            ));
        }
        let expected = rows * (cols / ty.block_len()) * ty.block_bytes();
        if data.len() != expected {
            return Err(format!(
                "{} bytes for a {rows} × {cols} {} matrix (expected {expected})",
                data.len(),
                ty.name()
            ));
        }
        Ok(Self {
            ty,
            rows,
            cols,
            data,
        })
    }

    /// Quantizes a row-major f32 matrix (glassbox's own quantizer, as the GGUF export writes).
    pub fn quantize(ty: TensorType, rows: usize, cols: usize, x: &[f32]) -> Result<Self, String> {
        if x.len() != rows * cols {
            return Err(format!("{} values for {rows} × {cols}", x.len()));
        }
        let data = crate::gguf::quant::quantize(ty, x)?;
        Self::new(ty, rows, cols, data)
    }

    /// The block type.
    pub fn ty(&self) -> TensorType {
        self.ty
    }

    /// `(rows, cols)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.block_len() * self.ty.block_bytes()
    }

    /// The raw block bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The whole matrix in f32, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        // `new` checked that the data is whole blocks, so this cannot fail.
        dequantize(self.ty, &self.data).unwrap_or_default()
    }

    /// The whole matrix as an f32 tensor `(rows, cols)` on the CPU.
    pub fn to_tensor(&self) -> Tensor {
        Tensor::from_vec(
            self.dequantize(),
            (self.rows, self.cols),
            &candle_core::Device::Cpu,
        )
        // Not reachable: `new` checked that the data is `rows × cols` values of whole blocks,
        // and dequantizing whole blocks gives exactly that many values.
        .expect("a QMatrix dequantizes to rows × cols values")
    }

    /// Rows `ids` in f32, one after the other (an embedding lookup). Out-of-range ids are the
    /// caller's to reject; here they give zeros.
    pub fn rows_f32(&self, ids: &[u32]) -> Vec<f32> {
        let rb = self.row_bytes();
        let mut out = Vec::with_capacity(ids.len() * self.cols);
        for &id in ids {
            let id = id as usize;
            match self.data.get(id * rb..(id + 1) * rb) {
                Some(row) => out.extend(dequantize(self.ty, row).unwrap_or_default()),
                None => out.resize(out.len() + self.cols, 0.0),
            }
        }
        out
    }

    /// The matrix with its rows reordered: row `i` of the result is row `order[i]` of `self`.
    pub fn with_rows(&self, order: &[usize]) -> Result<Self, String> {
        let rb = self.row_bytes();
        let mut data = Vec::with_capacity(order.len() * rb);
        for &r in order {
            let row = self
                .data
                .get(r * rb..(r + 1) * rb)
                .ok_or_else(|| format!("row {r} of {}", self.rows))?;
            data.extend_from_slice(row);
        }
        Self::new(self.ty, order.len(), self.cols, data)
    }

    /// `x @ selfᵀ` for `m` rows of `x` (row-major `(m, cols)`): row-major `(m, rows)`.
    pub fn matmul_t(&self, x: &[f32], m: usize) -> Vec<f32> {
        matmul_t_many(&[self], x, m).pop().unwrap_or_default()
    }

    /// [`QMatrix::matmul_t`] on a tensor `(M, cols)` f32 on the CPU.
    pub fn matmul_t_tensor(self: &std::sync::Arc<Self>, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?
            .apply_op1_no_bwd(&QMatMulT(std::sync::Arc::clone(self)))
    }
}

/// `x @ Wᵢᵀ` for several matrices of one type and width (the query, key and value
/// projections, say): the activations quantized once and every matrix's rows in one parallel
/// pass. Each output is computed as [`QMatrix::matmul_t`] computes it alone, so the results are
/// the same bits. Matrices of another type or width than the first are computed on their own.
pub fn matmul_t_many(mats: &[&QMatrix], x: &[f32], m: usize) -> Vec<Vec<f32>> {
    let Some(first) = mats.first() else {
        return Vec::new();
    };
    if mats
        .iter()
        .any(|q| q.ty != first.ty || q.cols != first.cols)
    {
        return mats.iter().map(|q| q.matmul_t(x, m)).collect();
    }
    let (ty, cols) = (first.ty, first.cols);
    let act = Activations::quantize(ty, x, m, cols);
    let (dot, dot4) = (kernel(ty), kernel4(ty));
    let rows: Vec<ActRow<'_>> = (0..m).map(|j| act.row(j)).collect();
    // Global row r → (matrix, its row).
    let mut starts = Vec::with_capacity(mats.len());
    let mut total = 0;
    for q in mats {
        starts.push(total);
        total += q.rows;
    }
    let all = crate::cpu_kernels::by_weight_rows(m, total, ROWS_PER_TASK, |r, outs| {
        let i = starts.partition_point(|&s| s <= r) - 1;
        let (q, local) = (mats[i], r - starts[i]);
        let rb = q.row_bytes();
        let w = &q.data[local * rb..(local + 1) * rb];
        // Four input rows at a time share the weight's loads; each output is computed as `dot`
        // computes it, so the rows' number changes no bit.
        let mut j = 0;
        if let Some(dot4) = dot4 {
            while j + 4 <= m {
                let y = dot4(w, [&rows[j], &rows[j + 1], &rows[j + 2], &rows[j + 3]]);
                outs[j..j + 4].copy_from_slice(&y);
                j += 4;
            }
        }
        for (o, a) in outs[j..].iter_mut().zip(&rows[j..]) {
            *o = dot(w, a);
        }
    });
    // (m, total) → each matrix's (m, rows).
    mats.iter()
        .zip(&starts)
        .map(|(q, &s)| {
            (0..m)
                .flat_map(|j| all[j * total + s..j * total + s + q.rows].iter().copied())
                .collect()
        })
        .collect()
}

/// One row of quantized activations.
#[derive(Debug, Clone, Copy)]
pub struct ActRow<'a> {
    /// Per block: the scale (Q8_0: f16-rounded; Q8_K: f32).
    pub d: &'a [f32],
    /// The 8-bit values.
    pub q: &'a [i8],
    /// Q8_0: each block's `Σ q`; Q8_K: the sum of every 16 values.
    pub sums: &'a [i16],
    /// For Q8_0/Q4_0/Q5_0 weights: per block, eight lanes of `−c · Σ q` over each four
    /// consecutive values, `c` the offset that makes the weights unsigned (128, 8, 16); empty
    /// for other types. The AVX-VNNI kernels start each block's sums from it, so that
    /// `Σ (w + c) · q − c · Σ q = Σ w · q` lane by lane.
    pub bias: &'a [i32],
}

/// Activations quantized for one weight type: Q8_0 blocks for the 32-element types, Q8_K
/// super-blocks for the k-quants.
#[derive(Debug, Clone)]
pub struct Activations {
    d: Vec<f32>,
    q: Vec<i8>,
    sums: Vec<i16>,
    bias: Vec<i32>,
    /// The offset `c` of [`ActRow::bias`] (0: no bias kept).
    offset: i32,
    blocks_per_row: usize,
    sums_per_block: usize,
    block: usize,
}

/// `x` rounded to the nearest integer, ties to even, for `|x| < 2²²` (and infinities and NaN
/// unchanged): adding 1.5 · 2²³ leaves no fraction bits, so the addition rounds as the FPU
/// does, to nearest with ties to even, and the subtraction is exact. The same value as
/// `round_ties_even` there, but plain arithmetic that vectorizes where `round_ties_even` is a
/// call to `rintf` per value. Activations scaled for 8 bits stay within ±127.5.
#[inline]
fn round_small(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// Whether `ty` pairs with Q8_K activations.
fn k_quant(ty: TensorType) -> bool {
    matches!(ty, TensorType::Q4_K | TensorType::Q5_K | TensorType::Q6_K)
}

impl Activations {
    /// `m` rows of `cols` values of `x`, quantized for products with `ty` weights (`cols` a
    /// multiple of `ty`'s block).
    pub fn quantize(ty: TensorType, x: &[f32], m: usize, cols: usize) -> Self {
        let k = k_quant(ty);
        let block = if k { QK_K } else { 32 };
        let sums_per_block = if k { QK_K / 16 } else { 1 };
        let blocks_per_row = cols / block;
        let n = m * blocks_per_row;
        let offset = match ty {
            TensorType::Q8_0 => 128,
            TensorType::Q4_0 => 8,
            TensorType::Q5_0 => 16,
            _ => 0,
        };
        let mut a = Self {
            d: Vec::with_capacity(n),
            q: Vec::with_capacity(m * cols),
            sums: Vec::with_capacity(n * sums_per_block),
            bias: Vec::with_capacity(if offset != 0 { 8 * n } else { 0 }),
            offset,
            blocks_per_row,
            sums_per_block,
            block,
        };
        for blk in x[..m * cols].chunks_exact(block) {
            if k {
                a.push_q8_k(blk);
            } else {
                a.push_q8_0(blk);
            }
        }
        a
    }

    /// ggml's `quantize_row_q8_0` as its x86 code computes it: `d = max|x| / 127` (kept as
    /// f16), `q = x · (127 / max|x|)` rounded to nearest, ties to even.
    fn push_q8_0(&mut self, x: &[f32]) {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let start = self.q.len();
        self.q.extend(x.iter().map(|&v| round_small(v * id) as i8));
        self.d.push(half::f16::from_f32(d).to_f32());
        let s: i32 = self.q[start..].iter().map(|&q| q as i32).sum();
        if self.offset != 0 {
            let c = self.offset;
            self.bias.extend(
                self.q[start..]
                    .chunks_exact(4)
                    .map(|g| -c * g.iter().map(|&q| q as i32).sum::<i32>()),
            );
        }
        self.sums.push(s as i16);
    }

    /// ggml's `quantize_row_q8_K`: the value of largest magnitude maps to −127 (so the scale
    /// keeps its sign), rounded to nearest, clamped to 127; sums of each 16 values.
    fn push_q8_k(&mut self, x: &[f32]) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let start = self.q.len();
        if amax == 0.0 {
            self.d.push(0.0);
            self.q.extend(std::iter::repeat_n(0i8, x.len()));
        } else {
            let iscale = -127.0 / max;
            self.q.extend(
                x.iter()
                    .map(|&v| (round_small(iscale * v) as i32).min(127) as i8),
            );
            self.d.push(1.0 / iscale);
        }
        for g in self.q[start..].chunks_exact(16) {
            self.sums.push(g.iter().map(|&q| q as i16).sum());
        }
    }

    /// Row `j`.
    pub fn row(&self, j: usize) -> ActRow<'_> {
        let (b, n) = (self.blocks_per_row, self.blocks_per_row * self.block);
        ActRow {
            d: &self.d[j * b..(j + 1) * b],
            q: &self.q[j * n..(j + 1) * n],
            sums: &self.sums[j * b * self.sums_per_block..(j + 1) * b * self.sums_per_block],
            bias: self.bias.get(8 * j * b..8 * (j + 1) * b).unwrap_or(&[]),
        }
    }
}

/// A weight row's dot product with a row of activations.
pub type Dot = fn(&[u8], &ActRow<'_>) -> f32;

/// A weight row's dot products with four rows of activations, each computed exactly as the
/// one-row [`Dot`] of the same CPU path computes it.
pub type Dot4 = fn(&[u8], [&ActRow<'_>; 4]) -> [f32; 4];

/// The four-row kernel for `ty` on this CPU, where one exists.
pub fn kernel4(ty: TensorType) -> Option<Dot4> {
    #[cfg(target_arch = "x86_64")]
    if avx2::kernel(ty).is_some() {
        return avx2::kernel4(ty);
    }
    let _ = ty;
    None
}

/// The fastest kernel for `ty` on this CPU.
pub fn kernel(ty: TensorType) -> Dot {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = avx2::kernel(ty) {
        return k;
    }
    scalar::kernel(ty)
}

/// The portable kernel for `ty` (the reference the SIMD kernels are tested against).
pub fn portable_kernel(ty: TensorType) -> Dot {
    scalar::kernel(ty)
}

/// Every kernel for `ty` this CPU can run: the portable one first.
pub fn all_kernels(ty: TensorType) -> Vec<Dot> {
    let mut out = vec![scalar::kernel(ty)];
    #[cfg(target_arch = "x86_64")]
    out.extend(avx2::variants(ty));
    out
}

struct QMatMulT(std::sync::Arc<QMatrix>);

impl CustomOp1 for QMatMulT {
    fn name(&self) -> &'static str {
        "glassbox-qmatmul-t"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(x) = s else {
            candle_core::bail!("{}: f32 activations expected", self.name());
        };
        let (m, k) = l.shape().dims2()?;
        if k != self.0.cols {
            candle_core::bail!(
                "{}: {k} inputs for a matrix of {} columns",
                self.name(),
                self.0.cols
            );
        }
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("{}: contiguous activations expected", self.name());
        };
        let out = self.0.matmul_t(&x[a..b], m);
        Ok((CpuStorage::F32(out), Shape::from((m, self.0.rows))))
    }
}

#[cfg(test)]
mod tests;
