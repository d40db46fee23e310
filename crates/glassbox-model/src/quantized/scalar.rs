//! Portable dot products of one weight row (GGUF blocks) with one row of 8-bit activations.
//! Each block's integer sum is exact; the f32 accumulation runs block by block.

use super::{ActRow, Dot};
use crate::gguf::TensorType;

pub(super) fn kernel(ty: TensorType) -> Dot {
    match ty {
        TensorType::Q8_0 => q8_0,
        TensorType::Q4_0 => q4_0,
        TensorType::Q4_1 => q4_1,
        TensorType::Q5_0 => q5_0,
        TensorType::Q5_1 => q5_1,
        TensorType::Q4_K => q4_k,
        TensorType::Q5_K => q5_k,
        TensorType::Q6_K => q6_k,
        // `QMatrix::new` admits only the types above.
        TensorType::F32 | TensorType::F16 | TensorType::BF16 => unsupported,
    }
}

fn unsupported(_: &[u8], _: &ActRow<'_>) -> f32 {
    f32::NAN
}

pub(super) fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// `Σ w[i] · x[i]` over 32 weights given by `w(i)`.
fn isum(w: impl Fn(usize) -> i32, x: &[i8]) -> i32 {
    (0..x.len()).map(|i| w(i) * x[i] as i32).sum()
}

fn q8_0(w: &[u8], a: &ActRow<'_>) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(34).enumerate() {
        let x = &a.q[32 * b..32 * b + 32];
        let s = isum(|i| blk[2 + i] as i8 as i32, x);
        sum += f16_at(blk, 0) * a.d[b] * s as f32;
    }
    sum
}

/// The 4-bit value `i` (0..32) of a block's 16 packed bytes.
fn nibble(qs: &[u8], i: usize) -> i32 {
    if i < 16 {
        (qs[i] & 0x0F) as i32
    } else {
        (qs[i - 16] >> 4) as i32
    }
}

fn q4_0(w: &[u8], a: &ActRow<'_>) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(18).enumerate() {
        let x = &a.q[32 * b..32 * b + 32];
        let s = isum(|i| nibble(&blk[2..], i) - 8, x);
        sum += f16_at(blk, 0) * a.d[b] * s as f32;
    }
    sum
}

fn q4_1(w: &[u8], a: &ActRow<'_>) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(20).enumerate() {
        let x = &a.q[32 * b..32 * b + 32];
        let s = isum(|i| nibble(&blk[4..], i), x);
        sum += f16_at(blk, 0) * a.d[b] * s as f32 + f16_at(blk, 2) * a.d[b] * a.sums[b] as f32;
    }
    sum
}

fn fifth_bit(qh: u32, i: usize) -> i32 {
    (((qh >> i) & 1) << 4) as i32
}

fn q5_0(w: &[u8], a: &ActRow<'_>) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(22).enumerate() {
        let x = &a.q[32 * b..32 * b + 32];
        let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
        let s = isum(|i| (nibble(&blk[6..], i) | fifth_bit(qh, i)) - 16, x);
        sum += f16_at(blk, 0) * a.d[b] * s as f32;
    }
    sum
}

fn q5_1(w: &[u8], a: &ActRow<'_>) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(24).enumerate() {
        let x = &a.q[32 * b..32 * b + 32];
        let qh = u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]);
        let s = isum(|i| nibble(&blk[8..], i) | fifth_bit(qh, i), x);
        sum += f16_at(blk, 0) * a.d[b] * s as f32 + f16_at(blk, 2) * a.d[b] * a.sums[b] as f32;
    }
    sum
}

/// Q4_K/Q5_K's packed 6-bit scale and minimum of sub-block `j` (0..8).
pub(crate) fn scale_min_k4(j: usize, s: &[u8]) -> (i32, i32) {
    if j < 4 {
        ((s[j] & 63) as i32, (s[j + 4] & 63) as i32)
    } else {
        (
            ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4)) as i32,
            ((s[j + 4] >> 4) | ((s[j] >> 6) << 4)) as i32,
        )
    }
}

/// Q4_K (`hi` none) and Q5_K: `d · Σ_sub sc · Σ q·x − dmin · Σ_sub m · Σ x`.
fn k4(w: &[u8], a: &ActRow<'_>, bytes: usize, five: bool) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(bytes).enumerate() {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let scales = &blk[4..16];
        let (qh, ql) = if five {
            (Some(&blk[16..48]), &blk[48..176])
        } else {
            (None, &blk[16..144])
        };
        let x = &a.q[256 * b..256 * b + 256];
        let bs = &a.sums[16 * b..16 * b + 16];
        let (mut sc_sum, mut m_sum) = (0i32, 0i32);
        for sub in 0..8 {
            let (sc, m) = scale_min_k4(sub, scales);
            let q = &ql[32 * (sub / 2)..32 * (sub / 2) + 32];
            let s = isum(
                |l| {
                    let lo = if sub % 2 == 0 { q[l] & 0x0F } else { q[l] >> 4 };
                    let hi = qh.map_or(0, |h| ((h[l] >> sub) & 1) << 4);
                    (lo | hi) as i32
                },
                &x[32 * sub..32 * sub + 32],
            );
            sc_sum += sc * s;
            m_sum += m * (bs[2 * sub] as i32 + bs[2 * sub + 1] as i32);
        }
        sum += d * a.d[b] * sc_sum as f32 - dmin * a.d[b] * m_sum as f32;
    }
    sum
}

fn q4_k(w: &[u8], a: &ActRow<'_>) -> f32 {
    k4(w, a, 144, false)
}

fn q5_k(w: &[u8], a: &ActRow<'_>) -> f32 {
    k4(w, a, 176, true)
}

fn q6_k(w: &[u8], a: &ActRow<'_>) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(210).enumerate() {
        let (ql, qh, scales) = (&blk[0..128], &blk[128..192], &blk[192..208]);
        let d = f16_at(blk, 208);
        let x = &a.q[256 * b..256 * b + 256];
        let mut total = 0i32;
        for g in 0..8 {
            for half in 0..2 {
                let s = isum(
                    |l| crate::gguf::quant::q6_k_value(ql, qh, g, 16 * half + l),
                    &x[32 * g + 16 * half..32 * g + 16 * half + 16],
                );
                total += scales[2 * g + half] as i8 as i32 * s;
            }
        }
        sum += d * a.d[b] * total as f32;
    }
    sum
}
