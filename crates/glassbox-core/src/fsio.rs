//! File helpers: JSON reads whose errors name the file, and crash-safe atomic writes.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CoreError, Result};

/// Reads `path` to a string, naming the file in the error.
pub fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| CoreError::io("reading", path, e))
}

/// Reads and parses a JSON file into `T`; the error names the file, line and column.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| CoreError::json(path, &e))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
/// flushed to disk, renamed over `path`, and the directory entry is flushed too. Readers see
/// either the old file or the new one, never a torn write, even after a crash or `SIGKILL`.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The pid and a counter keep concurrent writers in one directory from sharing a temp name.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| CoreError::io("creating", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| CoreError::io("writing", &tmp, e))?;
        f.sync_all()
            .map_err(|e| CoreError::io("syncing", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| CoreError::io("renaming into place", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Serialises `value` as pretty JSON (with a trailing newline) and writes it atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| CoreError::json(path, &e))?;
    bytes.push(b'\n');
    atomic_write(path, &bytes)
}

/// Flushes a directory's entries to disk (a no-op where directories cannot be opened).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(|e| CoreError::io("opening", dir, e))?;
        d.sync_all().map_err(|e| CoreError::io("syncing", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn json_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(&p, "{\n  \"a\": 1,\n  oops\n}").unwrap();
        let err = read_json::<serde_json::Value>(&p).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("config.json"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }
}
