//! Helpers shared by the CLI tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// `rel` inside the shared data (`../shared`, or `GLASSBOX_SHARED`); fails with what to do when
/// it is absent.
pub(crate) fn shared(rel: &str) -> PathBuf {
    let base = std::env::var_os("GLASSBOX_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let p = base.join(rel);
    assert!(
        p.exists(),
        "{} not found — set GLASSBOX_SHARED to the shared data directory",
        p.display()
    );
    p
}
