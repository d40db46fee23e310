//! `model.safetensors` as the model crate maps it: header checks, then every tensor of up to a
//! million elements decoded to f32.
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz_nohook!(|data: &[u8]| targets::model_safetensors(&dir, data));
}
