//! Deduplication: exact (SHA-256 of the normalised text) and near-duplicate (MinHash LSH).
//!
//! MinHash follows datatrove's `MinhashDedupSignature` defaults: word 5-gram shingles of the
//! simplified text (lowercase, punctuation removed, numbers → `0`, whitespace collapsed), hashed
//! to 64 bits (the first 8 bytes of SHA-256, little-endian); 14 bands × 8 rows = 112 hash
//! functions `h(x) = (a·x + b) mod (2⁶¹ − 1)` whose `a ∈ [1, p)`, `b ∈ [0, p)` come from the
//! glassbox RNG seeded with `minhash.seed`. Two documents are candidates when any band's 8
//! minimums agree; with 14 × 8 the probability of becoming a candidate passes 50 % near a
//! Jaccard similarity of 0.72. Documents are processed in input order, and a document that
//! collides with an earlier kept one is removed (the first copy stays).

use std::collections::{HashMap, HashSet};

use glassbox_core::rng::Rng;
use sha2::{Digest, Sha256};

use crate::config::Minhash;
use crate::text::{is_punct, words};

const MERSENNE: u64 = (1 << 61) - 1;

/// Exact deduplication state.
#[derive(Debug, Default)]
pub struct Exact {
    seen: HashMap<[u8; 16], u64>,
}

impl Exact {
    /// Records `text` for document `doc`; returns the index of an earlier identical document.
    pub fn check(&mut self, text: &str, doc: u64) -> Option<u64> {
        let h = Sha256::digest(text.as_bytes());
        let mut k = [0u8; 16];
        k.copy_from_slice(&h[..16]);
        match self.seen.get(&k) {
            Some(&first) => Some(first),
            None => {
                self.seen.insert(k, doc);
                None
            }
        }
    }
}

/// MinHash LSH state: the band keys of kept documents.
#[derive(Debug)]
pub struct MinhashLsh {
    cfg: Minhash,
    a: Vec<u64>,
    b: Vec<u64>,
    bands: Vec<HashMap<u64, u64>>,
}

/// A document's signature (one minimum per hash function).
pub type Signature = Vec<u64>;

/// `a·x mod (2⁶¹ − 1)` for `a, x < 2⁶¹ − 1`, by the Mersenne reduction (no division).
fn mulmod(a: u64, x: u64) -> u64 {
    let p = a as u128 * x as u128;
    let mut r = (p as u64 & MERSENNE) + (p >> 61) as u64;
    while r >= MERSENNE {
        r -= MERSENNE;
    }
    r
}

impl MinhashLsh {
    /// Hash functions drawn from `cfg.seed`.
    pub fn new(cfg: &Minhash) -> Self {
        let n = cfg.bands * cfg.rows;
        let mut rng = Rng::seed_from_u64(cfg.seed);
        let a = (0..n).map(|_| 1 + rng.below(MERSENNE - 1)).collect();
        let b = (0..n).map(|_| rng.below(MERSENNE)).collect();
        Self {
            cfg: cfg.clone(),
            a,
            b,
            bands: vec![HashMap::new(); cfg.bands],
        }
    }

    /// Simplified text: lowercase, punctuation to spaces, digit runs to `0`, whitespace collapsed.
    pub fn simplify(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut in_digits = false;
        for c in text.chars().flat_map(char::to_lowercase) {
            if c.is_numeric() {
                if !in_digits {
                    out.push('0');
                }
                in_digits = true;
                continue;
            }
            in_digits = false;
            if is_punct(c) {
                out.push(' ')
            } else {
                out.push(c)
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The signature of `text` (computable in parallel); `None` for texts with no shingle.
    pub fn signature(&self, text: &str) -> Option<Signature> {
        let simple = Self::simplify(text);
        let ws = words(&simple);
        let n = self.cfg.ngram;
        let shingles: HashSet<u64> = if ws.len() < n {
            if ws.is_empty() {
                return None;
            }
            std::iter::once(hash64(&ws.join(" "))).collect()
        } else {
            ws.windows(n).map(|g| hash64(&g.join(" "))).collect()
        };
        let mut sig = vec![u64::MAX; self.a.len()];
        for &x in &shingles {
            let x = x % MERSENNE;
            for (i, s) in sig.iter_mut().enumerate() {
                let mut h = mulmod(self.a[i], x) + self.b[i];
                if h >= MERSENNE {
                    h -= MERSENNE;
                }
                if h < *s {
                    *s = h;
                }
            }
        }
        Some(sig)
    }

    /// Checks a signature against the kept documents; records it when it is new. Returns the
    /// earlier document it collides with and the share of equal minimums (an estimate of
    /// their Jaccard similarity), when it does.
    pub fn check(
        &mut self,
        sig: &Signature,
        doc: u64,
        sigs: &mut HashMap<u64, Signature>,
    ) -> Option<(u64, f64)> {
        let r = self.cfg.rows;
        let keys: Vec<u64> = sig.chunks(r).map(hash64_words).collect();
        for (bi, k) in keys.iter().enumerate() {
            if let Some(&other) = self.bands[bi].get(k) {
                let est = sigs.get(&other).map_or(0.0, |o| {
                    o.iter().zip(sig).filter(|(a, b)| a == b).count() as f64 / sig.len() as f64
                });
                return Some((other, est));
            }
        }
        for (bi, k) in keys.into_iter().enumerate() {
            self.bands[bi].insert(k, doc);
        }
        sigs.insert(doc, sig.clone());
        None
    }
}

fn hash64(s: &str) -> u64 {
    let h = Sha256::digest(s.as_bytes());
    u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

fn hash64_words(band: &[u64]) -> u64 {
    let mut hasher = Sha256::new();
    for v in band {
        hasher.update(v.to_le_bytes());
    }
    let h = hasher.finalize();
    u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_duplicates_collide_and_different_texts_do_not() {
        let mut lsh = MinhashLsh::new(&Minhash::default());
        let mut sigs = HashMap::new();
        let a = "In the beginning God created the heavens and the earth. The earth was formless and empty, and darkness was on the surface of the deep; God's Spirit was hovering over the surface of the waters and God said let there be light and there was light and he saw that it was good";
        let b = a.replace("darkness was on", "darkness lay on");
        let c = "Completely unrelated text about compilers, registers, caches and the memory hierarchy of modern processors, written to share no five-word sequence with the verse above at all whatsoever.";
        assert!(
            lsh.check(&lsh.signature(a).unwrap(), 0, &mut sigs)
                .is_none()
        );
        let hit = lsh.check(&lsh.signature(&b).unwrap(), 1, &mut sigs);
        assert_eq!(hit.map(|h| h.0), Some(0), "near-duplicate not caught");
        assert!(
            lsh.check(&lsh.signature(c).unwrap(), 2, &mut sigs)
                .is_none()
        );
        assert_eq!(MinhashLsh::simplify("Genesis 1:23, AND"), "genesis 0 0 and");
    }

    #[test]
    fn mersenne_reduction_equals_modulo() {
        let mut r = Rng::seed_from_u64(5);
        for _ in 0..10_000 {
            let (a, x) = (r.below(MERSENNE), r.below(MERSENNE));
            assert_eq!(
                mulmod(a, x),
                ((a as u128 * x as u128) % MERSENNE as u128) as u64
            );
        }
    }

    #[test]
    fn exact_duplicates() {
        let mut e = Exact::default();
        assert_eq!(e.check("x", 0), None);
        assert_eq!(e.check("y", 1), None);
        assert_eq!(e.check("x", 2), Some(0));
    }
}
