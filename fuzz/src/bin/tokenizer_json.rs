//! `tokenizer.json` (first byte even) or `tokenizer_config.json` beside the test model's
//! tokenizer (odd), loaded as a model directory is; the tokenizer then encodes and decodes a
//! mixed-script text, and the data crate loads the same `tokenizer.json`.
#[path = "../targets.rs"]
mod targets;

// No panic hook: the tokenizers library panics on some malformed files, and glassbox catches
// those panics and reports an error; only a panic that escapes counts.
fn main() {
    let dir = targets::scratch();
    afl::fuzz_nohook!(|data: &[u8]| targets::tokenizer_json(&dir, data));
}
