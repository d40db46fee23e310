//! Reading only the headers of weight files: safetensors (tensor count, parameters, dtypes) and
//! GGUF (version, tensor count, `general.*` metadata such as `general.license`). Neither ever
//! reads tensor data, so auditing a multi-gigabyte checkpoint costs a few kilobytes of I/O.

use std::collections::BTreeMap;

use serde_json::Value;

/// Largest safetensors header read (the format's own limit).
pub const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;
/// Most bytes of a GGUF file read to find its metadata (tokenizer vocabularies make it megabytes).
pub const GGUF_READ: usize = 32 << 20;
/// Most tensors a GGUF file may declare; real models have thousands (experts are stacked into
/// one tensor per layer), so more means a corrupt or hostile header.
pub const MAX_GGUF_TENSORS: u64 = 1 << 20;
/// Most metadata entries a GGUF file may declare (real files have tens to a few hundred).
pub const MAX_GGUF_KVS: u64 = 1 << 16;

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
        // No shape counts 0 elements, `[]` (a scalar) 1; a dimension that is not a non-negative
        // integer counts as 0. The product is checked: a forged shape such as [2^32, 2^32]
        // would wrap to a small count in a release build (and panic in a debug one).
        let numel = match t.get("shape").and_then(Value::as_array) {
            None => 0,
            Some(a) => {
                let dims: Vec<u64> = a.iter().map(|d| d.as_u64().unwrap_or(0)).collect();
                if dims.contains(&0) {
                    0
                } else {
                    dims.iter()
                        .try_fold(1u64, |n, &d| n.checked_mul(d))
                        .ok_or_else(|| {
                            format!("tensor `{k}`: shape {dims:?} has more than 2^64 elements")
                        })?
                }
            }
        };
        s.tensors += 1;
        s.parameters = s
            .parameters
            .checked_add(numel)
            .ok_or_else(|| format!("the parameter count passes 2^64 at tensor `{k}`"))?;
        let by_dtype = s.dtypes.entry(dtype).or_default();
        // Never past the total, which was just checked.
        *by_dtype += numel;
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
    /// String metadata under `general.` (`general.license`, `general.name`,
    /// `general.architecture`, …), each cut to 4096 characters.
    pub general: BTreeMap<String, String>,
    /// Whether the metadata continued past the bytes read.
    pub truncated: bool,
    /// Offset where the metadata ends and the tensor descriptions begin, when all of it was read.
    pub metadata_end: Option<u64>,
}

impl GgufSummary {
    /// `general.architecture` (`llama`, `qwen2`, …).
    pub fn architecture(&self) -> Option<&str> {
        self.general.get("general.architecture").map(String::as_str)
    }

    /// `general.name`.
    pub fn name(&self) -> Option<&str> {
        self.general.get("general.name").map(String::as_str)
    }

    /// The declared licence: `general.license`, or `general.license.name` when that says
    /// `other` (the convention of llama.cpp's converter for custom licences).
    pub fn license(&self) -> Option<&str> {
        let l = self.general.get("general.license").map(String::as_str);
        match (l, self.general.get("general.license.name")) {
            (Some(l), Some(name)) if l.eq_ignore_ascii_case("other") => Some(name),
            (None, Some(name)) => Some(name),
            (l, _) => l,
        }
    }
}

/// Why a GGUF header could not be read. Running out of bytes is not an error: the summary says
/// `truncated`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GgufError {
    /// The file does not start with `GGUF`.
    #[error("no GGUF magic")]
    NoMagic,
    /// A version this reader does not know.
    #[error("unsupported GGUF version {0}")]
    Version(u32),
    /// The file ends inside the fixed header.
    #[error("the file ends inside the header")]
    ShortHeader,
    /// A count no real model has.
    #[error("declares {count} {what}, more than the {limit} any real model has")]
    Implausible {
        /// What is counted (`tensors`, `metadata entries`).
        what: &'static str,
        /// The declared count.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// A string longer than everything the reader may read.
    #[error(
        "a string at byte {offset} declares {len} bytes, more than the {GGUF_READ} read for metadata"
    )]
    StringTooLong {
        /// Where its length is.
        offset: u64,
        /// The declared length.
        len: u64,
    },
    /// A metadata value of a type the format does not define, or arrays nested too deep.
    #[error("metadata `{key}` has {problem}")]
    BadValue {
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// The source failed.
    #[error("reading at byte {offset}: {message}")]
    Read {
        /// Where the read started.
        offset: u64,
        /// The source's error.
        message: String,
    },
}

/// Deepest nesting of GGUF arrays followed (the format uses one level in practice).
const GGUF_MAX_DEPTH: usize = 3;
/// First read of a GGUF file; each further read doubles, up to [`GGUF_MAX_CHUNK`], so small
/// metadata costs one small read and a large vocabulary a few.
const GGUF_FIRST_CHUNK: usize = 64 << 10;
const GGUF_MAX_CHUNK: usize = 4 << 20;

/// Sequential reader over a byte source that reads on demand, never more than [`GGUF_READ`]
/// bytes in all, and keeps only the unconsumed bytes.
struct GgufReader<F> {
    read: F,
    /// File bytes `[start, start + window.len())`.
    window: Vec<u8>,
    start: u64,
    /// Position in `window`.
    pos: usize,
    /// Bytes read so far (the budget), which is not the offset: skipped arrays are not read.
    read_total: usize,
    chunk: usize,
    eof: bool,
    /// GGUF v1 writes lengths and counts as u32, later versions as u64.
    v1: bool,
}

impl<F: FnMut(u64, usize) -> Result<Vec<u8>, String>> GgufReader<F> {
    fn offset(&self) -> u64 {
        self.start + self.pos as u64
    }

    /// Makes `n` bytes available at the position; `false` when the file or the budget ends first.
    fn fill(&mut self, n: usize) -> Result<bool, GgufError> {
        while self.window.len() - self.pos < n {
            let missing = n - (self.window.len() - self.pos);
            let budget = GGUF_READ - self.read_total;
            if self.eof || missing > budget {
                return Ok(false);
            }
            // Drop what was consumed; only the current value stays in memory.
            self.window.drain(..self.pos);
            self.start += self.pos as u64;
            self.pos = 0;
            let want = self.chunk.max(missing).min(budget);
            let at = self.start + self.window.len() as u64;
            let got = (self.read)(at, want).map_err(|message| GgufError::Read {
                offset: at,
                message,
            })?;
            let got = got.get(..want).unwrap_or(&got);
            self.eof = got.len() < want;
            self.read_total += got.len();
            self.window.extend_from_slice(got);
            self.chunk = (self.chunk * 2).min(GGUF_MAX_CHUNK);
        }
        Ok(true)
    }

    fn take(&mut self, n: usize) -> Result<Option<&[u8]>, GgufError> {
        if !self.fill(n)? {
            return Ok(None);
        }
        let s = &self.window[self.pos..self.pos + n];
        self.pos += n;
        Ok(Some(s))
    }

    /// Moves past `n` bytes; those beyond the bytes in hand are jumped over, not read, except the
    /// last one, which proves the file is long enough.
    fn skip(&mut self, n: u64) -> Result<bool, GgufError> {
        let in_hand = (self.window.len() - self.pos) as u64;
        if n <= in_hand {
            self.pos += n as usize;
            return Ok(true);
        }
        let Some(last) = self.offset().checked_add(n - 1) else {
            return Ok(false);
        };
        if self.eof {
            return Ok(false);
        }
        self.window.clear();
        self.start = last;
        self.pos = 0;
        Ok(self.take(1)?.is_some())
    }

    fn u32(&mut self) -> Result<Option<u32>, GgufError> {
        Ok(self
            .take(4)?
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes))
    }

    fn u64(&mut self) -> Result<Option<u64>, GgufError> {
        Ok(self
            .take(8)?
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes))
    }

    /// A length or count: u32 in v1, u64 later.
    fn len(&mut self) -> Result<Option<u64>, GgufError> {
        if self.v1 {
            Ok(self.u32()?.map(u64::from))
        } else {
            self.u64()
        }
    }

    /// The length of a string, checked against the budget before anything is allocated.
    fn string_len(&mut self) -> Result<Option<usize>, GgufError> {
        let offset = self.offset();
        let Some(len) = self.len()? else {
            return Ok(None);
        };
        match usize::try_from(len) {
            Ok(n) if n <= GGUF_READ => Ok(Some(n)),
            _ => Err(GgufError::StringTooLong { offset, len }),
        }
    }

    fn string(&mut self) -> Result<Option<String>, GgufError> {
        let Some(n) = self.string_len()? else {
            return Ok(None);
        };
        Ok(self
            .take(n)?
            .map(|b| String::from_utf8_lossy(b).into_owned()))
    }

    /// Reads a value of GGUF type `t` when it is a string, skips it otherwise. `Ok(None)`: the
    /// bytes ran out.
    fn value(
        &mut self,
        key: &str,
        t: u32,
        keep: bool,
        depth: usize,
    ) -> Result<Option<Option<String>>, GgufError> {
        if let Some(size) = gguf_fixed_size(t) {
            return Ok(self.skip(size)?.then_some(None));
        }
        match t {
            8 if keep => Ok(self.string()?.map(Some)),
            8 => match self.string_len()? {
                Some(n) => Ok(self.skip(n as u64)?.then_some(None)),
                None => Ok(None),
            },
            9 => {
                if depth >= GGUF_MAX_DEPTH {
                    return Err(GgufError::BadValue {
                        key: key.to_string(),
                        problem: format!("arrays nested deeper than {GGUF_MAX_DEPTH}"),
                    });
                }
                let (Some(inner), Some(count)) = (self.u32()?, self.len()?) else {
                    return Ok(None);
                };
                if let Some(size) = gguf_fixed_size(inner) {
                    // Scores and token types: jumped over in one step, never read.
                    let Some(bytes) = size.checked_mul(count) else {
                        return Err(GgufError::BadValue {
                            key: key.to_string(),
                            problem: format!("an array of {count} elements"),
                        });
                    };
                    return Ok(self.skip(bytes)?.then_some(None));
                }
                // Each string or nested array consumes at least 8 bytes of the budget, so the
                // loop ends with the bytes whatever `count` says.
                for _ in 0..count {
                    if self.value(key, inner, false, depth + 1)?.is_none() {
                        return Ok(None);
                    }
                }
                Ok(Some(None))
            }
            _ => Err(GgufError::BadValue {
                key: key.to_string(),
                problem: format!("unknown value type {t}"),
            }),
        }
    }
}

/// Size in bytes of GGUF's fixed-size value types.
fn gguf_fixed_size(t: u32) -> Option<u64> {
    match t {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// Parses the GGUF header and metadata in `data` (the first bytes of the file).
pub fn gguf_summary(data: &[u8]) -> Result<GgufSummary, GgufError> {
    gguf_summary_from(|offset, n| {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(n).min(data.len());
        Ok(data[start..end].to_vec())
    })
}

/// Parses the GGUF header and metadata, reading the file through `read(offset, len)` (which
/// returns fewer bytes than asked only at the end of the file). Reads stop where the metadata
/// ends, before the tensor descriptions and data, and never exceed [`GGUF_READ`] bytes in all;
/// arrays of numbers are jumped over, not read. Declared counts and lengths are checked before
/// anything is allocated for them.
pub fn gguf_summary_from(
    read: impl FnMut(u64, usize) -> Result<Vec<u8>, String>,
) -> Result<GgufSummary, GgufError> {
    let mut r = GgufReader {
        read,
        window: Vec::new(),
        start: 0,
        pos: 0,
        read_total: 0,
        chunk: GGUF_FIRST_CHUNK,
        eof: false,
        v1: false,
    };
    match r.take(4)? {
        Some(b"GGUF") => {}
        Some(_) => return Err(GgufError::NoMagic),
        None => return Err(GgufError::ShortHeader),
    }
    let version = r.u32()?.ok_or(GgufError::ShortHeader)?;
    if !(1..=3).contains(&version) {
        return Err(GgufError::Version(version));
    }
    r.v1 = version == 1;
    let tensors = r.len()?.ok_or(GgufError::ShortHeader)?;
    let kvs = r.len()?.ok_or(GgufError::ShortHeader)?;
    for (what, count, limit) in [
        ("tensors", tensors, MAX_GGUF_TENSORS),
        ("metadata entries", kvs, MAX_GGUF_KVS),
    ] {
        if count > limit {
            return Err(GgufError::Implausible { what, count, limit });
        }
    }
    let mut s = GgufSummary {
        version,
        tensors,
        ..Default::default()
    };
    for _ in 0..kvs {
        let (Some(key), Some(t)) = (r.string()?, r.u32()?) else {
            s.truncated = true;
            return Ok(s);
        };
        let keep = key.starts_with("general.");
        match r.value(&key, t, keep, 0)? {
            Some(Some(v)) => {
                s.general.insert(key, v.chars().take(4096).collect());
            }
            Some(None) => {}
            None => {
                s.truncated = true;
                return Ok(s);
            }
        }
    }
    s.metadata_end = Some(r.offset());
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

    fn u32le(x: u32) -> Vec<u8> {
        x.to_le_bytes().to_vec()
    }

    fn u64le(x: u64) -> Vec<u8> {
        x.to_le_bytes().to_vec()
    }

    /// A GGUF v3 header declaring `tensors` tensors and `kvs` metadata entries.
    fn header(tensors: u64, kvs: u64) -> Vec<u8> {
        [b"GGUF".to_vec(), u32le(3), u64le(tensors), u64le(kvs)].concat()
    }

    /// A string metadata entry.
    fn kv_str(key: &str, value: &str) -> Vec<u8> {
        [gguf_string(key), u32le(8), gguf_string(value)].concat()
    }

    /// Parses `data` through a reader that records the largest request and the bytes served.
    fn parse_counting(data: &[u8]) -> (Result<GgufSummary, GgufError>, usize, usize) {
        let (mut largest, mut served) = (0, 0);
        let r = gguf_summary_from(|offset, n| {
            largest = largest.max(n);
            let start = (offset as usize).min(data.len());
            let b = data[start..start.saturating_add(n).min(data.len())].to_vec();
            served += b.len();
            Ok(b)
        });
        (r, largest, served)
    }

    #[test]
    fn gguf_general_metadata() {
        let d = [
            header(2, 3),
            kv_str("general.license", "apache-2.0"),
            gguf_string("tokenizer.ggml.tokens"),
            u32le(9),
            u32le(8),
            u64le(2),
            gguf_string("a"),
            gguf_string("b"),
            gguf_string("general.file_type"),
            u32le(4),
            u32le(1),
        ]
        .concat();
        let s = gguf_summary(&d).unwrap();
        assert_eq!(s.tensors, 2);
        assert_eq!(s.general["general.license"], "apache-2.0");
        assert_eq!(s.license(), Some("apache-2.0"));
        assert!(!s.truncated);
        assert_eq!(s.metadata_end, Some(d.len() as u64));
        // Cut in the middle: truncated, not an error.
        assert!(gguf_summary(&d[..d.len() - 3]).unwrap().truncated);
        assert_eq!(gguf_summary(b"GGML"), Err(GgufError::NoMagic));
        assert_eq!(gguf_summary(b"GGUF\x03"), Err(GgufError::ShortHeader));
    }

    #[test]
    fn gguf_v1_uses_32_bit_lengths() {
        let s1 = |s: &str| [u32le(s.len() as u32), s.as_bytes().to_vec()].concat();
        let d = [
            b"GGUF".to_vec(),
            u32le(1),
            u32le(5),
            u32le(2),
            s1("general.architecture"),
            u32le(8),
            s1("llama"),
            s1("general.name"),
            u32le(8),
            s1("tiny"),
        ]
        .concat();
        let s = gguf_summary(&d).unwrap();
        assert_eq!((s.version, s.tensors), (1, 5));
        assert_eq!((s.architecture(), s.name()), (Some("llama"), Some("tiny")));
        assert!(!s.truncated);
    }

    #[test]
    fn gguf_other_license_uses_its_name() {
        let d = [
            header(0, 2),
            kv_str("general.license", "other"),
            kv_str("general.license.name", "llama3"),
        ]
        .concat();
        assert_eq!(gguf_summary(&d).unwrap().license(), Some("llama3"));
    }

    /// Hostile or corrupt headers: each is an error or a truncated summary, never a panic, and no
    /// read asks for more than the metadata budget whatever the header declares.
    #[test]
    fn gguf_huge_declarations_are_errors_or_truncated() {
        let key = |k: &str, t: u32| [header(1, 1), gguf_string(k), u32le(t)].concat();
        // (case, file, Ok(truncated) or Err(part of the message))
        let rows: Vec<(&str, Vec<u8>, Result<bool, &str>)> = vec![
            ("huge tensor count", header(u64::MAX, 0), Err("tensors")),
            (
                "huge entry count",
                header(1, u64::MAX),
                Err("metadata entries"),
            ),
            (
                "huge key length",
                [header(1, 1), u64le(u64::MAX)].concat(),
                Err("declares 18446744073709551615 bytes"),
            ),
            (
                "huge string value",
                [key("general.name", 8), u64le(u64::MAX)].concat(),
                Err("declares"),
            ),
            (
                "string longer than the file",
                [key("general.name", 8), u64le(16 << 20), b"abc".to_vec()].concat(),
                Ok(true),
            ),
            (
                "array byte size overflows",
                [key("x", 9), u32le(4), u64le(u64::MAX)].concat(),
                Err("an array of"),
            ),
            (
                "byte array longer than the file",
                [key("x", 9), u32le(0), u64le(u64::MAX / 2)].concat(),
                Ok(true),
            ),
            (
                "last array ends past the file",
                [key("x", 9), u32le(6), u64le(1000), vec![0; 40]].concat(),
                Ok(true),
            ),
            (
                "string array longer than the file",
                [key("x", 9), u32le(8), u64le(u64::MAX), gguf_string("a")].concat(),
                Ok(true),
            ),
            (
                "unknown value type",
                [key("x", 13), u64le(0)].concat(),
                Err("unknown value type 13"),
            ),
            (
                "arrays nested too deep",
                [key("x", 9), [u32le(9), u64le(1)].concat().repeat(4)].concat(),
                Err("nested deeper"),
            ),
            (
                "bad version",
                [b"GGUF".to_vec(), u32le(7)].concat(),
                Err("version 7"),
            ),
        ];
        for (case, data, want) in rows {
            let (got, largest, _) = parse_counting(&data);
            assert!(largest <= GGUF_READ, "{case}: asked for {largest} bytes");
            match (got, want) {
                (Ok(s), Ok(truncated)) => assert_eq!(s.truncated, truncated, "{case}"),
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{case}: {e}"),
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// The reader stops where the metadata ends: tensor data is never read, and arrays of numbers
    /// in the metadata (token scores) are jumped over.
    #[test]
    fn gguf_reads_stop_at_the_metadata() {
        let scores = 1 << 18; // 256 Ki f32 scores: 1 MiB jumped over, not read.
        let meta = [
            header(1, 3),
            kv_str("general.architecture", "llama"),
            gguf_string("tokenizer.ggml.scores"),
            u32le(9),
            u32le(6),
            u64le(scores),
            vec![0; 4 * scores as usize],
            kv_str("general.license", "mit"),
        ]
        .concat();
        let file = [meta.clone(), vec![0; 8 << 20]].concat();
        let (s, _, served) = parse_counting(&file);
        let s = s.unwrap();
        assert_eq!(s.metadata_end, Some(meta.len() as u64));
        assert_eq!(
            (s.architecture(), s.license()),
            (Some("llama"), Some("mit"))
        );
        assert!(
            served < 256 << 10,
            "read {served} bytes of a {} byte file",
            file.len()
        );
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

    #[test]
    fn safetensors_shape_product_overflow_is_an_error() {
        let summary = |h: &str| {
            let first = (h.len() as u64).to_le_bytes();
            safetensors_summary(&first, |n| Ok(h.as_bytes()[..n].to_vec()))
        };
        // (header, Ok(parameters) or Err(part of the message))
        let rows: Vec<(String, Result<u64, &str>)> = vec![
            (
                // 2^32 · 2^32 wraps to 0 in u64.
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#
                    .into(),
                Err("tensor `a`: shape [4294967296, 4294967296] has more than 2^64 elements"),
            ),
            (
                format!(
                    r#"{{"a":{{"dtype":"F32","shape":[{m},{m},{m}],"data_offsets":[0,0]}}}}"#,
                    m = u64::MAX
                ),
                Err("more than 2^64 elements"),
            ),
            (
                // Each tensor fits; their sum does not.
                format!(
                    r#"{{"a":{{"dtype":"F32","shape":[{m}]}},"b":{{"dtype":"F32","shape":[{m}]}}}}"#,
                    m = u64::MAX / 2 + 1
                ),
                Err("parameter count passes 2^64"),
            ),
            (
                // A zero dimension is an empty tensor, not an overflow, wherever it stands.
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,0]}}"#.into(),
                Ok(0),
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967295]}}"#.into(),
                Ok(4294967296 * 4294967295),
            ),
        ];
        for (h, want) in rows {
            match (summary(&h), want) {
                (Ok(s), Ok(n)) => assert_eq!(s.parameters, n, "{h}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{h}: {e}"),
                (got, want) => panic!("{h}: got {got:?}, want {want:?}"),
            }
        }
    }
}
