//! The code revision this glassbox was built from, and its source, embedded at build time by
//! `build.rs`: git commit and dirty flag (with the changed files), rustc, target, profile and every
//! locked dependency version from `Cargo.lock`.

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/sources.rs"));
}

/// `code_revision.json` (`schema_version` 1): `repository`, `commit`, `dirty`,
/// `changed_files`, `rustc`, `target`, `profile`, `glassbox_version`, `dependencies`
/// (`name`, `version`, `source`).
pub fn revision() -> serde_json::Value {
    serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/revision.json")))
        .unwrap_or(serde_json::Value::Null)
}

/// The workspace's source files at build time, as (path relative to the workspace, bytes).
pub fn sources() -> &'static [(&'static str, &'static [u8])] {
    embedded::SOURCES
}
