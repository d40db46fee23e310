//! Openness audit of AI model releases: which components a release really contains, under which
//! licences and clauses, whether the four freedoms (run, study, redistribute, modify) hold, and
//! where it stands: Closed → Open-Weight → Open-Source AI → Radical Openness, with its MOF class
//! and OSAID conformance. Every verdict names its evidence.
//!
//! Pipeline: a target ([`audit`]: a directory, a glassbox bundle, a MOT file or `hf:org/name`)
//! becomes a [`snapshot::Snapshot`] (file list plus bounded, path-safe reads); [`detect`] finds the
//! components, weight formats, licences (identified by text, not file name) and security problems
//! (pickle imports, escaping links); [`verdict::judge`] decides the freedoms, level, MOF class
//! ([`mof`], MOT's published rules) and what the next level needs; [`report`] renders it ([`html`]:
//! the page `audit --format html` writes and the server shows).
//! An adapted model (a PEFT adapter, a fine-tune naming `base_model:`, a bundle with a
//! `release.json` `base`) is judged with its base: [`lineage`] finds the base on this machine and
//! audits it too, and the adapted model keeps no freedom and no level its base lacks.
//!
//! The audit never executes repository code, never imports modelling files and never unpickles:
//! pickles are scanned statically ([`pickle`]).
//!
//! ```no_run
//! let report = glassbox_audit::audit("path/to/model", &glassbox_audit::AuditOptions::default())?;
//! println!("{}", glassbox_audit::report::to_table(&report));
//! # Ok::<(), glassbox_audit::AuditError>(())
//! ```

pub mod bench;
pub mod card;
pub mod component;
pub mod detect;
pub mod error;
pub mod evidence;
pub mod finding;
pub mod formats;
pub mod html;
pub mod hub;
pub mod license;
pub mod lineage;
pub mod mof;
pub mod mot;
pub mod pickle;
pub mod report;
pub mod snapshot;
pub mod verdict;

use std::path::Path;

pub use error::{AuditError, Result};
pub use report::Report;

use crate::detect::Detection;
use crate::report::TargetInfo;
use crate::snapshot::{LocalSource, Snapshot, TargetKind};

/// Options of an audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// How to reach the Hub for `hf:` targets.
    pub hub: hub::HubOptions,
    /// A replay the auditor ran on the target (`glassbox audit --verify`); it decides the
    /// replay mark instead of the bundle's own `verification.json`.
    pub auditor_replay: Option<detect::AuditorReplay>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            hub: hub::HubOptions::from_env(),
            auditor_replay: None,
        }
    }
}

/// Audits one target: `hf:ORG/NAME[@REV]`, a MOT model file (`*.yml`), or a directory.
pub fn audit(target: &str, opts: &AuditOptions) -> Result<Report> {
    if target.starts_with("hf:") {
        let hub = hub::Hub::new(opts.hub.clone());
        return audit_hub(target, &hub);
    }
    audit_path_with(Path::new(target), opts.auditor_replay.as_ref())
}

/// Audits an `hf:` target through a given Hub client (tests pass recorded answers).
pub fn audit_hub(target: &str, hub: &hub::Hub) -> Result<Report> {
    let t = hub::parse_target(target).ok_or_else(|| AuditError::Target {
        target: target.to_string(),
        message: "expected hf:ORG/NAME or hf:ORG/NAME@REVISION".into(),
    })?;
    let mut snap = hub.snapshot(&t)?;
    Ok(audit_snapshot(&mut snap))
}

/// Audits a local directory or MOT file.
pub fn audit_path(path: &Path) -> Result<Report> {
    audit_path_with(path, None)
}

/// Audits a local directory or MOT file, with the outcome of a replay the auditor ran on it.
pub fn audit_path_with(path: &Path, replay: Option<&detect::AuditorReplay>) -> Result<Report> {
    let meta = std::fs::metadata(path).map_err(|e| AuditError::Target {
        target: path.display().to_string(),
        message: format!(
            "{e}; expected a model directory, a glassbox bundle, a MOT .yml file or hf:ORG/NAME"
        ),
    })?;
    if meta.is_file() {
        let is_yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
        if !is_yaml {
            return Err(AuditError::Target {
                target: path.display().to_string(),
                message: "a file target must be a MOT model file (.yml)".into(),
            });
        }
        return audit_mot(path);
    }
    let mut snap = local_snapshot(path);
    let mut d = detect::detect(&mut snap);
    if let Some(r) = replay {
        detect::apply_auditor_replay(&mut d, r);
    }
    let mut chain = lineage::Chain::new(path);
    let lineage = lineage::resolve(Some(path), &mut d, &mut chain);
    Ok(finish_snapshot(&snap, d, lineage))
}

/// Audits the local directory of a base model, as part of the chain `chain` (its own bases are
/// resolved against it, so the chain stays bounded and never loops).
pub(crate) fn audit_base(dir: &Path, chain: &mut lineage::Chain) -> Report {
    let mut snap = local_snapshot(dir);
    let mut d = detect::detect(&mut snap);
    let lineage = lineage::resolve(Some(dir), &mut d, chain);
    finish_snapshot(&snap, d, lineage)
}

/// The snapshot of a local directory: its files (walked as `walk_local` walks them), read
/// through a path-safe source; a bundle when `MANIFEST.json` is at its root.
pub fn local_snapshot(path: &Path) -> Snapshot {
    let (root, files, findings) = snapshot::walk_local(path);
    let kind = if files.iter().any(|f| f.path == "MANIFEST.json") {
        TargetKind::Bundle
    } else {
        TargetKind::Directory
    };
    Snapshot {
        id: path.display().to_string(),
        kind,
        revision: None,
        files,
        refs: Vec::new(),
        api_card_data: None,
        gated: None,
        source: Box::new(LocalSource::new(root)),
        findings,
    }
}

/// Audits a MOT model file.
pub fn audit_mot(path: &Path) -> Result<Report> {
    let m = mot::read(path)?;
    let info = TargetInfo {
        id: path.display().to_string(),
        kind: TargetKind::Mot,
        revision: None,
        name: Some(m.name.clone()),
    };
    Ok(finish(info, m.detection, None, None))
}

/// Audits a prepared snapshot. Its base models, if it names any, are not looked for on this
/// machine (a snapshot has no directory to resolve them against): their terms are unknown.
pub fn audit_snapshot(snap: &mut Snapshot) -> Report {
    let mut d = detect::detect(snap);
    let root = Path::new(&snap.id);
    let mut chain = lineage::Chain::new(root);
    let lineage = lineage::resolve(None, &mut d, &mut chain);
    finish_snapshot(snap, d, lineage)
}

fn finish_snapshot(snap: &Snapshot, d: Detection, lineage: Option<lineage::Lineage>) -> Report {
    let name = d.card.as_ref().and_then(|c| {
        c.field("model_name")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    });
    let info = TargetInfo {
        id: snap.id.clone(),
        kind: snap.kind,
        revision: snap.revision.clone(),
        name,
    };
    finish(info, d, snap.gated.clone(), lineage)
}

fn finish(
    info: TargetInfo,
    d: Detection,
    gated: Option<String>,
    lineage: Option<lineage::Lineage>,
) -> Report {
    let v = verdict::judge_with(&d, gated.as_deref(), lineage.as_ref());
    let components = d.components.values().cloned().collect();
    let mut r = Report::new(info, v, components, d.licenses, d.weights, d.findings);
    r.lineage = lineage;
    r
}

/// Whether `dir` is a folder of targets rather than one release: it holds MOT files or
/// sub-directories that look like releases, and no release files of its own.
pub fn is_batch_dir(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut own = false;
    let mut children = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_lowercase();
        let p = e.path();
        if p.is_file() {
            if name.ends_with(".yml") || name.ends_with(".yaml") {
                children += 1;
            } else if matches!(
                name.as_str(),
                "readme.md"
                    | "config.json"
                    | "manifest.json"
                    | "license"
                    | "license.md"
                    | "license.txt"
            ) || detect::weight_format(&name).is_some()
            {
                own = true;
            }
        } else if p.is_dir()
            && ["README.md", "config.json", "MANIFEST.json"]
                .iter()
                .any(|f| p.join(f).exists())
        {
            children += 1;
        }
    }
    !own && children > 0
}

/// Audits every target in a folder (MOT files and release directories), sorted by name.
pub fn audit_batch(dir: &Path) -> Vec<(String, Result<Report>)> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, audit_path(&p))
        })
        .collect()
}
