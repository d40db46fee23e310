//! Model card front matter (YAML) and Markdown.
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz!(|data: &[u8]| targets::card(&dir, data));
}
