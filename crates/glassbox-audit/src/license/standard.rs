//! Standard licences, through SPDX data (the `spdx` crate): identifiers (case-insensitive),
//! expressions (`AND`, `OR`, `WITH`), OSI/FSF flags, and identification of licence texts by
//! similarity to the SPDX texts.
//!
//! Text similarity: both texts are [`normalize`]d, cut into word 3-grams, hashed; the score is the
//! Dice coefficient of the two sets. Copyright lines and small edits barely move it; a different
//! licence scores far lower. A text is identified when the best score reaches
//! [`MIN_TEXT_SCORE`] and beats the runner-up clearly; otherwise the best candidates are reported.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::facts::normalize;

/// Lowest Dice score at which a text is taken to be a standard licence.
pub const MIN_TEXT_SCORE: f64 = 0.80;

/// Licences MOT counts as open for data (its `OPEN_DATA_LICENSES` list), by SPDX id. glassbox uses
/// the same list so that MOF classes agree with MOT.
pub const OPEN_DATA: &[&str] = &[
    "CC0-1.0",
    "CC-BY-1.0",
    "CC-BY-2.0",
    "CC-BY-2.5",
    "CC-BY-2.5-AU",
    "CC-BY-3.0",
    "CC-BY-3.0-AT",
    "CC-BY-3.0-AU",
    "CC-BY-3.0-DE",
    "CC-BY-3.0-IGO",
    "CC-BY-3.0-NL",
    "CC-BY-3.0-US",
    "CC-BY-4.0",
    "CC-BY-SA-1.0",
    "CC-BY-SA-2.0",
    "CC-BY-SA-2.0-UK",
    "CC-BY-SA-2.1-JP",
    "CC-BY-SA-2.5",
    "CC-BY-SA-3.0",
    "CC-BY-SA-3.0-AT",
    "CC-BY-SA-4.0",
    "CDLA-Permissive-1.0",
    "CDLA-Permissive-2.0",
    "CDLA-Sharing-1.0",
    "ODC-PDDL-1.0",
    "ODC-By-1.0",
    "ODbL-1.0",
    "GFDL-1.3",
    "OGL-Canada-2.0",
    "OGL-UK-2.0",
    "OGL-UK-3.0",
];

/// Open licences MOT accepts beyond SPDX flags and `OPEN_DATA` (its `OPEN_LICENSES`: OpenMDW-1.0),
/// and OpenMDW-1.1, the same licence revised (no MOT file uses it, so MOF agreement is unchanged).
pub const EXTRA_OPEN: &[&str] = &["OpenMDW-1.0", "OpenMDW-1.1"];

/// The Public Domain Mark: the label of works with no copyright (e.g. the World English
/// Bible). Not on MOT's lists (no MOT file uses it); glassbox counts it open, since nothing is
/// reserved.
pub const PUBLIC_DOMAIN: &str = "CC-PDM-1.0";

/// The canonical SPDX licence id for `s`, ignoring case (`apache-2.0` → `Apache-2.0`).
pub fn canonical_id(s: &str) -> Option<&'static str> {
    static MAP: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        spdx::identifiers::LICENSES
            .iter()
            .map(|l| (l.name.to_ascii_lowercase(), l.name))
            .collect()
    });
    map.get(&s.trim().to_ascii_lowercase()).copied()
}

/// OSI approval, FSF libre status and MOT's open-data list for one SPDX id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Openness {
    /// OSI-approved.
    pub osi: bool,
    /// FSF free/libre.
    pub fsf: bool,
    /// In MOT's list of open data licences (or MOT's extra open licences).
    pub open_data: bool,
}

impl Openness {
    /// Open in MOT's sense: any of the three.
    pub fn is_open(self) -> bool {
        self.osi || self.fsf || self.open_data
    }
}

/// Openness of an SPDX id (`Apache-2.0`); unknown ids are not open.
pub fn openness(id: &str) -> Openness {
    let lic = spdx::license_id(id);
    Openness {
        osi: lic.is_some_and(|l| l.is_osi_approved()),
        fsf: lic.is_some_and(|l| l.is_fsf_free_libre()),
        open_data: OPEN_DATA.contains(&id) || EXTRA_OPEN.contains(&id) || id == PUBLIC_DOMAIN,
    }
}

/// Rewrites the identifiers of an expression to their canonical case and parses it.
/// `apache-2.0 AND cc-by-4.0` → `Apache-2.0 AND CC-BY-4.0`.
pub fn parse_expression(s: &str) -> Option<spdx::Expression> {
    let mut out = String::with_capacity(s.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            let t = token.as_str();
            let upper = t.to_ascii_uppercase();
            if matches!(upper.as_str(), "AND" | "OR" | "WITH") {
                out.push_str(&upper);
            } else if let Some(plus) = t.strip_suffix('+') {
                out.push_str(canonical_id(plus).unwrap_or(plus));
                out.push('+');
            } else if let Some(id) = canonical_id(t) {
                out.push_str(id);
            } else if let Some(e) = spdx::identifiers::EXCEPTIONS
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(t))
            {
                out.push_str(e.name);
            } else {
                out.push_str(t);
            }
            token.clear();
        }
    };
    for c in s.chars() {
        if c.is_whitespace() || c == '(' || c == ')' {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    let mode = spdx::ParseMode {
        allow_postfix_plus_on_gpl: true,
        allow_deprecated: true,
        ..spdx::ParseMode::STRICT
    };
    spdx::Expression::parse_mode(out.trim(), mode).ok()
}

/// A similarity match of a text against a standard licence.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMatch {
    /// SPDX id.
    pub id: &'static str,
    /// Dice coefficient of word 3-grams, 0–1.
    pub score: f64,
}

fn shingles(text: &str) -> HashSet<u64> {
    use std::hash::{Hash, Hasher};
    let norm = normalize(text);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    let mut out = HashSet::with_capacity(words.len());
    for w in words.windows(3) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        w.hash(&mut h);
        out.insert(h.finish());
    }
    out
}

struct Index {
    entries: Vec<(&'static str, HashSet<u64>)>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| Index {
        entries: spdx::identifiers::LICENSES
            .iter()
            .filter_map(|l| {
                let id = spdx::license_id(l.name)?;
                let sh = shingles(id.text());
                (sh.len() >= 5).then_some((l.name, sh))
            })
            .collect(),
    })
}

/// The standard licences most similar to `text`, best first (at most `n`).
///
/// The score is the Dice coefficient, or — for texts of at least [`MIN_CONTAINED`] 3-grams — the
/// share of the text found in the reference when that is higher: some reference texts bundle
/// another licence (SPDX's LGPL-3.0 text carries the GPL-3.0 it amends), so a faithful copy of
/// the shorter document would otherwise look dissimilar. Ties go to the higher Dice score, so the
/// GPL text is the GPL and not the LGPL that contains it, and a close Dice match always outranks
/// a containment match.
pub fn similar(text: &str, n: usize) -> Vec<TextMatch> {
    let sh = shingles(text);
    if sh.len() < 5 {
        return Vec::new();
    }
    let mut scored: Vec<(TextMatch, f64)> = index()
        .entries
        .iter()
        .map(|(id, ref_sh)| {
            let (small, big) = if sh.len() < ref_sh.len() {
                (&sh, ref_sh)
            } else {
                (ref_sh, &sh)
            };
            let common = small.iter().filter(|h| big.contains(h)).count();
            let dice = 2.0 * common as f64 / (sh.len() + ref_sh.len()) as f64;
            let contained = if sh.len() >= MIN_CONTAINED {
                common as f64 / sh.len() as f64
            } else {
                0.0
            };
            let score = if dice >= MIN_TEXT_SCORE {
                dice
            } else {
                dice.max(contained)
            };
            (TextMatch { id, score }, dice)
        })
        .collect();
    // A close match by Dice outranks any containment match.
    let direct = |m: &(TextMatch, f64)| m.1 >= MIN_TEXT_SCORE;
    scored.sort_by(|a, b| {
        direct(b)
            .cmp(&direct(a))
            .then(b.0.score.total_cmp(&a.0.score))
            .then(b.1.total_cmp(&a.1))
            .then(a.0.id.cmp(b.0.id))
    });
    scored.truncate(n);
    scored.into_iter().map(|(m, _)| m).collect()
}

/// Fewest 3-grams a text needs before containment in a longer reference counts.
pub const MIN_CONTAINED: usize = 600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_expressions() {
        assert_eq!(canonical_id("apache-2.0"), Some("Apache-2.0"));
        assert_eq!(canonical_id("cc-by-nc-4.0"), Some("CC-BY-NC-4.0"));
        let e = parse_expression("apache-2.0 AND (mit OR cc-by-4.0)").unwrap();
        assert_eq!(e.to_string(), "Apache-2.0 AND (MIT OR CC-BY-4.0)");
        assert!(parse_expression("Apache 2.0").is_none());
        assert!(parse_expression("GPL-2.0-or-later WITH Classpath-exception-2.0").is_some());
        assert!(openness("Apache-2.0").is_open());
        assert!(openness("CC-BY-4.0").is_open());
        assert!(!openness("CC-BY-NC-4.0").is_open());
    }

    #[test]
    fn mit_text_with_a_copyright_line_is_mit() {
        let text = format!(
            "Copyright (c) 2024 Somebody\n\n{}",
            spdx::license_id("MIT").unwrap().text()
        );
        let m = similar(&text, 2);
        assert_eq!(m[0].id, "MIT");
        assert!(m[0].score > MIN_TEXT_SCORE, "{m:?}");
    }
}
