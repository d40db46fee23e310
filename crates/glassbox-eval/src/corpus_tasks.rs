//! Tasks made from verse-structured public-domain text, written out as ordinary lm-eval task
//! files (`<name>.yaml` + `<name>.jsonl`) so they run in `glassbox eval`, cache per checkpoint,
//! travel in bundles and run unchanged in lm-eval itself.
//!
//! The recipe (docs/evaluation.md, "Built-in tasks"):
//! - **lines**: each document is split at newlines; lines are trimmed, empty ones dropped, and
//!   so are lines found three times or more over all documents (headings and notes repeated
//!   before verses). In a held-out Bible chapter a line is a verse (or a line of poetry).
//! - **`cloze`** (LAMBADA-style, `loglikelihood`): a line of at least [`CLOZE_MIN_WORDS`] words
//!   whose last word, without trailing punctuation, is at least three letters. Context: the line
//!   before it (if any, same document), a newline, then the line up to its last word; target:
//!   a space and that word. Its punctuation is left out of both.
//! - **`follows`** (four-way `multiple_choice`): for consecutive lines (a, b) of one document,
//!   both of at least [`FOLLOWS_MIN_WORDS`] words: context a, choices b and three lines of
//!   *other* documents (of the same document when there is only one, never a or b or a copy of
//!   b), drawn with Python's `random.Random(seed)`; the gold's position drawn from it too.
//!   The delimiter between context and choice is a newline.
//! - **`parallel`** (four-way `multiple_choice`): verses present in both of two `Book C:V: text`
//!   files, both sides at least [`FOLLOWS_MIN_WORDS`] words. Item i asks for the translation into
//!   the second language when i is even, into the first when odd: context
//!   `"<Lang1>: <verse>\n<Lang2>:"`, choices the true verse and three other verses of that
//!   language (drawn as above).
//!
//! When there are more candidates than `max_docs`, `max_docs` evenly spaced ones are kept (in
//! order), so a task's documents do not depend on the seed and grow predictably with the data.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::pyrandom::PyRandom;
use crate::task::TaskConfig;
use crate::{EvalError, Result};

/// Shortest line (in words) a cloze is made from.
pub const CLOZE_MIN_WORDS: usize = 6;
/// Shortest line (in words) in a "which line follows" or parallel item.
pub const FOLLOWS_MIN_WORDS: usize = 4;

/// The task names [`write_corpus_task`] makes from documents.
pub const DOC_TASKS: [&str; 2] = ["cloze", "follows"];

/// What to build a task from, and how many documents at most.
#[derive(Debug, Clone)]
pub struct CorpusTaskOptions {
    /// Seed of the distractor and gold-position draws.
    pub seed: u32,
    /// Most documents in the task.
    pub max_docs: usize,
}

impl Default for CorpusTaskOptions {
    fn default() -> Self {
        Self {
            seed: 1234,
            max_docs: 500,
        }
    }
}

/// The non-empty trimmed lines of a document.
fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// `max` evenly spaced items of `v`, in order (all when there are no more than `max`).
fn spaced<T: Clone>(v: Vec<T>, max: usize) -> Vec<T> {
    if v.len() <= max {
        return v;
    }
    (0..max).map(|i| v[i * v.len() / max].clone()).collect()
}

/// The cloze of `line` (after `prev`): `(context, target)`, or none when the line does not
/// qualify.
fn cloze_of(prev: Option<&str>, line: &str) -> Option<(String, String)> {
    if words(line) < CLOZE_MIN_WORDS {
        return None;
    }
    let body = line.trim_end();
    let cut = body.rfind(char::is_whitespace)?;
    let last = &body[cut..].trim_start();
    let word = last.trim_end_matches(|c: char| !c.is_alphanumeric());
    if word.chars().count() < 3 || !word.chars().all(char::is_alphabetic) {
        return None;
    }
    let head = body[..cut].trim_end();
    let context = match prev {
        Some(p) => format!("{p}\n{head}"),
        None => head.to_string(),
    };
    Some((context, format!(" {word}")))
}

/// Three distractors for `exclude` from `pool` (texts), drawn with `rng`, never equal to any
/// text in `exclude`; fewer when the pool has too few.
fn distractors(rng: &mut PyRandom, pool: &[&str], exclude: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in rng.sample(pool.len(), pool.len().min(3 + 2 * exclude.len() + 8)) {
        let t = pool[i];
        if exclude.contains(&t) || out.iter().any(|o| o == t) {
            continue;
        }
        out.push(t.to_string());
        if out.len() == 3 {
            break;
        }
    }
    out
}

/// A four-way item: the gold text put at a drawn position among three distractors.
fn four_way(
    rng: &mut PyRandom,
    gold: &str,
    pool: &[&str],
    exclude: &[&str],
) -> Option<(Vec<String>, usize)> {
    let mut choices = distractors(rng, pool, exclude);
    if choices.len() < 3 {
        return None;
    }
    let at = rng.randbelow(4) as usize;
    choices.insert(at, gold.to_string());
    Some((choices, at))
}

/// Writes the task `name` (one of [`DOC_TASKS`]) built from `docs` (id, text) into `dir` and
/// loads it.
pub fn write_corpus_task(
    name: &str,
    docs: &[(String, String)],
    opts: &CorpusTaskOptions,
    dir: &Path,
) -> Result<TaskConfig> {
    // Lines seen three times or more are headings and notes, not verses: left out.
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (_, t) in docs {
        for l in lines(t) {
            *seen.entry(l).or_default() += 1;
        }
    }
    let split: Vec<(usize, Vec<&str>)> = docs
        .iter()
        .enumerate()
        .map(|(i, (_, t))| {
            let ls = lines(t).into_iter().filter(|l| seen[l] < 3).collect();
            (i, ls)
        })
        .collect();
    let mut rng = PyRandom::new(opts.seed);
    let items: Vec<Value> = match name {
        "cloze" => {
            let mut all = Vec::new();
            for (d, ls) in &split {
                for (j, l) in ls.iter().enumerate() {
                    let prev = j.checked_sub(1).map(|k| ls[k]);
                    if let Some((context, target)) = cloze_of(prev, l) {
                        all.push(json!({"id": format!("{}:{}", docs[*d].0, j + 1),
                            "context": context, "target": target}));
                    }
                }
            }
            spaced(all, opts.max_docs)
        }
        "follows" => {
            let mut pairs = Vec::new();
            for (d, ls) in &split {
                for j in 1..ls.len() {
                    if words(ls[j - 1]) >= FOLLOWS_MIN_WORDS && words(ls[j]) >= FOLLOWS_MIN_WORDS {
                        pairs.push((*d, j));
                    }
                }
            }
            let several = split.iter().filter(|(_, l)| !l.is_empty()).count() > 1;
            let mut out = Vec::new();
            // The distractor pool of the current document (items come document by document).
            let mut pool: (Option<usize>, Vec<&str>) = (None, Vec::new());
            for (d, j) in spaced(pairs, opts.max_docs) {
                let ls = &split[d].1;
                if pool.0 != Some(d) {
                    pool = (
                        Some(d),
                        split
                            .iter()
                            .filter(|(e, _)| !several || *e != d)
                            .flat_map(|(_, l)| l.iter().copied())
                            .filter(|l| words(l) >= FOLLOWS_MIN_WORDS)
                            .collect(),
                    );
                }
                let pool = &pool.1;
                let Some((choices, gold)) = four_way(&mut rng, ls[j], pool, &[ls[j - 1], ls[j]])
                else {
                    continue;
                };
                out.push(json!({"id": format!("{}:{}", docs[d].0, j + 1),
                    "context": ls[j - 1], "choices": choices, "gold": gold}));
            }
            out
        }
        other => {
            return Err(EvalError::Request(format!(
                "no built-in task {other:?} made from documents (there are: {})",
                DOC_TASKS.join(", ")
            )));
        }
    };
    let yaml = match name {
        "cloze" => {
            "output_type: loglikelihood\ndoc_to_text: context\ndoc_to_target: target\ntarget_delimiter: \"\"\nmetric_list:\n  - metric: perplexity\n  - metric: acc\n"
        }
        _ => {
            "output_type: multiple_choice\ndoc_to_text: context\ndoc_to_choice: choices\ndoc_to_target: gold\ntarget_delimiter: \"\\n\"\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\n"
        }
    };
    write_task(name, &items, yaml, dir)
}

/// A Bible in diatheke's `Book C:V: text` form: verse text by reference, in file order. Lines
/// without a reference continue the verse before them (poetry), except lines repeated three
/// times or more: headings diatheke prints again before every verse of some books.
pub fn read_verses(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvalError::Request(format!("{}: {e}", path.display())))?;
    let mut repeats: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for line in text.lines().filter(|l| verse_ref(l).is_none()) {
        *repeats.entry(line.trim()).or_default() += 1;
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        match verse_ref(line) {
            Some((r, body)) => out.push((r.to_string(), body.trim().to_string())),
            None => {
                let l = line.trim();
                if let Some((_, last)) = out.last_mut()
                    && !l.is_empty()
                    && repeats.get(l).is_none_or(|&n| n < 3)
                {
                    last.push(' ');
                    last.push_str(l);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(EvalError::Request(format!(
            "{}: no verse in `Book C:V: text` form",
            path.display()
        )));
    }
    Ok(out)
}

/// `("Genesis 1:1", rest)` of a line starting with a verse reference.
fn verse_ref(line: &str) -> Option<(&str, &str)> {
    let (head, rest) = line.split_once(": ")?;
    let (_, cv) = head.rsplit_once(' ')?;
    let (c, v) = cv.split_once(':')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(c) && digits(v)).then_some((head, rest))
}

/// Writes the `parallel` task from two verse files `(language, verses)` into `dir` and loads
/// it. `keep`, when given, restricts it to verses either side of which occurs (whitespace
/// normalised) in one of those texts — the held-out documents of a dataset, say.
pub fn write_parallel_task(
    a: (&str, &[(String, String)]),
    b: (&str, &[(String, String)]),
    keep: Option<&[String]>,
    opts: &CorpusTaskOptions,
    dir: &Path,
) -> Result<TaskConfig> {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let keep: Option<Vec<String>> = keep.map(|k| k.iter().map(|t| norm(t)).collect());
    let bmap: BTreeMap<&str, &str> = b.1.iter().map(|(r, t)| (r.as_str(), t.as_str())).collect();
    let mut pairs: Vec<(&str, &str, &str)> = Vec::new();
    for (r, ta) in a.1 {
        let Some(tb) = bmap.get(r.as_str()) else {
            continue;
        };
        if words(ta) < FOLLOWS_MIN_WORDS || words(tb) < FOLLOWS_MIN_WORDS {
            continue;
        }
        if let Some(k) = &keep {
            let (na, nb) = (norm(ta), norm(tb));
            if !k.iter().any(|t| t.contains(&na) || t.contains(&nb)) {
                continue;
            }
        }
        pairs.push((r, ta, tb));
    }
    if pairs.len() < 4 {
        return Err(EvalError::Request(format!(
            "only {} verses are in both the {} and the {} text (four are needed)",
            pairs.len(),
            a.0,
            b.0
        )));
    }
    let pool_a: Vec<&str> = pairs.iter().map(|p| p.1).collect();
    let pool_b: Vec<&str> = pairs.iter().map(|p| p.2).collect();
    let mut rng = PyRandom::new(opts.seed);
    let mut items = Vec::new();
    for (i, (r, ta, tb)) in spaced(pairs.clone(), opts.max_docs).into_iter().enumerate() {
        let (from, src, to, gold, pool) = if i % 2 == 0 {
            (a.0, ta, b.0, tb, &pool_b)
        } else {
            (b.0, tb, a.0, ta, &pool_a)
        };
        let Some((choices, g)) = four_way(&mut rng, gold, pool, &[gold]) else {
            continue;
        };
        items.push(json!({"id": r, "direction": format!("{from}->{to}"),
            "context": format!("{from}: {src}\n{to}:"), "choices": choices, "gold": g}));
    }
    let yaml = "output_type: multiple_choice\ndoc_to_text: context\ndoc_to_choice: choices\ndoc_to_target: gold\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\n";
    write_task("parallel", &items, yaml, dir)
}

/// Writes `dir/<name>.jsonl` (the documents) and `dir/<name>.yaml` (a test split over them, an
/// absolute data path, then `body`) and loads the task.
pub(crate) fn write_task(name: &str, docs: &[Value], body: &str, dir: &Path) -> Result<TaskConfig> {
    if docs.is_empty() {
        return Err(EvalError::Request(format!(
            "task {name}: the text gives no document (see the recipe in docs/evaluation.md)"
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| EvalError::Request(format!("{}: {e}", dir.display())))?;
    let mut lines = String::new();
    for d in docs {
        lines.push_str(&d.to_string());
        lines.push('\n');
    }
    let data = dir.join(format!("{name}.jsonl"));
    glassbox_core::fsio::atomic_write(&data, lines.as_bytes())?;
    // An absolute data path: a relative one is looked for in the working directory first.
    let abs = std::path::absolute(&data).unwrap_or(data);
    let yaml = format!(
        "# Written by glassbox eval: built-in task files, version 1 (docs/formats.md).\ntask: {name:?}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {:?}\ntest_split: test\n{body}",
        abs.display().to_string()
    );
    let path = dir.join(format!("{name}.yaml"));
    glassbox_core::fsio::atomic_write(&path, yaml.as_bytes())?;
    TaskConfig::load(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloze_cuts_the_last_word_without_its_punctuation() {
        let (c, t) = cloze_of(Some("Before."), "And God saw the light, that it was good.").unwrap();
        assert_eq!(c, "Before.\nAnd God saw the light, that it was");
        assert_eq!(t, " good");
        assert!(cloze_of(None, "Too short a line.").is_none());
        assert!(cloze_of(None, "A line whose last word is a number 42.").is_none());
        assert_eq!(
            cloze_of(None, "He said to them, “Follow the king.”").map(|x| x.1),
            Some(" king".into())
        );
    }

    #[test]
    fn verse_references_are_read_and_continued() {
        assert_eq!(
            verse_ref("1 Kings 2:3: text"),
            Some(("1 Kings 2:3", "text"))
        );
        assert_eq!(verse_ref("Note: not a verse"), None);
        assert_eq!(verse_ref("Psalms 23: x"), None);
    }

    #[test]
    fn spaced_keeps_evenly_spaced_items_in_order() {
        assert_eq!(spaced((0..10).collect(), 4), vec![0, 2, 5, 7]);
        assert_eq!(spaced((0..3).collect(), 4), vec![0, 1, 2]);
    }
}
