//! Static pickle scanner (plain pickle streams and zip archives).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = glassbox_audit::pickle::scan_file(std::io::Cursor::new(data));
    });
}
