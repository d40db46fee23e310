//! Static pickle scanner of the audit (plain pickle streams and zip archives).
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz!(|data: &[u8]| targets::pickle(&dir, data));
}
