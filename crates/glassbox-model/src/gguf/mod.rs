//! GGUF, the single-file format of llama.cpp and Ollama: read, write, and the block formats of
//! its quantized tensors, written here from the format's specification.
//!
//! A file is a header (`GGUF`, version 3, tensor count, metadata count), metadata key/value pairs
//! (typed scalars, strings and arrays), tensor descriptions (name, dimensions innermost first,
//! element type, offset) and, aligned to `general.alignment` (32 unless set), the tensor data.
//!
//! - [`read`]: [`GgufFile`], the parsed header with every length and offset checked against the
//!   file (errors name the key or tensor), and tensor data on demand.
//! - [`write`](mod@write): [`GgufWriter`], metadata and tensors in insertion order, data aligned.
//! - [`quant`]: f32, f16, bf16, Q8_0, Q4_0/1, Q5_0/1 and (through [`kquant`]) Q4_K, Q5_K and Q6_K
//!   blocks — quantization and dequantization with the reference implementation's rounding;
//!   [`mix`]: which type each tensor gets in llama.cpp's mixes (`q4_k_m` …).
//! - [`llama`]: a model to and from llama.cpp's layout, for every family llama.cpp runs
//!   (`arch`: names and hyper-parameters per family; [`tensors`]: tensor names, the q/k row
//!   permutation, Gemma's `1 + w` norms, stacked experts); [`tokenizer`]: a byte-level BPE
//!   `tokenizer.json` as `tokenizer.*` metadata; [`spm`]: SentencePiece (`llama`) vocabularies
//!   both ways.

pub(crate) mod arch;
pub mod kquant;
pub mod llama;
pub mod mix;
pub mod quant;
pub mod read;
pub mod spm;
pub mod tensors;
pub mod tokenizer;
pub mod write;

pub use mix::{GgufQuant, KMix};
pub use read::GgufFile;
pub use write::GgufWriter;

/// `GGUF` as a little-endian u32.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The version written (read: 2 and 3).
pub const VERSION: u32 = 3;
/// Data alignment when `general.alignment` is not set.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `UINT8` (0).
    U8(u8),
    /// `INT8` (1).
    I8(i8),
    /// `UINT16` (2).
    U16(u16),
    /// `INT16` (3).
    I16(i16),
    /// `UINT32` (4).
    U32(u32),
    /// `INT32` (5).
    I32(i32),
    /// `FLOAT32` (6).
    F32(f32),
    /// `BOOL` (7).
    Bool(bool),
    /// `STRING` (8): UTF-8, length-prefixed.
    String(String),
    /// `ARRAY` (9): elements of one type.
    Array(Vec<Value>),
    /// `UINT64` (10).
    U64(u64),
    /// `INT64` (11).
    I64(i64),
    /// `FLOAT64` (12).
    F64(f64),
}

impl Value {
    /// The format's type code.
    pub fn type_code(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    /// The value as an unsigned integer, when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(x) => Some(x.into()),
            Value::U16(x) => Some(x.into()),
            Value::U32(x) => Some(x.into()),
            Value::U64(x) => Some(x),
            Value::I8(x) => u64::try_from(x).ok(),
            Value::I16(x) => u64::try_from(x).ok(),
            Value::I32(x) => u64::try_from(x).ok(),
            Value::I64(x) => u64::try_from(x).ok(),
            _ => None,
        }
    }

    /// The value as a float, when it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(x) => Some(x.into()),
            Value::F64(x) => Some(x),
            _ => self.as_u64().map(|x| x as f64),
        }
    }

    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// ggml's element types that glassbox reads and writes.
/// The variants keep ggml's names (`Q4_K`).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// 32-bit float (0).
    F32,
    /// IEEE half (1).
    F16,
    /// 32 weights: an f16 scale and 32 four-bit values (2).
    Q4_0,
    /// 32 weights: an f16 scale and 32 signed bytes (8).
    Q8_0,
    /// bfloat16 (30).
    BF16,
    /// 32 weights: f16 scale and minimum, 32 four-bit values (3).
    Q4_1,
    /// 32 weights: f16 scale, 32 five-bit values (6).
    Q5_0,
    /// 32 weights: f16 scale and minimum, 32 five-bit values (7).
    Q5_1,
    /// 256 weights in 8 sub-blocks with 6-bit scales and minimums, 4-bit values (12).
    Q4_K,
    /// As Q4_K with 5-bit values (13).
    Q5_K,
    /// 256 weights in 16 sub-blocks with 8-bit scales, 6-bit values (14).
    Q6_K,
}

impl TensorType {
    /// From ggml's type code; `None` for types glassbox does not handle.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => TensorType::F32,
            1 => TensorType::F16,
            2 => TensorType::Q4_0,
            8 => TensorType::Q8_0,
            30 => TensorType::BF16,
            3 => TensorType::Q4_1,
            6 => TensorType::Q5_0,
            7 => TensorType::Q5_1,
            12 => TensorType::Q4_K,
            13 => TensorType::Q5_K,
            14 => TensorType::Q6_K,
            _ => return None,
        })
    }

    /// ggml's type code.
    pub fn code(self) -> u32 {
        match self {
            TensorType::F32 => 0,
            TensorType::F16 => 1,
            TensorType::Q4_0 => 2,
            TensorType::Q8_0 => 8,
            TensorType::BF16 => 30,
            TensorType::Q4_1 => 3,
            TensorType::Q5_0 => 6,
            TensorType::Q5_1 => 7,
            TensorType::Q4_K => 12,
            TensorType::Q5_K => 13,
            TensorType::Q6_K => 14,
        }
    }

    /// Weights per block.
    pub fn block_len(self) -> usize {
        match self {
            TensorType::F32 | TensorType::F16 | TensorType::BF16 => 1,
            TensorType::Q4_0
            | TensorType::Q8_0
            | TensorType::Q4_1
            | TensorType::Q5_0
            | TensorType::Q5_1 => 32,
            TensorType::Q4_K | TensorType::Q5_K | TensorType::Q6_K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            TensorType::F32 => 4,
            TensorType::F16 | TensorType::BF16 => 2,
            TensorType::Q4_0 => 2 + 16,
            TensorType::Q8_0 => 2 + 32,
            TensorType::Q4_1 => 2 + 2 + 16,
            TensorType::Q5_0 => 2 + 4 + 16,
            TensorType::Q5_1 => 2 + 2 + 4 + 16,
            TensorType::Q4_K => 2 + 2 + 12 + 128,
            TensorType::Q5_K => 2 + 2 + 12 + 32 + 128,
            TensorType::Q6_K => 128 + 64 + 16 + 2,
        }
    }

    /// The name llama.cpp gives the type (`q8_0`).
    pub fn name(self) -> &'static str {
        match self {
            TensorType::F32 => "f32",
            TensorType::F16 => "f16",
            TensorType::Q4_0 => "q4_0",
            TensorType::Q8_0 => "q8_0",
            TensorType::BF16 => "bf16",
            TensorType::Q4_1 => "q4_1",
            TensorType::Q5_0 => "q5_0",
            TensorType::Q5_1 => "q5_1",
            TensorType::Q4_K => "q4_k",
            TensorType::Q5_K => "q5_k",
            TensorType::Q6_K => "q6_k",
        }
    }

    /// The type llama.cpp names `name` (`q8_0`), as [`TensorType::name`] spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            TensorType::F32,
            TensorType::F16,
            TensorType::BF16,
            TensorType::Q8_0,
            TensorType::Q5_1,
            TensorType::Q5_0,
            TensorType::Q4_1,
            TensorType::Q4_0,
            TensorType::Q4_K,
            TensorType::Q5_K,
            TensorType::Q6_K,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }

    /// Bytes of `n` weights, or `None` when `n` is not a whole number of blocks (or overflows).
    pub fn bytes_for(self, n: u64) -> Option<u64> {
        let b = self.block_len() as u64;
        n.is_multiple_of(b)
            .then(|| (n / b).checked_mul(self.block_bytes() as u64))?
    }
}

/// A tensor as the file describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Its name (llama.cpp's naming: `blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions, innermost (contiguous) first, as ggml orders them.
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: TensorType,
    /// Offset of its data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}
