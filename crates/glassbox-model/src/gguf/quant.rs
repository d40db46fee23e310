//! Block formats of GGUF tensors, from the ggml specification.
//!
//! - **F32**, **F16**, **BF16**: one value per element, little-endian; f32 → f16 and → bf16
//!   round to nearest, ties to even (bf16: NaN stays a quiet NaN).
//! - **Q8_0**: blocks of 32 weights → `d: f16` then 32 `i8`; `d = max|x| / 127`,
//!   `q = round(x / d)` (half away from zero, computed as `x · (1/d)` in f32); weight = `q · d`.
//! - **Q4_0**: blocks of 32 → `d: f16` then 16 bytes; `m` is the weight of largest magnitude
//!   (its sign kept; the first such), `d = m / −8`, `q = min(15, trunc(x · (1/d) + 8.5))`; byte
//!   `j` holds `q[j]` in its low nibble and `q[j + 16]` in its high one; weight = `(q − 8) · d`.
//!
//! The scale is rounded to f16 for storage but the quantized values are computed with the f32
//! scale, as the reference does.
//!
//! - **Q4_1**, **Q5_0**, **Q5_1**: 32-weight blocks with an f16 minimum (`_1`) and/or the fifth
//!   bits of the values in a little-endian u32 (`Q5_*`); quantized as the reference does.
//!
//! - The k-quants **Q4_K**, **Q5_K** (256 weights, 8 sub-blocks, 6-bit packed scales and
//!   minimums) and **Q6_K** (256 weights, 16 sub-blocks with i8 scales, 6-bit values split into
//!   low nibbles and 2 high bits): quantized in [`super::kquant`] as llama.cpp's reference
//!   quantizers do without an importance matrix.

use half::{bf16, f16};

use super::{TensorType, kquant};

/// Quantizes `x` (whole blocks) to `ty`'s bytes.
pub fn quantize(ty: TensorType, x: &[f32]) -> Result<Vec<u8>, String> {
    let b = ty.block_len();
    if !x.len().is_multiple_of(b) {
        return Err(format!(
            "{} values are not whole {} blocks of {b}",
            x.len(),
            ty.name()
        ));
    }
    let mut out = Vec::with_capacity(x.len() / b * ty.block_bytes());
    match ty {
        TensorType::F32 => x.iter().for_each(|v| out.extend(v.to_le_bytes())),
        TensorType::F16 => x
            .iter()
            .for_each(|v| out.extend(f16::from_f32(*v).to_le_bytes())),
        TensorType::BF16 => x
            .iter()
            .for_each(|v| out.extend(bf16::from_f32(*v).to_le_bytes())),
        TensorType::Q8_0 => x.chunks_exact(32).for_each(|blk| q8_0_block(blk, &mut out)),
        TensorType::Q4_0 => x.chunks_exact(32).for_each(|blk| q4_0_block(blk, &mut out)),
        TensorType::Q4_1 => x
            .chunks_exact(32)
            .for_each(|blk| q_min_block(blk, 15, false, &mut out)),
        TensorType::Q5_1 => x
            .chunks_exact(32)
            .for_each(|blk| q_min_block(blk, 31, true, &mut out)),
        TensorType::Q5_0 => x.chunks_exact(32).for_each(|blk| q5_0_block(blk, &mut out)),
        TensorType::Q4_K => kquant::q4_k(x, &mut out),
        TensorType::Q5_K => kquant::q5_k(x, &mut out),
        TensorType::Q6_K => kquant::q6_k(x, &mut out),
    }
    Ok(out)
}

/// Q4_1 (`levels` 15) and Q5_1 (31, with the fifth bits in a 32-bit mask): `d = (max − min) /
/// levels`, `q = min(levels, trunc((x − min) · (1/d) + 0.5))`, stored `d`, `min` (f16).
fn q_min_block(x: &[f32], levels: u8, fifth: bool, out: &mut Vec<u8>) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let min = x.iter().fold(f32::INFINITY, |m, &v| m.min(v));
    let d = (max - min) / levels as f32;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(f16::from_f32(d).to_le_bytes());
    out.extend(f16::from_f32(min).to_le_bytes());
    let q: Vec<u8> = x
        .iter()
        .map(|&v| (((v - min) * id + 0.5) as i32).clamp(0, levels as i32) as u8)
        .collect();
    pack_nibbles(&q, fifth, out);
}

/// Q5_0: as Q4_0 with 32 levels: `d = m / −16`, `q = min(31, trunc(x · (1/d) + 16.5))`.
fn q5_0_block(x: &[f32], out: &mut Vec<u8>) {
    let max = signed_max(x);
    let d = max / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(f16::from_f32(d).to_le_bytes());
    let q: Vec<u8> = x
        .iter()
        .map(|&v| ((v * id + 16.5) as i32).clamp(0, 31) as u8)
        .collect();
    pack_nibbles(&q, true, out);
}

/// 32 values: (with `fifth`) a little-endian u32 of their fifth bits, then 16 bytes holding
/// value `j` in the low nibble and `j + 16` in the high one.
fn pack_nibbles(q: &[u8], fifth: bool, out: &mut Vec<u8>) {
    if fifth {
        let qh = q
            .iter()
            .enumerate()
            .fold(0u32, |h, (j, &v)| h | (u32::from(v >> 4) << j));
        out.extend(qh.to_le_bytes());
    }
    for j in 0..16 {
        out.push((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Q6_K's signed 6-bit value `l` (0..32) of group `g` (0..8) of a block's `ql` (128 bytes) and
/// `qh` (64 bytes): four low bits from `ql`, two high bits from `qh`, minus 32.
pub(crate) fn q6_k_value(ql: &[u8], qh: &[u8], g: usize, l: usize) -> i32 {
    let (n, k) = (g / 4, g % 4);
    let lo = match k {
        0 => ql[64 * n + l] & 0x0F,
        1 => ql[64 * n + 32 + l] & 0x0F,
        2 => ql[64 * n + l] >> 4,
        _ => ql[64 * n + 32 + l] >> 4,
    };
    let hi = (qh[32 * n + l] >> (2 * k)) & 3;
    (lo | (hi << 4)) as i32 - 32
}

/// Dequantizes the read-only block types (ggml's reference formulas, in its order of
/// operations: a sub-block's scale `d·sc` first, then `· q`, minus `dmin·m`).
fn dequantize_more(ty: TensorType, blk: &[u8], out: &mut Vec<f32>) {
    match ty {
        TensorType::Q4_1 => {
            let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
            let qs = &blk[4..20];
            out.extend(qs.iter().map(|&b| (b & 0x0F) as f32 * d + m));
            out.extend(qs.iter().map(|&b| (b >> 4) as f32 * d + m));
        }
        TensorType::Q5_0 | TensorType::Q5_1 => {
            let d = f16_at(blk, 0);
            let (m, at) = match ty {
                TensorType::Q5_1 => (Some(f16_at(blk, 2)), 4),
                _ => (None, 2),
            };
            let qh = u32::from_le_bytes([blk[at], blk[at + 1], blk[at + 2], blk[at + 3]]);
            let qs = &blk[at + 4..at + 20];
            for j in 0..32 {
                let lo = if j < 16 {
                    qs[j] & 0x0F
                } else {
                    qs[j - 16] >> 4
                };
                let q = lo as u32 | (((qh >> j) & 1) << 4);
                out.push(match m {
                    Some(m) => q as f32 * d + m,
                    None => d * (q as i32 - 16) as f32,
                });
            }
        }
        TensorType::Q4_K | TensorType::Q5_K => {
            let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
            let scales = &blk[4..16];
            let (qh, ql) = match ty {
                TensorType::Q5_K => (Some(&blk[16..48]), &blk[48..176]),
                _ => (None, &blk[16..144]),
            };
            for c in 0..4 {
                let q = &ql[32 * c..32 * c + 32];
                for half in 0..2 {
                    let sub = 2 * c + half;
                    let (sc, m) = crate::quantized::scale_min_k4(sub, scales);
                    let (sc, m) = (sc as f32, m as f32);
                    let (d1, m1) = (d * sc, dmin * m);
                    for l in 0..32 {
                        let lo = if half == 0 { q[l] & 0x0F } else { q[l] >> 4 };
                        let hi = qh.map_or(0, |h| ((h[l] >> sub) & 1) << 4);
                        out.push(d1 * (lo | hi) as f32 - m1);
                    }
                }
            }
        }
        // Q6_K (the caller passes only the six types above).
        _ => {
            let (ql, qh) = (&blk[0..128], &blk[128..192]);
            let scales = &blk[192..208];
            let d = f16_at(blk, 208);
            for g in 0..8 {
                for l in 0..32 {
                    let q = q6_k_value(ql, qh, g, l);
                    let sc = scales[2 * g + l / 16] as i8 as f32;
                    out.push(d * sc * q as f32);
                }
            }
        }
    }
}

fn q8_0_block(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(f16::from_f32(d).to_le_bytes());
    // `f32::round` rounds half away from zero, as C's roundf.
    out.extend(x.iter().map(|v| (v * id).round() as i8 as u8));
}

/// The value of largest magnitude, its sign kept (the first such).
fn signed_max(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn q4_0_block(x: &[f32], out: &mut Vec<u8>) {
    let max = signed_max(x);
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(f16::from_f32(d).to_le_bytes());
    let q = |v: f32| -> u8 { ((v * id + 8.5) as i8).clamp(0, 15) as u8 };
    for j in 0..16 {
        out.push(q(x[j]) | (q(x[j + 16]) << 4));
    }
}

/// Dequantizes `bytes` (whole blocks of `ty`) to f32.
pub fn dequantize(ty: TensorType, bytes: &[u8]) -> Result<Vec<f32>, String> {
    let bb = ty.block_bytes();
    if !bytes.len().is_multiple_of(bb) {
        return Err(format!(
            "{} bytes are not whole {} blocks of {bb} bytes",
            bytes.len(),
            ty.name()
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() / bb * ty.block_len());
    match ty {
        TensorType::F32 => bytes
            .chunks_exact(4)
            .for_each(|c| out.push(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        TensorType::F16 => bytes
            .chunks_exact(2)
            .for_each(|c| out.push(f16::from_le_bytes([c[0], c[1]]).to_f32())),
        TensorType::BF16 => bytes
            .chunks_exact(2)
            .for_each(|c| out.push(bf16::from_le_bytes([c[0], c[1]]).to_f32())),
        TensorType::Q8_0 => {
            for blk in bytes.chunks_exact(bb) {
                let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                out.extend(blk[2..].iter().map(|&q| q as i8 as f32 * d));
            }
        }
        TensorType::Q4_0 => {
            for blk in bytes.chunks_exact(bb) {
                let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                let qs = &blk[2..];
                out.extend(qs.iter().map(|&b| ((b & 0x0F) as i32 - 8) as f32 * d));
                out.extend(qs.iter().map(|&b| ((b >> 4) as i32 - 8) as f32 * d));
            }
        }
        TensorType::Q4_1
        | TensorType::Q5_0
        | TensorType::Q5_1
        | TensorType::Q4_K
        | TensorType::Q5_K
        | TensorType::Q6_K => bytes
            .chunks_exact(bb)
            .for_each(|blk| dequantize_more(ty, blk, &mut out)),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_round_trips_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
        let q = quantize(TensorType::Q8_0, &x).unwrap();
        assert_eq!(q.len(), 2 * 34);
        let y = dequantize(TensorType::Q8_0, &q).unwrap();
        for (blk_x, blk_y) in x.chunks(32).zip(y.chunks(32)) {
            let step = blk_x.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (a, b) in blk_x.iter().zip(blk_y) {
                // Half a step, plus the f16 rounding of the scale times up to 127 steps.
                assert!((a - b).abs() <= step * (0.5 + 127.0 / 1024.0), "{a} {b}");
            }
        }
    }

    #[test]
    fn q4_0_keeps_the_largest_weight_exactly_at_minus_eight_steps() {
        let mut x = vec![0.5f32; 32];
        x[5] = -4.0;
        x[20] = 2.0;
        let q = quantize(TensorType::Q4_0, &x).unwrap();
        assert_eq!(q.len(), 18);
        let y = dequantize(TensorType::Q4_0, &q).unwrap();
        // d = -4 / -8 = 0.5: -4 is q = 0, 2 is q = 12 (8 + 4), 0.5 is q = 9.
        assert_eq!(y[5], -4.0);
        assert_eq!(y[20], 2.0);
        assert_eq!(y[0], 0.5);
        // The low nibble of byte 4 is x[4], the high nibble x[20].
        assert_eq!(q[2 + 4], 9 | (12 << 4));
    }

    #[test]
    fn zeros_and_partial_blocks() {
        let y = dequantize(
            TensorType::Q8_0,
            &quantize(TensorType::Q8_0, &[0.0; 32]).unwrap(),
        )
        .unwrap();
        assert!(y.iter().all(|&v| v == 0.0));
        assert!(quantize(TensorType::Q4_0, &[1.0; 33]).is_err());
        assert!(dequantize(TensorType::Q8_0, &[0u8; 35]).is_err());
    }
}
