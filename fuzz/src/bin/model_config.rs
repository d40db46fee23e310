//! `config.json` → model configuration, then the derived sizes.
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz_nohook!(|data: &[u8]| targets::model_config(&dir, data));
}
