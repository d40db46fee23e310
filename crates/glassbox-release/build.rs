//! Records the code revision glassbox is built from (git commit, dirty flag, rustc, the locked
//! dependency versions) and embeds the workspace's source, so a release bundle carries the exact
//! code that produced it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// `(name, version, source)` of every `[[package]]` in Cargo.lock.
fn locked(lock: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String, String)> = None;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            out.extend(cur.take());
            cur = Some(Default::default());
            continue;
        }
        let Some(c) = cur.as_mut() else { continue };
        let val = |l: &str| {
            l.split_once('=')
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
        };
        if line.starts_with("name =") {
            c.0 = val(line).unwrap_or_default();
        } else if line.starts_with("version =") {
            c.1 = val(line).unwrap_or_default();
        } else if line.starts_with("source =") {
            c.2 = val(line).unwrap_or_default();
        }
    }
    out.extend(cur);
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join("../..");
    let root = root.canonicalize().unwrap_or(root);
    for p in [
        "crates",
        "scripts",
        "Cargo.toml",
        "Cargo.lock",
        "LICENSE",
        ".git/HEAD",
        ".git/index",
        ".git/refs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let commit = git(&root, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let status = git(&root, &["status", "--porcelain"]);
    let changed: Vec<String> = status
        .as_deref()
        .unwrap_or("")
        .lines()
        .filter(|l| l.len() > 3)
        .map(|l| l[3..].to_string())
        .collect();
    let dirty = match &status {
        Some(_) => (!changed.is_empty()).to_string(),
        None => "null".into(),
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let deps: Vec<String> = locked(&lock)
        .into_iter()
        .map(|(n, v, s)| {
            format!(
                "{{\"name\": {}, \"version\": {}, \"source\": {}}}",
                json_str(&n),
                json_str(&v),
                if s.is_empty() {
                    "null".into()
                } else {
                    json_str(&s)
                }
            )
        })
        .collect();
    let revision = format!(
        "{{\"schema_version\": 1, \"repository\": {}, \"commit\": {}, \"dirty\": {dirty}, \"changed_files\": [{}], \"rustc\": {}, \"target\": {}, \"profile\": {}, \"glassbox_version\": {}, \"dependencies\": [{}]}}",
        json_str(
            std::env::var("CARGO_PKG_REPOSITORY")
                .unwrap_or_default()
                .as_str()
        ),
        json_str(&commit),
        changed
            .iter()
            .map(|c| json_str(c))
            .collect::<Vec<_>>()
            .join(", "),
        json_str(&rustc_version),
        json_str(&std::env::var("TARGET").unwrap_or_default()),
        json_str(&std::env::var("PROFILE").unwrap_or_default()),
        json_str(&std::env::var("CARGO_PKG_VERSION").unwrap_or_default()),
        deps.join(", ")
    );
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let _ = std::fs::write(out_dir.join("revision.json"), revision);

    // The source tree: workspace files, every crate's manifest, build script and src/, scripts/.
    let mut files: Vec<PathBuf> = [
        "Cargo.toml",
        "Cargo.lock",
        "LICENSE",
        "README.md",
        "rustfmt.toml",
        "clippy.toml",
    ]
    .iter()
    .map(|f| root.join(f))
    .filter(|p| p.is_file())
    .collect();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    crates.sort();
    for c in crates {
        for f in ["Cargo.toml", "build.rs"] {
            if c.join(f).is_file() {
                files.push(c.join(f));
            }
        }
        walk(&c.join("src"), &mut files);
    }
    walk(&root.join("scripts"), &mut files);
    let mut src = String::from(
        "/// The workspace source at build time: (path, bytes).\npub(crate) static SOURCES: &[(&str, &[u8])] = &[\n",
    );
    for f in files {
        let Ok(rel) = f.strip_prefix(&root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        src.push_str(&format!(
            "    ({}, include_bytes!({})),\n",
            json_str(&rel),
            json_str(&f.to_string_lossy())
        ));
    }
    src.push_str("];\n");
    let _ = std::fs::write(out_dir.join("sources.rs"), src);
}
