//! Token shards: a 32-byte header, then token ids, little-endian.
//!
//! | bytes | field |
//! |---|---|
//! | 0–7 | magic `GBTOKENS` |
//! | 8–11 | format version (`u32`, currently 1) |
//! | 12–15 | bytes per token (`u32`: 2 for `uint16`, 4 for `uint32`) |
//! | 16–23 | token count (`u64`) |
//! | 24–31 | reserved, zero |
//! | 32– | tokens |

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{DataError, Result};

/// Magic bytes of a token shard.
pub const MAGIC: &[u8; 8] = b"GBTOKENS";
/// Current format version.
pub const VERSION: u32 = 1;
/// Header size.
pub const HEADER: u64 = 32;

/// Element type of a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 16-bit ids (vocabularies up to 65,536).
    Uint16,
    /// 32-bit ids.
    Uint32,
}

impl Dtype {
    /// Bytes per token.
    pub fn size(self) -> usize {
        match self {
            Self::Uint16 => 2,
            Self::Uint32 => 4,
        }
    }

    /// The smallest type that holds ids below `vocab`.
    pub fn for_vocab(vocab: usize) -> Self {
        if vocab <= 1 << 16 {
            Self::Uint16
        } else {
            Self::Uint32
        }
    }
}

/// Writes tokens to a shard file; the header's count is filled in on `finish`.
#[derive(Debug)]
pub struct ShardWriter {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    dtype: Dtype,
    count: u64,
}

impl ShardWriter {
    /// Creates `path` with a provisional header.
    pub fn create(path: &Path, dtype: Dtype) -> Result<Self> {
        let f = std::fs::File::create(path).map_err(|e| DataError::io("creating", path, e))?;
        let mut w = Self {
            file: std::io::BufWriter::with_capacity(1 << 20, f),
            path: path.to_path_buf(),
            dtype,
            count: 0,
        };
        w.header()?;
        Ok(w)
    }

    fn header(&mut self) -> Result<()> {
        let mut h = Vec::with_capacity(HEADER as usize);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&VERSION.to_le_bytes());
        h.extend_from_slice(&(self.dtype.size() as u32).to_le_bytes());
        h.extend_from_slice(&self.count.to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes());
        self.file
            .write_all(&h)
            .map_err(|e| DataError::io("writing", &self.path, e))
    }

    /// Appends tokens (each must fit the dtype; the caller checked the vocabulary).
    pub fn push(&mut self, ids: &[u32]) -> Result<()> {
        let mut buf = Vec::with_capacity(ids.len() * self.dtype.size());
        match self.dtype {
            Dtype::Uint16 => ids
                .iter()
                .for_each(|&t| buf.extend_from_slice(&(t as u16).to_le_bytes())),
            Dtype::Uint32 => ids
                .iter()
                .for_each(|&t| buf.extend_from_slice(&t.to_le_bytes())),
        }
        self.file
            .write_all(&buf)
            .map_err(|e| DataError::io("writing", &self.path, e))?;
        self.count += ids.len() as u64;
        Ok(())
    }

    /// Tokens written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the final header, syncs, and returns the token count.
    pub fn finish(mut self) -> Result<u64> {
        self.file
            .flush()
            .map_err(|e| DataError::io("writing", &self.path, e))?;
        let mut f = self
            .file
            .into_inner()
            .map_err(|e| DataError::io("writing", &self.path, e.into_error()))?;
        f.seek(SeekFrom::Start(16))
            .map_err(|e| DataError::io("writing", &self.path, e))?;
        f.write_all(&self.count.to_le_bytes())
            .map_err(|e| DataError::io("writing", &self.path, e))?;
        f.sync_all()
            .map_err(|e| DataError::io("syncing", &self.path, e))?;
        Ok(self.count)
    }
}

/// A shard opened for reading: header checked against the file size.
#[derive(Debug)]
pub struct Shard {
    path: PathBuf,
    file: std::fs::File,
    /// Element type.
    pub dtype: Dtype,
    /// Tokens.
    pub count: u64,
}

impl Shard {
    /// Opens and checks `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| DataError::io("opening", path, e))?;
        let bad = |m: String| DataError::Format {
            path: path.to_path_buf(),
            message: m,
        };
        let mut h = [0u8; HEADER as usize];
        file.read_exact(&mut h)
            .map_err(|_| bad("shorter than the 32-byte shard header".into()))?;
        if &h[..8] != MAGIC {
            return Err(bad("not a glassbox token shard (bad magic)".into()));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != VERSION {
            return Err(bad(format!(
                "shard format version {version} is not supported (this glassbox reads {VERSION})"
            )));
        }
        let dtype = match u32::from_le_bytes([h[12], h[13], h[14], h[15]]) {
            2 => Dtype::Uint16,
            4 => Dtype::Uint32,
            d => return Err(bad(format!("token size {d} bytes is not 2 or 4"))),
        };
        let count = u64::from_le_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]);
        let len = file
            .metadata()
            .map_err(|e| DataError::io("reading", path, e))?
            .len();
        // Checked: in a release build `count * size` would wrap, and a forged count could then
        // match the length of a short file.
        let expected = count
            .checked_mul(dtype.size() as u64)
            .and_then(|b| b.checked_add(HEADER));
        if expected != Some(len) {
            return Err(bad(format!(
                "header says {count} tokens but the file holds {} bytes of tokens",
                len.saturating_sub(HEADER)
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            dtype,
            count,
        })
    }

    /// Reads `len` tokens from token offset `start`.
    pub fn read(&mut self, start: u64, len: usize) -> Result<Vec<u32>> {
        if start
            .checked_add(len as u64)
            .is_none_or(|end| end > self.count)
        {
            return Err(DataError::Request(format!(
                "{}: {len} tokens from {start} run past the end ({})",
                self.path.display(),
                self.count
            )));
        }
        let size = self.dtype.size();
        self.file
            .seek(SeekFrom::Start(HEADER + start * size as u64))
            .map_err(|e| DataError::io("reading", &self.path, e))?;
        let mut buf = vec![0u8; len * size];
        self.file
            .read_exact(&mut buf)
            .map_err(|e| DataError::io("reading", &self.path, e))?;
        Ok(match self.dtype {
            Dtype::Uint16 => buf
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
                .collect(),
            Dtype::Uint32 => buf
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_bad_headers() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in [Dtype::Uint16, Dtype::Uint32] {
            let p = dir.path().join("s.bin");
            let mut w = ShardWriter::create(&p, dtype).unwrap();
            w.push(&[1, 2, 65535]).unwrap();
            w.push(&[7]).unwrap();
            assert_eq!(w.finish().unwrap(), 4);
            let mut s = Shard::open(&p).unwrap();
            assert_eq!(s.read(1, 3).unwrap(), vec![2, 65535, 7]);
            assert!(s.read(2, 3).is_err());
            let mut bytes = std::fs::read(&p).unwrap();
            bytes.pop();
            std::fs::write(&p, &bytes).unwrap();
            assert!(
                Shard::open(&p)
                    .unwrap_err()
                    .to_string()
                    .contains("header says 4 tokens")
            );
            bytes[0] = b'X';
            std::fs::write(&p, &bytes).unwrap();
            assert!(
                Shard::open(&p)
                    .unwrap_err()
                    .to_string()
                    .contains("bad magic")
            );
        }
        assert_eq!(Dtype::for_vocab(65536), Dtype::Uint16);
        assert_eq!(Dtype::for_vocab(65537), Dtype::Uint32);
    }
}
