//! The whole chain on the test corpora (World English Bible, Reina-Valera 1909), checked
//! against independent counts and independent re-implementations: datasheet counts, determinism,
//! batches as a training loop reading the shards would see them, traces, tokenizer extension and
//! interop round trips.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use glassbox_core::rng::Rng;
use glassbox_data::config::CurateConfig;
use glassbox_data::dataset::Dataset;
use glassbox_data::tokenize::{TokenizeOptions, tokenize};
use glassbox_data::{curate, interop, tokenizer};
use serde_json::Value;

/// The test corpora: `$GLASSBOX_CORPORA`, else `target/corpora` (extracted by
/// `scripts/dev-setup.sh` from Debian's SWORD modules).
fn corpora() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        std::env::var_os("GLASSBOX_CORPORA").map(PathBuf::from),
        Some(repo.join("target/corpora")),
    ]
    .into_iter()
    .flatten()
    .find(|d| d.join("en_web.txt").is_file() && d.join("es_rv1909.txt").is_file())
    .unwrap_or_else(|| {
        panic!("the test corpora are missing: run scripts/dev-setup.sh (it extracts them into target/corpora)")
    })
}

/// Chapters: consecutive verses of the same book and chapter ("Genesis 1:1: …"); the verse
/// references themselves are stripped from the text.
const GROUP: &str = r"^(.+? \d+):\d+:";
const STRIP: &str = r"^.+? \d+:\d+: ";

fn config_text(extra: &str) -> String {
    let c = corpora();
    format!(
        "[[source]]\nname = \"web-en\"\npath = \"{}\"\nsplit = \"group\"\ngroup_pattern = '{GROUP}'\nstrip_pattern = '{STRIP}'\nlicense = \"public-domain\"\nurl = \"https://ebible.org/engwebp/\"\n\n[[source]]\nname = \"rv-es\"\npath = \"{}\"\nsplit = \"group\"\ngroup_pattern = '{GROUP}'\nstrip_pattern = '{STRIP}'\nlicense = \"public-domain\"\n{extra}",
        c.join("en_web.txt").display(),
        c.join("es_rv1909.txt").display()
    )
}

struct Built {
    _tmp: tempfile::TempDir,
    curated: PathBuf,
    tokenizer: PathBuf,
    dataset: PathBuf,
}

/// One full run shared by the tests (curate → tokenizer → tokenize).
fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let cfg_path = tmp.path().join("sources.toml");
        std::fs::write(&cfg_path, config_text("")).unwrap();
        let cfg = CurateConfig::from_file(&cfg_path).unwrap();
        let curated = tmp.path().join("curated");
        curate::curate(&cfg, &curated, &mut |_| {}).unwrap();
        let tokenizer = tmp.path().join("tokenizer.json");
        let docs = docs(&curated);
        let tk = tokenizer::train(
            docs.into_iter(),
            &tokenizer::TrainOptions {
                vocab_size: 2048,
                ..Default::default()
            },
            &tokenizer,
        )
        .unwrap();
        std::fs::write(&tokenizer, tokenizer::to_json(&tk, &tokenizer).unwrap()).unwrap();
        let dataset = tmp.path().join("dataset");
        tokenize(
            &curated,
            &tokenizer,
            &dataset,
            &TokenizeOptions {
                heldout_fraction: 0.02,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
        Built {
            curated,
            tokenizer,
            dataset,
            _tmp: tmp,
        }
    })
}

fn docs(dir: &Path) -> Vec<String> {
    let m = curate::read_manifest(dir).unwrap();
    let mut out = Vec::new();
    curate::for_each_doc(dir, &m, &mut |d| {
        out.push(d.text);
        Ok(())
    })
    .unwrap();
    out
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Chapters of a corpus counted without glassbox: the book-and-chapter prefix of each verse line.
fn independent_chapters(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let mut keys = Vec::new();
    for line in text.lines() {
        // "Book Name 12:34: text" → "Book Name 12"
        if let Some((head, _)) = line.split_once(": ")
            && let Some((book_ch, verse)) = head.rsplit_once(':')
            && verse.chars().all(|c| c.is_ascii_digit())
            && book_ch
                .rsplit_once(' ')
                .is_some_and(|(_, c)| c.chars().all(|d| d.is_ascii_digit()))
            && keys.last() != Some(&book_ch.to_string())
        {
            keys.push(book_ch.to_string());
        }
    }
    keys.len()
}

#[test]
fn datasheet_counts_match_independent_counts() {
    let b = built();
    let sheet = read_json(&b.curated.join("datasheet.json"));
    let c = corpora();
    let sources = sheet["sources"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = sources
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s))
        .collect();
    assert_eq!(
        by_name["web-en"]["documents_read"].as_u64().unwrap() as usize,
        independent_chapters(&c.join("en_web.txt"))
    );
    assert_eq!(
        by_name["rv-es"]["documents_read"].as_u64().unwrap() as usize,
        independent_chapters(&c.join("es_rv1909.txt"))
    );
    // File hashes as anyone would compute them.
    assert_eq!(
        by_name["web-en"]["files"][0]["sha256"],
        "5bd7275c02c7d9eb5a64cc7665604b7f8c1ae2cad19d58a0583dd052985e44a0"
    );
    assert_eq!(
        by_name["rv-es"]["files"][0]["sha256"],
        "ff4f56764f5c11e65c8636dfa23649b35e9050e6298a68c740845d0cb0f0ca73"
    );
    // Kept + removed = read; removed.jsonl agrees with the per-filter counts.
    let t = &sheet["totals"];
    assert_eq!(
        t["documents_kept"].as_u64().unwrap() + t["documents_removed"].as_u64().unwrap(),
        t["documents_read"].as_u64().unwrap()
    );
    let removed = std::fs::read_to_string(b.curated.join("removed.jsonl")).unwrap();
    let mut per_filter: BTreeMap<String, u64> = BTreeMap::new();
    for l in removed.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        *per_filter
            .entry(v["filter"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (f, n) in &per_filter {
        assert_eq!(sheet["filters"][f]["removed"].as_u64().unwrap(), *n, "{f}");
    }
    // Languages and characters agree with the curated shards.
    let m = curate::read_manifest(&b.curated).unwrap();
    let mut langs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    curate::for_each_doc(&b.curated, &m, &mut |d| {
        let e = langs.entry(d.lang).or_default();
        e.0 += 1;
        e.1 += d.text.chars().count() as u64;
        Ok(())
    })
    .unwrap();
    for (l, (docs, chars)) in &langs {
        assert_eq!(sheet["languages"][l]["documents"].as_u64().unwrap(), *docs);
        assert_eq!(
            sheet["languages"][l]["characters"].as_u64().unwrap(),
            *chars
        );
    }
    assert!(
        langs.contains_key("eng") && langs.contains_key("spa"),
        "{langs:?}"
    );
    assert!(langs["eng"].0 > 300 && langs["spa"].0 > 1000, "{langs:?}");
    // The extraction noise the corpus README warns about (psalm headings repeated after every
    // verse) is what the Gopher repetition rule removes, with examples in the datasheet.
    let dup = &sheet["filters"]["dup_line_frac"];
    assert!(dup["by_source"]["web-en"].as_u64().unwrap() > 100, "{dup}");
    assert!(!dup["examples"].as_array().unwrap().is_empty());
    // The markdown shows the same numbers.
    let md = std::fs::read_to_string(b.curated.join("datasheet.md")).unwrap();
    assert!(md.contains(&format!("| eng | {} |", langs["eng"].0)));
}

#[test]
fn same_inputs_give_byte_identical_outputs_whatever_the_threads() {
    let b = built();
    let tmp = tempfile::tempdir().unwrap();
    let cfg_path = tmp.path().join("s.toml");
    std::fs::write(&cfg_path, config_text("")).unwrap();
    let cfg = CurateConfig::from_file(&cfg_path).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let again = tmp.path().join("curated");
    one.install(|| curate::curate(&cfg, &again, &mut |_| {}))
        .unwrap();
    for f in ["curate.json", "removed.jsonl", "curated/shard-00000.jsonl"] {
        assert_eq!(
            std::fs::read(b.curated.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let a: Value = read_json(&b.curated.join("datasheet.json"));
    let c: Value = read_json(&again.join("datasheet.json"));
    assert_eq!(a["totals"], c["totals"]);
    assert_eq!(a["filters"], c["filters"]);
    // Tokenizer training: same bytes with 1 thread.
    let docs = docs(&b.curated);
    let tk = one
        .install(|| {
            tokenizer::train(
                docs.into_iter(),
                &tokenizer::TrainOptions {
                    vocab_size: 2048,
                    ..Default::default()
                },
                &b.tokenizer,
            )
        })
        .unwrap();
    assert_eq!(
        tokenizer::to_json(&tk, &b.tokenizer).unwrap().as_bytes(),
        std::fs::read(&b.tokenizer).unwrap().as_slice()
    );
    // Tokenisation: byte-identical manifest (it holds every shard's SHA-256).
    let ds2 = tmp.path().join("dataset");
    one.install(|| {
        tokenize(
            &b.curated,
            &b.tokenizer,
            &ds2,
            &TokenizeOptions {
                heldout_fraction: 0.02,
                ..Default::default()
            },
            &mut |_| {},
        )
    })
    .unwrap();
    assert_eq!(
        std::fs::read(b.dataset.join("manifest.json")).unwrap(),
        std::fs::read(ds2.join("manifest.json")).unwrap()
    );
}

/// A training loop's view: read every train shard by hand (header, then little-endian ids),
/// shuffle sample indices with the documented algorithm, slice windows.
fn loop_batch(dataset: &Path, step: u64, bs: u64, seq_len: u64, seed: u64) -> Vec<Vec<u32>> {
    let m = read_json(&dataset.join("manifest.json"));
    let mut stream = Vec::new();
    for s in m["splits"]["train"]["shards"].as_array().unwrap() {
        let bytes = std::fs::read(dataset.join(s["file"].as_str().unwrap())).unwrap();
        let width = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        for c in bytes[32..].chunks_exact(width) {
            stream.push(if width == 2 {
                u16::from_le_bytes([c[0], c[1]]) as u32
            } else {
                u32::from_le_bytes(c.try_into().unwrap())
            });
        }
    }
    let n = (stream.len() as u64 - 1) / seq_len;
    let mut out = Vec::new();
    for row in 0..bs {
        let p = step * bs + row;
        let epoch = p / n;
        let mut rng =
            Rng::seed_from_u64(seed.wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let mut perm: Vec<u64> = (0..n).collect();
        for i in (1..n).rev() {
            let j = rng.below(i + 1);
            perm.swap(i as usize, j as usize);
        }
        let i = perm[(p % n) as usize] as usize;
        out.push(
            stream[i * seq_len as usize..i * seq_len as usize + seq_len as usize + 1].to_vec(),
        );
    }
    out
}

#[test]
fn batches_equal_what_a_training_loop_reads() {
    let b = built();
    let mut ds = Dataset::open(&b.dataset).unwrap();
    let n = ds.num_samples(128);
    let last_step_of_epoch = n / 8;
    for step in [0, 1, 17, last_step_of_epoch, last_step_of_epoch + 3] {
        let got: Vec<Vec<u32>> = ds
            .batch(step, 8, 128, 1234)
            .unwrap()
            .into_iter()
            .map(|s| s.tokens)
            .collect();
        assert_eq!(
            got,
            loop_batch(&b.dataset, step, 8, 128, 1234),
            "step {step}"
        );
    }
}

#[test]
fn trace_lists_exactly_the_steps_whose_batches_hold_the_document() {
    let b = built();
    let mut ds = Dataset::open(&b.dataset).unwrap();
    let doc = ds.train_docs[ds.train_docs.len() / 2].id.clone();
    let occ = ds.trace(&doc, 4, 64, 7, 1).unwrap();
    assert!(!occ.is_empty());
    let steps = ds.num_samples(64) / 4;
    let mut seen = HashSet::new();
    for step in 0..steps {
        for s in ds.batch(step, 4, 64, 7).unwrap() {
            if s.documents.iter().any(|d| d.id == doc) {
                seen.insert((step, s.row as u64));
            }
        }
    }
    let traced: HashSet<(u64, u64)> = occ.iter().map(|o| (o.step, o.row)).collect();
    assert_eq!(traced, seen);
    let held = ds.heldout_docs.first().unwrap().id.clone();
    assert!(
        ds.trace(&held, 4, 64, 7, 1)
            .unwrap_err()
            .to_string()
            .contains("held-out")
    );
}

#[test]
fn order_file_is_written_hashed_and_readable() {
    let b = built();
    let tmp = tempfile::tempdir().unwrap();
    // Work on a copy: the shared dataset must not change under other tests.
    let copy = tmp.path().join("ds");
    copy_dir(&b.dataset, &copy);
    let mut ds = Dataset::open(&copy).unwrap();
    let (path, sha) = ds.write_order(128, 42).unwrap();
    assert_eq!(glassbox_core::hash::sha256_file(&path).unwrap(), sha);
    let (l, seed, perm) = glassbox_data::dataset::read_order(&path).unwrap();
    assert_eq!((l, seed), (128, 42));
    assert_eq!(
        perm,
        glassbox_data::dataset::permutation(ds.num_samples(128), 42, 0)
    );
    let m = read_json(&copy.join("manifest.json"));
    assert_eq!(m["orders"][0]["sha256"], sha.as_str());
    assert!(Dataset::open(&copy).is_ok());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn extending_the_english_tokenizer_for_spanish_keeps_ids_and_lowers_fertility() {
    let b = built();
    let base = tokenizer::load(&b.tokenizer).unwrap();
    let m = curate::read_manifest(&b.curated).unwrap();
    let mut spanish = Vec::new();
    curate::for_each_doc(&b.curated, &m, &mut |d| {
        if d.lang == "spa" && spanish.len() < 300 {
            spanish.push(d.text);
        }
        Ok(())
    })
    .unwrap();
    let (ext, report) = tokenizer::extend(&base, &spanish, 500, &b.tokenizer).unwrap();
    assert!(report.added > 100, "{report:?}");
    assert!(
        report.fertility_after < report.fertility_before,
        "{report:?}"
    );
    for (tok, id) in base.get_vocab(true) {
        assert_eq!(ext.token_to_id(&tok), Some(id), "id of {tok:?} changed");
    }
}

#[test]
fn interop_round_trips() {
    let b = built();
    let tmp = tempfile::tempdir().unwrap();
    let mut ds = Dataset::open(&b.dataset).unwrap();
    // Megatron: every document back, EOS included.
    interop::export_megatron(&mut ds, tmp.path(), "train").unwrap();
    let docs = interop::read_megatron(&tmp.path().join("train")).unwrap();
    assert_eq!(docs.len(), ds.train_docs.len());
    for (k, d) in ds.train_docs.clone().iter().enumerate().step_by(97) {
        assert_eq!(
            docs[k],
            ds.read("train", d.start, d.length as usize + 1).unwrap()
        );
    }
    // OLMo: instance global_indices[p] is the sample at position p.
    let olmo = tmp.path().join("olmo");
    interop::export_olmo(&mut ds, 64, 9, &olmo).unwrap();
    let toks = std::fs::read(olmo.join("part-00000.npy")).unwrap();
    let idx = std::fs::read(olmo.join("global_indices.npy")).unwrap();
    let batch = ds.batch(3, 4, 64, 9).unwrap();
    for s in &batch {
        let inst = u32::from_le_bytes(
            idx[s.position as usize * 4..s.position as usize * 4 + 4]
                .try_into()
                .unwrap(),
        ) as usize;
        let width = 2;
        let chunk: Vec<u32> = toks[inst * 65 * width..(inst + 1) * 65 * width]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
            .collect();
        assert_eq!(chunk, s.tokens);
    }
    // nanoGPT and llm.c imports.
    let tokens: Vec<u32> = ds.read("train", 0, 5000).unwrap();
    let eos = read_json(&b.dataset.join("manifest.json"))["tokenizer"]["eos_id"]
        .as_u64()
        .unwrap() as u32;
    let nano = tmp.path().join("train.bin");
    std::fs::write(
        &nano,
        tokens
            .iter()
            .flat_map(|t| (*t as u16).to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let imported = tmp.path().join("nano");
    interop::import(
        &nano,
        interop::ImportFormat::NanoGpt,
        eos,
        Some(&b.tokenizer),
        &imported,
    )
    .unwrap();
    let mut back = Dataset::open(&imported).unwrap();
    assert_eq!(back.read("train", 0, 5000).unwrap(), tokens);
    let llmc = tmp.path().join("shard.bin");
    interop::write_llmc(&llmc, &tokens, glassbox_data::shards::Dtype::Uint16).unwrap();
    let imported = tmp.path().join("llmc");
    interop::import(&llmc, interop::ImportFormat::Llmc, eos, None, &imported).unwrap();
    assert_eq!(
        Dataset::open(&imported)
            .unwrap()
            .read("train", 0, 5000)
            .unwrap(),
        tokens
    );
    assert_eq!(
        Dataset::open(&imported).unwrap().train_docs.len(),
        tokens.iter().filter(|t| **t == eos).count() + usize::from(tokens.last() != Some(&eos))
    );
}

#[test]
fn fast_encoder_gives_the_same_ids_as_tokenizers() {
    let b = built();
    let json = std::fs::read_to_string(&b.tokenizer).unwrap();
    let fast = glassbox_data::fastbpe::FastBpe::new(&json)
        .expect("trained tokenizers fit the fast encoder");
    let tk = tokenizer::load(&b.tokenizer).unwrap();
    let mut cache = std::collections::HashMap::new();
    let mut texts = docs(&b.curated);
    // Raw corpus lines too (verse references, odd spacing), and hard cases.
    let c = corpora();
    for f in ["en_web.txt", "es_rv1909.txt"] {
        texts.extend(
            std::fs::read_to_string(c.join(f))
                .unwrap()
                .lines()
                .step_by(7)
                .map(str::to_string),
        );
    }
    texts.extend(
        [
            "",
            " ",
            "  a  b   ",
            "\t\tx\r\n",
            "日本語のテキスト",
            "emoji 🎉🎉 and ZWJ 👩‍💻",
            "e\u{301} combining",
            "1,234.56 ½ ² Ⅻ",
            "it's they're we've I'm you'll he'd 'S",
            "<|endoftext|> inside <|endoftext|>",
            "\u{a0}nbsp\u{2003}em",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    for t in &texts {
        let want = tk.encode(t.as_str(), false).unwrap().get_ids().to_vec();
        assert_eq!(
            fast.encode(t, &mut cache),
            Some(want),
            "text {:?}",
            t.chars().take(80).collect::<String>()
        );
    }
}
