//! Reading GGUF files: the header, metadata and tensor descriptions parsed and checked against
//! the file's length before any tensor is touched; tensor data read on demand.
//!
//! Every count and length in the file is untrusted: a string or array is refused when it claims
//! more bytes than remain, counts are bounded, tensor types must be known, and each tensor's
//! data must lie inside the file at an aligned offset. Errors name the key or tensor.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{DEFAULT_ALIGNMENT, MAGIC, TensorInfo, TensorType, Value};
use crate::{ModelError, Result};

/// Most tensors a file may declare.
pub const MAX_TENSORS: u64 = 1 << 20;
/// Most metadata entries a file may declare.
pub const MAX_KVS: u64 = 1 << 16;
/// Deepest nesting of arrays followed.
const MAX_DEPTH: usize = 3;
/// Most dimensions of a tensor (ggml's limit).
const MAX_DIMS: u32 = 4;

/// A parsed GGUF file.
#[derive(Debug, Clone)]
pub struct GgufFile {
    /// The file.
    pub path: PathBuf,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
    /// Alignment of the data section and of every tensor's offset.
    pub alignment: u64,
    /// Byte offset of the data section in the file.
    pub data_start: u64,
    /// Length of the file.
    pub file_len: u64,
}

/// A reader that knows how many bytes remain and names what it is reading in its errors.
struct Cursor<R> {
    r: R,
    pos: u64,
    len: u64,
    path: PathBuf,
}

impl<R: Read> Cursor<R> {
    fn err(&self, what: &str, message: impl std::fmt::Display) -> ModelError {
        ModelError::Gguf {
            path: self.path.clone(),
            message: format!("{what} (at byte {}): {message}", self.pos),
        }
    }

    fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(self.err(
                what,
                format!(
                    "needs {n} bytes, only {} remain in the file",
                    self.len.saturating_sub(self.pos)
                ),
            ));
        }
        let mut b = vec![0u8; n as usize];
        self.r.read_exact(&mut b).map_err(|e| self.err(what, e))?;
        self.pos += n;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let b = self.bytes(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&b);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.u64(what)?;
        let b = self.bytes(n, what)?;
        String::from_utf8(b).map_err(|e| self.err(what, format!("not UTF-8: {e}")))
    }

    fn value(&mut self, ty: u32, what: &str, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>(what)?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array(what)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(self.err(what, format!("bool byte {b}, not 0 or 1"))),
            },
            8 => Value::String(self.string(what)?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(self.err(what, "arrays nested too deeply"));
                }
                let ety = self.u32(what)?;
                let n = self.u64(what)?;
                // Every element takes at least one byte (a string at least eight).
                let min = match ety {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8..=12 => 8,
                    t => return Err(self.err(what, format!("unknown array element type {t}"))),
                };
                if n.saturating_mul(min) > self.len.saturating_sub(self.pos) {
                    return Err(self.err(
                        what,
                        format!("an array of {n} elements is longer than the rest of the file"),
                    ));
                }
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.value(ety, what, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            t => return Err(self.err(what, format!("unknown value type {t}"))),
        })
    }
}

impl GgufFile {
    /// Parses the header, metadata and tensor descriptions of the GGUF file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let f = std::fs::File::open(path)
            .map_err(|e| glassbox_core::CoreError::io("opening", path, e))?;
        let len = f
            .metadata()
            .map_err(|e| glassbox_core::CoreError::io("reading", path, e))?
            .len();
        Self::parse(std::io::BufReader::new(f), len, path)
    }

    /// Parses a GGUF file held in memory (`path` names it in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        Self::parse(bytes, bytes.len() as u64, path)
    }

    fn parse<R: Read>(r: R, len: u64, path: &Path) -> Result<Self> {
        let mut c = Cursor {
            r,
            pos: 0,
            len,
            path: path.to_path_buf(),
        };
        let magic: [u8; 4] = c.array("the magic")?;
        if magic != MAGIC {
            return Err(c.err("the magic", format!("{magic:?} is not `GGUF`")));
        }
        let version = c.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(c.err(
                "the version",
                format!("version {version} (2 and 3 are read)"),
            ));
        }
        let n_tensors = c.u64("the tensor count")?;
        if n_tensors > MAX_TENSORS {
            return Err(c.err(
                "the tensor count",
                format!("{n_tensors} tensors (at most {MAX_TENSORS})"),
            ));
        }
        let n_kv = c.u64("the metadata count")?;
        if n_kv > MAX_KVS {
            return Err(c.err(
                "the metadata count",
                format!("{n_kv} entries (at most {MAX_KVS})"),
            ));
        }
        let mut metadata = Vec::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let key = c.string(&format!("the key of metadata entry {i}"))?;
            let what = format!("metadata `{key}`");
            let ty = c.u32(&what)?;
            let v = c.value(ty, &what, 0)?;
            metadata.push((key, v));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => {
                    return Err(c.err(
                        "metadata `general.alignment`",
                        format!("{v:?} is not a power of two"),
                    ));
                }
            },
        };
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let name = c.string(&format!("the name of tensor {i}"))?;
            let what = format!("tensor `{name}`");
            let nd = c.u32(&what)?;
            if nd == 0 || nd > MAX_DIMS {
                return Err(c.err(&what, format!("{nd} dimensions (1 to {MAX_DIMS})")));
            }
            let mut dims = Vec::with_capacity(nd as usize);
            for _ in 0..nd {
                dims.push(c.u64(&what)?);
            }
            let code = c.u32(&what)?;
            let ty = TensorType::from_code(code).ok_or_else(|| {
                c.err(
                    &what,
                    format!(
                        "tensor type {code} is not one glassbox reads (f32, f16, bf16, q8_0, q4_0)"
                    ),
                )
            })?;
            let offset = c.u64(&what)?;
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                offset,
            });
        }
        let data_start = c.pos.div_ceil(alignment) * alignment;
        let data_len = len.saturating_sub(data_start);
        let file = GgufFile {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
            alignment,
            data_start,
            file_len: len,
        };
        let mut names = std::collections::HashSet::new();
        for t in &file.tensors {
            let bad = |m: String| ModelError::Gguf {
                path: path.to_path_buf(),
                message: format!("tensor `{}`: {m}", t.name),
            };
            if !names.insert(t.name.as_str()) {
                return Err(bad("named twice".into()));
            }
            let n = t
                .dims
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d))
                .ok_or_else(|| bad(format!("dimensions {:?} overflow", t.dims)))?;
            if t.dims
                .first()
                .is_some_and(|&d| d % t.ty.block_len() as u64 != 0)
            {
                return Err(bad(format!(
                    "its rows of {} are not whole {} blocks of {}",
                    t.dims[0],
                    t.ty.name(),
                    t.ty.block_len()
                )));
            }
            let bytes =
                t.ty.bytes_for(n)
                    .ok_or_else(|| bad(format!("{n} elements do not fill whole blocks")))?;
            if t.offset % alignment != 0 {
                return Err(bad(format!(
                    "data offset {} is not a multiple of the alignment {alignment}",
                    t.offset
                )));
            }
            if t.offset.checked_add(bytes).is_none_or(|end| end > data_len) {
                return Err(bad(format!(
                    "data at offset {} + {bytes} bytes lies outside the file's {data_len} data bytes",
                    t.offset
                )));
            }
        }
        Ok(file)
    }

    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A tensor's description by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Tensor `name`'s description, the file offset of its data and its length in bytes.
    fn locate(&self, name: &str) -> Result<(&TensorInfo, u64, u64)> {
        let t = self.tensor(name).ok_or_else(|| ModelError::Gguf {
            path: self.path.clone(),
            message: format!("no tensor `{name}`"),
        })?;
        // Checked when the file was parsed: whole blocks, inside the file.
        let n = t.ty.bytes_for(t.elements()).unwrap_or(0);
        Ok((t, self.data_start + t.offset, n))
    }

    /// The raw bytes of tensor `name` (its blocks as stored).
    pub fn tensor_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let (_, start, n) = self.locate(name)?;
        let mut f = std::fs::File::open(&self.path)
            .map_err(|e| glassbox_core::CoreError::io("opening", &self.path, e))?;
        f.seek(SeekFrom::Start(start))
            .map_err(|e| glassbox_core::CoreError::io("seeking in", &self.path, e))?;
        let mut b = vec![0u8; n as usize];
        f.read_exact(&mut b)
            .map_err(|e| glassbox_core::CoreError::io("reading", &self.path, e))?;
        Ok(b)
    }

    /// The bytes of tensor `name` within `file`, the whole file held in memory (checked
    /// against its length when parsed).
    pub fn tensor_slice<'a>(&self, file: &'a [u8], name: &str) -> Result<&'a [u8]> {
        let (_, start, n) = self.locate(name)?;
        usize::try_from(start)
            .ok()
            .and_then(|s| file.get(s..s.checked_add(n as usize)?))
            .ok_or_else(|| ModelError::Gguf {
                path: self.path.clone(),
                message: format!(
                    "tensor `{name}`: {n} bytes at {start} lie outside the {} given",
                    file.len()
                ),
            })
    }

    /// Tensor `name` as f32 values (dequantized), in storage order.
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>> {
        let ty = self.locate(name)?.0.ty;
        let bytes = self.tensor_bytes(name)?;
        super::quant::dequantize(ty, &bytes).map_err(|m| ModelError::Gguf {
            path: self.path.clone(),
            message: format!("tensor `{name}`: {m}"),
        })
    }
}
