//! A chat template (UTF-8 text) compiled and rendered over a conversation with a system
//! prompt, tool calls and a tool answer; the render is bounded by fuel and output size.
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz_nohook!(|data: &[u8]| targets::chat_template(&dir, data));
}
