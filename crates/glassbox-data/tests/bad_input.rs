//! Bad input, one test per case: counted and reported (never silently dropped), or a clear error
//! naming the file.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use glassbox_data::config::CurateConfig;
use glassbox_data::dataset::Dataset;
use glassbox_data::tokenize::{TokenizeOptions, tokenize};
use glassbox_data::{curate, tokenizer};
use serde_json::Value;

/// Prose that passes every quality filter (so only the defect under test removes documents).
fn good_doc(i: usize) -> String {
    format!(
        "Document number {i} begins here with a plain sentence about the river and the town. \
The people of the town walked to the river in the morning and talked about the weather. \
They said that the water was cold, and that the fish had gone to the deeper pools downstream. \
In the afternoon the children played on the bank while their parents mended nets and boats. \
When evening came, everyone went home, lit the lamps, and ate bread with soup and cheese. \
Tomorrow they will do it all again, because that is how life goes in a small river town {i}."
    )
}

struct Case {
    tmp: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }
    fn write(&self, p: &str, bytes: impl AsRef<[u8]>) {
        let path = self.path(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    fn config(&self, body: &str) -> CurateConfig {
        let p = self.path("sources.toml");
        std::fs::write(&p, body).unwrap();
        CurateConfig::from_file(&p).unwrap()
    }
    fn curate(&self, cfg: &CurateConfig) -> glassbox_data::Result<Value> {
        let out = self.path("out");
        curate::curate(cfg, &out, &mut |_| {})?;
        Ok(
            serde_json::from_str(&std::fs::read_to_string(out.join("datasheet.json")).unwrap())
                .unwrap(),
        )
    }
    fn removed(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("out/removed.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

const NO_DEDUP: &str = "[steps]\nminhash_dedup = false\n";

#[test]
fn invalid_utf8_is_counted_and_reported() {
    let c = Case::new();
    let mut bytes = format!("{}\n", good_doc(1)).into_bytes();
    bytes.extend_from_slice(b"bad \xff\xfe bytes in ");
    bytes.extend_from_slice(good_doc(2).as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(format!("{}\n", good_doc(3)).as_bytes());
    c.write("in.txt", &bytes);
    let cfg = c.config(&format!("[[source]]\nname = \"s\"\npath = \"in.txt\"\nsplit = \"line\"\nlicense = \"CC0-1.0\"\n{NO_DEDUP}"));
    let sheet = c.curate(&cfg).unwrap();
    assert_eq!(sheet["totals"]["documents_read"], 3);
    assert_eq!(sheet["filters"]["invalid_utf8"]["removed"], 1);
    let r = c.removed();
    assert_eq!(r[0]["filter"], "invalid_utf8");
    assert!(
        r[0]["reason"].as_str().unwrap().contains("first at byte 4"),
        "{}",
        r[0]
    );
    // Replacing instead keeps it and counts it.
    let cfg = c.config(&format!("invalid_utf8 = \"replace\"\n[[source]]\nname = \"s\"\npath = \"in.txt\"\nsplit = \"line\"\nlicense = \"CC0-1.0\"\n{NO_DEDUP}"));
    let sheet = c.curate(&cfg).unwrap();
    assert_eq!(sheet["totals"]["documents_kept"], 3);
    assert_eq!(sheet["sources"][0]["utf8_replaced"], 1);
}

#[test]
fn empty_documents_are_counted() {
    let c = Case::new();
    c.write("dir/a.txt", good_doc(1));
    c.write("dir/b.txt", "");
    c.write("dir/c.txt", "   \n\n  \n");
    let cfg = c.config(&format!(
        "[[source]]\nname = \"d\"\npath = \"dir\"\nlicense = \"CC0-1.0\"\n{NO_DEDUP}"
    ));
    let sheet = c.curate(&cfg).unwrap();
    assert_eq!(sheet["totals"]["documents_read"], 3);
    assert_eq!(sheet["filters"]["empty"]["removed"], 2);
    assert_eq!(sheet["totals"]["documents_kept"], 1);
}

#[test]
fn a_ten_megabyte_single_line_is_removed_not_loaded_whole() {
    let c = Case::new();
    let mut f = std::fs::File::create(c.path("big.txt")).unwrap();
    writeln!(f, "{}", good_doc(1)).unwrap();
    let chunk = "word ".repeat(1 << 10);
    for _ in 0..(10 << 20) / chunk.len() {
        f.write_all(chunk.as_bytes()).unwrap();
    }
    writeln!(f).unwrap();
    writeln!(f, "{}", good_doc(2)).unwrap();
    drop(f);
    // A 1 MiB line limit: the 10 MB line is cut while read (memory stays bounded) and removed.
    let cfg = c.config(&format!("[[source]]\nname = \"s\"\npath = \"big.txt\"\nsplit = \"line\"\nlicense = \"CC0-1.0\"\n{NO_DEDUP}[limits]\nmax_line_bytes = 1048576\n"));
    let sheet = c.curate(&cfg).unwrap();
    assert_eq!(sheet["totals"]["documents_read"], 3);
    assert_eq!(sheet["totals"]["documents_kept"], 2);
    assert_eq!(sheet["filters"]["too_long"]["removed"], 1);
    // With the default limits it is read, then removed by the document-size limit.
    let cfg = c.config(&format!("[[source]]\nname = \"s\"\npath = \"big.txt\"\nsplit = \"line\"\nlicense = \"CC0-1.0\"\n{NO_DEDUP}[limits]\nmax_doc_bytes = 4194304\n"));
    let sheet = c.curate(&cfg).unwrap();
    assert_eq!(sheet["filters"]["too_long"]["removed"], 1);
}

#[test]
fn truncated_gzip_fails_clearly_or_is_recorded() {
    let c = Case::new();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..200 {
        writeln!(enc, "{}", good_doc(i)).unwrap();
    }
    let gz = enc.finish().unwrap();
    c.write("part.txt.gz", &gz[..gz.len() / 2]);
    let body = format!(
        "[[source]]\nname = \"s\"\npath = \"part.txt.gz\"\nsplit = \"line\"\nlicense = \"CC0-1.0\"\n{NO_DEDUP}"
    );
    let err = c.curate(&c.config(&body)).unwrap_err().to_string();
    assert!(
        err.contains("part.txt.gz") && err.contains("truncated"),
        "{err}"
    );
    let sheet = c
        .curate(&c.config(&format!("on_read_error = \"record\"\n{body}")))
        .unwrap();
    let p = &sheet["read_problems"][0];
    assert!(p["message"].as_str().unwrap().contains("truncated"), "{p}");
    let read = sheet["totals"]["documents_read"].as_u64().unwrap();
    assert!(
        read > 0 && read < 200,
        "documents before the cut are kept: {read}"
    );
}

#[test]
fn compressed_inputs_are_read() {
    let c = Case::new();
    let text: String = (0..5).map(|i| format!("{}\n", good_doc(i))).collect();
    let zst = ruzstd::encoding::compress_to_vec(
        text.as_bytes(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    c.write("a.txt.zst", &zst);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    c.write("b.txt.gz", enc.finish().unwrap());
    let cfg = c.config("[[source]]\nname = \"z\"\npath = \"a.txt.zst\"\nsplit = \"line\"\nlicense = \"CC0-1.0\"\n[[source]]\nname = \"g\"\npath = \"b.txt.gz\"\nsplit = \"line\"\nlicense = \"CC0-1.0\"\n[steps]\nminhash_dedup = false\nexact_dedup = false\n");
    let sheet = c.curate(&cfg).unwrap();
    assert_eq!(sheet["totals"]["documents_kept"], 10);
    // The hash is of the file as stored.
    assert_eq!(
        sheet["sources"][0]["files"][0]["sha256"],
        glassbox_core::hash::sha256_hex(&zst)
    );
}

#[test]
fn jsonl_lines_without_text_are_counted() {
    let c = Case::new();
    let lines = [
        serde_json::json!({"text": good_doc(1), "url": "https://example.org/1"}).to_string(),
        serde_json::json!({"body": "no text field"}).to_string(),
        serde_json::json!({"text": 42}).to_string(),
        "{not json".to_string(),
        "[1, 2]".to_string(),
        serde_json::json!({"text": good_doc(2)}).to_string(),
    ];
    c.write("d.jsonl", lines.join("\n"));
    let cfg = c.config(&format!(
        "[[source]]\nname = \"j\"\npath = \"d.jsonl\"\nlicense = \"CC-BY-4.0\"\n{NO_DEDUP}"
    ));
    let sheet = c.curate(&cfg).unwrap();
    assert_eq!(sheet["totals"]["documents_read"], 6);
    assert_eq!(sheet["filters"]["no_text"]["removed"], 2);
    assert_eq!(sheet["filters"]["invalid_json"]["removed"], 2);
    let r = c.removed();
    assert!(r.iter().any(|x| {
        x["reason"]
            .as_str()
            .unwrap()
            .contains("line 2 has no `text`")
    }));
    // Metadata is carried into the curated documents.
    let shard = std::fs::read_to_string(c.path("out/curated/shard-00000.jsonl")).unwrap();
    assert!(shard.contains("https://example.org/1"));
}

fn small_dataset(c: &Case) -> (PathBuf, PathBuf) {
    c.write(
        "in.txt",
        (0..40)
            .map(|i| format!("{}\n", good_doc(i)))
            .collect::<String>(),
    );
    let cfg = c.config(&format!("[[source]]\nname = \"s\"\npath = \"in.txt\"\nsplit = \"line\"\nlicense = \"CC0-1.0\"\n{NO_DEDUP}"));
    c.curate(&cfg).unwrap();
    let docs: Vec<String> = (0..40).map(good_doc).collect();
    let tk_path = c.path("tok.json");
    let tk = tokenizer::train(
        docs.into_iter(),
        &tokenizer::TrainOptions {
            vocab_size: 400,
            ..Default::default()
        },
        &tk_path,
    )
    .unwrap();
    std::fs::write(&tk_path, tokenizer::to_json(&tk, &tk_path).unwrap()).unwrap();
    (c.path("out"), tk_path)
}

#[test]
fn vocabulary_beyond_uint16_uses_uint32_and_refuses_uint16() {
    let c = Case::new();
    let (curated, tk_path) = small_dataset(&c);
    // Add 70,000 added tokens: the vocabulary no longer fits 16 bits.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&tk_path).unwrap()).unwrap();
    let added = v["added_tokens"].as_array_mut().unwrap();
    for i in 0..70_000u32 {
        added.push(serde_json::json!({"id": 400 + i, "content": format!("<extra_{i}>"), "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
    }
    let big = c.path("big.json");
    std::fs::write(&big, serde_json::to_string(&v).unwrap()).unwrap();
    let m = tokenize(
        &curated,
        &big,
        &c.path("ds32"),
        &TokenizeOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(m.dtype, glassbox_data::shards::Dtype::Uint32);
    assert!(Dataset::open(&c.path("ds32")).is_ok());
    let opts = TokenizeOptions {
        dtype: Some(glassbox_data::shards::Dtype::Uint16),
        ..Default::default()
    };
    let e = tokenize(&curated, &big, &c.path("ds16"), &opts, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("big.json") && e.contains("does not fit uint16"),
        "{e}"
    );
}

#[test]
fn shard_or_index_not_matching_the_manifest_is_refused() {
    let c = Case::new();
    let (curated, tk_path) = small_dataset(&c);
    let ds = c.path("ds");
    tokenize(
        &curated,
        &tk_path,
        &ds,
        &TokenizeOptions {
            heldout_fraction: 0.0,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let shard = ds.join("tokens/train-00000.bin");
    let original = std::fs::read(&shard).unwrap();
    // One token changed: the hash no longer matches.
    let mut bytes = original.clone();
    bytes[40] ^= 1;
    std::fs::write(&shard, &bytes).unwrap();
    let e = Dataset::open(&ds).unwrap_err().to_string();
    assert!(
        e.contains("train-00000.bin") && e.contains("SHA-256"),
        "{e}"
    );
    // Header count changed: refused before hashing.
    let mut bytes = original.clone();
    bytes[16] ^= 1;
    std::fs::write(&shard, &bytes).unwrap();
    let e = Dataset::open(&ds).unwrap_err().to_string();
    assert!(e.contains("train-00000.bin") && e.contains("header"), "{e}");
    std::fs::write(&shard, &original).unwrap();
    std::fs::write(ds.join("index.jsonl"), "{}\n").unwrap();
    let e = Dataset::open(&ds).unwrap_err().to_string();
    assert!(e.contains("index.jsonl"), "{e}");
    // A curated shard edited after curation is refused by tokenize too.
    let cs = curated.join("curated/shard-00000.jsonl");
    let mut t = std::fs::read_to_string(&cs).unwrap();
    t.push_str("{}\n");
    std::fs::write(&cs, t).unwrap();
    let e = tokenize(
        &curated,
        &tk_path,
        &c.path("ds2"),
        &TokenizeOptions::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("shard-00000.jsonl") && e.contains("SHA-256"),
        "{e}"
    );
}

#[test]
fn missing_and_wrong_inputs_name_the_file() {
    let c = Case::new();
    let cfg = c.config("[[source]]\nname = \"s\"\npath = \"nope.txt\"\nlicense = \"MIT\"\n");
    let e = c.curate(&cfg).unwrap_err().to_string();
    assert!(e.contains("nope.txt"), "{e}");
    let e = Dataset::open(Path::new("/nonexistent/ds"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("manifest.json") && e.contains("data tokenize"),
        "{e}"
    );
    let e = tokenizer::load(Path::new("/nonexistent/tok.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("tok.json"), "{e}");
}
