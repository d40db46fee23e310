//! Weight files: formats, headers, checkpoint folders, and the static scan of pickles.

use super::*;

pub(super) fn detect_weights(
    snap: &mut Snapshot,
    d: &mut Detection,
    paths: &[(String, Option<u64>)],
) {
    let local = matches!(snap.kind, TargetKind::Directory | TargetKind::Bundle);
    let mut pickles_scanned = 0;
    for (p, size) in paths {
        let Some(format) = weight_format(p) else {
            continue;
        };
        let intermediate = in_checkpoint_dir(p);
        let mut parameters = None;
        match format {
            WeightFormat::Safetensors if local => {
                if let Some(first) = snap.read(p, 8) {
                    let src = &snap.source;
                    match formats::safetensors_summary(&first.data, |n| {
                        src.read(p, 8, n).map(|b| b.data)
                    }) {
                        Ok(s) => parameters = Some(s.parameters),
                        Err(e) => d.findings.push(Finding::new(
                            Severity::Warning,
                            FindingKind::Malformed,
                            format!("{p}: not a valid safetensors header ({e})"),
                            vec![Evidence::file(p)],
                        )),
                    }
                }
            }
            WeightFormat::Gguf if local => {
                if let Some(b) = snap.read(p, formats::GGUF_READ) {
                    match formats::gguf_summary(&b.data) {
                        Ok(s) => {
                            if let Some(l) = s.general.get("general.license") {
                                let lic = license::from_name(l);
                                d.licenses.push((
                                    lic,
                                    vec![Evidence::File {
                                        path: p.clone(),
                                        line: None,
                                    }],
                                ));
                            }
                        }
                        Err(e) => d.findings.push(Finding::new(
                            Severity::Warning,
                            FindingKind::Malformed,
                            format!("{p}: not a valid GGUF header ({e})"),
                            vec![Evidence::file(p)],
                        )),
                    }
                }
            }
            WeightFormat::Pickle => {
                let mut msg = format!(
                    "{p} is a pickle-based checkpoint: loading it with torch.load/pickle can execute code; prefer safetensors"
                );
                let mut severity = Severity::Warning;
                if local && pickles_scanned < 64 {
                    pickles_scanned += 1;
                    let report = scan_local_pickle(snap, p);
                    let bad: Vec<String> = report
                        .imports
                        .iter()
                        .filter(|i| i.risk != pickle::Risk::Safe)
                        .map(|i| format!("{}.{} ({:?})", i.module, i.name, i.risk).to_lowercase())
                        .collect();
                    if report.max_risk() == pickle::Risk::Dangerous {
                        severity = Severity::Error;
                        msg = format!(
                            "{p} imports globals that can execute code when loaded: {}",
                            bad.join(", ")
                        );
                    } else if !bad.is_empty() {
                        msg.push_str(&format!(
                            "; it imports globals outside the safe list: {}",
                            bad.join(", ")
                        ));
                    } else if report.problems.is_empty() {
                        msg.push_str(&format!(
                            "; static scan of {} pickle stream(s) found only safe globals",
                            report.streams
                        ));
                    }
                    if !report.problems.is_empty() {
                        msg.push_str(&format!(
                            "; scan incomplete: {}",
                            report.problems.join("; ")
                        ));
                    }
                } else {
                    msg.push_str("; not scanned (remote file)");
                }
                d.findings.push(Finding::new(
                    severity,
                    FindingKind::Security,
                    msg,
                    vec![Evidence::file(p)],
                ));
            }
            _ => {}
        }
        d.weights.push(WeightFile {
            path: p.clone(),
            format,
            size: *size,
            intermediate,
            parameters,
        });
        let id = if intermediate {
            ComponentId::ModelParametersIntermediate
        } else {
            ComponentId::ModelParametersFinal
        };
        mark(d, id, Presence::Present, vec![Evidence::file(p)], None);
    }
    // Optimiser and trainer state files are model metadata (and pickles too).
    for (p, _) in paths {
        let (_, name) = lower_name(p);
        if [
            "optimizer",
            "trainer_state",
            "training_args",
            "scheduler",
            "rng_state",
        ]
        .iter()
        .any(|m| name.contains(m))
            && (name.ends_with(".pt")
                || name.ends_with(".bin")
                || name.ends_with(".json")
                || name.ends_with(".pth"))
        {
            mark(
                d,
                ComponentId::ModelMetadata,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
            if !name.ends_with(".json") && local && pickles_scanned < 64 {
                pickles_scanned += 1;
                let report = scan_local_pickle(snap, p);
                if report.max_risk() == pickle::Risk::Dangerous {
                    d.findings.push(Finding::new(
                        Severity::Error,
                        FindingKind::Security,
                        format!("{p} imports globals that can execute code when loaded"),
                        vec![Evidence::file(p)],
                    ));
                }
            }
        }
    }
}

fn scan_local_pickle(snap: &Snapshot, p: &str) -> pickle::ScanReport {
    // Pickles in zip archives need random access; read at most 256 MiB into memory.
    match snap.source.read(p, 0, 256 << 20) {
        Ok(b) => pickle::scan_file(std::io::Cursor::new(b.data)),
        Err(e) => pickle::ScanReport {
            problems: vec![e],
            ..Default::default()
        },
    }
}
