//! Helpers shared by the CLI tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// One fixture model per supported architecture (made by transformers; see tests/fixtures).
pub(crate) const FAMILIES: [&str; 14] = [
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "smollm3",
    "olmo",
    "olmo2",
    "gpt-neox",
    "phi3",
    "gemma2",
    "gemma3",
    "mixtral",
    "olmoe",
    "qwen3-moe",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder of the test corpora (`en_web.txt`, `es_rv1909.txt`): `$GLASSBOX_CORPORA`, else
/// `target/corpora` (extracted by `scripts/dev-setup.sh`). Fails with what to do when neither has
/// them.
pub(crate) fn corpora_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("GLASSBOX_CORPORA").map(PathBuf::from),
        Some(repo().join("target/corpora")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("en_web.txt").is_file() && d.join("es_rv1909.txt").is_file())
        .unwrap_or_else(|| {
            panic!("the test corpora are missing: run scripts/dev-setup.sh (it extracts them into target/corpora)")
        })
}

/// One test corpus.
pub(crate) fn corpus(name: &str) -> PathBuf {
    corpora_dir().join(name)
}

/// The Model Openness Tool model files kept with the audit's tests.
pub(crate) fn mot_models() -> PathBuf {
    repo().join("crates/glassbox-audit/tests/fixtures/mot/models")
}

/// The port a `glassbox serve --port 0` child prints on its first stdout line.
pub(crate) fn served_port(child: &mut std::process::Child) -> u16 {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("reading the server's first line");
    line.split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// One JSON POST on a fresh connection; returns the whole response text.
pub(crate) fn post(port: u16, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("setting a timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("sending");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("reading");
    text
}

/// Runs the binary; returns stdout, stderr and the exit code, failing on a panic.
pub(crate) fn run(args: &[&str]) -> (String, String, i32) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .expect("running glassbox");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
        out.status.code().unwrap_or(-1),
    )
}
