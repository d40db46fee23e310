//! Helpers shared by the audit's integration tests: a release built in a temp dir, synthetic
//! weight files, and the licence texts of `tests/fixtures/licenses`.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use glassbox_audit::detect::{self, Detection};
use glassbox_audit::{Report, audit_path};

/// `tests/fixtures/licenses/NAME` as text (lossy UTF-8).
pub(crate) fn license_text(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/licenses")
        .join(name);
    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()
}

/// A safetensors file whose header declares one F32 tensor of `params` elements.
pub(crate) fn safetensors(params: usize) -> Vec<u8> {
    let header = format!(
        r#"{{"__metadata__":{{"format":"pt"}},"w":{{"dtype":"F32","shape":[{params}],"data_offsets":[0,{}]}}}}"#,
        params * 4
    );
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend(std::iter::repeat_n(0u8, params * 4));
    v
}

/// A release directory in a temp dir.
pub(crate) struct Repo {
    _tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
}

impl Repo {
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        Self { _tmp: tmp, root }
    }

    /// Writes `path` (parents created).
    pub(crate) fn file(&self, path: &str, contents: impl AsRef<[u8]>) -> &Self {
        let p = self.root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    pub(crate) fn audit(&self) -> Report {
        audit_path(&self.root).unwrap()
    }

    /// Detection alone, on the snapshot `audit_path` would audit.
    pub(crate) fn detect(&self) -> Detection {
        detect::detect(&mut glassbox_audit::local_snapshot(&self.root))
    }
}
