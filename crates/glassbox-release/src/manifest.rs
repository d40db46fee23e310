//! `MANIFEST.json`: the bundle's bill of materials, the SHA-256 and size of every file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ReleaseError, Result};

/// Bundle format version (`MANIFEST.json` and `release.json` `schema_version`).
pub const BUNDLE_SCHEMA: u32 = 1;

/// Files never listed: the manifest itself and the verification record `glassbox verify` adds.
pub const UNLISTED: [&str; 2] = ["MANIFEST.json", "verification.json"];

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the bundle, `/`-separated.
    pub path: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BUNDLE_SCHEMA`].
    pub schema_version: u32,
    /// glassbox version that wrote it.
    pub glassbox_version: String,
    /// Every file but [`UNLISTED`], sorted by path.
    pub files: Vec<FileEntry>,
}

/// Every regular file under `root`, relative and `/`-separated, sorted.
pub fn list_files(root: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        let rd = std::fs::read_dir(dir).map_err(|e| ReleaseError::bundle(dir, e))?;
        for e in rd {
            let e = e.map_err(|e| ReleaseError::bundle(dir, e))?;
            let p = e.path();
            let ft = e.file_type().map_err(|e| ReleaseError::bundle(&p, e))?;
            if ft.is_dir() {
                walk(root, &p, out)?;
            } else if ft.is_file() {
                let rel = p
                    .strip_prefix(root)
                    .map_err(|e| ReleaseError::bundle(&p, e))?;
                out.push(rel.to_string_lossy().replace('\\', "/"));
            } else {
                return Err(ReleaseError::bundle(
                    &p,
                    "is neither a file nor a directory (a link?); a bundle holds plain files only",
                ));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// Hashes every file of `bundle` and writes `MANIFEST.json`.
pub fn write(bundle: &Path) -> Result<Manifest> {
    let mut files = Vec::new();
    for rel in list_files(bundle)? {
        if UNLISTED.contains(&rel.as_str()) {
            continue;
        }
        let p = bundle.join(&rel);
        let bytes = std::fs::metadata(&p)
            .map_err(|e| ReleaseError::bundle(&p, e))?
            .len();
        files.push(FileEntry {
            sha256: glassbox_core::hash::sha256_file(&p)?,
            path: rel,
            bytes,
        });
    }
    let m = Manifest {
        schema_version: BUNDLE_SCHEMA,
        glassbox_version: env!("CARGO_PKG_VERSION").into(),
        files,
    };
    glassbox_core::fsio::write_json_atomic(&bundle.join("MANIFEST.json"), &m)?;
    Ok(m)
}

/// Reads `MANIFEST.json`, refusing a newer format with a clear message.
pub fn read(bundle: &Path) -> Result<Manifest> {
    let p = bundle.join("MANIFEST.json");
    if !p.exists() {
        return Err(ReleaseError::bundle(
            &p,
            "missing: not a glassbox release bundle (make one with `glassbox release RUN --out BUNDLE`)",
        ));
    }
    let v: serde_json::Value = glassbox_core::fsio::read_json(&p)?;
    check_version(&p, &v)?;
    serde_json::from_value(v).map_err(|e| ReleaseError::bundle(&p, format!("malformed: {e}")))
}

/// Checks a bundle file's `schema_version` against [`BUNDLE_SCHEMA`] (a newer bundle is
/// refused with glassbox's usual "upgrade" message naming the file).
pub(crate) fn check_version(p: &Path, v: &serde_json::Value) -> Result<()> {
    let found = v
        .get("schema_version")
        .and_then(|s| s.as_u64())
        .ok_or_else(|| ReleaseError::bundle(p, "has no schema_version"))?;
    let found = u32::try_from(found).unwrap_or(u32::MAX);
    glassbox_core::schema::check_version(p, found, &[BUNDLE_SCHEMA])?;
    Ok(())
}

/// A path of the bundle from a manifest entry, refusing absolute paths and `..`.
pub(crate) fn safe_join(bundle: &Path, rel: &str) -> Result<PathBuf> {
    let bad = rel.is_empty()
        || rel.starts_with('/')
        || rel.contains('\\')
        || rel
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty());
    if bad {
        return Err(ReleaseError::bundle(
            bundle.join("MANIFEST.json"),
            format!("lists the unsafe path `{rel}`; refusing to read outside the bundle"),
        ));
    }
    Ok(bundle.join(rel))
}
