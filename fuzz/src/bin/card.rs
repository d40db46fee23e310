//! Model card front matter (YAML) and Markdown.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let mut findings = Vec::new();
            let _ = glassbox_audit::card::Card::parse("README.md", text, false, &mut findings);
        }
    });
}
