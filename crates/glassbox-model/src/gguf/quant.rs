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

use half::{bf16, f16};

use super::TensorType;

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
    }
    Ok(out)
}

fn q8_0_block(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend(f16::from_f32(d).to_le_bytes());
    // `f32::round` rounds half away from zero, as C's roundf.
    out.extend(x.iter().map(|v| (v * id).round() as i8 as u8));
}

fn q4_0_block(x: &[f32], out: &mut Vec<u8>) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
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
