//! The audit benchmark for docs/PERFORMANCE.md: a release with one large weights file, audited
//! beside the baseline of reading that file once. The audit must read only headers.

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;

use crate::snapshot::LOCAL_BYTES_READ;

/// Results of [`bench_audit`].
#[derive(Debug, Clone, Serialize)]
pub struct AuditBench {
    /// Size of the weights file.
    pub weights_bytes: u64,
    /// Median wall time of the audit, seconds.
    pub audit_seconds: f64,
    /// Bytes the audit read from disk (all files).
    pub audit_bytes_read: u64,
    /// Wall time to read the weights file once (the baseline), seconds.
    pub full_read_seconds: f64,
    /// `audit_seconds / full_read_seconds`.
    pub ratio: f64,
}

/// Builds a release in a temporary directory with a safetensors file of `weights_bytes` (a
/// valid header, then zeros written for real so reading it costs real I/O), audits it `repeats`
/// times and reads the file once for the baseline.
pub fn bench_audit(weights_bytes: u64, repeats: usize) -> std::io::Result<AuditBench> {
    let dir = std::env::temp_dir().join(format!("glassbox-audit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| {
        let n = weights_bytes / 4;
        let header = format!(
            r#"{{"__metadata__":{{"format":"pt"}},"w":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#,
            n * 4
        );
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("model.safetensors"))?);
        f.write_all(&(header.len() as u64).to_le_bytes())?;
        f.write_all(header.as_bytes())?;
        let block = vec![0u8; 1 << 20];
        let mut left = n * 4;
        while left > 0 {
            let k = left.min(block.len() as u64) as usize;
            f.write_all(&block[..k])?;
            left -= k as u64;
        }
        f.flush()?;
        drop(f);
        std::fs::write(
            dir.join("README.md"),
            "---\nlicense: apache-2.0\n---\n# bench\n",
        )?;
        std::fs::write(
            dir.join("config.json"),
            r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#,
        )?;
        // Baseline: read the weights once, as any tool that hashes or parses whole files must.
        let t = Instant::now();
        let mut file = std::fs::File::open(dir.join("model.safetensors"))?;
        let mut buf = vec![0u8; 8 << 20];
        let mut total = 0u64;
        loop {
            let k = file.read(&mut buf)?;
            if k == 0 {
                break;
            }
            total += k as u64;
        }
        std::hint::black_box(total);
        let full_read_seconds = t.elapsed().as_secs_f64();
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..repeats.max(1) {
            let before = LOCAL_BYTES_READ.load(Ordering::Relaxed);
            let t = Instant::now();
            let r = crate::audit_path(&dir).map_err(|e| std::io::Error::other(e.to_string()))?;
            times.push(t.elapsed().as_secs_f64());
            bytes = LOCAL_BYTES_READ.load(Ordering::Relaxed) - before;
            std::hint::black_box(r);
        }
        times.sort_by(f64::total_cmp);
        let audit_seconds = times[times.len() / 2];
        Ok(AuditBench {
            weights_bytes: n * 4 + 8 + header.len() as u64,
            audit_seconds,
            audit_bytes_read: bytes,
            full_read_seconds,
            ratio: audit_seconds / full_read_seconds,
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
