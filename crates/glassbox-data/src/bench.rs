//! Benchmarks of the data pipeline for docs/PERFORMANCE.md: tokenisation throughput, curation
//! and MinHash throughput, and peak memory (read from `/proc/self/status`).

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::config::Minhash;
use crate::dedup::MinhashLsh;
use crate::{DataError, Result};

/// Tokenisation throughput.
#[derive(Debug, Clone, Serialize)]
pub struct TokenizeBench {
    /// Bytes of text encoded.
    pub bytes: u64,
    /// Lines encoded.
    pub lines: usize,
    /// Tokens produced.
    pub tokens: u64,
    /// Median seconds of the timed runs.
    pub seconds: f64,
    /// MB/s (10⁶ bytes per second).
    pub mb_per_s: f64,
    /// Threads.
    pub threads: usize,
}

/// Encodes every line of `text` in parallel (rayon), `repeats` times; the median. With `fast`,
/// glassbox's encoder (what `data tokenize` uses), else the `tokenizers` crate.
pub fn bench_encode(
    tk: &tokenizers::Tokenizer,
    fast: Option<&crate::fastbpe::FastBpe>,
    text: &str,
    repeats: usize,
) -> Result<TokenizeBench> {
    let lines: Vec<&str> = text.lines().collect();
    let mut times = Vec::new();
    let mut tokens = 0u64;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let counts: std::result::Result<Vec<usize>, _> = lines
            .par_iter()
            .map_init(std::collections::HashMap::new, |cache, l| {
                match fast.and_then(|f| f.encode(l, cache)) {
                    Some(ids) => Ok(ids.len()),
                    None => tk.encode(*l, false).map(|e| e.get_ids().len()),
                }
            })
            .collect();
        let counts = counts.map_err(|e| DataError::Request(e.to_string()))?;
        times.push(t.elapsed().as_secs_f64());
        tokens = counts.iter().sum::<usize>() as u64;
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    let bytes = text.len() as u64;
    Ok(TokenizeBench {
        bytes,
        lines: lines.len(),
        tokens,
        seconds,
        mb_per_s: bytes as f64 / seconds / 1e6,
        threads: rayon::current_num_threads(),
    })
}

/// MinHash signature + LSH throughput over documents.
#[derive(Debug, Clone, Serialize)]
pub struct MinhashBench {
    /// Documents.
    pub documents: usize,
    /// Seconds.
    pub seconds: f64,
    /// Documents per second.
    pub docs_per_s: f64,
    /// Near-duplicates found.
    pub duplicates: usize,
}

/// Signatures in parallel, then LSH in order, as curation does.
pub fn bench_minhash(docs: &[String]) -> MinhashBench {
    let t = Instant::now();
    let mut lsh = MinhashLsh::new(&Minhash::default());
    let sigs: Vec<_> = docs.par_iter().map(|d| lsh.signature(d)).collect();
    let mut kept = std::collections::HashMap::new();
    let mut dups = 0;
    for (i, s) in sigs.iter().enumerate() {
        if let Some(s) = s
            && lsh.check(s, i as u64, &mut kept).is_some()
        {
            dups += 1;
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    MinhashBench {
        documents: docs.len(),
        seconds,
        docs_per_s: docs.len() as f64 / seconds,
        duplicates: dups,
    }
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes, where `/proc` exists.
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Writes `n` copies of `src` into `dst` (a larger input of the same text, for memory checks).
pub fn repeat_file(src: &Path, dst: &Path, n: usize) -> Result<u64> {
    use std::io::Write;
    let data = std::fs::read(src).map_err(|e| DataError::io("reading", src, e))?;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(dst).map_err(|e| DataError::io("creating", dst, e))?,
    );
    for _ in 0..n {
        f.write_all(&data)
            .map_err(|e| DataError::io("writing", dst, e))?;
        if !data.ends_with(b"\n") {
            f.write_all(b"\n")
                .map_err(|e| DataError::io("writing", dst, e))?;
        }
    }
    f.flush().map_err(|e| DataError::io("writing", dst, e))?;
    Ok(data.len() as u64 * n as u64)
}
