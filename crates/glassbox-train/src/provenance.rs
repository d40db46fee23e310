//! Where a continual pre-training or LoRA run starts: the model directory's files, hashed, and
//! the terms it comes under (its card's `license:` and the licence files beside it), which an
//! adapted model inherits.

use std::path::Path;

use serde_json::{Value, json};

use crate::Result;

/// The model directory a continual pre-training run starts from: its path and the SHA-256 of its
/// `config.json` and weight files, so the run records exactly which weights it continued.
pub(crate) fn init_provenance(dir: &Path) -> Result<Value> {
    let mut files = serde_json::Map::new();
    let entries = std::fs::read_dir(dir).map_err(|e| crate::TrainError::Run {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n == "config.json" || n.ends_with(".safetensors") || n == "README.md" || licence_file(n)
        })
        .collect();
    names.sort();
    for n in &names {
        files.insert(
            n.clone(),
            json!(glassbox_core::hash::sha256_file(&dir.join(n))?),
        );
    }
    let card = std::fs::read_to_string(dir.join("README.md")).unwrap_or_default();
    Ok(json!({
        "path": dir.display().to_string(),
        "sha256": files,
        // The terms the starting model comes under, as its card declares them (`license:` in
        // the front matter) and the licence files beside it: an adapted model inherits them.
        "license": card_license(&card),
        "license_files": names.iter().filter(|n| licence_file(n)).collect::<Vec<_>>(),
    }))
}

/// `LICENSE`, `LICENSE.txt`, `LICENCE.md`, `COPYING`, `USE_POLICY.md`, `NOTICE` …
pub fn licence_file(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["LICENSE", "LICENCE", "COPYING", "USE_POLICY", "NOTICE"]
        .iter()
        .any(|p| upper.starts_with(p))
}

/// The `license:` value of a model card's YAML front matter (a scalar, or the first entry of
/// a list), if any.
pub fn card_license(card: &str) -> Option<String> {
    let mut lines = card.lines();
    if lines.next()?.trim() != "---" {
        return None;
    }
    let mut lines = lines.take_while(|l| l.trim() != "---").peekable();
    while let Some(l) = lines.next() {
        if let Some(v) = l.strip_prefix("license:") {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            if !v.is_empty() {
                return Some(v.to_string());
            }
            // A list on the following lines: `- apache-2.0`.
            return lines
                .next()
                .and_then(|n| n.trim().strip_prefix("- "))
                .map(|x| x.trim().trim_matches(|c| c == '"' || c == '\'').to_string());
        }
    }
    None
}

#[cfg(test)]
mod licence_tests {
    use super::card_license;

    #[test]
    fn the_card_front_matter_names_the_licence() {
        assert_eq!(
            card_license("---\nlanguage: en\nlicense: apache-2.0\n---\n# Model"),
            Some("apache-2.0".into())
        );
        assert_eq!(
            card_license("---\nlicense:\n  - llama3.1\n---\n"),
            Some("llama3.1".into())
        );
        assert_eq!(card_license("# no front matter\nlicense: mit"), None);
    }
}
