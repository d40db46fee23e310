//! Reading a run or a bundle as it is on disk, however far it got: what a folder is, the runs of
//! a folder, and everything a run's page shows, with what is missing or cut off as problems.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::MAX_ENTRIES;

/// Most points of one curve sent to the page (longer logs are thinned evenly, last kept).
const MAX_POINTS: usize = 4000;

/// What a folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// A training run directory.
    Run,
    /// A release bundle.
    Bundle,
}

impl Kind {
    pub(super) fn word(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Bundle => "bundle",
        }
    }
}

pub(super) fn kind(dir: &Path) -> Option<Kind> {
    if dir.join("MANIFEST.json").is_file() && dir.join("release.json").is_file() {
        Some(Kind::Bundle)
    } else if dir.join("run.json").is_file()
        || dir.join("logs/train.jsonl").is_file()
        || (dir.join("recipe.toml").is_file() && dir.join("checkpoints").is_dir())
    {
        Some(Kind::Run)
    } else {
        None
    }
}

/// The runs and bundles at the root, its children and grandchildren (relative paths, sorted).
pub(super) fn scan(root: &Path) -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    let mut walk = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = walk.pop() {
        if out.len() >= MAX_ENTRIES {
            break;
        }
        if let Some(k) = kind(&dir) {
            let rel = dir
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((rel, k));
            continue;
        }
        if depth >= 2 {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk.push((e.path(), depth + 1));
            }
        }
    }
    out.sort();
    out
}

/// Steps and last training loss, from what is on disk.
pub(super) fn summary(dir: &Path, k: Kind) -> (Option<u64>, Option<f64>) {
    let json = |p: &str| -> Option<Value> {
        serde_json::from_slice(&std::fs::read(dir.join(p)).ok()?).ok()
    };
    let steps = match k {
        Kind::Bundle => json("release.json").and_then(|v| v.get("final_step")?.as_u64()),
        Kind::Run => json("run.json").and_then(|v| v.get("total_steps")?.as_u64()),
    };
    let loss = std::fs::read_to_string(dir.join("logs/train.jsonl"))
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Value>(l).ok()?.get("loss")?.as_f64())
        });
    (steps, loss)
}

/// Everything the run page shows.
#[derive(Default)]
pub(super) struct RunData {
    pub(super) name: String,
    pub(super) problems: Vec<String>,
    pub(super) train: Vec<Value>,
    pub(super) eval: Vec<Value>,
    pub(super) evals: serde_json::Map<String, Value>,
    pub(super) checkpoints: Vec<Value>,
    pub(super) samples: Vec<(u64, String)>,
    pub(super) datasheet: Option<String>,
    pub(super) verification: Option<Value>,
    pub(super) total_steps: Option<u64>,
}

/// The records of a JSON-lines log; a line that is not JSON (a run cut off mid-write) is a
/// problem, and reading goes on.
fn jsonl(dir: &Path, rel: &str, problems: &mut Vec<String>) -> Vec<Value> {
    let text = match std::fs::read_to_string(dir.join(rel)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            problems.push(format!("{rel}: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => out.push(v),
            Err(e) => problems.push(format!(
                "{rel} line {}: not a JSON record ({e}); the run may still be writing it, or was cut off",
                i + 1
            )),
        }
    }
    out
}

/// `points`, thinned evenly to at most [`MAX_POINTS`] (the last one kept).
fn thin(points: Vec<Value>) -> Vec<Value> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let stride = points.len().div_ceil(MAX_POINTS);
    let last = points.len() - 1;
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % stride == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

pub(super) fn collect(dir: &Path, k: Kind) -> RunData {
    let mut d = RunData::default();
    let p = &mut d.problems;
    let read_json = |rel: &str, p: &mut Vec<String>| -> Option<Value> {
        match std::fs::read(dir.join(rel)) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(v) => Some(v),
                Err(e) => {
                    p.push(format!("{rel}: not valid JSON ({e})"));
                    None
                }
            },
            Err(_) => None,
        }
    };
    let info = match k {
        Kind::Bundle => read_json("release.json", p),
        Kind::Run => {
            let v = read_json("run.json", p);
            if v.is_none() {
                p.push(
                    "no run.json: the run has not started properly, or this is not its folder"
                        .into(),
                );
            }
            v
        }
    };
    d.total_steps = info.as_ref().and_then(|v| {
        v.get("total_steps")
            .or_else(|| v.get("final_step"))
            .and_then(Value::as_u64)
    });
    d.name = info
        .as_ref()
        .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .or_else(|| {
            let t = std::fs::read_to_string(dir.join("recipe.toml")).ok()?;
            let r: toml::Value = toml::from_str(&t).ok()?;
            r.get("release")?.get("name")?.as_str().map(str::to_string)
        })
        .unwrap_or_else(|| {
            dir.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        });
    if !dir.join("logs/train.jsonl").is_file() {
        p.push("no logs/train.jsonl: no training step has been logged".into());
    }
    d.train = thin(
        jsonl(dir, "logs/train.jsonl", p)
            .into_iter()
            .filter_map(|v| {
                Some(json!([
                    v.get("step")?.as_u64()?,
                    v.get("loss")?.as_f64()?,
                    v.get("lr").and_then(Value::as_f64),
                    v.get("tokens_seen").and_then(Value::as_u64)
                ]))
            })
            .collect(),
    );
    d.eval = thin(
        jsonl(dir, "logs/eval.jsonl", p)
            .into_iter()
            .filter_map(|v| Some(json!([v.get("step")?.as_u64()?, v.get("loss")?.as_f64()?])))
            .collect(),
    );
    if let Ok(rd) = std::fs::read_dir(dir.join("evals")) {
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        for f in files {
            let task = f
                .file_stem()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            let rel = format!("evals/{task}.jsonl");
            let points: Vec<Value> = jsonl(dir, &rel, p)
                .into_iter()
                .filter_map(|v| Some(json!([v.get("step")?.as_u64()?, v.get("metrics")?.clone()])))
                .collect();
            if !points.is_empty() {
                d.evals.insert(task, Value::Array(points));
            }
        }
    }
    // Checkpoints: the index, else the folders; each checked for its state.json.
    let index = read_json("checkpoints/index.json", p);
    let mut cks: Vec<Value> = index
        .as_ref()
        .and_then(|v| v.get("checkpoints")?.as_array().cloned())
        .unwrap_or_default();
    let folders: Vec<(u64, String)> = std::fs::read_dir(dir.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(".tmp-step-") {
                p.push(format!(
                    "checkpoints/{n}: a checkpoint being written, or left by a crash (resuming removes it)"
                ));
                return None;
            }
            let step = n.strip_prefix("step-")?.parse::<u64>().ok()?;
            Some((step, format!("checkpoints/{n}")))
        })
        .collect();
    if index.is_none() && !folders.is_empty() {
        p.push("no checkpoints/index.json: the checkpoints are listed from their folders".into());
        cks = folders
            .iter()
            .map(|(step, dir)| json!({"step": step, "dir": dir}))
            .collect();
    }
    cks.sort_by_key(|c| c.get("step").and_then(Value::as_u64).unwrap_or(0));
    for c in &mut cks {
        let rel = c
            .get("dir")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let valid = !rel.is_empty() && dir.join(&rel).join("state.json").is_file();
        if !valid && k == Kind::Run {
            p.push(format!(
                "{rel}: no state.json — a checkpoint is valid only once its state.json is written"
            ));
        }
        c["valid"] = json!(valid);
        c["loadable"] = json!(dir.join(&rel).join("model.safetensors").is_file());
    }
    d.checkpoints = cks;
    // Samples: `- step N: text` lines of samples/samples.md.
    if let Ok(t) = std::fs::read_to_string(dir.join("samples/samples.md")) {
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("- step ")
                && let Some((n, text)) = rest.split_once(": ")
                && let Ok(n) = n.trim().parse::<u64>()
            {
                d.samples.push((n, text.to_string()));
            }
        }
    }
    // The datasheet: the bundle's, or the one of the dataset the run names.
    let sheet = match k {
        Kind::Bundle => Some(dir.join("data/datasheet.md")),
        Kind::Run => info
            .as_ref()
            .and_then(|v| v.pointer("/dataset/path")?.as_str().map(PathBuf::from))
            .map(|p| p.join("datasheet.md")),
    };
    d.datasheet = sheet
        .and_then(|f| std::fs::read(f).ok())
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(512 * 1024)]).into_owned());
    if k == Kind::Bundle {
        d.verification = read_json("verification.json", p);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_curves_are_thinned_evenly_keeping_the_last_point() {
        let points: Vec<Value> = (0..10_001).map(|i| json!([i, 1.0])).collect();
        let t = thin(points);
        assert!(t.len() <= MAX_POINTS + 1, "{}", t.len());
        assert_eq!(t.first(), Some(&json!([0, 1.0])));
        assert_eq!(t.last(), Some(&json!([10_000, 1.0])));
        let short: Vec<Value> = (0..10).map(|i| json!([i, 1.0])).collect();
        assert_eq!(thin(short.clone()), short);
    }

    #[test]
    fn folders_are_runs_bundles_or_neither_and_paths_stay_inside() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = d.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
        let mk = |p: &str, body: &str| {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap_or(&root)).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(f, body).unwrap_or_else(|e| panic!("{e}"));
        };
        mk("a/run/run.json", "{}");
        mk("b/MANIFEST.json", "{}");
        mk("b/release.json", "{}");
        mk("c/notes.txt", "");
        mk("d/logs/train.jsonl", "{\"step\":1,\"loss\":2.0}\n{\"st");
        assert_eq!(
            scan(&root),
            vec![
                ("a/run".to_string(), Kind::Run),
                ("b".to_string(), Kind::Bundle),
                ("d".to_string(), Kind::Run)
            ]
        );
        assert!(super::super::inside(&root, "a/run").is_some());
        assert!(super::super::inside(&root, "../").is_none());
        assert!(super::super::inside(&root, "nope").is_none());
        let data = collect(&root.join("d"), Kind::Run);
        assert_eq!(data.train, vec![json!([1, 2.0, null, null])]);
        assert!(
            data.problems
                .iter()
                .any(|p| p.contains("line 2: not a JSON record")),
            "{:?}",
            data.problems
        );
        assert!(
            data.problems.iter().any(|p| p.contains("no run.json")),
            "{:?}",
            data.problems
        );
    }
}
