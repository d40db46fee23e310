//! Licence identification and clause detection on arbitrary text.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = glassbox_audit::license::from_text(text);
        }
    });
}
