//! Model Openness Tool model files (YAML → MOT model).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data)
            && let Ok(v) = glassbox_audit::card::parse_yaml(text)
        {
            let _ = glassbox_audit::mot::parse(&v, std::path::Path::new("model.yml"));
        }
    });
}
