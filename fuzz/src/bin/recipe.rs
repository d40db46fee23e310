//! A training recipe (`recipe.toml`), then its derived schedule and model configuration.
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz_nohook!(|data: &[u8]| targets::recipe(&dir, data));
}
