//! The built-in tasks made from verse-structured text follow their recipe, are reproducible from
//! their seed, and run as ordinary tasks.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use candle_core::Device;
use glassbox_eval::corpus_tasks::{
    CorpusTaskOptions, read_verses, write_corpus_task, write_parallel_task,
};
use glassbox_eval::evaluate::{EvalOptions, evaluate};
use glassbox_infer::Engine;
use serde_json::Value;

fn docs() -> Vec<(String, String)> {
    (0..4)
        .map(|d| {
            let text: Vec<String> = (0..6)
                .map(|v| {
                    format!(
                        "In chapter {d} the verse number {v} tells of the river and the mountain."
                    )
                })
                .chain(std::iter::once("A praise psalm.".to_string()))
                .collect();
            (format!("doc{d}"), text.join("\n\n"))
        })
        .collect()
}

fn read(p: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn follows_puts_the_next_line_among_lines_of_other_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let o = CorpusTaskOptions::default();
    let cfg = write_corpus_task("follows", &docs(), &o, tmp.path()).unwrap();
    assert_eq!(cfg.task, "follows");
    let items = read(&tmp.path().join("follows.jsonl"));
    // Five consecutive pairs per document; the repeated heading is never a line.
    assert_eq!(items.len(), 20);
    let mut golds = [0usize; 4];
    for it in &items {
        let ctx = it["context"].as_str().unwrap();
        let choices: Vec<&str> = it["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(choices.len(), 4);
        let g = it["gold"].as_u64().unwrap() as usize;
        golds[g] += 1;
        let (d, v) = (
            ctx.split(' ').nth(2).unwrap(),
            ctx.split(' ').nth(6).unwrap().parse::<usize>().unwrap(),
        );
        assert_eq!(
            choices[g],
            format!(
                "In chapter {d} the verse number {} tells of the river and the mountain.",
                v + 1
            )
        );
        for (i, c) in choices.iter().enumerate() {
            assert!(!c.contains("psalm"));
            if i != g {
                assert!(
                    !c.starts_with(&format!("In chapter {d} ")),
                    "{c} is from the same document"
                );
            }
        }
    }
    assert!(golds.iter().all(|&n| n > 0), "gold positions {golds:?}");
    // The same seed writes the same task; another seed other distractors.
    let again = tempfile::tempdir().unwrap();
    write_corpus_task("follows", &docs(), &o, again.path()).unwrap();
    assert_eq!(read(&again.path().join("follows.jsonl")), items);
    let other = CorpusTaskOptions {
        seed: 7,
        ..o.clone()
    };
    write_corpus_task("follows", &docs(), &other, again.path()).unwrap();
    assert_ne!(read(&again.path().join("follows.jsonl")), items);
    // Fewer documents: evenly spaced, in order.
    let few = CorpusTaskOptions { max_docs: 5, ..o };
    write_corpus_task("follows", &docs(), &few, again.path()).unwrap();
    let ids: Vec<String> = read(&again.path().join("follows.jsonl"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["doc0:2", "doc0:6", "doc1:5", "doc2:4", "doc3:3"]);
}

#[test]
fn cloze_asks_for_each_lines_last_word_after_the_line_before() {
    let tmp = tempfile::tempdir().unwrap();
    write_corpus_task("cloze", &docs(), &CorpusTaskOptions::default(), tmp.path()).unwrap();
    let items = read(&tmp.path().join("cloze.jsonl"));
    assert_eq!(items.len(), 24);
    assert_eq!(
        items[0]["context"],
        "In chapter 0 the verse number 0 tells of the river and the"
    );
    assert_eq!(items[0]["target"], " mountain");
    assert_eq!(
        items[1]["context"],
        "In chapter 0 the verse number 0 tells of the river and the mountain.\nIn chapter 0 the verse number 1 tells of the river and the"
    );
    assert!(write_corpus_task("nope", &docs(), &CorpusTaskOptions::default(), tmp.path()).is_err());
}

#[test]
fn parallel_pairs_verses_by_reference_and_both_directions_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (en, es) = (tmp.path().join("en.txt"), tmp.path().join("es.txt"));
    let mut a = String::new();
    let mut b = String::new();
    for v in 1..=12 {
        a.push_str(&format!(
            "Genesis 1:{v}: The {v} verse of the English text here.\nA heading.\n"
        ));
        // The Spanish file lacks verse 5.
        if v != 5 {
            b.push_str(&format!(
                "Genesis 1:{v}: El verso {v} del texto en español\ncontinúa aquí {v}.\n"
            ));
        }
    }
    std::fs::write(&en, a).unwrap();
    std::fs::write(&es, b).unwrap();
    let (ve, vs) = (read_verses(&en).unwrap(), read_verses(&es).unwrap());
    assert_eq!(
        ve[0],
        (
            "Genesis 1:1".into(),
            "The 1 verse of the English text here.".into()
        )
    );
    assert_eq!(vs[0].1, "El verso 1 del texto en español continúa aquí 1.");
    let out = tmp.path().join("tasks");
    let cfg = write_parallel_task(
        ("English", &ve),
        ("Spanish", &vs),
        None,
        &CorpusTaskOptions::default(),
        &out,
    )
    .unwrap();
    let items = read(&out.join("parallel.jsonl"));
    assert_eq!(items.len(), 11);
    for (i, it) in items.iter().enumerate() {
        let r = it["id"].as_str().unwrap();
        let v: usize = r.rsplit(':').next().unwrap().parse().unwrap();
        let g = it["gold"].as_u64().unwrap() as usize;
        let gold = it["choices"][g].as_str().unwrap();
        if i % 2 == 0 {
            assert!(it["context"].as_str().unwrap().starts_with("English: "));
            assert!(it["context"].as_str().unwrap().ends_with("\nSpanish:"));
            assert_eq!(
                gold,
                format!("El verso {v} del texto en español continúa aquí {v}.")
            );
        } else {
            assert_eq!(it["direction"], "Spanish->English");
            assert!(gold.starts_with(&format!("The {v} verse")));
        }
    }
    // The repeated heading is not part of a verse; a restriction to verses found in some text.
    let keep = vec!["… The 3 verse of the English   text here. …".to_string()];
    write_parallel_task(
        ("English", &ve),
        ("Spanish", &vs),
        Some(&keep),
        &CorpusTaskOptions::default(),
        &out,
    )
    .expect_err("one verse is too few for four choices");
    // The task runs as any other.
    let engine = Engine::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/llama"),
        &Device::Cpu,
    )
    .unwrap();
    let r = evaluate(&cfg, &engine, &EvalOptions::default()).unwrap();
    assert_eq!(r.docs, 11);
    assert!(r.metrics.contains_key("acc") && r.metrics.contains_key("acc_norm"));
}
