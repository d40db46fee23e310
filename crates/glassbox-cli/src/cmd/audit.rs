//! `glassbox audit`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glassbox_audit::report::{self, Report};
use glassbox_audit::verdict::Level;
use glassbox_audit::{AuditOptions, hub::HubOptions};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Markdown,
    Html,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Export {
    /// A Model Openness Tool model file (YAML).
    Mot,
    /// A CycloneDX 1.6 ML-BOM (JSON).
    Cyclonedx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum MinLevel {
    OpenWeight,
    OpenSourceAi,
    RadicalOpenness,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A model directory, a glassbox bundle, a MOT model file (.yml), hf:ORG/NAME (or hf:ORG/NAME@REVISION), or a
    /// folder of such targets (one line each, then a summary).
    target: String,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write an export instead of the report.
    #[arg(long, value_enum)]
    export: Option<Export>,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Use only cached Hub answers (no network).
    #[arg(long)]
    offline: bool,
    /// Cache directory for Hub answers [default: ~/.cache/glassbox/hub].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Exit with code 3 when the level is below this one (for CI gates).
    #[arg(long, value_enum)]
    min_level: Option<MinLevel>,
    /// For a glassbox bundle: run `glassbox verify` first (every hash, and a bit-exact replay of
    /// the last checkpoint interval; the dataset is not re-derived) and let its outcome, not the
    /// bundle's own verification.json, decide the replay mark. Nothing is written into the bundle.
    #[arg(long)]
    verify: bool,
}

pub(crate) fn run(a: Args) -> Result<u8> {
    let mut hub = HubOptions::from_env();
    hub.offline = a.offline;
    if let Some(c) = &a.cache_dir {
        hub.cache_dir = c.clone();
    }
    let mut opts = AuditOptions {
        hub,
        auditor_replay: None,
    };
    let path = Path::new(&a.target);
    if !a.target.starts_with("hf:") && path.is_dir() && glassbox_audit::is_batch_dir(path) {
        if a.verify {
            bail!("--verify works on one bundle, not a folder of targets");
        }
        return batch(path, &a);
    }
    if a.verify {
        opts.auditor_replay = Some(auditor_replay(&a.target)?);
    }
    let r = glassbox_audit::audit(&a.target, &opts)?;
    let text = match a.export {
        Some(Export::Mot) => report::mot_export(&r),
        Some(Export::Cyclonedx) => serde_json::to_string_pretty(&report::to_cyclonedx(&r))? + "\n",
        None => render(&r, a.format)?,
    };
    emit(&a.out, &text)?;
    Ok(gate(&r, a.min_level))
}

/// Runs `glassbox verify` on a bundle without writing into it; the dataset is not re-derived
/// (that needs the corpus, which an auditor may not have).
fn auditor_replay(target: &str) -> Result<glassbox_audit::detect::AuditorReplay> {
    use glassbox_release::verify::{self, Status, VerifyOptions};
    let bundle = Path::new(target);
    if target.starts_with("hf:") || !bundle.join("MANIFEST.json").is_file() {
        bail!(
            "--verify needs a glassbox release bundle (a directory with MANIFEST.json); {target} is not one"
        );
    }
    let opts = VerifyOptions {
        corpus: Vec::new(),
        data: false,
        replay: true,
        from: None,
        to: None,
        record: false,
        base: None,
    };
    let report = verify::verify(bundle, &opts, &mut |stage| {
        if !stage.starts_with("replay step") {
            eprintln!("audit --verify: {stage}");
        }
    })
    .with_context(|| format!("verifying {target}"))?;
    let failures = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Failed)
        .map(|c| format!("{}: {}", c.name, c.summary))
        .collect();
    Ok(glassbox_audit::detect::AuditorReplay {
        passed: report.passed,
        interval: report.replayed,
        failures,
    })
}

fn render(r: &Report, f: Format) -> Result<String> {
    Ok(match f {
        Format::Table => report::to_table(r),
        Format::Json => serde_json::to_string_pretty(r)? + "\n",
        Format::Markdown => report::to_markdown(r),
        Format::Html => report::to_html(r),
    })
}

fn emit(out: &Option<PathBuf>, text: &str) -> Result<()> {
    match out {
        Some(p) => glassbox_core::fsio::atomic_write(p, text.as_bytes())
            .with_context(|| format!("writing {}", p.display())),
        None => {
            use std::io::Write;
            let mut so = std::io::stdout().lock();
            // A closed pipe (`| head`) ends the output quietly.
            let _ = so.write_all(text.as_bytes());
            Ok(())
        }
    }
}

fn gate(r: &Report, min: Option<MinLevel>) -> u8 {
    let need = match min {
        None => return 0,
        Some(MinLevel::OpenWeight) => Level::OpenWeight,
        Some(MinLevel::OpenSourceAi) => Level::OpenSourceAi,
        Some(MinLevel::RadicalOpenness) => Level::RadicalOpenness,
    };
    if r.level < need {
        eprintln!(
            "level {} is below the required {}",
            r.level_label,
            need.label()
        );
        3
    } else {
        0
    }
}

fn batch(dir: &Path, a: &Args) -> Result<u8> {
    if a.export.is_some() {
        bail!("--export works on one target, not a folder of targets");
    }
    let results = glassbox_audit::audit_batch(dir);
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut errors = 0;
    let mut text = String::new();
    let mut json = Vec::new();
    let mut worst = 0u8;
    let width = results
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(10)
        .min(48);
    for (name, r) in &results {
        match r {
            Ok(r) => {
                *counts.entry(r.level_text()).or_default() += 1;
                text.push_str(&format!("{name:<width$}  {}\n", r.one_line()));
                json.push(serde_json::json!({"target": name, "report": r}));
                worst = worst.max(gate(r, a.min_level));
            }
            Err(e) => {
                errors += 1;
                text.push_str(&format!("{name:<width$}  error: {e}\n"));
                json.push(serde_json::json!({"target": name, "error": e.to_string()}));
            }
        }
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    text.push_str(&format!(
        "\n{} targets: {}{}\n",
        results.len(),
        summary.join(", "),
        if errors > 0 {
            format!(", {errors} errors")
        } else {
            String::new()
        }
    ));
    let out = match a.format {
        Format::Json => {
            serde_json::to_string_pretty(
                &serde_json::json!({"schema_version": report::SCHEMA_VERSION, "targets": json}),
            )? + "\n"
        }
        _ => text,
    };
    emit(&a.out, &out)?;
    Ok(if errors > 0 { 1 } else { worst })
}
