//! safetensors header summary of the audit (length prefix + JSON).
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz!(|data: &[u8]| targets::safetensors_header(&dir, data));
}
