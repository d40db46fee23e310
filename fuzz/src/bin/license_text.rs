//! Licence identification and clause detection on arbitrary text.
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz!(|data: &[u8]| targets::license_text(&dir, data));
}
