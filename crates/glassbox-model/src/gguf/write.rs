//! Writing GGUF files: metadata and tensors in the order given, tensor data aligned.

use std::path::Path;

use super::{DEFAULT_ALIGNMENT, MAGIC, TensorType, VERSION, Value};
use crate::{ModelError, Result};

/// A GGUF file being assembled in memory, written by [`GgufWriter::write`].
#[derive(Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, TensorType, Vec<u8>)>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend(x.to_le_bytes()),
        Value::U16(x) => out.extend(x.to_le_bytes()),
        Value::I16(x) => out.extend(x.to_le_bytes()),
        Value::U32(x) => out.extend(x.to_le_bytes()),
        Value::I32(x) => out.extend(x.to_le_bytes()),
        Value::F32(x) => out.extend(x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::Array(a) => {
            // An empty array is written as an array of u8.
            out.extend(a.first().map_or(0, Value::type_code).to_le_bytes());
            out.extend((a.len() as u64).to_le_bytes());
            a.iter().for_each(|x| put_value(out, x));
        }
        Value::U64(x) => out.extend(x.to_le_bytes()),
        Value::I64(x) => out.extend(x.to_le_bytes()),
        Value::F64(x) => out.extend(x.to_le_bytes()),
    }
}

impl GgufWriter {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a metadata entry.
    pub fn set(&mut self, key: &str, value: Value) {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.metadata.push((key.to_string(), value)),
        }
    }

    /// Adds a tensor: `dims` innermost first, `data` its blocks of `ty`.
    pub fn add_tensor(
        &mut self,
        name: &str,
        dims: Vec<u64>,
        ty: TensorType,
        data: Vec<u8>,
    ) -> Result<()> {
        let n: u64 = dims.iter().product();
        if ty.bytes_for(n) != Some(data.len() as u64) {
            return Err(ModelError::Input(format!(
                "GGUF tensor `{name}`: {} bytes for {n} {} elements",
                data.len(),
                ty.name()
            )));
        }
        if self.tensors.iter().any(|t| t.0 == name) {
            return Err(ModelError::Input(format!(
                "GGUF tensor `{name}` added twice"
            )));
        }
        self.tensors.push((name.to_string(), dims, ty, data));
        Ok(())
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let align = self
            .metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .filter(|a| a.is_power_of_two())
            .unwrap_or(DEFAULT_ALIGNMENT) as usize;
        let mut out = Vec::new();
        out.extend(MAGIC);
        out.extend(VERSION.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut out, k);
            out.extend(v.type_code().to_le_bytes());
            put_value(&mut out, v);
        }
        let mut offset = 0usize;
        for (name, dims, ty, data) in &self.tensors {
            put_str(&mut out, name);
            out.extend((dims.len() as u32).to_le_bytes());
            dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
            out.extend(ty.code().to_le_bytes());
            out.extend((offset as u64).to_le_bytes());
            offset = (offset + data.len()).div_ceil(align) * align;
        }
        out.resize(out.len().div_ceil(align) * align, 0);
        for (_, _, _, data) in &self.tensors {
            out.extend(data);
            out.resize(out.len().div_ceil(align) * align, 0);
        }
        out
    }

    /// Writes the file to `path` (atomically).
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes();
        glassbox_core::fsio::atomic_write(path, &bytes)?;
        Ok(())
    }
}
