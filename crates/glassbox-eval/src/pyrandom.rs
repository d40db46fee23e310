//! Python's `random.Random(seed).sample(population, k)`, bit for bit: lm-evaluation-harness
//! draws few-shot examples with it (`random.Random(1234)`), so matching its contexts means
//! matching CPython's Mersenne Twister (MT19937 seeded by `init_by_array([seed])`), its
//! `_randbelow` (rejection on `getrandbits(n.bit_length())`) and `sample`'s two branches (a
//! shrinking pool for small populations, rejection of repeats for large ones).

/// CPython's `random.Random` for a non-negative integer seed below 2³².
#[derive(Debug, Clone)]
pub struct PyRandom {
    mt: [u32; 624],
    index: usize,
}

impl PyRandom {
    /// `random.Random(seed)` (seeds below 2³²: `init_by_array([seed])`).
    pub fn new(seed: u32) -> Self {
        let mut r = Self {
            mt: [0; 624],
            index: 624,
        };
        r.init_genrand(19_650_218);
        let key = [seed];
        let (mut i, mut j) = (1usize, 0usize);
        let n = 624usize;
        for _ in 0..n.max(key.len()) {
            let prev = r.mt[i - 1] ^ (r.mt[i - 1] >> 30);
            r.mt[i] = (r.mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= n {
                r.mt[0] = r.mt[n - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..n - 1 {
            let prev = r.mt[i - 1] ^ (r.mt[i - 1] >> 30);
            r.mt[i] = (r.mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= n {
                r.mt[0] = r.mt[n - 1];
                i = 1;
            }
        }
        r.mt[0] = 0x8000_0000;
        r.index = 624;
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..624 {
            let prev = self.mt[i - 1] ^ (self.mt[i - 1] >> 30);
            self.mt[i] = 1_812_433_253u32.wrapping_mul(prev).wrapping_add(i as u32);
        }
        self.index = 624;
    }

    /// The next 32 random bits (`genrand_uint32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(k + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    v ^= 0x9908_b0df;
                }
                self.mt[k] = v;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `getrandbits(k)` for `k ≤ 64`: 32-bit words, least significant first.
    fn getrandbits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            return u64::from(self.next_u32() >> (32 - k));
        }
        let lo = u64::from(self.next_u32());
        let hi = u64::from(self.next_u32() >> (64 - k));
        lo | (hi << 32)
    }

    /// `_randbelow(n)`: uniform in `0..n` by rejection.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `sample(range(n), k)`: `k` distinct indices below `n`, in selection order.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut setsize = 21usize;
        if k > 5 {
            // 4 ** ceil(log(3k, 4))
            let target = (3 * k) as f64;
            let e = target.log(4.0).ceil() as u32;
            setsize += 4usize.pow(e);
        }
        let mut out = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = self.randbelow((n - i) as u64) as usize;
                out.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = std::collections::HashSet::new();
            for _ in 0..k {
                let mut j = self.randbelow(n as u64) as usize;
                while selected.contains(&j) {
                    j = self.randbelow(n as u64) as usize;
                }
                selected.insert(j);
                out.push(j);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::PyRandom;

    #[test]
    fn matches_cpython() {
        // Python 3.11: random.Random(1234).getrandbits(32) × 3.
        let mut r = PyRandom::new(1234);
        assert_eq!(
            [r.next_u32(), r.next_u32(), r.next_u32()],
            [4_150_886_329, 3_342_196_574, 1_892_932_127]
        );
        // Random(1234).sample(range(10), 3), then again on the same generator.
        let mut r = PyRandom::new(1234);
        assert_eq!(r.sample(10, 3), vec![7, 1, 0]);
        assert_eq!(r.sample(10, 3), vec![1, 0, 9]);
        // The rejection branch: sample(range(100), 6), then sample(range(1000), 2).
        let mut r = PyRandom::new(1234);
        assert_eq!(r.sample(100, 6), vec![99, 56, 14, 0, 11, 74]);
        assert_eq!(r.sample(1000, 2), vec![35, 687]);
    }
}
