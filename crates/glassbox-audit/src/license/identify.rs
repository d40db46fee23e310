//! Identification of a licence *text*, strictly.
//!
//! 1. A candidate is chosen: an AI licence whose fingerprints (distinctive phrases) mostly occur,
//!    else the reference text sharing most sentences, else the closest SPDX text by word 3-grams.
//! 2. The text is compared with the candidate's reference sentence by sentence (see
//!    [`super::text`]). It *is* the candidate only when nothing but formatting differs:
//!    re-wrapping, Markdown, quotes, copyright lines, the appendix after "END OF TERMS AND
//!    CONDITIONS", and, where the reference's words are known (SPDX texts), URLs, list markers
//!    and a name put where the template has a placeholder (the copyright holder of a BSD
//!    licence), found by aligning the differing sentences word by word.
//! 3. Otherwise it is "X with changes": the added sentences are listed with their lines and
//!    searched for restrictions ([`super::clauses`]), which join X's own clauses; its id and name
//!    say it is not X, and it is open only if nothing restrictive was added and nothing removed.
//! 4. A text with no candidate is an unidentified licence: every restriction found in it is a
//!    clause, and its name gives its size and the closest known licence.

use std::collections::HashSet;

use super::clauses::{self, FoundClause};
use super::references::REFERENCES;
use super::text::{self, Sentence, compared, sentence_hash};
use super::{
    Changes, ClauseRef, DocKind, License, LicenseKind, ai_license, all_ai, from_ai,
    from_expression, normalize, open_non_spdx, standard,
};

/// What a licence file's text was identified as.
#[derive(Debug, Clone, PartialEq)]
pub struct TextIdentification {
    /// The licence, "X with changes", or an unidentified licence with the clauses found in it.
    pub license: License,
    /// Whether the text is a use policy rather than a licence.
    pub policy: bool,
    /// Best standard-licence candidates with their scores (for the report when unknown).
    pub candidates: Vec<(String, f64)>,
}

/// Share of a reference's sentences a text must contain for that reference to be its candidate
/// when no fingerprints decided.
const MIN_REFERENCE_SHARE: f64 = 0.5;

/// A candidate and how to compare with it.
enum Candidate {
    Ai(&'static super::AiLicense, f64),
    Open(&'static str),
    Spdx(&'static str, f64),
}

impl Candidate {
    fn key(&self) -> &'static str {
        match self {
            Self::Ai(l, _) => l.key,
            Self::Open(id) | Self::Spdx(id, _) => id,
        }
    }
}

/// Identifies the text of a licence-like file by its content.
pub fn from_text(text: &str) -> TextIdentification {
    let sentences = text::sentences(text);
    // The comparison with every SPDX text is the costly step: it runs only when no AI licence
    // or reference text claims the file.
    if let Some(candidate) = known_candidate(text, &sentences) {
        let (license, policy) = compare(&candidate, &sentences);
        return TextIdentification {
            license,
            policy,
            candidates: Vec::new(),
        };
    }
    let similar = standard::similar(text, 3);
    let candidates: Vec<(String, f64)> = similar
        .iter()
        .map(|m| (m.id.to_string(), m.score))
        .collect();
    let Some(candidate) = spdx_candidate(&similar) else {
        return unidentified(text, &sentences, candidates);
    };
    let (license, policy) = compare(&candidate, &sentences);
    TextIdentification {
        license,
        policy,
        candidates,
    }
}

/// The closest SPDX text, when it is close enough to compare with.
fn spdx_candidate(similar: &[standard::TextMatch]) -> Option<Candidate> {
    let top = similar
        .first()
        .filter(|m| m.score >= standard::MIN_TEXT_SCORE)?;
    standard::parse_expression(top.id)?;
    Some(Candidate::Spdx(top.id, top.score))
}

/// An AI licence whose fingerprints mostly occur, else the reference text sharing most
/// sentences (an open licence the `spdx` crate lacks, or an AI licence).
fn known_candidate(text: &str, sentences: &[Sentence]) -> Option<Candidate> {
    let norm = normalize(text);
    let mut best: Option<(&'static super::AiLicense, f64, usize)> = None;
    for l in all_ai().filter(|l| !l.fingerprints.is_empty()) {
        let hits = l.fingerprints.iter().filter(|f| norm.contains(*f)).count();
        let share = hits as f64 / l.fingerprints.len() as f64;
        if share >= 0.6 && best.is_none_or(|(_, s, h)| share > s || (share == s && hits > h)) {
            best = Some((l, share, hits));
        }
    }
    if let Some((l, share, _)) = best {
        return Some(Candidate::Ai(l, share));
    }
    let own: HashSet<u64> = sentences
        .iter()
        .filter(|s| compared(s))
        .map(|s| sentence_hash(&s.norm))
        .collect();
    let by_reference = REFERENCES
        .iter()
        .map(|r| {
            let common = r.hashes.iter().filter(|h| own.contains(h)).count();
            (r.key, common as f64 / r.hashes.len().max(1) as f64)
        })
        .filter(|(_, share)| *share >= MIN_REFERENCE_SHARE)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((key, share)) = by_reference {
        if let Some(l) = ai_license(key) {
            return Some(Candidate::Ai(l, share));
        }
        if let Some(id) = standard::EXTRA_OPEN.iter().find(|x| **x == key) {
            return Some(Candidate::Open(id));
        }
    }
    None
}

/// The reference sentences of a candidate: hash sequences (one per variant, e.g. English and
/// Chinese), with the sentences themselves when the text is known (SPDX texts).
fn references_of(c: &Candidate) -> Vec<(Vec<u64>, Option<Vec<Sentence>>)> {
    match c {
        Candidate::Spdx(id, _) => {
            let Some(l) = spdx::license_id(id) else {
                return Vec::new();
            };
            let s: Vec<Sentence> = text::sentences(l.text())
                .into_iter()
                .filter(compared)
                .collect();
            vec![(s.iter().map(|x| sentence_hash(&x.norm)).collect(), Some(s))]
        }
        _ => REFERENCES
            .iter()
            .filter(|r| r.key == c.key())
            .map(|r| (r.hashes.to_vec(), None))
            .collect(),
    }
}

/// The normalised form of the marker after which a licence's terms end (Apache, GPL and others
/// append how-to-apply notes there).
fn end_of_terms() -> u64 {
    sentence_hash("end of terms and conditions")
}

fn compare(c: &Candidate, sentences: &[Sentence]) -> (License, bool) {
    let (base, policy) = match c {
        Candidate::Ai(l, share) => (from_ai(l, *share), l.doc == DocKind::UsePolicy),
        Candidate::Open(id) => (open_non_spdx(id), false),
        Candidate::Spdx(id, score) => match standard::parse_expression(id) {
            Some(e) => (from_expression(&e, *score), false),
            None => (License::unknown(id), false),
        },
    };
    let refs = references_of(c);
    if refs.is_empty() {
        // Known by phrases only (no reference text to compare with): the table's facts stand.
        return (base, policy);
    }
    let best = refs
        .iter()
        .map(|(hashes, words)| {
            let d = text::diff_ops(sentences, hashes);
            significant(c.key(), sentences, hashes, words.as_deref(), &d)
        })
        .min_by_key(|(added, removed)| added.len() + removed);
    let Some((added, removed)) = best else {
        return (base, policy);
    };
    if added.is_empty() && removed == 0 {
        return (base, policy);
    }
    (with_changes(base, sentences, &added, removed), policy)
}

/// The added sentences (indices into `sentences`) and the count of removed reference sentences
/// that are more than formatting.
fn significant(
    key: &str,
    sentences: &[Sentence],
    hashes: &[u64],
    words: Option<&[Sentence]>,
    ops: &[text::Op],
) -> (Vec<usize>, usize) {
    use text::Op;
    let end = hashes.iter().position(|h| *h == end_of_terms());
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for op in ops {
        match *op {
            Op::Added(i) => added.push(i),
            Op::Removed(r) if end.is_none_or(|e| r < e) => removed.push(r),
            _ => {}
        }
    }
    // SPDX's LGPL texts carry the GPL they amend after their own terms: a copy of the LGPL
    // alone lacks exactly that suffix.
    if key.starts_with("LGPL-")
        && added.is_empty()
        && let Some(&first) = removed.first()
        && removed.iter().enumerate().all(|(k, r)| *r == first + k)
        && removed.last().is_some_and(|&r| r + 1 == hashes.len())
    {
        removed.clear();
    }
    // Where the reference's words are known, look inside the differing sentences: what differs
    // only by URLs, list markers or the name put where the template has a placeholder (the
    // copyright holder of a BSD licence) is formatting.
    if let Some(words) = words
        && (!added.is_empty() || !removed.is_empty())
        && let Some((a, r)) = word_level(sentences, &added, words, &removed)
    {
        return (a, r);
    }
    (added, removed.len())
}

/// Words of a sentence with the sentence they come from, and whether they come from a URL.
fn words_of<'s>(s: &'s Sentence, owner: usize, out: &mut Vec<(&'s str, usize, bool)>) {
    let url_words: HashSet<String> = s
        .raw
        .split_whitespace()
        .filter(|t| {
            t.contains("://")
                || t.contains("www.")
                || t.contains(".org/")
                || t.contains(".com/")
                || t.contains(".html")
                || t.starts_with('<')
        })
        .flat_map(|t| {
            text::normalize_sentence(t)
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    for w in s.norm.split(' ').filter(|w| !w.is_empty()) {
        out.push((w, owner, url_words.contains(w)));
    }
}

const PLACEHOLDERS: &[&str] = &[
    "holder",
    "holders",
    "owner",
    "owners",
    "author",
    "authors",
    "name",
    "year",
    "organization",
    "licensor",
    "copyright",
    "yyyy",
];

/// Word-level comparison of the sentences that differ. `None` when too large to align.
fn word_level(
    sentences: &[Sentence],
    added: &[usize],
    reference: &[Sentence],
    removed: &[usize],
) -> Option<(Vec<usize>, usize)> {
    let mut a: Vec<(&str, usize, bool)> = Vec::new();
    for &i in added {
        words_of(&sentences[i], i, &mut a);
    }
    let mut b: Vec<(&str, usize, bool)> = Vec::new();
    for &r in removed {
        words_of(&reference[r], r, &mut b);
    }
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > 4_000_000 {
        return None;
    }
    let removed_sentences: Vec<&Sentence> = removed.iter().map(|&r| &reference[r]).collect();
    let reference_kinds: HashSet<super::ClauseKind> = clauses::find(&removed_sentences)
        .into_iter()
        .map(|c| c.kind)
        .collect();
    let a_words: Vec<&str> = a.iter().map(|w| w.0).collect();
    let b_words: Vec<&str> = b.iter().map(|w| w.0).collect();
    let ops = text::align(&a_words, &b_words);
    // Walk the alignment, collecting each gap (a run of added words and a run of removed
    // words between two matches) and judging it.
    let mut bad_added: HashSet<usize> = HashSet::new();
    let mut bad_removed: HashSet<usize> = HashSet::new();
    let mut gap_a: Vec<usize> = Vec::new();
    let mut gap_b: Vec<usize> = Vec::new();
    let mut judge = |ga: &mut Vec<usize>, gb: &mut Vec<usize>| {
        if ga.is_empty() && gb.is_empty() {
            return;
        }
        let aw: Vec<&(&str, usize, bool)> = ga.iter().map(|&k| &a[k]).collect();
        let bw: Vec<&(&str, usize, bool)> = gb.iter().map(|&k| &b[k]).collect();
        let all_url = |v: &[&(&str, usize, bool)]| v.iter().all(|w| w.2);
        let marker = |v: &[&(&str, usize, bool)]| {
            v.len() <= 1
                && v.iter().all(|w| {
                    w.0.len() <= 3
                        && (w.0.chars().all(|c| c.is_ascii_digit())
                            || w.0.chars().all(|c| matches!(c, 'i' | 'v' | 'x'))
                            || w.0.len() == 1
                            || w.0 == "http"
                            || w.0 == "https")
                })
        };
        let placeholder = bw.iter().any(|w| PLACEHOLDERS.contains(&w.0)) && aw.len() <= 8;
        // A lettered heading one copy has and the other lacks (`b. ShareAlike.`).
        let heading = |v: &[&(&str, usize, bool)]| !v.is_empty() && v.len() <= 3 && marker(&v[..1]);
        // Notices of the licence's steward about itself (Creative Commons' preamble and
        // trailer: "not a law firm", "not a party to its public licenses") vary between
        // published copies and are not terms.
        let steward = {
            let mentions =
                |owner: usize, side: &[Sentence]| side[owner].norm.contains("creative commons");
            aw.iter().all(|w| mentions(w.1, sentences))
                && bw.iter().all(|w| mentions(w.1, reference))
        };
        // A gap is harmful when its sentences restrict in a way the reference's differing
        // sentences do not (the title of a non-commercial licence restricts in both).
        let restrictive = {
            let owners: HashSet<usize> = aw.iter().map(|w| w.1).collect();
            let ss: Vec<&Sentence> = owners.iter().map(|&o| &sentences[o]).collect();
            clauses::find(&ss)
                .iter()
                .any(|c| !reference_kinds.contains(&c.kind))
        };
        let fine = !restrictive
            && ((all_url(&aw) && all_url(&bw))
                || (marker(&aw) && marker(&bw))
                || (all_url(&aw) && bw.len() <= 1)
                || (aw.is_empty() && all_url(&bw))
                || placeholder
                || (aw.is_empty() && heading(&bw))
                || (bw.is_empty() && heading(&aw))
                || steward);
        if !fine {
            bad_added.extend(aw.iter().map(|w| w.1));
            bad_removed.extend(bw.iter().map(|w| w.1));
        }
        ga.clear();
        gb.clear();
    };
    for op in ops {
        match op {
            text::Op::Same(..) => judge(&mut gap_a, &mut gap_b),
            text::Op::Added(i) => gap_a.push(i),
            text::Op::Removed(j) => gap_b.push(j),
        }
    }
    judge(&mut gap_a, &mut gap_b);
    let mut added: Vec<usize> = bad_added.into_iter().collect();
    added.sort_unstable();
    Some((added, bad_removed.len()))
}

fn found_to_ref(license: &str, f: &FoundClause) -> ClauseRef {
    ClauseRef {
        license: license.to_string(),
        kind: f.kind.as_str(),
        section: f.section.clone(),
        summary: format!("{}: “{}”", kind_phrase(f.kind), f.quote),
        breaks: f.breaks.iter().map(|x| x.as_str()).collect(),
        quote: Some(f.quote.clone()),
        line: Some(f.line),
        file: None,
    }
}

/// How a found restriction is described before its quote.
fn kind_phrase(k: super::ClauseKind) -> &'static str {
    use super::ClauseKind as K;
    match k {
        K::UserThreshold => "a user or revenue threshold",
        K::AcceptableUsePolicy => "a use policy the licensee must follow",
        K::FieldOfUse => "prohibited uses",
        K::NoImprovingOtherModels => "a ban on improving other models",
        K::NamingMandate => "a naming or display mandate",
        K::DownstreamRestrictions => "restrictions that must be passed on to recipients",
        K::Revocable => "terms the licensor may revoke or rewrite",
        K::NonCommercial => "a non-commercial term",
        K::Geographic => "a territory exclusion",
        K::CompetitorBan => "a competitor ban",
        K::ApprovalRequired => "approval or a separate licence required",
        K::NoDerivatives => "a no-derivatives term",
        K::ResearchOnly => "a research- or evaluation-only term",
    }
}

fn with_changes(
    mut base: License,
    sentences: &[Sentence],
    added: &[usize],
    removed: usize,
) -> License {
    let id = format!("{} with changes", base.id);
    let added_s: Vec<&Sentence> = added.iter().map(|&i| &sentences[i]).collect();
    let found = clauses::find(&added_s);
    let restrictive = !found.is_empty();
    for f in &found {
        base.clauses.push(found_to_ref(&id, f));
    }
    let base_id = std::mem::replace(&mut base.id, id);
    base.name = format!("{} with changes", base.name);
    if restrictive || removed > 0 {
        base.open = false;
        base.osi = false;
    }
    if restrictive {
        base.grants_all_freedoms = Some(false);
    }
    if base.kind == LicenseKind::Spdx && removed > 0 && !restrictive {
        // Sentences missing from an open licence: its grant may be narrower than the original's.
        base.grants_all_freedoms = base.grants_all_freedoms.filter(|g| !g);
    }
    base.changes = Some(Changes {
        base: base_id,
        added: added_s
            .iter()
            .take(20)
            .map(|s| (s.line, cut(&s.raw, 300)))
            .collect(),
        added_count: added.len(),
        removed,
    });
    base
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

fn unidentified(
    text: &str,
    sentences: &[Sentence],
    candidates: Vec<(String, f64)>,
) -> TextIdentification {
    let all: Vec<&Sentence> = sentences.iter().collect();
    let found = clauses::find(&all);
    // A "closest" licence sharing less than a tenth of the text says nothing.
    let closest = closest_known(sentences, &candidates).filter(|(_, share)| *share >= 0.10);
    let name = format!(
        "unidentified licence text ({} KB{})",
        text.len().div_ceil(1024),
        closest.map_or(String::new(), |(k, s)| format!(
            ", closest: {k} at {:.0} %",
            s * 100.0
        ))
    );
    let mut l = License::unknown(&name);
    l.clauses = found
        .iter()
        .map(|f| found_to_ref("unidentified", f))
        .collect();
    TextIdentification {
        license: l,
        policy: false,
        candidates,
    }
}

/// The known licence sharing most sentences with the text (AI references and SPDX candidates).
fn closest_known(sentences: &[Sentence], spdx: &[(String, f64)]) -> Option<(String, f64)> {
    let own: HashSet<u64> = sentences
        .iter()
        .filter(|s| compared(s))
        .map(|s| sentence_hash(&s.norm))
        .collect();
    let ai = REFERENCES
        .iter()
        .map(|r| {
            let common = r.hashes.iter().filter(|h| own.contains(h)).count();
            (
                r.key.to_string(),
                common as f64 / r.hashes.len().max(1) as f64,
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let sp = spdx.first().cloned();
    match (ai, sp) {
        (Some(a), Some(s)) => Some(if a.1 >= s.1 { a } else { s }),
        (a, s) => a.or(s).filter(|x| x.1 > 0.0),
    }
}
