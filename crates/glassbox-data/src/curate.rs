//! `glassbox data curate`: sources → normalised, filtered, deduplicated documents in curated
//! shards, with `removed.jsonl` and a datasheet.
//!
//! Documents are read as a stream and processed in batches of `limits.batch_docs`: the
//! per-document steps (UTF-8 check, NFC, whitespace, language id, quality filters, masking,
//! MinHash signature) run in parallel with rayon; deduplication and writing then run in input
//! order. Output is therefore identical whatever the number of threads, and memory holds one
//! batch plus the deduplication state (a few dozen bytes per kept document).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::{CurateConfig, InvalidUtf8};
use crate::datasheet::{Datasheet, FilterStats, LanguageStats, SourceStats};
use crate::dedup::{Exact, MinhashLsh, Signature};
use crate::filters;
use crate::source::{RawDoc, read_all};
use crate::text;
use crate::{DataError, Result};

/// Version of `curate.json` and the curated shard layout.
pub const CURATE_SCHEMA: u32 = 1;

/// A curated document as stored in a shard (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CuratedDoc {
    /// Stable id: `source:position:first 8 hex of SHA-256 of the raw bytes`.
    pub id: String,
    /// Source name.
    pub source: String,
    /// Language (ISO 639-3, whatlang) or `und`.
    pub lang: String,
    /// Language confidence, 0–1.
    pub lang_score: f64,
    /// The text.
    pub text: String,
    /// JSONL metadata carried over.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Value>,
}

/// A curated shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name inside `curated/`.
    pub file: String,
    /// SHA-256.
    pub sha256: String,
    /// Documents.
    pub documents: u64,
}

/// `curate.json`: what was curated, from what, into what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurateManifest {
    /// [`CURATE_SCHEMA`].
    pub schema_version: u32,
    /// Curated shards in order.
    pub shards: Vec<ShardInfo>,
    /// SHA-256 over the shard hashes in order: the identity of the curated corpus.
    pub sha256: String,
    /// Documents kept.
    pub documents: u64,
}

/// One document after the parallel steps.
struct Processed {
    id: String,
    source: usize,
    outcome: std::result::Result<Kept, (&'static str, String, String)>,
}

struct Kept {
    text: String,
    lang: String,
    lang_score: f64,
    meta: Map<String, Value>,
    signature: Option<Signature>,
    masked: usize,
    replaced_utf8: bool,
    raw_chars: usize,
}

fn doc_id(source: &str, position: u64, bytes: &[u8]) -> String {
    let h = glassbox_core::hash::sha256_hex(bytes);
    format!("{source}:{position:08}:{}", &h[..8])
}

fn preview(s: &str) -> String {
    let t: String = s.chars().take(300).collect();
    if s.chars().count() > 300 {
        format!("{t}…")
    } else {
        t
    }
}

fn process(cfg: &CurateConfig, raw: RawDoc, lsh: Option<&MinhashLsh>) -> Processed {
    let s = &cfg.sources[raw.source];
    let id = doc_id(&s.name, raw.position, &raw.bytes);
    let reject = |f: &'static str, why: String, text: &str| Processed {
        id: id.clone(),
        source: raw.source,
        outcome: Err((f, why, preview(text))),
    };
    if let Some((f, why)) = raw.problem {
        return reject(f, why, "");
    }
    let raw_chars;
    let mut replaced_utf8 = false;
    let mut text = match std::str::from_utf8(&raw.bytes) {
        Ok(t) => {
            raw_chars = t.chars().count();
            t.to_string()
        }
        Err(e) => {
            let bad = String::from_utf8_lossy(&raw.bytes)
                .matches('\u{FFFD}')
                .count();
            match cfg.invalid_utf8 {
                InvalidUtf8::Remove => {
                    return reject(
                        "invalid_utf8",
                        format!(
                            "{bad} invalid UTF-8 sequence(s), the first at byte {}",
                            e.valid_up_to()
                        ),
                        &String::from_utf8_lossy(&raw.bytes),
                    );
                }
                InvalidUtf8::Replace => {
                    replaced_utf8 = true;
                    let t = String::from_utf8_lossy(&raw.bytes).into_owned();
                    raw_chars = t.chars().count();
                    t
                }
            }
        }
    };
    let steps = &cfg.steps;
    if steps.nfc {
        text = text::nfc(&text);
    }
    if steps.whitespace {
        text = text::clean_whitespace(&text);
    }
    if text.trim().is_empty() {
        return reject("empty", "no text after normalisation".into(), "");
    }
    if text.len() > cfg.limits.max_doc_bytes {
        return reject(
            "too_long",
            format!(
                "{} bytes > limits.max_doc_bytes ({})",
                text.len(),
                cfg.limits.max_doc_bytes
            ),
            &text,
        );
    }
    let (lang, lang_score) = if steps.language_id {
        // The first 20,000 characters decide the language: enough for a stable answer, bounded cost.
        let sample: String = text.chars().take(20_000).collect();
        match whatlang::detect(&sample) {
            Some(info) => (
                info.lang().code().to_string(),
                (info.confidence() * 1e4).round() / 1e4,
            ),
            None => ("und".to_string(), 0.0),
        }
    } else {
        ("und".to_string(), 0.0)
    };
    if !steps.languages.is_empty()
        && (!steps.languages.contains(&lang) || lang_score < steps.min_language_score)
    {
        return reject(
            "language",
            format!(
                "language {lang} (score {lang_score:.2}) not in {:?} or below {}",
                steps.languages, steps.min_language_score
            ),
            &text,
        );
    }
    if steps.gopher_quality
        && let Err((f, why)) = filters::gopher::quality(&text, &lang)
    {
        return reject(f, why, &text);
    }
    if steps.gopher_repetition
        && let Err((f, why)) = filters::gopher::repetition(&text)
    {
        return reject(f, why, &text);
    }
    if steps.c4 {
        match filters::c4::apply(&text) {
            Ok(t) => text = t,
            Err((f, why)) => return reject(f, why, &text),
        }
    }
    if steps.fineweb
        && let Err((f, why)) = filters::fineweb::check(&text)
    {
        return reject(f, why, &text);
    }
    let mut masked = 0;
    if steps.mask_pii {
        let (t, n) = text::mask_pii(&text);
        text = t;
        masked = n;
    }
    let signature = lsh.and_then(|l| l.signature(&text));
    Processed {
        id,
        source: raw.source,
        outcome: Ok(Kept {
            text,
            lang,
            lang_score,
            meta: raw.metadata.unwrap_or_default(),
            signature,
            masked,
            replaced_utf8,
            raw_chars,
        }),
    }
}

/// Progress of a curation, for progress bars.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Documents read so far.
    pub read: u64,
    /// Documents kept so far.
    pub kept: u64,
}

/// The result of a curation.
#[derive(Debug, Clone)]
pub struct CurateOutput {
    /// The output directory.
    pub dir: PathBuf,
    /// The manifest written to `curate.json`.
    pub manifest: CurateManifest,
    /// The datasheet written to `datasheet.json` / `datasheet.md`.
    pub datasheet: Datasheet,
}

struct ShardWriter {
    dir: PathBuf,
    per_shard: usize,
    current: Option<(std::io::BufWriter<std::fs::File>, PathBuf, u64)>,
    shards: Vec<ShardInfo>,
}

impl ShardWriter {
    fn write(&mut self, doc: &CuratedDoc) -> Result<()> {
        if self
            .current
            .as_ref()
            .is_some_and(|(_, _, n)| *n as usize >= self.per_shard)
        {
            self.finish_shard()?;
        }
        if self.current.is_none() {
            let name = format!("shard-{:05}.jsonl", self.shards.len());
            let path = self.dir.join(&name);
            let f =
                std::fs::File::create(&path).map_err(|e| DataError::io("creating", &path, e))?;
            self.current = Some((std::io::BufWriter::new(f), path, 0));
        }
        if let Some((w, path, n)) = self.current.as_mut() {
            let mut line =
                serde_json::to_vec(doc).map_err(|e| DataError::Request(e.to_string()))?;
            line.push(b'\n');
            w.write_all(&line)
                .map_err(|e| DataError::io("writing", path.as_path(), e))?;
            *n += 1;
        }
        Ok(())
    }

    fn finish_shard(&mut self) -> Result<()> {
        if let Some((mut w, path, n)) = self.current.take() {
            w.flush().map_err(|e| DataError::io("writing", &path, e))?;
            let f = w
                .into_inner()
                .map_err(|e| DataError::io("writing", &path, e.into_error()))?;
            f.sync_all()
                .map_err(|e| DataError::io("syncing", &path, e))?;
            let sha256 = glassbox_core::hash::sha256_file(&path)?;
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            self.shards.push(ShardInfo {
                file,
                sha256,
                documents: n,
            });
        }
        Ok(())
    }
}

/// Runs the curation into `out` (created; `out/curated/`, `removed.jsonl`, `curate.json`,
/// `datasheet.json`, `datasheet.md`).
pub fn curate(
    cfg: &CurateConfig,
    out: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<CurateOutput> {
    let shard_dir = out.join("curated");
    std::fs::create_dir_all(&shard_dir).map_err(|e| DataError::io("creating", &shard_dir, e))?;
    let removed_path = out.join("removed.jsonl");
    let removed_file = std::fs::File::create(&removed_path)
        .map_err(|e| DataError::io("creating", &removed_path, e))?;
    let mut removed = std::io::BufWriter::new(removed_file);
    let mut writer = ShardWriter {
        dir: shard_dir,
        per_shard: cfg.limits.shard_docs,
        current: None,
        shards: Vec::new(),
    };
    let mut lsh = cfg
        .steps
        .minhash_dedup
        .then(|| MinhashLsh::new(&cfg.minhash));
    let mut sigs: HashMap<u64, Signature> = HashMap::new();
    let mut exact = Exact::default();
    let mut sheet = Datasheet::new(cfg);
    let mut src_stats: Vec<SourceStats> = cfg.sources.iter().map(SourceStats::new).collect();
    let mut filter_stats: BTreeMap<String, FilterStats> = BTreeMap::new();
    let mut langs: BTreeMap<String, LanguageStats> = BTreeMap::new();
    let mut batch: Vec<RawDoc> = Vec::with_capacity(cfg.limits.batch_docs);
    let mut counter = Progress::default();
    let mut kept_index = 0u64;
    let examples = cfg.examples_per_filter;

    let mut flush = |batch: &mut Vec<RawDoc>,
                     lsh: &mut Option<MinhashLsh>,
                     counter: &mut Progress|
     -> Result<()> {
        let docs = std::mem::take(batch);
        let lsh_ref = lsh.as_ref();
        let processed: Vec<Processed> = docs
            .into_par_iter()
            .map(|d| process(cfg, d, lsh_ref))
            .collect();
        for p in processed {
            counter.read += 1;
            let st = &mut src_stats[p.source];
            st.documents_read += 1;
            let outcome = match p.outcome {
                Ok(k) => {
                    // Deduplication in input order: the first copy stays.
                    let dup = if cfg.steps.exact_dedup {
                        exact.check(&k.text, kept_index).map(|first| {
                            (
                                "exact_dedup",
                                format!("same text as kept document #{first}"),
                            )
                        })
                    } else {
                        None
                    };
                    let dup = dup.or_else(|| {
                        let (l, sig) = (lsh.as_mut()?, k.signature.as_ref()?);
                        l.check(sig, kept_index, &mut sigs).map(|(first, j)| ("minhash_dedup", format!("near-duplicate of kept document #{first} (estimated Jaccard {j:.2})")))
                    });
                    match dup {
                        Some((f, why)) => Err((f, why, preview(&k.text))),
                        None => Ok(k),
                    }
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(k) => {
                    let chars = k.text.chars().count() as u64;
                    st.documents_kept += 1;
                    st.characters_kept += chars;
                    st.utf8_replaced += u64::from(k.replaced_utf8);
                    st.pii_masked += k.masked as u64;
                    st.characters_read += k.raw_chars as u64;
                    let l = langs.entry(k.lang.clone()).or_default();
                    l.documents += 1;
                    l.characters += chars;
                    l.words += text::words(&k.text).len() as u64;
                    let doc = CuratedDoc {
                        id: p.id,
                        source: cfg.sources[p.source].name.clone(),
                        lang: k.lang,
                        lang_score: k.lang_score,
                        text: k.text,
                        meta: k.meta,
                    };
                    writer.write(&doc)?;
                    kept_index += 1;
                    counter.kept += 1;
                }
                Err((f, why, text)) => {
                    st.characters_read += text.chars().count() as u64;
                    let fs = filter_stats.entry(f.to_string()).or_default();
                    fs.removed += 1;
                    fs.characters += text.chars().count() as u64;
                    if fs.examples.len() < examples && !text.is_empty() {
                        fs.examples
                            .push(json!({"id": p.id, "reason": why, "text": text}));
                    }
                    *fs.by_source
                        .entry(cfg.sources[p.source].name.clone())
                        .or_default() += 1;
                    let line = json!({"id": p.id, "filter": f, "reason": why});
                    writeln!(removed, "{line}")
                        .map_err(|e| DataError::io("writing", &removed_path, e))?;
                }
            }
        }
        progress(*counter);
        Ok(())
    };

    let (inputs, problems) = read_all(cfg, &mut |doc| {
        batch.push(doc);
        if batch.len() >= cfg.limits.batch_docs {
            flush(&mut batch, &mut lsh, &mut counter)?;
        }
        Ok(())
    })?;
    flush(&mut batch, &mut lsh, &mut counter)?;

    writer.finish_shard()?;
    removed
        .flush()
        .map_err(|e| DataError::io("writing", &removed_path, e))?;
    let shards = writer.shards;
    let joined: String = shards
        .iter()
        .map(|s| s.sha256.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let manifest = CurateManifest {
        schema_version: CURATE_SCHEMA,
        sha256: glassbox_core::hash::sha256_hex(joined.as_bytes()),
        documents: shards.iter().map(|s| s.documents).sum(),
        shards,
    };
    for (st, f) in src_stats.iter_mut().zip(&cfg.sources) {
        st.files = inputs
            .iter()
            .filter(|i| i.source == f.name)
            .cloned()
            .collect();
    }
    sheet.sources = src_stats;
    sheet.filters = filter_stats;
    sheet.languages = langs;
    sheet.read_problems = problems;
    sheet.removed_sha256 = glassbox_core::hash::sha256_file(&removed_path)?;
    sheet.curated_sha256 = manifest.sha256.clone();
    sheet.totals();
    glassbox_core::fsio::write_json_atomic(&out.join("curate.json"), &manifest)?;
    sheet.write(out)?;
    Ok(CurateOutput {
        dir: out.to_path_buf(),
        manifest,
        datasheet: sheet,
    })
}

/// Reads `curate.json` of a curated directory and checks every shard's hash.
pub fn read_manifest(dir: &Path) -> Result<CurateManifest> {
    let path = dir.join("curate.json");
    if !path.exists() {
        return Err(DataError::Format {
            path,
            message: "missing: run `glassbox data curate` first".into(),
        });
    }
    let m: CurateManifest = glassbox_core::fsio::read_json(&path)?;
    glassbox_core::schema::check_version(&path, m.schema_version, &[CURATE_SCHEMA])?;
    for s in &m.shards {
        let p = dir.join("curated").join(&s.file);
        let h = glassbox_core::hash::sha256_file(&p)?;
        if h != s.sha256 {
            return Err(DataError::Format {
                path: p,
                message: format!("SHA-256 {h} does not match curate.json ({})", s.sha256),
            });
        }
    }
    Ok(m)
}

/// Streams the curated documents of `dir` in order.
pub fn for_each_doc(
    dir: &Path,
    m: &CurateManifest,
    f: &mut dyn FnMut(CuratedDoc) -> Result<()>,
) -> Result<()> {
    use std::io::BufRead;
    for s in &m.shards {
        let p = dir.join("curated").join(&s.file);
        let file = std::fs::File::open(&p).map_err(|e| DataError::io("opening", &p, e))?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| DataError::io("reading", &p, e))?;
            let doc: CuratedDoc = serde_json::from_str(&line).map_err(|e| DataError::Format {
                path: p.clone(),
                message: format!("line {}: {e}", i + 1),
            })?;
            f(doc)?;
        }
    }
    Ok(())
}
