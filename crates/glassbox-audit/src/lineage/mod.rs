//! Lineage: the models a release is derived from, and how their terms bind it.
//!
//! An adapted model is bound by its base's licence whatever its own card says: a PEFT LoRA
//! adapter (`adapter_config.json` `base_model_name_or_path`), a fine-tune whose card names
//! `base_model:` (a string or a list, the Hugging Face convention), a glassbox bundle whose
//! `release.json` has a `base` object. Detection ([`crate::detect`]) collects these references as
//! [`BaseRef`]s; `resolve` looks for each base on this machine (an absolute path, or a path
//! relative to the audited directory), audits a base it finds exactly as it audits any directory
//! — a base of a base too, at most [`MAX_DEPTH`] levels deep and never around a loop — and
//! records what it found in the report's [`Lineage`]. [`inherit`] then binds the verdict: each
//! freedom of the adapted model is at most its base's, and its level at most the base's level.
//!
//! Nothing is ever fetched. A base that is named but not on disk (a Hub name such as
//! `meta-llama/Llama-3.2-1B`) leaves unknown every freedom its terms decide, as an unidentified
//! licence does; when `release.json` records the base's licence, that licence expression is used
//! as the base's terms, and what only the base's files could show (its architecture, training code
//! and data, and for an adapter its weights) stays unknown.

pub mod inherit;
pub(crate) mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::component::ComponentId;
use crate::detect::Detection;
use crate::evidence::Evidence;
use crate::finding::{Finding, FindingKind, Severity};
use crate::license::{self, License};
use crate::report::Report;
use crate::verdict::{FreedomVerdict, Level, Status};

/// Deepest chain of bases followed: a release's base, the base's base, … at most this many.
pub const MAX_DEPTH: usize = 4;
/// Most bases audited for one target, over the whole chain (a diamond audits a shared base twice).
pub const MAX_BASES: usize = 16;
/// Most base references read from one release (a card may list many `base_model`s).
pub const MAX_REFS: usize = 16;
/// Largest base file hashed to compare with `release.json` `base.sha256` (weights never are).
const MAX_HASHED: u64 = 8 << 20;

/// Where a release names its base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundIn {
    /// The file, relative to the release root (`adapter_config.json`, `README.md`,
    /// `release.json`).
    pub file: String,
    /// The field (`base_model_name_or_path`, `base_model`, `base.path`).
    pub field: String,
    /// 1-based line of the field, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl FoundIn {
    /// The place as evidence (the file and line).
    pub fn evidence(&self) -> Evidence {
        Evidence::File {
            path: self.file.clone(),
            line: self.line,
        }
    }

    /// `adapter_config.json:6 `base_model_name_or_path``.
    pub fn describe(&self) -> String {
        format!("{} `{}`", self.evidence(), self.field)
    }
}

/// A base model as a release names it (what detection found; nothing resolved yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseRef {
    /// The name or path as written; empty when the release is an adapter that names no base, or
    /// its `release.json` `base` has no `path`.
    pub name: String,
    /// Every place that names it.
    pub found_in: Vec<FoundIn>,
    /// `release.json` `base.license`: the licence the publisher recorded for the base.
    pub recorded_license: Option<String>,
    /// `release.json` `base.license_files`: the names of the base's licence files.
    pub license_files: Vec<String>,
    /// `release.json` `base.sha256`: file name → SHA-256 of the base's files when training began.
    pub sha256: BTreeMap<String, String>,
}

/// The key two references are the same base by: trimmed, without `./` and trailing `/`.
pub fn normalize_name(name: &str) -> String {
    let t = name.trim();
    let t = t.strip_prefix("./").unwrap_or(t);
    let t = t.trim_end_matches('/');
    if t.is_empty() && name.trim().starts_with('/') {
        return "/".into();
    }
    t.to_string()
}

/// How far the audit got with a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseStatus {
    /// Found on this machine and audited; its verdict binds the release.
    Audited,
    /// Not a directory on this machine (a Hub name, or a path that does not exist here). Nothing
    /// is fetched: its terms could not be checked.
    NotLocal,
    /// A directory on this machine without any model file (no config, card, weights, adapter,
    /// manifest or licence): not audited.
    NotAModel,
    /// The directory is already being audited further up the chain: the chain of bases loops.
    Loop,
    /// Past [`MAX_DEPTH`] levels of bases, or past [`MAX_BASES`] bases audited: not audited.
    TooDeep,
    /// The release is an adapter, or has a `release.json` `base`, that names no base at all.
    Unnamed,
}

impl BaseStatus {
    /// Why the base's terms could not be checked (for every status but `Audited`).
    pub fn why_unchecked(self) -> &'static str {
        match self {
            Self::Audited => "it was audited",
            Self::NotLocal => "it is not available locally, and the audit fetches nothing",
            Self::NotAModel => "the directory holds no model files",
            Self::Loop => "the chain of base models loops back to it",
            Self::TooDeep => "it lies beyond the bases the audit follows",
            Self::Unnamed => "the release does not say which model it is",
        }
    }
}

/// Where a base's terms come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TermsSource {
    /// The audit of the base's own files (the licence of its weights).
    Audit,
    /// `release.json` `base.license`, as the publisher recorded it.
    ReleaseJson,
}

/// The parts of a base's verdict the release inherits (not serialised: the release's own
/// freedoms carry the inherited reasons).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Judged {
    /// The base's four freedoms, with their reasons and evidence (relative to the base).
    pub(crate) freedoms: BTreeMap<&'static str, FreedomVerdict>,
    /// The level above the base's, and what the base lacks for it.
    pub(crate) next: Option<Level>,
    /// What the base lacks for the next level.
    pub(crate) missing: Vec<String>,
    /// Whether the base conforms to OSAID 1.0.
    pub(crate) osaid: bool,
}

/// One base model of a release and what the audit learned about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Base {
    /// The name or path as the release writes it (`(not named)` when it names none).
    pub name: String,
    /// Every place that names it.
    pub found_in: Vec<FoundIn>,
    /// Whether the base is a directory on this machine.
    pub available: bool,
    /// The directory audited: the name when it is absolute, else the audited directory joined
    /// with it.
    pub path: Option<String>,
    /// How far the audit got.
    pub status: BaseStatus,
    /// The base's terms: the licence of its weights as its audit found it, else the licence
    /// `release.json` records; `null` when neither is known.
    pub license: Option<License>,
    /// Where `license` comes from.
    pub license_source: Option<TermsSource>,
    /// `release.json` `base.license`, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_license: Option<String>,
    /// The base's level, when it was audited.
    pub level: Option<Level>,
    /// The base's four freedoms, when it was audited.
    pub freedoms: BTreeMap<&'static str, Status>,
    /// What was done with the base, in one sentence.
    pub note: String,
    /// The base's own lineage (its bases), when it was audited and has one.
    pub lineage: Option<Box<Lineage>>,
    #[serde(skip)]
    pub(crate) judged: Option<Judged>,
}

impl Base {
    fn new(r: &BaseRef) -> Self {
        let recorded = r.recorded_license.as_deref().map(license::from_name);
        Self {
            name: if r.name.trim().is_empty() {
                "(not named)".into()
            } else {
                r.name.trim().to_string()
            },
            found_in: r.found_in.clone(),
            available: false,
            path: None,
            status: BaseStatus::NotLocal,
            license_source: recorded.as_ref().map(|_| TermsSource::ReleaseJson),
            license: recorded,
            recorded_license: r.recorded_license.clone(),
            level: None,
            freedoms: BTreeMap::new(),
            note: String::new(),
            lineage: None,
            judged: None,
        }
    }

    /// The base's terms in a few words: `` `llama-3.2-community` `` or `no licence found`.
    pub fn terms(&self) -> String {
        match &self.license {
            Some(l) if l.kind == license::LicenseKind::Unknown => {
                format!("an unidentified licence (`{}`)", l.name)
            }
            Some(l) => format!("`{}`", l.id),
            None => "no licence found".into(),
        }
    }

    /// Evidence for where the release names the base.
    pub fn evidence(&self) -> Vec<Evidence> {
        self.found_in.iter().map(FoundIn::evidence).collect()
    }

    /// `adapter_config.json:6 `base_model_name_or_path`, README.md:3 `base_model``.
    pub fn where_named(&self) -> String {
        let w: Vec<String> = self.found_in.iter().map(FoundIn::describe).collect();
        if w.is_empty() {
            "nowhere".into()
        } else {
            w.join(", ")
        }
    }
}

/// The lineage of a release: its bases and how their terms bind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lineage {
    /// Whether the release is a PEFT adapter (`adapter_config.json` at its root): its weights
    /// are an update of the base's, and running it needs the base's weights.
    pub adapter: bool,
    /// Every base named, each once.
    pub bases: Vec<Base>,
    /// How the bases bind the release, one sentence per base.
    pub inherited: Vec<String>,
    /// Loops, limits, and differences between the base found and the one recorded.
    pub notes: Vec<String>,
}

/// The chain of directories being audited, root first, for loops and depth.
#[derive(Debug)]
pub(crate) struct Chain {
    /// Canonical directory and the name it was reached by.
    stack: Vec<(PathBuf, String)>,
    /// Bases audited so far under this root.
    audited: usize,
}

impl Chain {
    /// A chain whose root is the audited directory `root`.
    pub(crate) fn new(root: &Path) -> Self {
        let canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        Self {
            stack: vec![(canon, root.display().to_string())],
            audited: 0,
        }
    }

    /// `` `a` → `../b` → `../a` ``, from `from` to `last`.
    fn path_text(&self, from: usize, last: &str) -> String {
        let mut names: Vec<String> = self
            .stack
            .iter()
            .skip(from)
            .map(|(_, n)| format!("`{n}`"))
            .collect();
        names.push(format!("`{last}`"));
        names.join(" → ")
    }
}

/// Resolves the bases `d` names (`root`: the audited directory; `None` for a Hub target, whose
/// bases are never looked for on this machine), auditing the local ones. Notes and findings go
/// to `d.findings`. `None` when the release names no base and is not an adapter.
pub(crate) fn resolve(
    root: Option<&Path>,
    d: &mut Detection,
    chain: &mut Chain,
) -> Option<Lineage> {
    if d.bases.is_empty() && !d.adapter {
        return None;
    }
    let mut refs = same_directory_once(root, &d.bases);
    if refs.is_empty() {
        // An adapter that names no base still needs one to run.
        refs.push(BaseRef::default());
    }
    let mut lineage = Lineage {
        adapter: d.adapter,
        bases: Vec::new(),
        inherited: Vec::new(),
        notes: Vec::new(),
    };
    for r in &refs {
        let base = resolve_one(root, r, chain, &mut lineage.notes, &mut d.findings);
        lineage.bases.push(base);
    }
    for b in &lineage.bases {
        let said = inherit::summary(b, lineage.adapter);
        d.findings.push(Finding::new(
            Severity::Info,
            FindingKind::Note,
            format!("derived from {} ({}): {said}", b.name, b.where_named()),
            b.evidence(),
        ));
        lineage.inherited.push(said);
    }
    Some(lineage)
}

/// The references with those naming one directory under two names (`../base` and
/// `/abs/base`) merged into the first, so each base is audited once.
fn same_directory_once(root: Option<&Path>, refs: &[BaseRef]) -> Vec<BaseRef> {
    let mut out: Vec<BaseRef> = Vec::new();
    let mut dirs: Vec<Option<PathBuf>> = Vec::new();
    for r in refs {
        let dir = root
            .and_then(|root| local_candidate(root, &r.name))
            .and_then(|p| p.canonicalize().ok())
            .filter(|p| p.is_dir());
        let same = dir
            .as_ref()
            .and_then(|d| dirs.iter().position(|x| x.as_ref() == Some(d)));
        match same.and_then(|i| out.get_mut(i)) {
            Some(first) => {
                first.found_in.extend(r.found_in.iter().cloned());
                if first.recorded_license.is_none() {
                    first.recorded_license.clone_from(&r.recorded_license);
                }
                first.license_files.extend(r.license_files.iter().cloned());
                for (k, v) in &r.sha256 {
                    first.sha256.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            None => {
                out.push(r.clone());
                dirs.push(dir);
            }
        }
    }
    out
}

/// The directory a base name points to, if it can be a local path: absolute, or relative to
/// `root`. URLs are not paths.
fn local_candidate(root: &Path, name: &str) -> Option<PathBuf> {
    let name = name.trim();
    if name.is_empty() || name.contains("://") || name.contains('\0') {
        return None;
    }
    let p = Path::new(name);
    Some(if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    })
}

/// Whether a directory holds anything a model release holds at its top level.
fn looks_like_model(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().take(10_000).any(|e| {
        let n = e.file_name().to_string_lossy().to_lowercase();
        matches!(
            n.as_str(),
            "config.json"
                | "adapter_config.json"
                | "readme.md"
                | "manifest.json"
                | "release.json"
                | "model_index.json"
                | "license"
                | "license.md"
                | "license.txt"
        ) || crate::detect::weight_format(&n).is_some()
    })
}

/// Resolves one base: finds its directory and audits it, or says why not.
fn resolve_one(
    root: Option<&Path>,
    r: &BaseRef,
    chain: &mut Chain,
    notes: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) -> Base {
    let mut base = Base::new(r);
    if r.name.trim().is_empty() {
        base.status = BaseStatus::Unnamed;
        base.note =
            "the release names no base model, so the terms it inherits could not be checked".into();
        return base;
    }
    let Some(root) = root else {
        base.note = "named by a Hub release; bases are looked for only beside local releases, and nothing is fetched".into();
        return base;
    };
    let Some(dir) = local_candidate(root, &r.name).filter(|p| p.is_dir()) else {
        base.note = "not a directory on this machine (absolute, or relative to the audited directory); nothing was fetched".into();
        return base;
    };
    base.available = true;
    base.path = Some(dir.display().to_string());
    let canon = match dir.canonicalize() {
        Ok(c) => c,
        Err(e) => {
            base.status = BaseStatus::NotLocal;
            base.note = format!("the directory could not be resolved ({e})");
            return base;
        }
    };
    if let Some(pos) = chain.stack.iter().position(|(p, _)| *p == canon) {
        base.status = BaseStatus::Loop;
        let text = format!(
            "the chain of base models loops: {} (the same directory as `{}`); the audit stopped there and treats that base's terms as unknown",
            chain.path_text(pos, &r.name),
            chain.stack[pos].1
        );
        base.note = "already audited further up the chain: the chain of bases loops".into();
        note(notes, findings, text, &base);
        return base;
    }
    if chain.stack.len() > MAX_DEPTH || chain.audited >= MAX_BASES {
        base.status = BaseStatus::TooDeep;
        let text = format!(
            "the base `{}` was not audited: the audit follows at most {MAX_DEPTH} levels of bases and {MAX_BASES} bases in all ({}); its terms are treated as unknown",
            r.name,
            chain.path_text(0, &r.name)
        );
        base.note = format!("not audited: past {MAX_DEPTH} levels of bases or {MAX_BASES} bases");
        note(notes, findings, text, &base);
        return base;
    }
    if !looks_like_model(&dir) {
        base.status = BaseStatus::NotAModel;
        base.note = "the directory holds no model files (config, card, weights, adapter, manifest or licence); not audited".into();
        return base;
    }
    chain.stack.push((canon, r.name.trim().to_string()));
    chain.audited += 1;
    let report = crate::audit_base(&dir, chain);
    chain.stack.pop();
    take_report(&mut base, report, notes, findings);
    check_recorded(&mut base, r, &dir, notes, findings);
    base
}

/// Records a note on the lineage and a warning finding pointing at where the base is named.
fn note(notes: &mut Vec<String>, findings: &mut Vec<Finding>, text: String, base: &Base) {
    findings.push(Finding::new(
        Severity::Warning,
        FindingKind::Note,
        text.clone(),
        base.evidence(),
    ));
    notes.push(text);
}

/// Fills `base` from the audit of its directory; the base's own notes (a loop further down)
/// become notes of this release too.
fn take_report(
    base: &mut Base,
    report: Report,
    notes: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) {
    base.status = BaseStatus::Audited;
    base.level = Some(report.level);
    base.freedoms = report
        .freedoms
        .iter()
        .map(|(k, v)| (*k, v.status))
        .collect();
    let weights_license = report
        .components
        .iter()
        .find(|c| c.id == ComponentId::ModelParametersFinal)
        .and_then(|c| c.license.clone());
    if let Some(l) = weights_license {
        base.license = Some(l);
        base.license_source = Some(TermsSource::Audit);
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    base.note = format!(
        "audited: {}; licence of its weights {}{}",
        report.level.label(),
        base.terms(),
        if errors > 0 {
            format!("; its audit has {errors} error finding(s)")
        } else {
            String::new()
        }
    );
    base.judged = Some(Judged {
        freedoms: report.freedoms.clone(),
        next: report.next_level.level,
        missing: report.next_level.missing.clone(),
        osaid: report.osaid.conformant,
    });
    if let Some(l) = report.lineage {
        for n in &l.notes {
            note(
                notes,
                findings,
                format!("via base `{}`: {n}", base.name),
                base,
            );
        }
        base.lineage = Some(Box::new(l));
    }
}

/// Compares an audited base with what `release.json` recorded for it: its licence, and the
/// SHA-256 of its small files (licences, card, config; weights are not hashed by the audit).
fn check_recorded(
    base: &mut Base,
    r: &BaseRef,
    dir: &Path,
    notes: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) {
    if let Some(rec) = &r.recorded_license {
        let recorded = license::from_name(rec);
        let found = base.license.clone();
        let differs = found.as_ref().is_none_or(|f| f.id != recorded.id);
        if differs {
            let text = format!(
                "release.json records the base's licence as `{}` but the base at `{}` is under {}; both bind this release",
                recorded.id,
                base.name,
                base.terms()
            );
            findings.push(Finding::new(
                Severity::Warning,
                FindingKind::LicenseConflict,
                text.clone(),
                base.evidence(),
            ));
            notes.push(text);
        }
    }
    let mut checked = 0usize;
    let mut differ: Vec<String> = Vec::new();
    for (name, want) in r.sha256.iter().take(256) {
        // Plain file names of the base's own directory only; weights are never hashed.
        if !crate::snapshot::safe_relative_path(name)
            || name.contains('/')
            || crate::detect::weight_format(name).is_some()
        {
            continue;
        }
        let p = dir.join(name);
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.len() <= MAX_HASHED => {
                match glassbox_core::hash::sha256_file(&p) {
                    Ok(got) if got.eq_ignore_ascii_case(want.trim()) => checked += 1,
                    Ok(got) => differ.push(format!(
                        "{name} (SHA-256 {}…, release.json lists {}…)",
                        got.get(..12).unwrap_or(&got),
                        want.trim().get(..12).unwrap_or(want.trim())
                    )),
                    Err(e) => differ.push(format!("{name} (unreadable: {e})")),
                }
            }
            Ok(_) => {}
            Err(_) => differ.push(format!("{name} (missing)")),
        }
    }
    if !differ.is_empty() {
        let text = format!(
            "the base at `{}` is not the one release.json records: {}; its audit may not describe the model training started from",
            base.name,
            differ.join(", ")
        );
        note(notes, findings, text, base);
    } else if checked > 0 {
        base.note.push_str(&format!(
            "; {checked} file(s) match the SHA-256 release.json records"
        ));
    }
}
