//! GGUF metadata reader of the audit.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = glassbox_audit::formats::gguf_summary(data);
    });
}
