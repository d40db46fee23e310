//! A documented, seedable pseudo-random generator whose stream this crate fixes forever.
//!
//! Reproducibility must not hang on a dependency's version (`rand`'s `StdRng` may change its
//! algorithm between releases), so glassbox owns its generator:
//!
//! - **Seeding**: SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
//!   generators", OOPSLA 2014) expands the `u64` seed into the 256-bit state, as the xoshiro
//!   authors recommend.
//! - **Generator**: xoshiro256** 1.0 (Blackman & Vigna, "Scrambled linear pseudorandom number
//!   generators", 2018; reference C code at <https://prng.di.unimi.it/xoshiro256starstar.c>).
//! - **Floats**: `next_f64` takes the top 53 bits, times 2⁻⁵³, so it lies in `[0, 1)`.
//! - **Integers below n**: `below(n)` uses rejection sampling on the top bits (no modulo bias).
//!
//! Anyone can re-implement these in a few lines of Python to recompute a glassbox stream.

/// xoshiro256** with SplitMix64 seeding. Its state is four `u64`s and can be saved and restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of SplitMix64: advances `state` and returns the next output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose state is the first four SplitMix64 outputs from `seed`.
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self { s }
    }

    /// Restores a generator from a saved state. An all-zero state (which xoshiro cannot leave)
    /// is replaced by the state of seed 0.
    pub fn from_state(s: [u64; 4]) -> Self {
        if s == [0; 4] {
            Self::seed_from_u64(0)
        } else {
            Self { s }
        }
    }

    /// The current state, for checkpoints.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)`; `n` must be positive (0 returns 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        // Rejection on the smallest power-of-two range covering n: unbiased and simple to
        // re-implement elsewhere.
        let bits = 64 - (n - 1).leading_zeros();
        loop {
            let x = self.next_u64() >> (64 - bits);
            if x < n {
                return x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_vector() {
        // First outputs of SplitMix64 from seed 0, as printed by the reference implementation.
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn xoshiro_reference_vector() {
        // Reference xoshiro256** from state {1, 2, 3, 4}: 11520, 0, 1509978240, 1215971899390074240.
        let mut r = Rng::from_state([1, 2, 3, 4]);
        assert_eq!(r.next_u64(), 11520);
        assert_eq!(r.next_u64(), 0);
        assert_eq!(r.next_u64(), 1_509_978_240);
        assert_eq!(r.next_u64(), 1_215_971_899_390_074_240);
    }

    #[test]
    fn floats_in_unit_interval_and_below_in_range() {
        let mut r = Rng::seed_from_u64(7);
        for _ in 0..10_000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below(10) < 10);
        }
    }

    #[test]
    fn state_roundtrip_continues_stream() {
        let mut a = Rng::seed_from_u64(3);
        a.next_u64();
        let mut b = Rng::from_state(a.state());
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
