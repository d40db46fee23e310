//! Model Openness Tool model files (YAML → MOT model).
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz!(|data: &[u8]| targets::mot(&dir, data));
}
