//! AVX2 dot products for the common block types (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K), used when the
//! CPU has AVX2, FMA and F16C; the signed 32-value types use AVX-VNNI's `vpdpbusd` where the CPU
//! has it, on their weights made unsigned (`w + c`) with each lane started from the
//! activations' `−c · Σ x` ([`super::ActRow::bias`]); Q5_0 sets its fifth bits with an
//! AVX-512BW/VL byte mask where the CPU has that.
//!
//! Each block's 32 weights become 32 bytes in a register; `maddubs` multiplies unsigned bytes by
//! signed activation bytes into pairs of i16 and `madd` sums those pairs (times a sub-block
//! scale, or 1) into i32 — exact, as none of the intermediate sums can overflow (|q_x| ≤ 127;
//! unsigned weights ≤ 63, or made unsigned with `sign`). The i32 sums are scaled in f32 per
//! block, so the result differs from [`super::scalar`] only in the order of the f32 additions.
//!
//! The module allows `unsafe` for two things only: calling the `#[target_feature]` functions
//! after run-time detection, and unaligned loads from slices whose length is asserted.

#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{ActRow, Dot, Dot4};
use crate::gguf::TensorType;

/// The AVX2 kernel for `ty`, when this CPU runs it and one exists.
pub(super) fn kernel(ty: TensorType) -> Option<Dot> {
    let cpu = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    if !cpu {
        return None;
    }
    let vnni = is_x86_feature_detected!("avxvnni");
    Some(match ty {
        TensorType::Q8_0 if vnni => q8_0_v,
        TensorType::Q4_0 if vnni => q4_0_v,
        TensorType::Q5_0 if vnni && avx512_bytes() => q5_0_v512,
        TensorType::Q5_0 if vnni => q5_0_v,
        TensorType::Q8_0 => q8_0,
        TensorType::Q4_0 => q4_0,
        TensorType::Q5_0 => q5_0,
        TensorType::Q4_K => q4_k,
        TensorType::Q6_K => q6_k,
        _ => return None,
    })
}

/// The four-row kernel matching [`kernel`]'s choice for `ty`.
pub(super) fn kernel4(ty: TensorType) -> Option<Dot4> {
    kernel(ty)?;
    let vnni = is_x86_feature_detected!("avxvnni");
    Some(match ty {
        TensorType::Q8_0 if vnni => q8_0_v4,
        TensorType::Q4_0 if vnni => q4_0_v4,
        TensorType::Q5_0 if vnni && avx512_bytes() => q5_0_v512_4,
        TensorType::Q5_0 if vnni => q5_0_v4,
        TensorType::Q8_0 => q8_0_4,
        TensorType::Q4_0 => q4_0_4,
        TensorType::Q5_0 => q5_0_4,
        TensorType::Q4_K => q4_k_4,
        TensorType::Q6_K => q6_k_4,
        _ => return None,
    })
}

/// Every AVX2 variant for `ty` this CPU runs (for the tests: the one `kernel` picks and the
/// ones it passes over).
pub(super) fn variants(ty: TensorType) -> Vec<Dot> {
    let mut out: Vec<Dot> = kernel(ty).into_iter().collect();
    let plain = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    if plain && is_x86_feature_detected!("avxvnni") {
        match ty {
            TensorType::Q8_0 => out.push(q8_0),
            TensorType::Q4_0 => out.push(q4_0),
            TensorType::Q5_0 if avx512_bytes() => out.extend([q5_0_v as Dot, q5_0]),
            TensorType::Q5_0 => out.push(q5_0),
            _ => {}
        }
    }
    out
}

/// Whether the CPU has AVX-512's byte masks on 256-bit registers (BW and VL).
fn avx512_bytes() -> bool {
    is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vl")
}

// SAFETY (all five wrappers): `kernel` returns them only after `is_x86_feature_detected!` found
// AVX2, FMA and F16C, the features the wrapped functions are compiled for.
fn q8_0(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q8_0_avx2(w, a) }
}
fn q4_0(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q4_0_avx2(w, a) }
}
fn q5_0(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q5_0_avx2(w, a) }
}
fn q4_k(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q4_k_rows::<1>(w, [a])[0] }
}
fn q6_k(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q6_k_rows::<1>(w, [a])[0] }
}
// SAFETY (the eight below): `kernel4` returns them only after `kernel` found AVX2, FMA and F16C
// (and, for the `_v4` ones, AVX-VNNI was detected as well).
fn q4_k_4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q4_k_rows::<4>(w, a) }
}
fn q6_k_4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q6_k_rows::<4>(w, a) }
}
fn q8_0_4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q8_0_avx2_x4(w, a) }
}
fn q4_0_4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q4_0_avx2_x4(w, a) }
}
fn q5_0_4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q5_0_avx2_x4(w, a) }
}
fn q8_0_v4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q8_0_vnni_x4(w, a) }
}
fn q4_0_v4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q4_0_vnni_x4(w, a) }
}
fn q5_0_v4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q5_0_vnni_x4(w, a) }
}
// SAFETY (the two below): `kernel`/`kernel4` return them only when AVX-VNNI, AVX-512BW and
// AVX-512VL were detected as well as AVX2, FMA and F16C.
fn q5_0_v512(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q5_0_vnni512(w, a) }
}
fn q5_0_v512_4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
    unsafe { q5_0_vnni512_x4(w, a) }
}
// SAFETY (the three below): `kernel` returns them only when AVX-VNNI was detected as well.
fn q8_0_v(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q8_0_vnni(w, a) }
}
fn q4_0_v(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q4_0_vnni(w, a) }
}
fn q5_0_v(w: &[u8], a: &ActRow<'_>) -> f32 {
    unsafe { q5_0_vnni(w, a) }
}

/// 32 bytes from the start of `s`.
#[inline]
#[target_feature(enable = "avx2")]
fn ld<T: Copy>(s: &[T]) -> __m256i {
    assert!(std::mem::size_of_val(s) >= 32);
    // SAFETY: the assertion guarantees 32 readable bytes at `s`; the load is unaligned.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// 16 bytes from the start of `s`.
#[inline]
#[target_feature(enable = "avx2")]
fn ld16(s: &[u8]) -> __m128i {
    assert!(s.len() >= 16);
    // SAFETY: the assertion guarantees 16 readable bytes at `s`; the load is unaligned.
    unsafe { _mm_loadu_si128(s.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// How far ahead of the block being multiplied the kernels ask for weights to be fetched.
/// Decoding streams every weight once, and the hardware prefetcher restarts at each 4 KiB
/// page, leaving each thread waiting on memory at every page boundary; asking 1.5 KiB ahead
/// keeps the next lines in flight (decode of a SmolLM2-135M-shaped Q8_0 model on 2 threads:
/// about 1.3× faster; 1–2 KiB were best, 0.5 and 4 KiB slower).
const PREFETCH_AHEAD: usize = 1536;

/// Asks for the cache lines `PREFETCH_AHEAD` bytes past each 64 bytes of `blk` to be fetched.
#[inline]
#[target_feature(enable = "avx2")]
fn prefetch(blk: &[u8]) {
    for at in (0..blk.len()).step_by(64) {
        // A prefetch is a hint: it never faults and never changes memory, whatever the address
        // (here possibly past the end of the weights).
        _mm_prefetch::<_MM_HINT_T0>(blk.as_ptr().wrapping_add(at + PREFETCH_AHEAD).cast());
    }
}

/// The f16 at the start of `blk` (a block's scale) times `dx`, in all eight lanes: broadcast,
/// converted and multiplied as vectors (a scalar conversion's merge into the low lane of a
/// register made the compiler chain successive blocks), the same f32 product in every lane.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn scale_x8(blk: &[u8], dx: f32) -> __m256 {
    let h = i16::from_le_bytes([blk[0], blk[1]]);
    _mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16(h)), _mm256_set1_ps(dx))
}

/// `Σ` of signed bytes `w · x` in pairs of four, as eight i32.
#[inline]
#[target_feature(enable = "avx2")]
fn mul_sum_i8(w: __m256i, x: __m256i) -> __m256i {
    let ax = _mm256_sign_epi8(w, w);
    let sx = _mm256_sign_epi8(x, w);
    _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sx), _mm256_set1_epi16(1))
}

/// Unsigned bytes `u` times signed bytes `x`, pairs summed, times `scale`: eight i32.
#[inline]
#[target_feature(enable = "avx2")]
fn mul_sum_scaled(u: __m256i, x: __m256i, scale: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), scale)
}

/// The 32 4-bit values of a block's 16 packed bytes (low nibbles, then high ones).
#[inline]
#[target_feature(enable = "avx2")]
fn nibbles(qs: &[u8]) -> __m256i {
    let v = ld16(qs);
    let hi = _mm_srli_epi16(v, 4);
    _mm256_and_si256(_mm256_set_m128i(hi, v), _mm256_set1_epi8(0x0F))
}

/// Byte `i` is 0xFF where bit `i` of `bits` is set, 0 otherwise.
#[inline]
#[target_feature(enable = "avx2")]
fn bytes_from_bits(bits: u32) -> __m256i {
    let shuf = _mm256_setr_epi64x(
        0,
        0x0101_0101_0101_0101,
        0x0202_0202_0202_0202,
        0x0303_0303_0303_0303,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), shuf);
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit)
}

/// `d_w · d_x` of the blocks `$blocks` (up to 8 `$bytes`-byte blocks, each led by its f16
/// scale) and their activation scales `$dx`, as `[f32; 8]`: the eight f16 converted in one
/// instruction. (Converting one at a time with F16C inserts into a register's low lane, and the
/// compiler merged that into the accumulator, chaining every block to the previous one's
/// multiply-add; a helper function was not inlined.) The products are the same f32 products as
/// one at a time. A macro, so it is expanded inside each kernel.
macro_rules! scales8 {
    ($blocks:expr, $bytes:literal, $dx:expr) => {{
        let mut h = [0u16; 8];
        let mut x = [0f32; 8];
        for ((h, x), (blk, dx)) in h
            .iter_mut()
            .zip(x.iter_mut())
            .zip($blocks.chunks_exact($bytes).zip($dx))
        {
            *h = u16::from_le_bytes([blk[0], blk[1]]);
            *x = *dx;
        }
        let mut out = [0f32; 8];
        // SAFETY: `h` is 16 bytes, `x` and `out` 32: the loads and the store stay inside them.
        unsafe {
            let dw = _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr().cast()));
            let d = _mm256_mul_ps(dw, _mm256_loadu_ps(x.as_ptr()));
            _mm256_storeu_ps(out.as_mut_ptr(), d);
        }
        out
    }};
}

/// The signed 32-value blocks (Q8_0, Q4_0, Q5_0), each weight block made signed bytes by
/// `$weights(blk)`, multiplied with the activations by `$mul_sum`, for the CPU features
/// `$features`. One accumulator, blocks in order: the f32 additions are ggml's, so a model
/// gives llama.cpp's logits bit for bit where the inputs agree.
macro_rules! signed_kernel {
    ($name:ident, $name4:ident, $features:literal, $bytes:literal, $mul_sum:ident, $weights:expr, $mul_sum4:ident, $weights4:expr) => {
        // `$weights(blk)` makes the block's 32 weights one register; `$mul_sum(w, x, bias)`
        // their eight lane sums with the activations `x` (`bias`: the block's
        // `ActRow::bias` lanes, for the kernels that take unsigned weights). The four-row
        // kernel uses `$weights4` and `$mul_sum4` (signed weights: measured faster there,
        // where each weight register serves four activation rows).
        /// Four activation rows: the weight block unpacked once, each row's sum as `$name`'s.
        #[target_feature(enable = $features)]
        fn $name4(w: &[u8], a: [&ActRow<'_>; 4]) -> [f32; 4] {
            let n = w.len() / $bytes;
            let w = &w[..$bytes * n];
            let q = a.map(|r| &r.q[..32 * n]);
            let dx = a.map(|r| &r.d[..n]);
            let mut acc = [_mm256_setzero_ps(); 4];
            for (c, ws) in w.chunks($bytes * 8).enumerate() {
                let d = [
                    scales8!(ws, $bytes, &dx[0][8 * c..]),
                    scales8!(ws, $bytes, &dx[1][8 * c..]),
                    scales8!(ws, $bytes, &dx[2][8 * c..]),
                    scales8!(ws, $bytes, &dx[3][8 * c..]),
                ];
                for (i, blk) in ws.chunks_exact($bytes).enumerate() {
                    prefetch(blk);
                    let wq = $weights4(blk);
                    let b = 8 * c + i;
                    for r in 0..4 {
                        let p = $mul_sum4(wq, ld(&q[r][32 * b..32 * b + 32]));
                        let dd = _mm256_set1_ps(d[r][i]);
                        acc[r] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(p), acc[r]);
                    }
                }
            }
            acc.map(|v| hsum(v))
        }

        #[target_feature(enable = $features)]
        fn $name(w: &[u8], a: &ActRow<'_>) -> f32 {
            let n = w.len() / $bytes;
            let (w, q, dx) = (&w[..$bytes * n], &a.q[..32 * n], &a.d[..n]);
            let mut acc = _mm256_setzero_ps();
            let bias = &a.bias[..8 * n];
            for (((blk, x), &dx), bias) in w
                .chunks_exact($bytes)
                .zip(q.chunks_exact(32))
                .zip(dx)
                .zip(bias.chunks_exact(8))
            {
                prefetch(blk);
                let d = scale_x8(blk, dx);
                let p = $mul_sum($weights(blk), ld(x), bias);
                acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
            }
            hsum(acc)
        }
    };
}

/// Q8_0's 32 signed bytes.
#[inline]
#[target_feature(enable = "avx2")]
fn q8_0_weights(blk: &[u8]) -> __m256i {
    ld(&blk[2..])
}

/// Q4_0's nibbles minus 8.
#[inline]
#[target_feature(enable = "avx2")]
fn q4_0_weights(blk: &[u8]) -> __m256i {
    _mm256_sub_epi8(q4_0_unsigned(blk), _mm256_set1_epi8(8))
}

/// Q5_0's nibbles with their fifth bits, minus 16.
#[inline]
#[target_feature(enable = "avx2")]
fn q5_0_weights(blk: &[u8]) -> __m256i {
    _mm256_sub_epi8(q5_0_unsigned(blk), _mm256_set1_epi8(16))
}

/// [`q5_0_unsigned`] with the fifth bits placed by AVX-512's byte-masked move (bit `i` of the
/// block's 32-bit `qh` sets byte `i`): one instruction for the broadcast, shuffle, test and mask.
#[inline]
#[target_feature(enable = "avx2,avx512bw,avx512vl")]
fn q5_0_unsigned_512(blk: &[u8]) -> __m256i {
    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
    let hi = _mm256_maskz_mov_epi8(qh, _mm256_set1_epi8(0x10));
    _mm256_or_si256(nibbles(&blk[6..]), hi)
}

/// [`mul_sum_i8`] for the signed kernels (the bias lanes unused).
#[inline]
#[target_feature(enable = "avx2")]
fn mul_signed(w: __m256i, x: __m256i, _bias: &[i32]) -> __m256i {
    mul_sum_i8(w, x)
}

/// [`mul_sum_i8`] with AVX-VNNI's `vpdpbusd` (the signed weights made unsigned by a sign flip,
/// the activations' signs flipped to match).
#[inline]
#[target_feature(enable = "avx2,avxvnni")]
fn mul_sum_i8_vnni(w: __m256i, x: __m256i) -> __m256i {
    let ax = _mm256_sign_epi8(w, w);
    let sx = _mm256_sign_epi8(x, w);
    _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), ax, sx)
}

/// Unsigned weights `u = w + c` times the activations with AVX-VNNI's `vpdpbusd`, each lane
/// started from its bias `−c · Σ x` (exact integers: the same eight lane sums as
/// [`mul_sum_i8`] of `w`, in one instruction instead of two sign flips and a multiply).
#[inline]
#[target_feature(enable = "avx2,avxvnni")]
fn mul_biased(u: __m256i, x: __m256i, bias: &[i32]) -> __m256i {
    _mm256_dpbusd_avx_epi32(ld(bias), u, x)
}

/// Q8_0's bytes made unsigned: `w + 128` (the sign bit flipped).
#[inline]
#[target_feature(enable = "avx2")]
fn q8_0_unsigned(blk: &[u8]) -> __m256i {
    _mm256_xor_si256(ld(&blk[2..]), _mm256_set1_epi8(i8::MIN))
}

/// Q4_0's nibbles as they are (`w + 8`).
#[inline]
#[target_feature(enable = "avx2")]
fn q4_0_unsigned(blk: &[u8]) -> __m256i {
    nibbles(&blk[2..])
}

/// Q5_0's nibbles with their fifth bits (`w + 16`).
#[inline]
#[target_feature(enable = "avx2")]
fn q5_0_unsigned(blk: &[u8]) -> __m256i {
    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
    let hi = _mm256_and_si256(bytes_from_bits(qh), _mm256_set1_epi8(0x10));
    _mm256_or_si256(nibbles(&blk[6..]), hi)
}

signed_kernel!(
    q8_0_avx2,
    q8_0_avx2_x4,
    "avx2,fma,f16c",
    34,
    mul_signed,
    q8_0_weights,
    mul_sum_i8,
    q8_0_weights
);
signed_kernel!(
    q4_0_avx2,
    q4_0_avx2_x4,
    "avx2,fma,f16c",
    18,
    mul_signed,
    q4_0_weights,
    mul_sum_i8,
    q4_0_weights
);
signed_kernel!(
    q5_0_avx2,
    q5_0_avx2_x4,
    "avx2,fma,f16c",
    22,
    mul_signed,
    q5_0_weights,
    mul_sum_i8,
    q5_0_weights
);
signed_kernel!(
    q8_0_vnni,
    q8_0_vnni_x4,
    "avx2,fma,f16c,avxvnni",
    34,
    mul_biased,
    q8_0_unsigned,
    mul_sum_i8_vnni,
    q8_0_weights
);
signed_kernel!(
    q4_0_vnni,
    q4_0_vnni_x4,
    "avx2,fma,f16c,avxvnni",
    18,
    mul_biased,
    q4_0_unsigned,
    mul_sum_i8_vnni,
    q4_0_weights
);
signed_kernel!(
    q5_0_vnni,
    q5_0_vnni_x4,
    "avx2,fma,f16c,avxvnni",
    22,
    mul_biased,
    q5_0_unsigned,
    mul_sum_i8_vnni,
    q5_0_weights
);
signed_kernel!(
    q5_0_vnni512,
    q5_0_vnni512_x4,
    "avx2,fma,f16c,avxvnni,avx512bw,avx512vl",
    22,
    mul_biased,
    q5_0_unsigned_512,
    mul_sum_i8_vnni,
    q5_0_weights
);

/// The f16 at byte `at` of each of the first `k` (≤ 8) `bytes`-byte blocks of `w`, in f32,
/// converted in one instruction (exactly, as one at a time).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16x8(w: &[u8], bytes: usize, at: usize, k: usize) -> [f32; 8] {
    let mut h = [0u16; 8];
    for (i, h) in h.iter_mut().enumerate().take(k) {
        let o = bytes * i + at;
        *h = u16::from_le_bytes([w[o], w[o + 1]]);
    }
    let mut out = [0f32; 8];
    // SAFETY: `h` is 16 bytes and `out` 32: the load and the store stay inside them.
    unsafe {
        _mm256_storeu_ps(
            out.as_mut_ptr(),
            _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr().cast())),
        );
    }
    out
}

/// Q4_K/Q5_K's twelve scale bytes as eight 6-bit scales and eight 6-bit minima (the same values
/// as [`super::scalar::scale_min_k4`], unpacked with four 32-bit words).
#[inline]
fn scales_mins_k4(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (w0, w1, w2) = (word(0), word(1), word(2));
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const TOP2: u32 = 0x0303_0303;
    // Sub-blocks 0–3: the low six bits of bytes 0–3 (scales) and 4–7 (minima); 4–7: the low
    // (scales) or high (minima) nibble of bytes 8–11, with the top two bits of bytes 0–3
    // (scales) or 4–7 (minima) above them.
    let sc_lo = w0 & LOW6;
    let sc_hi = (w2 & LOW4) | (((w0 >> 6) & TOP2) << 4);
    let m_lo = w1 & LOW6;
    let m_hi = ((w2 >> 4) & LOW4) | (((w1 >> 6) & TOP2) << 4);
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    sc[..4].copy_from_slice(&sc_lo.to_le_bytes());
    sc[4..].copy_from_slice(&sc_hi.to_le_bytes());
    m[..4].copy_from_slice(&m_lo.to_le_bytes());
    m[4..].copy_from_slice(&m_hi.to_le_bytes());
    (sc, m)
}

/// Q4_K for `R` activation rows at once (the scales unpacked once per block, the f16 scales
/// of eight blocks converted together); each row's arithmetic is the same whatever `R` is.
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k_rows<const R: usize>(w: &[u8], a: [&ActRow<'_>; R]) -> [f32; R] {
    let n = w.len() / 144;
    for r in a {
        assert!(r.q.len() >= 256 * n && r.d.len() >= n && r.sums.len() >= 16 * n);
    }
    let mut acc = [_mm256_setzero_ps(); R];
    let mut mins = [0f32; R];
    let low = _mm256_set1_epi8(0x0F);
    for (g, group) in w[..144 * n].chunks(144 * 8).enumerate() {
        let k = group.len() / 144;
        let (dws, dmins) = (f16x8(group, 144, 0, k), f16x8(group, 144, 2, k));
        for (i, blk) in group.chunks_exact(144).enumerate() {
            prefetch(blk);
            let b = 8 * g + i;
            let (sc, mn) = scales_mins_k4(&blk[4..16]);
            let ql = &blk[16..144];
            let mut sumi = [_mm256_setzero_si256(); R];
            // Σ_j min_j · (the sums of sub-block j's two groups of 16 activations), in integers
            // (exact, so in any order): each minimum paired with both of its sums, `madd`.
            let paired_mins = {
                let m = _mm_set1_epi64x(i64::from_le_bytes(mn));
                _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m))
            };
            let m_sum: [i32; R] = std::array::from_fn(|k| {
                hsum_i32(_mm256_madd_epi16(
                    ld(&a[k].sums[16 * b..16 * b + 16]),
                    paired_mins,
                ))
            });
            for c in 0..4 {
                let v = ld(&ql[32 * c..]);
                let lo = _mm256_and_si256(v, low);
                let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                let (s0, s1) = (
                    _mm256_set1_epi16(sc[2 * c] as i16),
                    _mm256_set1_epi16(sc[2 * c + 1] as i16),
                );
                for k in 0..R {
                    let x = &a[k].q[256 * b..];
                    let pl = mul_sum_scaled(lo, ld(&x[64 * c..]), s0);
                    let ph = mul_sum_scaled(hi, ld(&x[64 * c + 32..]), s1);
                    sumi[k] = _mm256_add_epi32(sumi[k], _mm256_add_epi32(pl, ph));
                }
            }
            for k in 0..R {
                let d = dws[i] * a[k].d[b];
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[k]), acc[k]);
                mins[k] += dmins[i] * a[k].d[b] * m_sum[k] as f32;
            }
        }
    }
    std::array::from_fn(|k| hsum(acc[k]) - mins[k])
}

/// Q6_K for `R` activation rows at once (the 6-bit values unpacked once per block, the f16
/// scales of eight blocks converted together); each row's arithmetic is the same whatever `R`
/// is.
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k_rows<const R: usize>(w: &[u8], a: [&ActRow<'_>; R]) -> [f32; R] {
    let n = w.len() / 210;
    for r in a {
        assert!(r.q.len() >= 256 * n && r.d.len() >= n && r.sums.len() >= 16 * n);
    }
    let mut acc = [_mm256_setzero_ps(); R];
    let mut offsets = [0f32; R];
    let (low, two) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x03));
    for (g, group) in w[..210 * n].chunks(210 * 8).enumerate() {
        let k = group.len() / 210;
        let dws = f16x8(group, 210, 208, k);
        for (i, blk) in group.chunks_exact(210).enumerate() {
            prefetch(blk);
            let b = 8 * g + i;
            let (ql, qh, scales) = (&blk[0..128], &blk[128..192], &blk[192..208]);
            let sc = |i: usize| scales[i] as i8 as i16;
            // The sixteen scales as i16, for the offset's Σ sc · (sum of 16 activations).
            let sc16 = _mm256_cvtepi8_epi16(ld16(scales));
            let mut sumi = [_mm256_setzero_si256(); R];
            for nn in 0..2 {
                let l0 = ld(&ql[64 * nn..]);
                let l1 = ld(&ql[64 * nn + 32..]);
                let h = ld(&qh[32 * nn..]);
                let hi = |bits: __m256i| _mm256_slli_epi16(_mm256_and_si256(bits, two), 4);
                let q = [
                    _mm256_or_si256(_mm256_and_si256(l0, low), hi(h)),
                    _mm256_or_si256(_mm256_and_si256(l1, low), hi(_mm256_srli_epi16(h, 2))),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                        hi(_mm256_srli_epi16(h, 4)),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                        hi(_mm256_srli_epi16(h, 6)),
                    ),
                ];
                for (kq, qk) in q.into_iter().enumerate() {
                    let g = 4 * nn + kq;
                    let s =
                        _mm256_set_m128i(_mm_set1_epi16(sc(2 * g + 1)), _mm_set1_epi16(sc(2 * g)));
                    for k in 0..R {
                        let p = mul_sum_scaled(qk, ld(&a[k].q[256 * b + 32 * g..]), s);
                        sumi[k] = _mm256_add_epi32(sumi[k], p);
                    }
                }
            }
            for k in 0..R {
                let bs = ld(&a[k].sums[16 * b..16 * b + 16]);
                let off = hsum_i32(_mm256_madd_epi16(sc16, bs));
                let d = dws[i] * a[k].d[b];
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[k]), acc[k]);
                offsets[k] += d * (32 * off) as f32;
            }
        }
    }
    std::array::from_fn(|k| hsum(acc[k]) - offsets[k])
}

/// The sum of eight i32.
#[inline]
#[target_feature(enable = "avx2")]
fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn scales_and_minima_unpack_as_the_portable_code_does() {
        let mut rng = glassbox_core::rng::Rng::seed_from_u64(5);
        for _ in 0..1000 {
            let s: Vec<u8> = (0..12).map(|_| (rng.next_u64() >> 40) as u8).collect();
            let (sc, m) = super::scales_mins_k4(&s);
            for j in 0..8 {
                let (a, b) = super::super::scalar::scale_min_k4(j, &s);
                assert_eq!((sc[j] as i32, m[j] as i32), (a, b), "{s:?} sub-block {j}");
            }
        }
    }
}
