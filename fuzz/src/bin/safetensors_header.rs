//! safetensors header summary of the audit (length prefix + JSON).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let head = data.get(..8).unwrap_or(data).to_vec();
        let rest = data.get(8..).unwrap_or(&[]).to_vec();
        let _ = glassbox_audit::formats::safetensors_summary(&head, |n| {
            Ok(rest.get(..n.min(rest.len())).unwrap_or(&[]).to_vec())
        });
    });
}
