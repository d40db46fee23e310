//! Helpers shared by the CLI tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// One fixture model per supported architecture (made by transformers; see tests/fixtures).
pub(crate) const FAMILIES: [&str; 14] = [
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "smollm3",
    "olmo",
    "olmo2",
    "gpt-neox",
    "phi3",
    "gemma2",
    "gemma3",
    "mixtral",
    "olmoe",
    "qwen3-moe",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder of the test corpora (`en_web.txt`, `es_rv1909.txt`): `$GLASSBOX_CORPORA`, else
/// `target/corpora` (extracted by `scripts/dev-setup.sh`). Fails with what to do when neither has
/// them.
pub(crate) fn corpora_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("GLASSBOX_CORPORA").map(PathBuf::from),
        Some(repo().join("target/corpora")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("en_web.txt").is_file() && d.join("es_rv1909.txt").is_file())
        .unwrap_or_else(|| {
            panic!("the test corpora are missing: run scripts/dev-setup.sh (it extracts them into target/corpora)")
        })
}

/// One test corpus.
pub(crate) fn corpus(name: &str) -> PathBuf {
    corpora_dir().join(name)
}

/// The Model Openness Tool model files kept with the audit's tests.
pub(crate) fn mot_models() -> PathBuf {
    repo().join("crates/glassbox-audit/tests/fixtures/mot/models")
}
