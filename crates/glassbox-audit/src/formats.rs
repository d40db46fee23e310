//! Reading only the headers of weight files: safetensors (tensor count, parameters, dtypes) and
//! GGUF (version, tensor count, `general.*` metadata such as `general.license`). Neither ever
//! reads tensor data, so auditing a multi-gigabyte checkpoint costs a few kilobytes of I/O.

use std::collections::BTreeMap;

use serde_json::Value;

/// Largest safetensors header read (the format's own limit).
pub const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;
/// Bytes of a GGUF file read to find its metadata.
pub const GGUF_READ: usize = 32 << 20;

/// What a safetensors header says.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SafetensorsSummary {
    /// Number of tensors.
    pub tensors: usize,
    /// Number of parameters (elements).
    pub parameters: u64,
    /// Element counts by dtype.
    pub dtypes: BTreeMap<String, u64>,
}

/// Parses a safetensors header from the first bytes of a file: `first8` gives its length, and
/// `read(len)` must return the JSON that follows.
pub fn safetensors_summary(
    first8: &[u8],
    read: impl FnOnce(usize) -> Result<Vec<u8>, String>,
) -> Result<SafetensorsSummary, String> {
    let b: [u8; 8] = first8
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or("shorter than 8 bytes")?;
    let n = u64::from_le_bytes(b);
    if n > MAX_SAFETENSORS_HEADER {
        return Err(format!(
            "header length {n} exceeds {MAX_SAFETENSORS_HEADER}"
        ));
    }
    let json = read(n as usize)?;
    if json.len() as u64 != n {
        return Err("header runs past the end of the file".into());
    }
    let v: Value = serde_json::from_slice(&json).map_err(|e| format!("header is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("header is not a JSON object")?;
    let mut s = SafetensorsSummary::default();
    for (k, t) in obj {
        if k == "__metadata__" {
            continue;
        }
        let dtype = t
            .get("dtype")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let numel = t
            .get("shape")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|d| d.as_u64().unwrap_or(0)).product::<u64>())
            .unwrap_or(0);
        s.tensors += 1;
        s.parameters += numel;
        *s.dtypes.entry(dtype).or_default() += numel;
    }
    Ok(s)
}

/// What a GGUF header says.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct GgufSummary {
    /// Format version.
    pub version: u32,
    /// Number of tensors.
    pub tensors: u64,
    /// String metadata under `general.` (`general.license`, `general.name`, …).
    pub general: BTreeMap<String, String>,
    /// Whether the metadata continued past the bytes read.
    pub truncated: bool,
}

struct Cursor<'a> {
    d: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.d.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.u64()?).ok()?;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    /// Skips (or reads, for strings) one value of GGUF type `t`.
    fn value(&mut self, t: u32, depth: usize) -> Option<Option<String>> {
        let fixed = match t {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => return Some(Some(self.string()?)),
            9 => {
                if depth > 2 {
                    return None;
                }
                let inner = self.u32()?;
                let count = self.u64()?;
                for _ in 0..count {
                    self.value(inner, depth + 1)?;
                }
                return Some(None);
            }
            _ => return None,
        };
        self.take(fixed)?;
        Some(None)
    }
}

/// Parses the GGUF header and metadata in `data` (the first bytes of the file).
pub fn gguf_summary(data: &[u8]) -> Result<GgufSummary, String> {
    let mut c = Cursor { d: data, i: 0 };
    if c.take(4) != Some(b"GGUF") {
        return Err("no GGUF magic".into());
    }
    let version = c.u32().ok_or("truncated header")?;
    if !(1..=3).contains(&version) {
        return Err(format!("unsupported GGUF version {version}"));
    }
    let (tensors, kvs) = if version == 1 {
        (
            c.u32().ok_or("truncated header")? as u64,
            c.u32().ok_or("truncated header")? as u64,
        )
    } else {
        (
            c.u64().ok_or("truncated header")?,
            c.u64().ok_or("truncated header")?,
        )
    };
    let mut s = GgufSummary {
        version,
        tensors,
        ..Default::default()
    };
    for _ in 0..kvs.min(1_000_000) {
        let Some(key) = c.string() else {
            s.truncated = true;
            break;
        };
        let Some(t) = c.u32() else {
            s.truncated = true;
            break;
        };
        match c.value(t, 0) {
            Some(Some(v)) if key.starts_with("general.") => {
                s.general.insert(key, v.chars().take(4096).collect());
            }
            Some(_) => {}
            None => {
                s.truncated = true;
                break;
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gguf_string(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn gguf_general_metadata() {
        let mut d = b"GGUF".to_vec();
        d.extend_from_slice(&3u32.to_le_bytes());
        d.extend_from_slice(&2u64.to_le_bytes());
        d.extend_from_slice(&3u64.to_le_bytes());
        d.extend(gguf_string("general.license"));
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend(gguf_string("apache-2.0"));
        d.extend(gguf_string("tokenizer.ggml.tokens"));
        d.extend_from_slice(&9u32.to_le_bytes());
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend_from_slice(&2u64.to_le_bytes());
        d.extend(gguf_string("a"));
        d.extend(gguf_string("b"));
        d.extend(gguf_string("general.file_type"));
        d.extend_from_slice(&4u32.to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        let s = gguf_summary(&d).unwrap();
        assert_eq!(s.tensors, 2);
        assert_eq!(s.general["general.license"], "apache-2.0");
        assert!(!s.truncated);
        // Cut in the middle: truncated, not an error.
        assert!(gguf_summary(&d[..d.len() - 3]).unwrap().truncated);
        assert!(gguf_summary(b"GGML").is_err());
    }

    #[test]
    fn safetensors_header_only() {
        let h = br#"{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]}}"#;
        let first = (h.len() as u64).to_le_bytes();
        let s = safetensors_summary(&first, |n| Ok(h[..n].to_vec())).unwrap();
        assert_eq!((s.tensors, s.parameters), (1, 6));
        let huge = (u64::MAX).to_le_bytes();
        assert!(safetensors_summary(&huge, |_| unreachable!()).is_err());
    }
}
