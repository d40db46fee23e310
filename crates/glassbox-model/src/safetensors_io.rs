//! A strict reader for the safetensors format (<https://github.com/huggingface/safetensors>).
//!
//! Layout: 8 bytes little-endian `u64` header length `N`; `N` bytes of JSON mapping tensor names to
//! `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the byte after the header),
//! plus an optional `__metadata__` map of strings; then the data buffer.
//!
//! glassbox reads this format itself rather than through a library so that every defect gets an
//! error naming the file and the tensor: a header length past the end of the file, offsets out of
//! range, overlapping or leaving holes, a byte length that disagrees with dtype × shape, an unknown
//! dtype. The file is memory-mapped; tensors are decoded one at a time (widened to f32, or kept
//! in bf16/f16), and the pages of each tensor are handed back to the kernel once it is decoded,
//! so loading never holds a second full copy of the checkpoint in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use glassbox_core::CoreError;
use serde_json::Value;

use crate::{ModelError, Result};

/// Largest header accepted (the reference implementation uses the same 100 MB bound).
const MAX_HEADER: u64 = 100_000_000;

/// Element types that may appear in a safetensors file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StDtype {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE 754 binary64.
    F64,
    /// Other element types, recognised so their sizes can be checked, never loaded as weights.
    Other(&'static str, usize),
}

impl StDtype {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "F32" => Self::F32,
            "F16" => Self::F16,
            "BF16" => Self::BF16,
            "F64" => Self::F64,
            "I64" => Self::Other("I64", 8),
            "U64" => Self::Other("U64", 8),
            "I32" => Self::Other("I32", 4),
            "U32" => Self::Other("U32", 4),
            "I16" => Self::Other("I16", 2),
            "U16" => Self::Other("U16", 2),
            "I8" => Self::Other("I8", 1),
            "U8" => Self::Other("U8", 1),
            "BOOL" => Self::Other("BOOL", 1),
            "F8_E4M3" => Self::Other("F8_E4M3", 1),
            "F8_E5M2" => Self::Other("F8_E5M2", 1),
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::F64 => 8,
            Self::Other(_, s) => s,
        }
    }

    /// The name used in the file.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::F64 => "F64",
            Self::Other(n, _) => n,
        }
    }
}

/// One entry of the header.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: StDtype,
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Absolute byte range in the file.
    pub range: std::ops::Range<usize>,
}

/// A validated, memory-mapped safetensors file.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    mmap: memmap2::Mmap,
    tensors: BTreeMap<String, TensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl SafetensorsFile {
    /// Maps and validates the file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| CoreError::io("opening", path, e))?;
        // SAFETY: `Mmap::map` is unsafe because another process could modify or truncate the file
        // while it is mapped, which would change bytes behind a shared slice (or raise SIGBUS).
        // glassbox never writes a weight file in place (it writes a temporary file and renames it),
        // and the map is only read while decoding tensors into owned buffers during loading; the
        // same contract every safetensors loader relies on.
        #[allow(unsafe_code)]
        let mmap =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| CoreError::io("mapping", path, e))?;
        let (tensors, metadata) = parse_header(path, &mmap)?;
        Ok(Self {
            path: path.to_path_buf(),
            mmap,
            tensors,
            metadata,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Header entries, by name.
    pub fn tensors(&self) -> &BTreeMap<String, TensorInfo> {
        &self.tensors
    }

    /// The `__metadata__` map (empty when absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Decodes tensor `name` into an f32 tensor on `device`.
    pub fn load_f32(&self, name: &str, device: &Device) -> Result<Tensor> {
        self.load(name, device, false)
    }

    /// Decodes tensor `name` on `device`: bf16 and f16 tensors stay in their dtype when
    /// `keep_half`, everything else becomes f32. The tensor's pages are then released from this
    /// process's memory (the file stays in the page cache).
    pub fn load(&self, name: &str, device: &Device, keep_half: bool) -> Result<Tensor> {
        let t = self.decode(name, device, keep_half)?;
        if let Some(info) = self.tensors.get(name) {
            self.release(info.range.clone());
        }
        Ok(t)
    }

    /// Drops the resident pages wholly inside `range` from this process (best effort).
    fn release(&self, range: std::ops::Range<usize>) {
        const PAGE: usize = 4096;
        let start = range.start.div_ceil(PAGE) * PAGE;
        let end = range.end / PAGE * PAGE;
        if end <= start {
            return;
        }
        // SAFETY: `MADV_DONTNEED` on this read-only, private file mapping discards only the
        // resident copies of pages the mapping never wrote (it cannot write them): a later read
        // faults the same bytes back in from the file, so no slice of the map observes a change.
        // No borrow of those bytes outlives `decode`, which has returned. Errors (a kernel with
        // larger pages rejecting the alignment) only mean the pages stay resident.
        #[allow(unsafe_code)]
        let _ = unsafe {
            self.mmap
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
        };
    }

    /// The elements of `range` (each `size` bytes, decoded by `f`), 4 MiB at a time, releasing
    /// each block's pages once decoded: the mapped file never holds more than a block resident
    /// beside the growing result.
    fn decode_chunks<T>(
        &self,
        range: std::ops::Range<usize>,
        size: usize,
        f: impl Fn(&[u8]) -> T,
    ) -> Vec<T> {
        const BLOCK: usize = 4 << 20;
        let mut out = Vec::with_capacity(range.len() / size);
        let mut at = range.start;
        while at < range.end {
            let end = (at + BLOCK).min(range.end);
            out.extend(self.mmap[at..end].chunks_exact(size).map(&f));
            self.release(at..end);
            at = end;
        }
        out
    }

    fn decode(&self, name: &str, device: &Device, keep_half: bool) -> Result<Tensor> {
        let info = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                where_: self.path.display().to_string(),
            })?;
        let range = info.range.clone();
        let bf16 = |c: &[u8]| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]]));
        let f16 = |c: &[u8]| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]]));
        if keep_half {
            match info.dtype {
                StDtype::BF16 => {
                    let v = self.decode_chunks(range, 2, bf16);
                    return Ok(Tensor::from_vec(v, info.shape.as_slice(), device)?);
                }
                StDtype::F16 => {
                    let v = self.decode_chunks(range, 2, f16);
                    return Ok(Tensor::from_vec(v, info.shape.as_slice(), device)?);
                }
                _ => {}
            }
        }
        let values: Vec<f32> = match info.dtype {
            StDtype::F32 => {
                self.decode_chunks(range, 4, |c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            }
            StDtype::BF16 => self.decode_chunks(range, 2, |c| bf16(c).to_f32()),
            StDtype::F16 => self.decode_chunks(range, 2, |c| f16(c).to_f32()),
            StDtype::F64 => self.decode_chunks(range, 8, |c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b) as f32
            }),
            StDtype::Other(d, _) => {
                return Err(ModelError::Safetensors {
                    path: self.path.clone(),
                    tensor: Some(name.to_string()),
                    message: format!(
                        "dtype {d} cannot be loaded as weights (expected F32, F16 or BF16)"
                    ),
                });
            }
        };
        Ok(Tensor::from_vec(values, info.shape.as_slice(), device)?)
    }
}

fn bad(path: &Path, tensor: Option<&str>, message: String) -> ModelError {
    ModelError::Safetensors {
        path: path.to_path_buf(),
        tensor: tensor.map(str::to_string),
        message,
    }
}

type Header = (BTreeMap<String, TensorInfo>, BTreeMap<String, String>);

/// Parses and validates the header of a whole file held in `bytes`.
pub fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header> {
    let len = bytes.len() as u64;
    if len < 8 {
        return Err(bad(
            path,
            None,
            format!("file is {len} bytes, too short for the 8-byte header length"),
        ));
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    let header_len = u64::from_le_bytes(n);
    if header_len > MAX_HEADER {
        return Err(bad(
            path,
            None,
            format!("header length {header_len} exceeds the {MAX_HEADER}-byte limit"),
        ));
    }
    if 8 + header_len > len {
        return Err(bad(
            path,
            None,
            format!(
                "header length {header_len} runs past the end of the file ({len} bytes); the file is truncated or not safetensors"
            ),
        ));
    }
    let header_end = 8 + header_len as usize;
    let header: Value = serde_json::from_slice(&bytes[8..header_end])
        .map_err(|e| bad(path, None, format!("header is not valid JSON: {e}")))?;
    let obj = header
        .as_object()
        .ok_or_else(|| bad(path, None, "header is not a JSON object".into()))?;
    let data_len = bytes.len() - header_end;
    let mut tensors = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (name, entry) in obj {
        if name == "__metadata__" {
            let m = entry
                .as_object()
                .ok_or_else(|| bad(path, None, "__metadata__ is not an object".into()))?;
            for (k, v) in m {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(path, None, format!("__metadata__.{k} is not a string")))?;
                metadata.insert(k.clone(), v.to_string());
            }
            continue;
        }
        let t = Some(name.as_str());
        let dtype_s = entry
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(path, t, "entry has no `dtype` string".into()))?;
        let dtype = StDtype::parse(dtype_s)
            .ok_or_else(|| bad(path, t, format!("unknown dtype `{dtype_s}`")))?;
        let shape = entry
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(path, t, "entry has no `shape` list".into()))?
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| bad(path, t, "`shape` must hold non-negative integers".into()))?;
        let offsets = entry
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)))
            .ok_or_else(|| {
                bad(
                    path,
                    t,
                    "`data_offsets` must be two non-negative integers".into(),
                )
            })?;
        let (begin, end) = offsets;
        if begin > end {
            return Err(bad(
                path,
                t,
                format!("data_offsets [{begin}, {end}] are reversed"),
            ));
        }
        if end > data_len as u64 {
            return Err(bad(
                path,
                t,
                format!(
                    "data_offsets [{begin}, {end}] run past the data buffer ({data_len} bytes); the file is truncated"
                ),
            ));
        }
        let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let expected = numel.and_then(|n| n.checked_mul(dtype.size()));
        let actual = (end - begin) as usize;
        if expected != Some(actual) {
            return Err(bad(
                path,
                t,
                format!(
                    "{dtype_s} with shape {shape:?} needs {} bytes but data_offsets span {actual}",
                    expected
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "an overflowing number of".into())
                ),
            ));
        }
        let range = header_end + begin as usize..header_end + end as usize;
        tensors.insert(
            name.clone(),
            TensorInfo {
                dtype,
                shape,
                range,
            },
        );
    }
    // Entries must tile the buffer exactly: no overlap (two tensors sharing bytes) and no holes.
    let mut spans: Vec<(&String, &TensorInfo)> = tensors.iter().collect();
    spans.sort_by_key(|(_, i)| (i.range.start, i.range.end));
    let mut cursor = header_end;
    let mut prev: Option<&str> = None;
    for (name, info) in spans {
        if info.range.start < cursor {
            return Err(bad(
                path,
                Some(name),
                format!(
                    "data overlaps tensor `{}` (starts at {} before {} ends at {})",
                    prev.unwrap_or("?"),
                    info.range.start - header_end,
                    prev.unwrap_or("?"),
                    cursor - header_end
                ),
            ));
        }
        if info.range.start > cursor {
            return Err(bad(
                path,
                Some(name),
                format!(
                    "a hole of {} bytes precedes this tensor's data",
                    info.range.start - cursor
                ),
            ));
        }
        cursor = info.range.end;
        prev = Some(name);
    }
    if cursor != bytes.len() {
        return Err(bad(
            path,
            None,
            format!(
                "{} bytes after the last tensor are not described by the header",
                bytes.len() - cursor
            ),
        ));
    }
    Ok((tensors, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data_len));
        v
    }

    fn err(bytes: &[u8]) -> String {
        parse_header(Path::new("w.safetensors"), bytes)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn valid_file_parses() {
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]}}"#;
        let (t, m) = parse_header(Path::new("w"), &file(h, 10)).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(m["format"], "pt");
    }

    #[test]
    fn defects_are_named() {
        assert!(err(&[1, 2, 3]).contains("too short"));
        let mut long = file("{}", 0);
        long[0] = 200;
        assert!(err(&long).contains("runs past the end"));
        let h = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let e = err(&file(h, 8));
        assert!(e.contains("`a`") && e.contains("truncated"), "{e}");
        let h = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
        assert!(err(&file(h, 8)).contains("needs 12 bytes"));
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        let e = err(&file(h, 12));
        assert!(e.contains("overlaps") && e.contains("`b`"), "{e}");
        let h = r#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}"#;
        assert!(err(&file(h, 2)).contains("unknown dtype `Q4`"));
        let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert!(err(&file(h, 8)).contains("hole"));
        let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        assert!(err(&file(h, 8)).contains("not described"));
        assert!(err(&file("{not json", 0)).contains("not valid JSON"));
    }
}
