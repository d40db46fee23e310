//! GGUF metadata reader of the audit.
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz!(|data: &[u8]| targets::gguf(&dir, data));
}
