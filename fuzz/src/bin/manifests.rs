//! The JSON documents glassbox reads back: a dataset's `datasheet.json` (first byte % 3 == 0),
//! its `manifest.json` (1) and a bundle's `MANIFEST.json` (2).
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz_nohook!(|data: &[u8]| targets::manifests(&dir, data));
}
