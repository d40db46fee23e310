//! Weight files: formats, headers, shards, checkpoint folders, and the static scan of pickles.
//!
//! Some formats carry more than tensors: a GGUF file names its architecture and licence in its
//! metadata and runs with llama.cpp; an ONNX file is the computation graph itself and runs with
//! onnxruntime. Both therefore also count as the architecture, and as inference code referenced
//! through the library.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::*;

/// Most missing shards named in one finding.
const MISSING_LISTED: usize = 8;
/// Most shard sets checked for missing shards by name, and most shards in a set enumerated.
const MAX_SHARD_SETS: usize = 256;
const MAX_SHARDS: u32 = 4096;
/// Most GGUF files whose metadata is read (a repository of quantisations holds a dozen or two).
const GGUF_FILES_READ: usize = 32;

pub(super) fn detect_weights(
    snap: &mut Snapshot,
    d: &mut Detection,
    paths: &[(String, Option<u64>)],
) {
    let local = matches!(snap.kind, TargetKind::Directory | TargetKind::Bundle);
    let mut pickles_scanned = 0;
    let mut ggufs: Vec<GgufModel> = Vec::new();
    let mut onnx_graphs: Vec<String> = Vec::new();
    for (p, size) in paths {
        let Some(format) = weight_format(p) else {
            continue;
        };
        let intermediate = in_checkpoint_dir(p);
        let mut parameters = None;
        match format {
            WeightFormat::Safetensors if local => parameters = safetensors_parameters(snap, d, p),
            // Split GGUF files carry the metadata in the first split only.
            WeightFormat::Gguf if shard_of(p).is_none_or(|s| s.index == 1) => {
                let read = local && ggufs.len() < GGUF_FILES_READ;
                ggufs.push(gguf_model(snap, d, p, read));
            }
            WeightFormat::Onnx if p.to_lowercase().ends_with(".onnx") => {
                onnx_graphs.push(p.clone());
            }
            WeightFormat::Pickle => {
                let f = pickle_finding(snap, p, local, &mut pickles_scanned);
                d.findings.push(f);
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
    mark_gguf(d, &ggufs);
    mark_onnx(d, &onnx_graphs);
    let mut reported = BTreeSet::new();
    for (p, _) in paths {
        if is_shard_index(p) {
            check_shard_index(snap, d, p, &mut reported);
        }
    }
    check_shard_names(d, paths, &reported);
    note_final_weights(d);
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

/// Parameters per the safetensors header of `p` (a finding when the header is invalid).
fn safetensors_parameters(snap: &mut Snapshot, d: &mut Detection, p: &str) -> Option<u64> {
    let first = snap.read(p, 8)?;
    let src = &snap.source;
    match formats::safetensors_summary(&first.data, |n| src.read(p, 8, n).map(|b| b.data)) {
        Ok(s) => Some(s.parameters),
        Err(e) => {
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Malformed,
                format!("{p}: not a valid safetensors header ({e})"),
                vec![Evidence::file(p)],
            ));
            None
        }
    }
}

/// One GGUF model (a single file or the first of its splits) and what its metadata says.
struct GgufModel {
    path: String,
    summary: Option<formats::GgufSummary>,
}

/// Reads the metadata of a GGUF file when `read` (never its tensors); records the licence it
/// declares.
fn gguf_model(snap: &mut Snapshot, d: &mut Detection, p: &str, read: bool) -> GgufModel {
    let mut model = GgufModel {
        path: p.to_string(),
        summary: None,
    };
    if !read {
        return model;
    }
    let src = &snap.source;
    match formats::gguf_summary_from(|offset, n| src.read(p, offset, n).map(|b| b.data)) {
        Ok(s) => {
            if s.truncated {
                d.findings.push(Finding::new(
                    Severity::Info,
                    FindingKind::Bounded,
                    format!(
                        "{p}: GGUF metadata continues past the {} MiB read; keys after that were not seen",
                        formats::GGUF_READ >> 20
                    ),
                    vec![Evidence::file(p)],
                ));
            }
            if let Some(l) = s.license() {
                let lic = license::from_name(l);
                d.licenses.push((lic.clone(), vec![Evidence::file(p)]));
                d.weight_metadata_licenses.push((lic, Evidence::file(p)));
            }
            model.summary = Some(s);
        }
        Err(e) => d.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Malformed,
            format!("{p}: not a valid GGUF header ({e})"),
            vec![Evidence::file(p)],
        )),
    }
    model
}

/// A GGUF file names its architecture in its metadata and runs with llama.cpp, which
/// implements the architectures GGUF names.
fn mark_gguf(d: &mut Detection, models: &[GgufModel]) {
    let Some(first) = models.first() else {
        return;
    };
    let mut described: Vec<String> = models
        .iter()
        .filter_map(|m| {
            let s = m.summary.as_ref()?;
            let arch = s.architecture()?;
            Some(match s.name() {
                Some(name) => format!("`{arch}` ({name})"),
                None => format!("`{arch}`"),
            })
        })
        .collect();
    described.sort();
    described.dedup();
    let note = if described.is_empty() {
        "defined by the GGUF file's metadata (not read)".to_string()
    } else {
        format!(
            "GGUF metadata names the architecture {}",
            described.join(", ")
        )
    };
    mark(
        d,
        ComponentId::ModelArchitecture,
        Presence::Present,
        models.iter().map(|m| Evidence::file(&m.path)).collect(),
        Some(note),
    );
    mark_library(
        d,
        ComponentId::InferenceCode,
        "llama.cpp",
        Some(format!("GGUF weights ({}) run with llama.cpp", first.path)),
    );
}

/// An ONNX file is the model's computation graph: the architecture itself, run by onnxruntime.
fn mark_onnx(d: &mut Detection, graphs: &[String]) {
    let Some(first) = graphs.first() else {
        return;
    };
    mark(
        d,
        ComponentId::ModelArchitecture,
        Presence::Present,
        graphs.iter().map(Evidence::file).collect(),
        Some("the ONNX graph defines the architecture".into()),
    );
    mark_library(
        d,
        ComponentId::InferenceCode,
        "onnxruntime",
        Some(format!("the ONNX graph ({first}) runs with onnxruntime")),
    );
}

/// The file name of a shard, `<stem>-00002-of-00004.<ext>`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Shard {
    /// Everything before `-00002`, directory included.
    prefix: String,
    /// Everything after `-of-00004` (`.safetensors`).
    suffix: String,
    /// Digits in the index (`00002` → 5).
    width: usize,
    index: u32,
    total: u32,
}

impl Shard {
    /// The path of the shard `index` of the same set.
    fn sibling(&self, index: u32) -> String {
        format!(
            "{}-{index:0w$}-of-{:0w$}{}",
            self.prefix,
            self.total,
            self.suffix,
            w = self.width
        )
    }

    /// The name the set is known by (`model.safetensors`, `llama-q4_k_m.gguf`).
    fn set_name(&self) -> String {
        format!("{}{}", self.prefix, self.suffix)
    }
}

/// Parses `…-00001-of-00003.ext` (safetensors and pickle shards, GGUF splits).
fn shard_of(path: &str) -> Option<Shard> {
    let (dir_len, name) = match path.rfind('/') {
        Some(i) => (i + 1, &path[i + 1..]),
        None => (0, path),
    };
    let of = name.rfind("-of-")?;
    let (head, tail) = (&name[..of], &name[of + 4..]);
    let dash = head.rfind('-')?;
    let index_digits = &head[dash + 1..];
    let total_len = tail.bytes().take_while(u8::is_ascii_digit).count();
    let total_digits = &tail[..total_len];
    let suffix = &tail[total_len..];
    if index_digits.is_empty()
        || total_digits.is_empty()
        || !index_digits.bytes().all(|b| b.is_ascii_digit())
        || !(suffix.is_empty() || suffix.starts_with('.'))
    {
        return None;
    }
    let index: u32 = index_digits.parse().ok()?;
    let total: u32 = total_digits.parse().ok()?;
    (index >= 1 && index <= total).then(|| Shard {
        prefix: format!("{}{}", &path[..dir_len], &head[..dash]),
        suffix: suffix.to_string(),
        width: index_digits.len(),
        index,
        total,
    })
}

/// `model.safetensors.index.json`, `pytorch_model.bin.index.json` and their diffusers and
/// variant forms.
fn is_shard_index(path: &str) -> bool {
    let (_, name) = lower_name(path);
    name.ends_with(".safetensors.index.json") || name.ends_with(".bin.index.json")
}

/// Checks that every file an index's `weight_map` names is in the release.
fn check_shard_index(
    snap: &mut Snapshot,
    d: &mut Detection,
    index: &str,
    reported: &mut BTreeSet<String>,
) {
    let Some((text, _)) = snap.read_text(index, MAX_JSON) else {
        return;
    };
    let map = match serde_json::from_str::<Value>(&text) {
        Ok(v) => match v.get("weight_map").and_then(Value::as_object) {
            Some(m) => m.clone(),
            None => {
                d.findings.push(Finding::new(
                    Severity::Warning,
                    FindingKind::Malformed,
                    format!(
                        "{index} has no `weight_map`: which shards hold the weights is unknown"
                    ),
                    vec![Evidence::file(index)],
                ));
                return;
            }
        },
        Err(e) => {
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Malformed,
                format!("{index}: invalid JSON ({e})"),
                vec![Evidence::file(index)],
            ));
            return;
        }
    };
    let dir = index.rsplit_once('/').map_or("", |(d, _)| d);
    let files: BTreeSet<&str> = map.values().filter_map(Value::as_str).collect();
    let mut missing: Vec<(&str, String)> = Vec::new();
    for f in files {
        let path = if dir.is_empty() {
            f.to_string()
        } else {
            format!("{dir}/{f}")
        };
        // A name that leaves the directory (`../x`) is not a file of the release either.
        if crate::snapshot::safe_relative_path(&path) && snap.has(&path) {
            continue;
        }
        reported.insert(path.clone());
        missing.push((f, path));
    }
    let head = format!(
        "{index} maps tensors to {} file(s) missing from the release",
        missing.len()
    );
    // Each listed file points at the line of the index that names it.
    let evidence = |(f, _): &(&str, String)| {
        let quoted = format!("\"{f}\"");
        match text.lines().position(|l| l.contains(&quoted)) {
            Some(i) => Evidence::line(index, i + 1),
            None => Evidence::file(index),
        }
    };
    if let Some(f) = missing_finding(head, &missing, |(_, p)| p, evidence) {
        d.findings.push(f);
    }
}

/// Shards named `-0000i-of-0000n` whose siblings are missing (for sets without an index, and
/// GGUF splits).
fn check_shard_names(
    d: &mut Detection,
    paths: &[(String, Option<u64>)],
    reported: &BTreeSet<String>,
) {
    // Set (named by its first shard) → one of its shards and the indices present.
    let mut sets: BTreeMap<String, (Shard, BTreeSet<u32>)> = BTreeMap::new();
    for (p, _) in paths {
        if weight_format(p).is_some()
            && let Some(s) = shard_of(p)
        {
            let index = s.index;
            sets.entry(s.sibling(1))
                .or_insert_with(|| (s, BTreeSet::new()))
                .1
                .insert(index);
        }
    }
    // Bounded work whatever the file names claim: a few hundred sets of at most a few thousand
    // shards each.
    for (shard, present) in sets.values().take(MAX_SHARD_SETS) {
        if shard.total > MAX_SHARDS || present.len() == shard.total as usize {
            continue;
        }
        let missing: Vec<String> = (1..=shard.total)
            .filter(|i| !present.contains(i))
            .map(|i| shard.sibling(i))
            .filter(|p| !reported.contains(p))
            .collect();
        let head = format!(
            "{} is split into {} shards, {} of them missing from the release",
            shard.set_name(),
            shard.total,
            missing.len()
        );
        let seen = Evidence::file(shard.sibling(shard.index));
        if let Some(f) = missing_finding(head, &missing, String::as_str, |_| seen.clone()) {
            d.findings.push(f);
        }
    }
}

/// One finding for shards that are not in the release: `head`, then the first few names, each
/// with its evidence.
fn missing_finding<'a, T>(
    head: String,
    missing: &'a [T],
    name: impl Fn(&'a T) -> &'a str,
    evidence: impl Fn(&'a T) -> Evidence,
) -> Option<Finding> {
    if missing.is_empty() {
        return None;
    }
    let listed = &missing[..missing.len().min(MISSING_LISTED)];
    let names: Vec<&str> = listed.iter().map(name).collect();
    let more = match missing.len() - listed.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let mut ev: Vec<Evidence> = listed.iter().map(evidence).collect();
    ev.dedup();
    Some(Finding::new(
        Severity::Warning,
        FindingKind::Malformed,
        format!(
            "{head}: {}{more}; the weights are incomplete",
            names.join(", ")
        ),
        ev,
    ))
}

/// Describes the final weights: models by format, shards counted as one model, and parameters
/// summed over the shards whose headers were read.
fn note_final_weights(d: &mut Detection) {
    let mut models: BTreeMap<String, (WeightFormat, usize, Option<u64>)> = BTreeMap::new();
    for w in d.weights.iter().filter(|w| !w.intermediate) {
        let name = shard_of(&w.path).map_or_else(|| w.path.clone(), |s| s.set_name());
        let e = models.entry(name).or_insert((w.format, 0, Some(0)));
        e.1 += 1;
        e.2 = match (e.2, w.parameters) {
            (Some(a), Some(b)) => a.checked_add(b),
            _ => None,
        };
    }
    if models.is_empty() {
        return;
    }
    let mut parts: Vec<String> = models
        .iter()
        .take(4)
        .map(|(name, (_, files, params))| {
            let mut s = format!("`{name}`");
            if *files > 1 {
                s.push_str(&format!(" in {files} shards"));
            }
            if let Some(p) = params {
                s.push_str(&format!(", {p} parameters"));
            }
            s
        })
        .collect();
    if models.len() > 4 {
        parts.push(format!("{} more", models.len() - 4));
    }
    let formats: BTreeSet<&str> = models
        .values()
        .map(|(f, _, _)| match f {
            WeightFormat::Safetensors => "safetensors",
            WeightFormat::Gguf => "GGUF",
            WeightFormat::Pickle => "pickle",
            WeightFormat::Onnx => "ONNX",
            WeightFormat::Hdf5 => "HDF5",
            WeightFormat::Msgpack => "msgpack",
        })
        .collect();
    let note = format!(
        "{} weight file(s) ({}): {}",
        models.len(),
        formats.into_iter().collect::<Vec<_>>().join(", "),
        parts.join("; ")
    );
    mark(
        d,
        ComponentId::ModelParametersFinal,
        Presence::Present,
        Vec::new(),
        Some(note),
    );
}

/// The finding for a pickle checkpoint, with the result of its static scan when it is local.
fn pickle_finding(snap: &Snapshot, p: &str, local: bool, scanned: &mut usize) -> Finding {
    let mut msg = format!(
        "{p} is a pickle-based checkpoint: loading it with torch.load/pickle can execute code; prefer safetensors"
    );
    let mut severity = Severity::Warning;
    if local && *scanned < 64 {
        *scanned += 1;
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
    Finding::new(
        severity,
        FindingKind::Security,
        msg,
        vec![Evidence::file(p)],
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        let s = shard_of("unet/model-00002-of-00004.safetensors").unwrap();
        assert_eq!((s.index, s.total, s.width), (2, 4, 5));
        assert_eq!(s.set_name(), "unet/model.safetensors");
        assert_eq!(s.sibling(3), "unet/model-00003-of-00004.safetensors");
        let g = shard_of("llama-q4_k_m-00001-of-00003.gguf").unwrap();
        assert_eq!(g.set_name(), "llama-q4_k_m.gguf");
        for not in [
            "model.safetensors",
            "model-of-00004.safetensors",
            "model-00005-of-00004.safetensors",
            "model-00000-of-00004.safetensors",
            "model-x-of-00004.safetensors",
            "model-00001-of-00004x.safetensors",
        ] {
            assert_eq!(shard_of(not), None, "{not}");
        }
    }
}
