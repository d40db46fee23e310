//! The datasheet (`datasheet.json` + `datasheet.md`), filled in by the pipeline rather than by
//! hand, after Gebru et al., "Datasheets for Datasets" (2021): where the data came from (every
//! file with its SHA-256 and declared licence), what it contains (documents, characters, words
//! and, once tokenised, tokens per language), how it was processed (each step, what it removed,
//! examples of removed text, the exact configuration), and how it may be used.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;
use crate::config::{CurateConfig, Source};
use crate::source::{InputFile, ReadProblem};

/// Version of `datasheet.json`.
pub const DATASHEET_SCHEMA: u32 = 1;

/// Per-source counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    /// Source name.
    pub name: String,
    /// Declared licence.
    pub license: String,
    /// Origin URL.
    pub url: Option<String>,
    /// Files read, with hashes.
    pub files: Vec<InputFile>,
    /// Documents read.
    pub documents_read: u64,
    /// Documents kept.
    pub documents_kept: u64,
    /// Characters read (of documents that decoded).
    pub characters_read: u64,
    /// Characters kept (after filtering and line removal).
    pub characters_kept: u64,
    /// Kept documents whose invalid UTF-8 was replaced (`invalid_utf8 = "replace"`).
    pub utf8_replaced: u64,
    /// E-mail and IP addresses masked.
    pub pii_masked: u64,
}

impl SourceStats {
    /// Empty counts for a source.
    pub fn new(s: &Source) -> Self {
        Self {
            name: s.name.clone(),
            license: s.license.clone(),
            url: s.url.clone(),
            ..Default::default()
        }
    }
}

/// Per-filter counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterStats {
    /// Documents removed.
    pub removed: u64,
    /// Their characters.
    pub characters: u64,
    /// Removed documents by source.
    pub by_source: BTreeMap<String, u64>,
    /// A few examples (`id`, `reason`, `text` cut to 300 characters).
    pub examples: Vec<Value>,
}

/// Per-language counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LanguageStats {
    /// Documents.
    pub documents: u64,
    /// Characters.
    pub characters: u64,
    /// Words (datatrove-style word split).
    pub words: u64,
    /// Tokens, once the corpus is tokenised (`null` before).
    pub tokens: Option<u64>,
}

/// The datasheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Datasheet {
    /// [`DATASHEET_SCHEMA`].
    pub schema_version: u32,
    /// glassbox version that wrote it.
    pub glassbox_version: String,
    /// The resolved configuration (every default filled).
    pub config: Value,
    /// Sources.
    pub sources: Vec<SourceStats>,
    /// Languages of kept documents.
    pub languages: BTreeMap<String, LanguageStats>,
    /// Filters (and deduplication, and read problems such as `invalid_utf8`, `no_text`).
    pub filters: BTreeMap<String, FilterStats>,
    /// Read errors kept under `on_read_error = "record"`.
    pub read_problems: Vec<ReadProblem>,
    /// Totals: documents read/kept/removed, characters read/kept.
    pub totals: BTreeMap<String, u64>,
    /// SHA-256 of `removed.jsonl`.
    pub removed_sha256: String,
    /// Identity of the curated corpus (curate.json `sha256`).
    pub curated_sha256: String,
    /// Tokenisation facts, once tokenised (tokenizer hash, vocabulary, tokens per split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenization: Option<Value>,
}

impl Datasheet {
    /// An empty datasheet for `cfg`.
    pub fn new(cfg: &CurateConfig) -> Self {
        Self {
            schema_version: DATASHEET_SCHEMA,
            glassbox_version: env!("CARGO_PKG_VERSION").to_string(),
            config: serde_json::to_value(cfg.recorded()).unwrap_or(Value::Null),
            sources: Vec::new(),
            languages: BTreeMap::new(),
            filters: BTreeMap::new(),
            read_problems: Vec::new(),
            totals: BTreeMap::new(),
            removed_sha256: String::new(),
            curated_sha256: String::new(),
            tokenization: None,
        }
    }

    /// Fills `totals` from the sources.
    pub fn totals(&mut self) {
        let t = &mut self.totals;
        t.insert(
            "documents_read".into(),
            self.sources.iter().map(|s| s.documents_read).sum(),
        );
        t.insert(
            "documents_kept".into(),
            self.sources.iter().map(|s| s.documents_kept).sum(),
        );
        t.insert(
            "documents_removed".into(),
            self.filters.values().map(|f| f.removed).sum(),
        );
        t.insert(
            "characters_kept".into(),
            self.sources.iter().map(|s| s.characters_kept).sum(),
        );
        t.insert(
            "words_kept".into(),
            self.languages.values().map(|l| l.words).sum(),
        );
    }

    /// Reads `datasheet.json` from `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("datasheet.json");
        let d: Datasheet = glassbox_core::fsio::read_json(&path)?;
        glassbox_core::schema::check_version(&path, d.schema_version, &[DATASHEET_SCHEMA])?;
        Ok(d)
    }

    /// Writes `datasheet.json` and `datasheet.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        glassbox_core::fsio::write_json_atomic(&dir.join("datasheet.json"), self)?;
        glassbox_core::fsio::atomic_write(&dir.join("datasheet.md"), self.markdown().as_bytes())?;
        Ok(())
    }

    /// The human-readable datasheet.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let t = |k: &str| self.totals.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "# Datasheet\n\nWritten by glassbox {} from the curation run itself; every number below is counted, not estimated.\n",
            self.glassbox_version
        );
        let _ = writeln!(
            o,
            "## Composition\n\n- Documents: {} kept of {} read ({} removed)\n- Characters kept: {}\n- Words kept: {}\n",
            t("documents_kept"),
            t("documents_read"),
            t("documents_removed"),
            t("characters_kept"),
            t("words_kept")
        );
        let _ = writeln!(
            o,
            "| language | documents | characters | words | tokens |\n|---|---|---|---|---|"
        );
        for (l, s) in &self.languages {
            let _ = writeln!(
                o,
                "| {l} | {} | {} | {} | {} |",
                s.documents,
                s.characters,
                s.words,
                s.tokens.map_or("–".into(), |t| t.to_string())
            );
        }
        let _ = writeln!(
            o,
            "\n## Collection: sources and licences\n\n| source | licence | origin | documents read | kept | files (SHA-256) |\n|---|---|---|---|---|---|"
        );
        for s in &self.sources {
            let files: Vec<String> = s
                .files
                .iter()
                .map(|f| format!("`{}` {} B `{}`", f.path, f.bytes, f.sha256))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                s.name,
                s.license,
                s.url.clone().unwrap_or_default(),
                s.documents_read,
                s.documents_kept,
                files.join("<br>")
            );
        }
        let replaced: u64 = self.sources.iter().map(|s| s.utf8_replaced).sum();
        let masked: u64 = self.sources.iter().map(|s| s.pii_masked).sum();
        if replaced > 0 || masked > 0 {
            let _ = writeln!(
                o,
                "\nKept documents with invalid UTF-8 replaced: {replaced}. E-mail/IP addresses masked: {masked}."
            );
        }
        if !self.read_problems.is_empty() {
            let _ = writeln!(o, "\n### Read problems\n");
            for p in &self.read_problems {
                let _ = writeln!(o, "- `{}` / `{}`: {}", p.source, p.path, p.message);
            }
        }
        let _ = writeln!(
            o,
            "\n## Preprocessing: what each step removed\n\n| step | documents | characters | by source |\n|---|---|---|---|"
        );
        for (name, f) in &self.filters {
            let by: Vec<String> = f
                .by_source
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} |",
                f.removed,
                f.characters,
                by.join(", ")
            );
        }
        let _ = writeln!(o, "\n### Examples of removed text\n");
        for (name, f) in &self.filters {
            for e in &f.examples {
                let text = e
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .replace('\n', " ⏎ ");
                let _ = writeln!(
                    o,
                    "- **{name}** `{}` ({}): {}",
                    e.get("id").and_then(Value::as_str).unwrap_or(""),
                    e.get("reason").and_then(Value::as_str).unwrap_or(""),
                    text
                );
            }
        }
        if let Some(tk) = &self.tokenization {
            let _ = writeln!(
                o,
                "\n## Tokenisation\n\n```json\n{}\n```",
                serde_json::to_string_pretty(tk).unwrap_or_default()
            );
        }
        let _ = writeln!(
            o,
            "\n## Uses and distribution\n\nThe curated corpus inherits each source's licence (table above). Removed documents are listed in `removed.jsonl` (SHA-256 `{}`); the curated corpus's identity is `{}`.",
            self.removed_sha256, self.curated_sha256
        );
        let _ = writeln!(
            o,
            "\n## Configuration (resolved)\n\n```json\n{}\n```",
            serde_json::to_string_pretty(&self.config).unwrap_or_default()
        );
        o
    }
}
