//! Every input the fuzz targets of `fuzz/` start from (`fuzz/seeds/TARGET/`) and every crash they
//! ever found (`fuzz/regressions/TARGET/`, committed as found) is replayed here through the same
//! function, so a fixed crash stays fixed without the fuzzer.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out
}

fn replay(target: &str, f: impl Fn(&[u8])) {
    let all = inputs(target);
    assert!(!all.is_empty(), "no inputs for fuzz target {target}");
    for (path, bytes) in all {
        // A panic names the input that caused it.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&bytes)));
        assert!(r.is_ok(), "fuzz input {} panics", path.display());
    }
}

#[test]
fn gguf_inputs() {
    replay("gguf", |d| {
        let _ = glassbox_audit::formats::gguf_summary(d);
    });
}

#[test]
fn safetensors_header_inputs() {
    replay("safetensors_header", |d| {
        let head = d.get(..8).unwrap_or(d).to_vec();
        let rest = d.get(8..).unwrap_or(&[]).to_vec();
        let _ = glassbox_audit::formats::safetensors_summary(&head, |n| {
            Ok(rest.get(..n.min(rest.len())).unwrap_or(&[]).to_vec())
        });
    });
}

#[test]
fn pickle_inputs() {
    replay("pickle", |d| {
        let _ = glassbox_audit::pickle::scan_file(std::io::Cursor::new(d));
    });
}

#[test]
fn card_inputs() {
    replay("card", |d| {
        if let Ok(text) = std::str::from_utf8(d) {
            let mut findings = Vec::new();
            let _ = glassbox_audit::card::Card::parse("README.md", text, false, &mut findings);
        }
    });
}

#[test]
fn mot_inputs() {
    replay("mot", |d| {
        if let Ok(text) = std::str::from_utf8(d)
            && let Ok(v) = glassbox_audit::card::parse_yaml(text)
        {
            let _ = glassbox_audit::mot::parse(&v, std::path::Path::new("model.yml"));
        }
    });
}

#[test]
fn license_text_inputs() {
    replay("license_text", |d| {
        if let Ok(text) = std::str::from_utf8(d) {
            let _ = glassbox_audit::license::from_text(text);
        }
    });
}
