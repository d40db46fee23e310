//! `pack_words`: short lines or paragraphs of a text source are joined into documents of useful
//! length, so Gopher's 50-word minimum does not remove a text written one sentence per line.

#![allow(clippy::unwrap_used)]

use glassbox_data::config::CurateConfig;
use glassbox_data::source::read_all;

fn config(dir: &std::path::Path, extra: &str) -> CurateConfig {
    let text: String = (0..30)
        .map(|i| format!("Sentence number {i} tells a short story about the quiet river town.\n"))
        .collect();
    std::fs::write(dir.join("lines.txt"), text).unwrap();
    let toml = format!(
        "[[source]]\nname = \"lines\"\npath = \"lines.txt\"\nlicense = \"CC0-1.0\"\nsplit = \"line\"\n{extra}"
    );
    std::fs::write(dir.join("s.toml"), toml).unwrap();
    CurateConfig::from_file(&dir.join("s.toml")).unwrap()
}

fn documents(cfg: &CurateConfig) -> Vec<String> {
    let mut docs = Vec::new();
    read_all(cfg, &mut |d| {
        docs.push(String::from_utf8(d.bytes).unwrap());
        Ok(())
    })
    .unwrap();
    docs
}

#[test]
fn one_sentence_lines_are_packed_into_documents_of_at_least_n_words() {
    let tmp = tempfile::tempdir().unwrap();
    let alone = documents(&config(tmp.path(), ""));
    assert_eq!(alone.len(), 30);
    let packed = documents(&config(tmp.path(), "pack_words = 50\n"));
    // 12 words a line: 5 lines (60 words) a document, 6 documents; nothing lost, order kept.
    assert_eq!(packed.len(), 6, "{packed:?}");
    for d in &packed {
        assert!(d.split_whitespace().count() >= 50, "{d}");
    }
    assert_eq!(packed.join("\n"), alone.join("\n"));
}

#[test]
fn pack_words_out_of_range_is_a_config_error_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("lines.txt"), "a\n").unwrap();
    std::fs::write(
        tmp.path().join("s.toml"),
        "[[source]]\nname = \"l\"\npath = \"lines.txt\"\nlicense = \"CC0-1.0\"\npack_words = 0\n",
    )
    .unwrap();
    let e = CurateConfig::from_file(&tmp.path().join("s.toml")).unwrap_err();
    assert!(e.to_string().contains("pack_words"), "{e}");
}
