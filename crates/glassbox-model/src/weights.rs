//! Weight files of a Hugging Face model directory: `model.safetensors`, or shards listed in
//! `model.safetensors.index.json`; and writing them back in the same layout.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use glassbox_core::CoreError;
use serde_json::{Value, json};

use crate::safetensors_io::SafetensorsFile;
use crate::{ModelError, Result};

/// Name of the single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of the shard index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// All weight files of a model directory, opened and validated.
#[derive(Debug)]
pub struct WeightFiles {
    files: Vec<SafetensorsFile>,
    /// tensor name → index into `files`.
    location: BTreeMap<String, usize>,
    used: std::cell::RefCell<BTreeSet<String>>,
}

impl WeightFiles {
    /// Opens `model.safetensors` in `dir`, or the shards named by `model.safetensors.index.json`.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let index = dir.join(INDEX_FILE);
        if index.exists() {
            return Self::open_index(dir, &index);
        }
        let single = dir.join(SINGLE_FILE);
        if !single.exists() {
            let hint = if has_pickle_weights(dir) {
                "only pickle-based weights (pytorch_model.bin) were found; glassbox loads safetensors \
                 only, because unpickling can run arbitrary code. Convert them with transformers' \
                 `save_pretrained(..., safe_serialization=True)`"
            } else {
                "expected model.safetensors or model.safetensors.index.json"
            };
            return Err(ModelError::MissingFile {
                path: single,
                hint: hint.into(),
            });
        }
        let file = SafetensorsFile::open(&single)?;
        let location = file.tensors().keys().map(|k| (k.clone(), 0)).collect();
        Ok(Self {
            files: vec![file],
            location,
            used: Default::default(),
        })
    }

    fn open_index(dir: &Path, index: &Path) -> Result<Self> {
        let value: Value = glassbox_core::fsio::read_json(index)?;
        let map = value
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| ModelError::Config {
                path: index.to_path_buf(),
                field: "weight_map".into(),
                message: "missing or not an object".into(),
            })?;
        let mut shard_ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut files = Vec::new();
        let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
        for (tensor, shard) in map {
            let shard = shard.as_str().ok_or_else(|| ModelError::Config {
                path: index.to_path_buf(),
                field: format!("weight_map.{tensor}"),
                message: "expected a file name".into(),
            })?;
            // A shard name is a plain file name inside the directory, never a path elsewhere.
            if shard.contains('/') || shard.contains('\\') || shard.starts_with('.') {
                return Err(ModelError::Config {
                    path: index.to_path_buf(),
                    field: format!("weight_map.{tensor}"),
                    message: format!("`{shard}` is not a file name inside the model directory"),
                });
            }
            let id = match shard_ids.get(shard) {
                Some(&id) => id,
                None => {
                    let path = dir.join(shard);
                    if !path.exists() {
                        return Err(ModelError::MissingFile {
                            path,
                            hint: format!("{INDEX_FILE} lists it for tensor `{tensor}`"),
                        });
                    }
                    files.push(SafetensorsFile::open(&path)?);
                    shard_ids.insert(shard.to_string(), files.len() - 1);
                    files.len() - 1
                }
            };
            wanted.insert(tensor.clone(), id);
        }
        for (tensor, &id) in &wanted {
            if !files[id].tensors().contains_key(tensor) {
                return Err(ModelError::MissingTensor {
                    name: tensor.clone(),
                    where_: format!(
                        "{} (where {INDEX_FILE} says it is)",
                        files[id].path().display()
                    ),
                });
            }
        }
        Ok(Self {
            files,
            location: wanted,
            used: Default::default(),
        })
    }

    /// Whether the checkpoint holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.location.contains_key(name)
    }

    /// Loads `name` as f32, checking its shape against `expected`.
    pub fn get(&self, name: &str, expected: &[usize], device: &Device) -> Result<Tensor> {
        self.get_as(name, expected, device, false)
    }

    /// Loads `name`, checking its shape against `expected`; bf16/f16 tensors stay in their dtype
    /// when `keep_half`.
    pub fn get_as(
        &self,
        name: &str,
        expected: &[usize],
        device: &Device,
        keep_half: bool,
    ) -> Result<Tensor> {
        let &id = self
            .location
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                where_: self.describe(),
            })?;
        let file = &self.files[id];
        let info = &file.tensors()[name];
        if info.shape != expected {
            return Err(ModelError::TensorShape {
                path: file.path().to_path_buf(),
                name: name.to_string(),
                expected: expected.to_vec(),
                found: info.shape.clone(),
            });
        }
        self.used.borrow_mut().insert(name.to_string());
        file.load(name, device, keep_half)
    }

    /// Tensors present in the files but never loaded, for warnings.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.location
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }

    /// The dtype most weights are stored in (by bytes), for reports.
    pub fn stored_dtype(&self) -> &'static str {
        let mut bytes: HashMap<&'static str, usize> = HashMap::new();
        for f in &self.files {
            for info in f.tensors().values() {
                *bytes.entry(info.dtype.name()).or_default() += info.range.len();
            }
        }
        bytes
            .into_iter()
            .max_by_key(|(_, b)| *b)
            .map_or("F32", |(d, _)| d)
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self
            .files
            .iter()
            .map(|f| f.path().display().to_string())
            .collect();
        names.join(", ")
    }
}

fn has_pickle_weights(dir: &Path) -> bool {
    [
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
        "model.pt",
        "model.pth",
    ]
    .iter()
    .any(|f| dir.join(f).exists())
}

/// The element type of saved weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveDtype {
    /// 32-bit floats (exact for glassbox's in-memory weights).
    F32,
    /// bfloat16 (round to nearest even).
    BF16,
    /// IEEE half precision (round to nearest even).
    F16,
}

impl SaveDtype {
    /// The `torch_dtype` name written into `config.json`.
    pub fn torch_name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::BF16 => "bfloat16",
            Self::F16 => "float16",
        }
    }

    /// Parses `f32`/`float32`, `bf16`/`bfloat16`, `f16`/`float16`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Some(Self::F32),
            "bf16" | "bfloat16" => Some(Self::BF16),
            "f16" | "fp16" | "float16" => Some(Self::F16),
            _ => None,
        }
    }
}

struct Encoded {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &Encoded {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn encode(t: &Tensor, dtype: SaveDtype) -> Result<Encoded> {
    let shape = t.dims().to_vec();
    let values: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let (dtype, bytes) = match dtype {
        SaveDtype::F32 => (
            safetensors::Dtype::F32,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        SaveDtype::BF16 => (
            safetensors::Dtype::BF16,
            values
                .iter()
                .flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes())
                .collect(),
        ),
        SaveDtype::F16 => (
            safetensors::Dtype::F16,
            values
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
                .collect(),
        ),
    };
    Ok(Encoded {
        dtype,
        shape,
        bytes,
    })
}

/// Writes `tensors` (f32) into one safetensors file at `path` (temporary file, fsync, rename),
/// with `__metadata__ {"format": "pt"}`. Returns the file's SHA-256.
pub fn write_safetensors_file(path: &Path, tensors: &[(String, Tensor)]) -> Result<String> {
    let encoded: Vec<(&str, Encoded)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.as_str(), encode(t, SaveDtype::F32)?)))
        .collect::<Result<_>>()?;
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let bytes =
        safetensors::serialize(encoded.iter().map(|(n, e)| (*n, e)), Some(meta)).map_err(|e| {
            ModelError::Safetensors {
                path: path.to_path_buf(),
                tensor: None,
                message: e.to_string(),
            }
        })?;
    glassbox_core::fsio::atomic_write(path, &bytes)?;
    Ok(glassbox_core::hash::sha256_hex(&bytes))
}

/// Writes `tensors` into `dir` as transformers does: one `model.safetensors` when the total fits
/// in `max_shard_bytes`, else `model-0000k-of-0000n.safetensors` shards plus
/// `model.safetensors.index.json`. Each file is written to a temporary name, synced and renamed.
/// Returns the files written.
pub fn save_safetensors(
    dir: &Path,
    tensors: &[(String, Tensor)],
    dtype: SaveDtype,
    max_shard_bytes: u64,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| CoreError::io("creating", dir, e))?;
    // Group tensors into shards in order, as transformers' `split_torch_state_dict_into_shards`.
    let mut shards: Vec<Vec<(&str, Encoded)>> = vec![Vec::new()];
    let mut shard_bytes = 0u64;
    let mut total = 0u64;
    for (name, t) in tensors {
        let enc = encode(t, dtype)?;
        let n = enc.bytes.len() as u64;
        if shard_bytes > 0 && shard_bytes + n > max_shard_bytes {
            shards.push(Vec::new());
            shard_bytes = 0;
        }
        shard_bytes += n;
        total += n;
        if let Some(last) = shards.last_mut() {
            last.push((name.as_str(), enc));
        }
    }
    // transformers refuses safetensors files without `format` metadata.
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let count = shards.len();
    let mut written = Vec::new();
    let mut weight_map = serde_json::Map::new();
    for (i, shard) in shards.iter().enumerate() {
        let name = if count == 1 {
            SINGLE_FILE.to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", i + 1, count)
        };
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let views = shard.iter().map(|(n, e)| (*n, e));
        safetensors::serialize_to_file(views, Some(meta.clone()), &tmp).map_err(|e| {
            ModelError::Safetensors {
                path: tmp.clone(),
                tensor: None,
                message: e.to_string(),
            }
        })?;
        let f = std::fs::File::open(&tmp).map_err(|e| CoreError::io("opening", &tmp, e))?;
        f.sync_all()
            .map_err(|e| CoreError::io("syncing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| CoreError::io("renaming into place", &path, e))?;
        for (n, _) in shard {
            weight_map.insert((*n).to_string(), json!(name));
        }
        written.push(path);
    }
    let index = dir.join(INDEX_FILE);
    if count > 1 {
        let value = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        glassbox_core::fsio::write_json_atomic(&index, &value)?;
        written.push(index);
        // transformers prefers model.safetensors over the index: a stale single file would win.
        let single = dir.join(SINGLE_FILE);
        if single.exists() {
            std::fs::remove_file(&single).map_err(|e| CoreError::io("removing", &single, e))?;
        }
    } else if index.exists() {
        // A stale index from an earlier sharded save would shadow the new single file.
        std::fs::remove_file(&index).map_err(|e| CoreError::io("removing", &index, e))?;
    }
    glassbox_core::fsio::sync_dir(dir)?;
    Ok(written)
}
