//! GGUF copies of a bundle's final model (`gguf/<name>-<type>.gguf`), for llama.cpp and Ollama:
//! written from the released weights, recorded in `release.json` (`gguf`: file, type, the
//! SHA-256 of the source weights, the glassbox version, the file's SHA-256), and re-made by
//! `glassbox verify`, which compares the bytes — a quantization is replayable like training.

use std::path::Path;

use glassbox_model::gguf::TensorType;
use glassbox_model::gguf::llama::{Provenance, export_dir};
use serde_json::{Value, json};

use crate::verify::{Check, Status};
use crate::{ReleaseError, Result};

/// Writes `gguf/<name>-<type>.gguf` from the model at the bundle root `b`; returns its record.
pub(crate) fn export(b: &Path, ty: TensorType, name: &str, license: &str) -> Result<Value> {
    let source = glassbox_model::checkpoints::weights_sha256(b)?;
    let prov = Provenance {
        name: name.to_string(),
        license: Some(license.to_string()),
        source_sha256: Some(source.clone()),
        glassbox_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let rel = format!("gguf/{name}-{}.gguf", ty.name());
    let path = b.join(&rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ReleaseError::bundle(parent, e))?;
    }
    export_dir(b, ty, &prov)?.write(&path)?;
    Ok(json!({
        "file": rel,
        "type": ty.name(),
        "source_sha256": source,
        "glassbox_version": prov.glassbox_version,
        "sha256": glassbox_core::hash::sha256_file(&path)?,
    }))
}

/// `verify`'s `gguf` check: every recorded GGUF made again from the bundle's weights, with the
/// glassbox version that wrote it, must be the same bytes. `None` when the bundle has none.
pub(crate) fn check(bundle: &Path, release: &Value) -> Option<Check> {
    let records = release.get("gguf")?.as_array().filter(|a| !a.is_empty())?;
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
        let file = r.get("file").and_then(Value::as_str).unwrap_or("?");
        let ty = ["f32", "f16", "bf16", "q8_0", "q4_0"]
            .into_iter()
            .zip([
                TensorType::F32,
                TensorType::F16,
                TensorType::BF16,
                TensorType::Q8_0,
                TensorType::Q4_0,
            ])
            .find(|(n, _)| r.get("type").and_then(Value::as_str) == Some(n))
            .map(|x| x.1);
        let Some(ty) = ty else {
            bad.push(format!(
                "{file}: type {:?} is not one glassbox writes",
                r.get("type")
            ));
            continue;
        };
        let prov = Provenance {
            name: name.to_string(),
            license: license.clone(),
            source_sha256: r
                .get("source_sha256")
                .and_then(Value::as_str)
                .map(str::to_string),
            glassbox_version: r
                .get("glassbox_version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        };
        match glassbox_model::checkpoints::weights_sha256(bundle) {
            Ok(s) if Some(s.as_str()) == prov.source_sha256.as_deref() => {}
            Ok(s) => {
                bad.push(format!(
                    "{file}: recorded as made from weights {:?}, the bundle's are {s}",
                    prov.source_sha256
                ));
                continue;
            }
            Err(e) => {
                bad.push(format!("{file}: {e}"));
                continue;
            }
        }
        let made = match export_dir(bundle, ty, &prov) {
            Ok(w) => w.to_bytes(),
            Err(e) => {
                bad.push(format!("{file}: cannot re-export: {e}"));
                continue;
            }
        };
        let ours = glassbox_core::hash::sha256_hex(&made);
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
        let mut c = Check::new("gguf", Status::Failed, bad[0].clone());
        c.details = bad;
        c
    })
}
