//! Quantization to ggml's k-quants **Q4_K**, **Q5_K** and **Q6_K**, bit for bit as llama.cpp's
//! reference quantizers do it when no importance matrix is given (what `llama-quantize` runs
//! without `--imatrix`).
//!
//! A super-block holds 256 weights.
//!
//! - **Q4_K** / **Q5_K**: 8 sub-blocks of 32. Each sub-block gets an affine fit `x ≈ s·q − m`
//!   (`q` in 0..=15 or 0..=31, `m ≥ 0`) from a small search over candidate scales that minimises
//!   the squared error weighted by `|x| + rms(sub-block)`. The 8 scales and 8 minimums are then
//!   quantized to 6 bits against the largest of each (`d = max s / 63`, `dmin = max m / 63`, both
//!   stored f16), and the weights re-quantized against the stored (rounded) scales. Layout:
//!   `d`, `dmin` (f16), 12 bytes of packed 6-bit scales and minimums, (Q5_K: 32 bytes of fifth
//!   bits), 128 bytes of nibbles.
//! - **Q6_K**: 16 sub-blocks of 16, each a symmetric fit `x ≈ s·q` (`q` in −32..=31) chosen among
//!   19 candidate scales by the `x²`-weighted least-squares criterion; the 16 scales are stored as
//!   i8 against `d = max|s| / 128` (f16). Layout: 128 bytes of low nibbles, 64 bytes of high
//!   2-bit pairs, 16 i8 scales, `d` (f16).
//!
//! Every step keeps the reference's f32 arithmetic in its order (no fused multiply-add, sums
//! accumulated left to right), its rounding (`nearest_int`: round half to even through the
//! `+ 1.5·2^23` trick) and its f32 → f16 conversion, so the bytes are identical — including the
//! reference's quirks: a sub-block whose stored scale rounds to 0 keeps the levels of its first
//! fit, and integer levels are narrowed to bytes as C narrows them.

/// Weights per super-block.
pub const QK_K: usize = 256;

/// Below this magnitude a Q6_K group counts as all zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// The reference's `nearest_int`: adding 1.5·2^23 leaves the rounded integer (ties to even) in
/// the low mantissa bits. Exact for |v| < 2^22; outside that (and for NaN) it returns the same
/// garbage the reference does.
fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0f32).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// f32 → IEEE half bits, round to nearest even; NaN becomes the quiet NaN `0x7E00` with the
/// input's sign (ggml's portable conversion, which the reference quantizers use).
pub fn f32_to_f16_bits(f: f32) -> u16 {
    let w = f.to_bits();
    let shl1 = w.wrapping_add(w);
    let sign = w & 0x8000_0000;
    // Scaling up then down by powers of two makes the hardware round the mantissa to the
    // half's precision (including its subnormal range) in the addition below.
    let mut base = (f.abs() * f32::from_bits(0x7780_0000)) * f32::from_bits(0x0880_0000);
    let bias = (shl1 & 0xFF00_0000).max(0x7100_0000);
    base += f32::from_bits((bias >> 1) + 0x0780_0000);
    let bits = base.to_bits();
    let exp = (bits >> 13) & 0x7C00;
    let mantissa = bits & 0x0FFF;
    let half = if shl1 > 0xFF00_0000 {
        0x7E00
    } else {
        exp + mantissa
    };
    ((sign >> 16) | half) as u16
}

fn f16_bits_to_f32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// The f16 a scale is stored as: its bits and the value the reference reads back.
fn stored(x: f32) -> (u16, f32) {
    let h = f32_to_f16_bits(x);
    (h, f16_bits_to_f32(h))
}

/// Fits `x ≈ scale·l − min` with levels `l` in `0..=nmax` (written to `levels`), minimising the
/// `weights`-weighted squared error over `nstep + 1` candidate inverse scales
/// `(nmax + rmin + rdelta·k) / (max − min)`. Returns `(scale, min)` (`min ≥ 0`, subtracted).
fn fit_affine(
    x: &[f32],
    weights: &[f32],
    levels: &mut [u8],
    nmax: i32,
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels.iter_mut().for_each(|l| *l = 0);
        return (0.0, -min);
    }
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        levels[i] = l as u8;
        let diff = scale * levels[i] as f32 + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    let mut aux = [0u8; 32];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            aux[i] = l as u8;
            let (w, lf) = (weights[i], l as f32);
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0f32;
            for i in 0..n {
                let diff = this_scale * aux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * (diff * diff);
            }
            if cur_error < best_error {
                levels[..n].copy_from_slice(&aux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Q4_K/Q5_K's packed 6-bit scale and minimum of sub-block `j`.
fn scale_min(j: usize, s: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// One Q4_K (`nmax` 15) or Q5_K (31) super-block of 256 weights, appended to `out`.
fn q45_k_block(x: &[f32], nmax: i32, out: &mut Vec<u8>) {
    let (rmin, nstep) = if nmax == 15 { (-1.0, 20) } else { (-0.5, 15) };
    let mut levels = [0u8; QK_K];
    let mut scales = [0f32; 8];
    let mut mins = [0f32; 8];
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..8 {
        let sub = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0f32;
        for &v in sub {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let mut weights = [0f32; 32];
        for (w, &v) in weights.iter_mut().zip(sub) {
            *w = av_x + v.abs();
        }
        let (s, m) = fit_affine(
            sub,
            &weights,
            &mut levels[32 * j..32 * j + 32],
            nmax,
            rmin,
            0.1,
            nstep,
        );
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; 12];
    for j in 0..8 {
        // The reference narrows the rounded level to a byte before capping it at 63.
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let (d_bits, d) = stored(max_scale / 63.0);
    let (dmin_bits, dmin) = stored(max_min / 63.0);
    for j in 0..8 {
        let (sc, m) = scale_min(j, &packed);
        let dj = d * sc as f32;
        if dj == 0.0 {
            continue;
        }
        let dm = dmin * m as f32;
        for i in 32 * j..32 * j + 32 {
            levels[i] = nearest_int((x[i] + dm) / dj).clamp(0, nmax) as u8;
        }
    }
    out.extend(d_bits.to_le_bytes());
    out.extend(dmin_bits.to_le_bytes());
    out.extend(packed);
    if nmax == 31 {
        // Bit 2c (2c + 1) of byte l: the fifth bit of weight 64c + l (64c + 32 + l).
        let mut qh = [0u8; 32];
        for c in 0..4 {
            for l in 0..32 {
                qh[l] |= (levels[64 * c + l] >> 4) << (2 * c);
                qh[l] |= (levels[64 * c + 32 + l] >> 4) << (2 * c + 1);
            }
        }
        out.extend(qh);
    }
    for c in 0..4 {
        for l in 0..32 {
            out.push((levels[64 * c + l] & 0x0F) | ((levels[64 * c + 32 + l] & 0x0F) << 4));
        }
    }
}

/// Fits `x ≈ scale·(l − 32)` with `l` in 0..=63 (written to `levels`): the first guess maps the
/// largest-magnitude weight to −32; 18 nearby scales are tried and kept when they raise the
/// `x²`-weighted least-squares figure `(Σ w·x·q)² / Σ w·q²`. Returns the least-squares scale.
fn fit_symmetric(x: &[f32], levels: &mut [u8]) -> f32 {
    const NMAX: i32 = 32;
    let (mut max, mut amax) = (0f32, 0f32);
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-NMAX, NMAX - 1);
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for &v in x {
            let l = level(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        (sumlx, suml2)
    };
    let iscale = -NMAX as f32 / max;
    for (q, &v) in levels.iter_mut().zip(x) {
        *q = (level(iscale, v) + NMAX) as u8;
    }
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        let iscale = -(NMAX as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (q, &v) in levels.iter_mut().zip(x) {
                *q = (level(iscale, v) + NMAX) as u8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// One Q6_K super-block of 256 weights, appended to `out`.
fn q6_k_block(x: &[f32], out: &mut Vec<u8>) {
    let mut levels = [0u8; QK_K];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
    for ib in 0..16 {
        let s = fit_symmetric(
            &x[16 * ib..16 * ib + 16],
            &mut levels[16 * ib..16 * ib + 16],
        );
        scales[ib] = s;
        if s.abs() > max_abs_scale {
            max_abs_scale = s.abs();
            max_scale = s;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        out.extend([0u8; 210]);
        return;
    }
    let iscale = -128.0 / max_scale;
    let (d_bits, d) = stored(1.0 / iscale);
    let mut sc = [0i8; 16];
    for ib in 0..16 {
        // Capped at 127, then narrowed to i8 as C does.
        sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
    }
    for ((lv, xs), &s) in levels.chunks_mut(16).zip(x.chunks(16)).zip(&sc) {
        let dj = d * s as f32;
        if dj == 0.0 {
            continue;
        }
        for (l, &v) in lv.iter_mut().zip(xs) {
            *l = (nearest_int(v / dj).clamp(-32, 31) + 32) as u8;
        }
    }
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for half in 0..2 {
        let (lv, ql, qh) = (
            &levels[128 * half..],
            &mut ql[64 * half..],
            &mut qh[32 * half..],
        );
        for l in 0..32 {
            ql[l] = (lv[l] & 0x0F) | ((lv[l + 64] & 0x0F) << 4);
            ql[l + 32] = (lv[l + 32] & 0x0F) | ((lv[l + 96] & 0x0F) << 4);
            qh[l] = (lv[l] >> 4)
                | ((lv[l + 32] >> 4) << 2)
                | ((lv[l + 64] >> 4) << 4)
                | ((lv[l + 96] >> 4) << 6);
        }
    }
    out.extend(ql);
    out.extend(qh);
    out.extend(sc.iter().map(|&s| s as u8));
    out.extend(d_bits.to_le_bytes());
}

/// `block` applied to every super-block of `x`, in parallel over runs of 64 (blocks are
/// independent, so the bytes do not depend on the split).
fn blocks(x: &[f32], block: fn(&[f32], &mut Vec<u8>), bytes: usize, out: &mut Vec<u8>) {
    use rayon::prelude::*;
    let parts: Vec<Vec<u8>> = x
        .par_chunks(64 * QK_K)
        .map(|run| {
            let mut v = Vec::with_capacity(run.len() / QK_K * bytes);
            run.chunks_exact(QK_K).for_each(|b| block(b, &mut v));
            v
        })
        .collect();
    parts.into_iter().for_each(|p| out.extend(p));
}

/// Q4_K bytes of `x` (whole super-blocks; the caller checks the length).
pub fn q4_k(x: &[f32], out: &mut Vec<u8>) {
    blocks(x, |b, o| q45_k_block(b, 15, o), 144, out);
}

/// Q5_K bytes of `x` (whole super-blocks).
pub fn q5_k(x: &[f32], out: &mut Vec<u8>) {
    blocks(x, |b, o| q45_k_block(b, 31, o), 176, out);
}

/// Q6_K bytes of `x` (whole super-blocks).
pub fn q6_k(x: &[f32], out: &mut Vec<u8>) {
    blocks(x, q6_k_block, 210, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(-0.5), 0);
        assert_eq!(nearest_int(-1.5), -2);
        assert_eq!(nearest_int(-31.49), -31);
        assert_eq!(nearest_int(63.0), 63);
    }

    use crate::gguf::TensorType;
    use crate::gguf::quant::{dequantize, quantize};

    /// A deterministic wave with some sign changes and varied magnitudes.
    fn wave(n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.731).sin() + 0.3 * (i as f32 * 0.117).cos()) * amp)
            .collect()
    }

    fn round_trip(ty: TensorType, x: &[f32]) -> Vec<f32> {
        let q = quantize(ty, x).unwrap();
        assert_eq!(q.len(), x.len() / QK_K * ty.block_bytes());
        dequantize(ty, &q).unwrap()
    }

    #[test]
    fn round_trips_stay_within_a_few_steps() {
        // Relative to the largest magnitude of each 256-weight block: Q4_K has 15 steps per
        // sub-block range, Q5_K 31, Q6_K 63 (plus the 6/8-bit rounding of the scales).
        for (ty, bound) in [
            (TensorType::Q4_K, 0.09),
            (TensorType::Q5_K, 0.045),
            (TensorType::Q6_K, 0.025),
        ] {
            // (Smaller blocks push `d` into f16's subnormals, whose absolute resolution dominates.)
            for amp in [0.5f32, 1.0, 300.0] {
                let x = wave(4 * QK_K, amp);
                let y = round_trip(ty, &x);
                for (bx, by) in x.chunks(QK_K).zip(y.chunks(QK_K)) {
                    let max = bx.iter().fold(0f32, |m, v| m.max(v.abs()));
                    for (a, b) in bx.iter().zip(by) {
                        assert!((a - b).abs() <= bound * max, "{ty:?} {amp}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn zero_constant_tiny_and_huge_blocks() {
        for ty in [TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K] {
            let y = round_trip(ty, &[0.0; QK_K]);
            assert!(y.iter().all(|&v| v == 0.0), "{ty:?} zeros");
            // A constant block: the fit keeps it nearly exactly (f16 scales).
            for c in [0.25f32, -0.7] {
                let y = round_trip(ty, &[c; QK_K]);
                assert!(
                    y.iter().all(|&v| (v - c).abs() <= c.abs() * 0.01),
                    "{ty:?} {c}"
                );
            }
            // Below f16's range the scales flush to zero: everything dequantizes to 0 (or to
            // finite values for the minimum-based types), never NaN.
            let y = round_trip(ty, &wave(QK_K, 1e-20));
            assert!(
                y.iter().all(|v| v.is_finite() && v.abs() < 1e-3),
                "{ty:?} tiny"
            );
            // Above it the scale overflows to infinity, as llama.cpp's does; no panic.
            let q = quantize(ty, &wave(QK_K, 1e15)).unwrap();
            assert_eq!(q.len(), ty.block_bytes());
        }
        assert!(quantize(TensorType::Q4_K, &[1.0; 255]).is_err());
    }

    #[test]
    fn f16_conversion_agrees_with_half_on_finite_values() {
        for bits in (0u32..=u32::MAX).step_by(65_537) {
            let f = f32::from_bits(bits);
            if f.is_nan() {
                assert_eq!(f32_to_f16_bits(f) & 0x7FFF, 0x7E00);
            } else {
                assert_eq!(
                    f32_to_f16_bits(f),
                    half::f16::from_f32(f).to_bits(),
                    "{f:e}"
                );
            }
        }
    }
}
