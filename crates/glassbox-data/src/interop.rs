//! Interop with the formats people scale out with.
//!
//! - **OLMo** (`export --format olmo`): OLMo's `MemMapDataset` reads headerless token arrays
//!   (`*.npy` by convention, but raw `np.memmap` data) cut into instances of `chunk_size` tokens,
//!   and its trainer visits instances in the order of `global_indices.npy` (raw `uint32`). glassbox
//!   writes one token file holding every training sample's `seq_len + 1` tokens in sample order
//!   (so OLMo instance `i` is glassbox sample `i`, with `chunk_size = seq_len + 1`) and the
//!   epoch-0 order as the global indices: OLMo then sees exactly glassbox's batches.
//! - **Megatron-LM** (`export --format megatron`): an indexed dataset pair — `.bin` with the
//!   tokens of every document (EOS included) and `.idx` with header `MMIDIDX\0\0`, version
//!   `u64` 1, dtype code `u8` (8 = uint16, 4 = int32), sequence count `u64`, document count
//!   `u64`, then sizes (`int32` per sequence), byte pointers (`int64` per sequence) and the
//!   document index (`int64`, one more than documents).
//! - **nanoGPT** `train.bin` (raw `uint16`) and **llm.c** shards (256 `int32` header: magic
//!   20240520, version 1 = `uint16` / 2 = `uint32`, token count; then tokens) are imported into a
//!   glassbox dataset, documents split at the end-of-sequence id.

use std::io::{Read, Write};
use std::path::Path;

use crate::dataset::{Dataset, permutation};
use crate::shards::Dtype;
use crate::tokenize::{DATASET_SCHEMA, DocEntry, Manifest, ShardEntry, SplitEntry};
use crate::{DataError, Result};

fn write_file(path: &Path, bytes: &[u8]) -> Result<String> {
    glassbox_core::fsio::atomic_write(path, bytes)?;
    Ok(glassbox_core::hash::sha256_hex(bytes))
}

fn encode(tokens: &[u32], dtype: Dtype, out: &mut Vec<u8>) {
    match dtype {
        Dtype::Uint16 => tokens
            .iter()
            .for_each(|t| out.extend_from_slice(&(*t as u16).to_le_bytes())),
        Dtype::Uint32 => tokens
            .iter()
            .for_each(|t| out.extend_from_slice(&t.to_le_bytes())),
    }
}

/// Writes the OLMo export of the train split for (`seq_len`, `seed`) into `out`; returns the
/// files with their SHA-256.
pub fn export_olmo(
    ds: &mut Dataset,
    seq_len: usize,
    seed: u64,
    out: &Path,
) -> Result<Vec<(String, String)>> {
    let n = ds.samples_for(1, seq_len)?;
    // OLMo's global indices are uint32.
    if n > u64::from(u32::MAX) + 1 {
        return Err(DataError::Request(format!(
            "{n} samples do not fit OLMo's uint32 global indices; use a longer seq_len"
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| DataError::io("creating", out, e))?;
    let dtype = ds.manifest.dtype;
    let mut tokens = Vec::with_capacity((n as usize) * (seq_len + 1) * dtype.size());
    for i in 0..n {
        let t = ds.read("train", i * seq_len as u64, seq_len + 1)?;
        encode(&t, dtype, &mut tokens);
    }
    let mut indices = Vec::with_capacity(n as usize * 4);
    for p in permutation(n, seed, 0) {
        indices.extend_from_slice(&(p as u32).to_le_bytes());
    }
    let meta = serde_json::json!({
        "format": "olmo-memmap", "dtype": if dtype == Dtype::Uint16 { "uint16" } else { "uint32" },
        "chunk_size": seq_len + 1, "instances": n, "seed": seed,
        "note": "instance i = glassbox sample i; global_indices.npy = glassbox epoch-0 order (uint32)",
    });
    let mut files = vec![
        (
            "part-00000.npy".to_string(),
            write_file(&out.join("part-00000.npy"), &tokens)?,
        ),
        (
            "global_indices.npy".to_string(),
            write_file(&out.join("global_indices.npy"), &indices)?,
        ),
    ];
    let m = serde_json::to_vec_pretty(&meta).map_err(|e| DataError::Request(e.to_string()))?;
    files.push((
        "olmo.json".to_string(),
        write_file(&out.join("olmo.json"), &m)?,
    ));
    Ok(files)
}

/// Writes the train split as a Megatron indexed dataset `out/<name>.bin` + `.idx`.
pub fn export_megatron(ds: &mut Dataset, out: &Path, name: &str) -> Result<Vec<(String, String)>> {
    std::fs::create_dir_all(out).map_err(|e| DataError::io("creating", out, e))?;
    let dtype = ds.manifest.dtype;
    let docs: Vec<DocEntry> = ds.train_docs.clone();
    let mut bin = Vec::new();
    let (mut sizes, mut pointers) = (Vec::new(), Vec::new());
    for d in &docs {
        let t = ds.read("train", d.start, d.length as usize + 1)?;
        pointers.push(bin.len() as i64);
        sizes.push(t.len() as i32);
        encode(&t, dtype, &mut bin);
    }
    let mut idx = Vec::new();
    idx.extend_from_slice(b"MMIDIDX\x00\x00");
    idx.extend_from_slice(&1u64.to_le_bytes());
    idx.push(if dtype == Dtype::Uint16 { 8 } else { 4 });
    idx.extend_from_slice(&(sizes.len() as u64).to_le_bytes());
    idx.extend_from_slice(&(sizes.len() as u64 + 1).to_le_bytes());
    sizes
        .iter()
        .for_each(|s| idx.extend_from_slice(&s.to_le_bytes()));
    pointers
        .iter()
        .for_each(|p| idx.extend_from_slice(&p.to_le_bytes()));
    (0..=sizes.len() as i64).for_each(|d| idx.extend_from_slice(&d.to_le_bytes()));
    Ok(vec![
        (
            format!("{name}.bin"),
            write_file(&out.join(format!("{name}.bin")), &bin)?,
        ),
        (
            format!("{name}.idx"),
            write_file(&out.join(format!("{name}.idx")), &idx)?,
        ),
    ])
}

/// The `.idx` of a Megatron indexed dataset of `count` sequences of `len` tokens each, stored
/// back to back (`item_size` bytes per token, 4 = int32 or 2 = uint16), one document per
/// sequence.
pub fn megatron_index_fixed(count: u64, len: usize, item_size: usize) -> Vec<u8> {
    let mut idx = Vec::with_capacity(MEGATRON_HEADER + count as usize * 20 + 8);
    idx.extend_from_slice(b"MMIDIDX\x00\x00");
    idx.extend_from_slice(&1u64.to_le_bytes());
    idx.push(if item_size == 2 { 8 } else { 4 });
    idx.extend_from_slice(&count.to_le_bytes());
    idx.extend_from_slice(&(count + 1).to_le_bytes());
    (0..count).for_each(|_| idx.extend_from_slice(&(len as i32).to_le_bytes()));
    (0..count).for_each(|k| {
        idx.extend_from_slice(&((k * (len * item_size) as u64) as i64).to_le_bytes())
    });
    (0..=count).for_each(|d| idx.extend_from_slice(&(d as i64).to_le_bytes()));
    idx
}

/// Length of the fixed part of a Megatron `.idx` header: magic (9), version (8), dtype code (1),
/// sequence count (8), document count (8).
const MEGATRON_HEADER: usize = 34;

/// Reads a Megatron indexed dataset back into its documents' token lists.
///
/// The counts in the `.idx` header are checked against the lengths of both files before
/// anything is allocated from them.
pub fn read_megatron(prefix: &Path) -> Result<Vec<Vec<u32>>> {
    let idx_path = prefix.with_extension("idx");
    let bin_path = prefix.with_extension("bin");
    let idx = std::fs::read(&idx_path).map_err(|e| DataError::io("reading", &idx_path, e))?;
    let bad = |m: String| DataError::Format {
        path: idx_path.clone(),
        message: m,
    };
    if idx.len() < MEGATRON_HEADER || &idx[..9] != b"MMIDIDX\x00\x00" {
        return Err(bad("not a Megatron index (bad magic)".into()));
    }
    let u64_at = |i: usize| -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&idx[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let version = u64_at(9);
    if version != 1 {
        return Err(bad(format!(
            "index version {version} is not supported (this glassbox reads 1)"
        )));
    }
    let size: usize = match idx[17] {
        8 => 2,
        4 => 4,
        d => {
            return Err(bad(format!(
                "dtype code {d} is not supported (8 = uint16, 4 = int32)"
            )));
        }
    };
    let (n, n_docs) = (u64_at(18), u64_at(26));
    // sizes (int32) and pointers (int64) per sequence, then the document index (int64 each).
    let declared = n
        .checked_mul(12)
        .and_then(|b| b.checked_add(n_docs.checked_mul(8)?))
        .and_then(|b| b.checked_add(MEGATRON_HEADER as u64));
    if declared.is_none_or(|d| d > idx.len() as u64) {
        return Err(bad(format!(
            "the header declares {n} sequences and {n_docs} document-index entries, more than \
             the {} bytes of the index hold",
            idx.len()
        )));
    }
    // Both counts now fit in the file, hence in usize.
    let n = n as usize;
    let bin = std::fs::read(&bin_path).map_err(|e| DataError::io("reading", &bin_path, e))?;
    let bad_bin = |m: String| DataError::Format {
        path: bin_path.clone(),
        message: m,
    };
    let sizes_at = MEGATRON_HEADER;
    let ptr_at = sizes_at + n * 4;
    let mut docs = Vec::with_capacity(n);
    // Sequences in a Megatron dataset do not overlap; bounding their total by the .bin length
    // keeps forged pointers from decoding the same bytes over and over.
    let mut total = 0usize;
    for i in 0..n {
        let s = &idx[sizes_at + i * 4..sizes_at + i * 4 + 4];
        let s = i32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        let s =
            usize::try_from(s).map_err(|_| bad(format!("sequence {i} has negative size {s}")))?;
        let p = u64_at(ptr_at + i * 8);
        let bytes = s
            .checked_mul(size)
            .filter(|&b| total.checked_add(b).is_some_and(|t| t <= bin.len()))
            .and_then(|b| {
                let p = usize::try_from(p).ok()?;
                bin.get(p..p.checked_add(b)?)
            })
            .ok_or_else(|| {
                bad_bin(format!(
                    "sequence {i} ({s} tokens at byte {p}) runs past the end ({} bytes) or \
                     overlaps earlier sequences",
                    bin.len()
                ))
            })?;
        total += bytes.len();
        docs.push(decode(bytes, size));
    }
    Ok(docs)
}

fn decode(bytes: &[u8], size: usize) -> Vec<u32> {
    if size == 2 {
        bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
            .collect()
    } else {
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}

/// Source formats of [`import`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// nanoGPT `train.bin`: raw little-endian `uint16`.
    NanoGpt,
    /// llm.c shard: 1024-byte header, then tokens.
    Llmc,
}

/// Reads the tokens of a nanoGPT or llm.c file.
pub fn read_tokens(path: &Path, format: ImportFormat) -> Result<(Vec<u32>, Dtype)> {
    let mut f = std::fs::File::open(path).map_err(|e| DataError::io("opening", path, e))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| DataError::io("reading", path, e))?;
    let bad = |m: String| DataError::Format {
        path: path.to_path_buf(),
        message: m,
    };
    match format {
        ImportFormat::NanoGpt => {
            if bytes.len() % 2 != 0 {
                return Err(bad("odd byte length: not a uint16 token file".into()));
            }
            Ok((decode(&bytes, 2), Dtype::Uint16))
        }
        ImportFormat::Llmc => {
            if bytes.len() < 1024 {
                return Err(bad("shorter than the 1024-byte llm.c header".into()));
            }
            let i = |k: usize| {
                i32::from_le_bytes([
                    bytes[k * 4],
                    bytes[k * 4 + 1],
                    bytes[k * 4 + 2],
                    bytes[k * 4 + 3],
                ])
            };
            if i(0) != 20240520 {
                return Err(bad(format!("magic {} is not llm.c's 20240520", i(0))));
            }
            let (size, dtype) = match i(1) {
                1 => (2, Dtype::Uint16),
                2 => (4, Dtype::Uint32),
                v => return Err(bad(format!("llm.c version {v} is not supported (1 or 2)"))),
            };
            let n = usize::try_from(i(2))
                .map_err(|_| bad(format!("header says {} tokens (negative)", i(2))))?;
            let body = n
                .checked_mul(size)
                .and_then(|b| b.checked_add(1024))
                .and_then(|end| bytes.get(1024..end))
                .ok_or_else(|| bad(format!("header says {n} tokens; the file is shorter")))?;
            Ok((decode(body, size), dtype))
        }
    }
}

/// Imports a token file as a glassbox dataset in `out` (all documents in the train split;
/// documents end at each `eos_id`). `tokenizer` is copied in when given.
pub fn import(
    path: &Path,
    format: ImportFormat,
    eos_id: u32,
    tokenizer: Option<&Path>,
    out: &Path,
) -> Result<Manifest> {
    let (tokens, dtype) = read_tokens(path, format)?;
    std::fs::create_dir_all(out.join("tokens"))
        .map_err(|e| DataError::io("creating", out.join("tokens"), e))?;
    let mut w = crate::shards::ShardWriter::create(&out.join("tokens/train-00000.bin"), dtype)?;
    w.push(&tokens)?;
    let count = w.finish()?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    let mut index = String::new();
    let mut start = 0u64;
    let mut k = 0u64;
    for (i, t) in tokens.iter().enumerate() {
        let end = i as u64;
        if *t == eos_id || i + 1 == tokens.len() {
            let length = if *t == eos_id {
                end - start
            } else {
                end + 1 - start
            };
            let e = DocEntry {
                id: format!("{stem}:{k:08}"),
                split: "train".into(),
                shard: "tokens/train-00000.bin".into(),
                offset: start,
                start,
                length,
                source: stem.clone(),
                lang: "und".into(),
            };
            index.push_str(
                &serde_json::to_string(&e).map_err(|e| DataError::Request(e.to_string()))?,
            );
            index.push('\n');
            start = end + 1;
            k += 1;
        }
    }
    let index_sha = write_file(&out.join("index.jsonl"), index.as_bytes())?;
    // The vocabulary training sizes its model by: the tokenizer's, and at least one past the
    // largest id the tokens use.
    let max_id = tokens.iter().copied().max().unwrap_or(0) as usize;
    let tk = match tokenizer {
        Some(t) => {
            let bytes = std::fs::read(t).map_err(|e| DataError::io("reading", t, e))?;
            let loaded = crate::tokenizer::load(t)?;
            let sha = write_file(&out.join("tokenizer.json"), &bytes)?;
            let vocab = loaded.get_vocab_size(true).max(max_id + 1);
            let eos = loaded.id_to_token(eos_id);
            serde_json::json!({"file": "tokenizer.json", "sha256": sha, "eos_id": eos_id, "eos": eos, "vocab_size": vocab})
        }
        None => serde_json::json!({"file": null, "eos_id": eos_id, "vocab_size": max_id + 1}),
    };
    let mut splits = std::collections::BTreeMap::new();
    let shard_sha = glassbox_core::hash::sha256_file(&out.join("tokens/train-00000.bin"))?;
    splits.insert(
        "train".into(),
        SplitEntry {
            shards: vec![ShardEntry {
                file: "tokens/train-00000.bin".into(),
                sha256: shard_sha,
                tokens: count,
            }],
            tokens: count,
            documents: k,
        },
    );
    splits.insert("heldout".into(), SplitEntry::default());
    let manifest = Manifest {
        schema_version: DATASET_SCHEMA,
        dtype,
        tokenizer: tk,
        input: serde_json::json!({"kind": match format { ImportFormat::NanoGpt => "nanogpt", ImportFormat::Llmc => "llm.c" }, "file": path.display().to_string(), "sha256": glassbox_core::hash::sha256_file(path)?}),
        sources: serde_json::json!([]),
        heldout: serde_json::json!({"method": "none (imported)", "fraction": 0.0}),
        splits,
        index: ShardEntry {
            file: "index.jsonl".into(),
            sha256: index_sha,
            tokens: 0,
        },
        orders: Vec::new(),
        shard_tokens: None,
    };
    glassbox_core::fsio::write_json_atomic(&out.join("manifest.json"), &manifest)?;
    Ok(manifest)
}

/// Writes tokens as an llm.c shard (version 1 for uint16, 2 for uint32).
pub fn write_llmc(path: &Path, tokens: &[u32], dtype: Dtype) -> Result<()> {
    let mut header = [0i32; 256];
    header[0] = 20240520;
    header[1] = if dtype == Dtype::Uint16 { 1 } else { 2 };
    header[2] = tokens.len() as i32;
    let mut bytes: Vec<u8> = header.iter().flat_map(|v| v.to_le_bytes()).collect();
    encode(tokens, dtype, &mut bytes);
    let mut f = std::fs::File::create(path).map_err(|e| DataError::io("creating", path, e))?;
    f.write_all(&bytes)
        .map_err(|e| DataError::io("writing", path, e))
}
