//! GGUF copies of a bundle's final model (`gguf/<name>-<type>.gguf`), for llama.cpp and Ollama:
//! written from the released weights, recorded in `release.json` (`gguf`: file, type, the
//! SHA-256 of the source weights, the glassbox version, the file's SHA-256), and re-made by
//! `glassbox verify`, which compares the bytes — a quantization is replayable like training.

use std::path::Path;

use candle_core::Device;
use glassbox_model::Transformer;
use glassbox_model::gguf::GgufQuant;
use glassbox_model::gguf::llama::{Provenance, add_tokenizer, to_gguf};
use serde_json::{Value, json};

use crate::verify::{Check, Status};
use crate::{ReleaseError, Result};

/// The GGUF bytes of `model` (loaded from `dir`) as `ty`, with `dir`'s tokenizer.
fn gguf_bytes(
    model: &Transformer,
    dir: &Path,
    ty: GgufQuant,
    prov: &Provenance,
) -> Result<Vec<u8>> {
    let mut w = to_gguf(model, ty, prov)?;
    add_tokenizer(&mut w, dir, model.config().vocab_size)?;
    Ok(w.to_bytes())
}

/// Writes `gguf/<name>-<type>.gguf` of every type (or mix) in `types` from the model at the bundle root
/// `b` (loaded and hashed once); returns their records.
pub(crate) fn export(
    b: &Path,
    types: &[GgufQuant],
    name: &str,
    license: &str,
) -> Result<Vec<Value>> {
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let source = glassbox_model::checkpoints::weights_sha256(b)?;
    let (model, _) = Transformer::load(b, &Device::Cpu)?;
    let prov = Provenance {
        name: name.to_string(),
        license: Some(license.to_string()),
        source_sha256: Some(source.clone()),
        glassbox_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let dir = b.join("gguf");
    std::fs::create_dir_all(&dir).map_err(|e| ReleaseError::bundle(&dir, e))?;
    let mut out = Vec::new();
    for &ty in types {
        let rel = format!("gguf/{name}-{}.gguf", ty.name());
        let bytes = gguf_bytes(&model, b, ty, &prov)?;
        glassbox_core::fsio::atomic_write(&b.join(&rel), &bytes)?;
        out.push(json!({
            "file": rel,
            "type": ty.name(),
            "source_sha256": source,
            "glassbox_version": prov.glassbox_version,
            "sha256": glassbox_core::hash::sha256_hex(&bytes),
        }));
    }
    Ok(out)
}

/// `verify`'s `gguf` check: every recorded GGUF made again from the bundle's weights, with the
/// glassbox version that wrote it, must be the same bytes. `None` when the bundle has none.
pub(crate) fn check(bundle: &Path, release: &Value) -> Option<Check> {
    let records = release.get("gguf")?.as_array().filter(|a| !a.is_empty())?;
    let failed = |m: String| Check::new("gguf", Status::Failed, m);
    // The weights are hashed and loaded once for every record.
    let source = match glassbox_model::checkpoints::weights_sha256(bundle) {
        Ok(s) => s,
        Err(e) => return Some(failed(format!("hashing the weights: {e}"))),
    };
    let model = match Transformer::load(bundle, &Device::Cpu) {
        Ok((m, _)) => m,
        Err(e) => return Some(failed(format!("loading the weights: {e}"))),
    };
    let name = release
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("model");
    let license = release
        .pointer("/licenses/weights")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut bad = Vec::new();
    for r in records {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
        let file = field("file");
        let Some(ty) = GgufQuant::from_name(field("type")) else {
            bad.push(format!(
                "{file}: type {:?} is not a GGUF type",
                field("type")
            ));
            continue;
        };
        if field("source_sha256") != source {
            bad.push(format!(
                "{file}: recorded as made from weights {:?}, the bundle's are {source}",
                field("source_sha256")
            ));
            continue;
        }
        let prov = Provenance {
            name: name.to_string(),
            license: license.clone(),
            source_sha256: Some(source.clone()),
            glassbox_version: field("glassbox_version").to_string(),
        };
        let ours = match gguf_bytes(&model, bundle, ty, &prov) {
            Ok(b) => glassbox_core::hash::sha256_hex(&b),
            Err(e) => {
                bad.push(format!("{file}: cannot re-export: {e}"));
                continue;
            }
        };
        let on_disk = glassbox_core::hash::sha256_file(&bundle.join(file)).unwrap_or_default();
        if ours != on_disk {
            bad.push(format!(
                "{file}: re-quantized from the weights it differs (SHA-256 {ours}, the file's {on_disk})"
            ));
        }
    }
    Some(if bad.is_empty() {
        Check::new(
            "gguf",
            Status::Passed,
            format!(
                "{} GGUF file(s) re-made from the weights, byte for byte",
                records.len()
            ),
        )
    } else {
        let mut c = failed(bad[0].clone());
        c.details = bad;
        c
    })
}
