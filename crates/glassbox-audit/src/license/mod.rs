//! Licence identification and facts.
//!
//! A licence reaches an audit in four shapes, all resolved to one [`License`]:
//! - a Hugging Face `license:` identifier (`apache-2.0`, `llama3`, `other` + `license_name`);
//! - an SPDX expression (`Apache-2.0 AND CC-BY-4.0`, `MIT OR Apache-2.0`, `… WITH …`);
//! - a free-text name (MOT files, cards: "Apache 2.0", "Meta Llama 3 Community License");
//! - the text of a LICENSE / NOTICE / USE_POLICY file, recognised by content, never by file name:
//!   AI licences by fingerprints from glassbox's own table ([`table`]), standard licences by
//!   similarity to the SPDX texts ([`standard`]).
//!
//! Each [`License`] carries its openness (OSI, FSF, MOT open-data) and the restrictive clauses that
//! break freedoms, with their sections.

pub mod clauses;
pub mod facts;
mod identify;
mod references;
pub mod standard;
pub mod table;
pub mod table_others;
pub mod table_recent;
pub mod text;

use serde::Serialize;

pub use facts::{AiLicense, Clause, ClauseKind, DocKind, Freedom, normalize};
pub use identify::{TextIdentification, from_text};
pub use standard::Openness;

/// What kind of licence was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseKind {
    /// An SPDX licence or expression.
    Spdx,
    /// An entry of glassbox's AI-licence table.
    Ai,
    /// Declared proprietary, or "other" without a recognisable name.
    Proprietary,
    /// Declared as undisclosed / unlicensed / not included.
    None,
    /// A name or text glassbox could not identify.
    Unknown,
}

/// A restrictive clause, as reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClauseRef {
    /// Key or SPDX id of the licence holding it.
    pub license: String,
    /// Kind of restriction.
    pub kind: &'static str,
    /// Section as the licence numbers it.
    pub section: String,
    /// One-line paraphrase.
    pub summary: String,
    /// Freedoms it breaks.
    pub breaks: Vec<&'static str>,
    /// The sentence, when the clause was found in the text itself (not taken from the table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    /// 1-based line of the quote in its file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The file the quote is from (set by detection, which knows the path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// How a text differs from the known licence it is closest to ("X with changes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// The licence it was compared with (AI-table key or SPDX id).
    pub base: String,
    /// Sentences the text adds, with their lines (at most 20 listed).
    pub added: Vec<(usize, String)>,
    /// How many sentences the text adds in all.
    pub added_count: usize,
    /// How many sentences of the known licence the text lacks.
    pub removed: usize,
}

/// An identified licence (or licence expression).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct License {
    /// SPDX expression, AI-table key, `proprietary`, `none` or `unknown`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Kind.
    pub kind: LicenseKind,
    /// Open in MOT's sense (OSI-approved, FSF libre or an open-data licence; for an expression,
    /// satisfiable by open licences).
    pub open: bool,
    /// OSI approval of every licence needed (for an expression, of one satisfying choice).
    pub osi: bool,
    /// Whether the terms grant all four freedoms: `Some(true)` for open licences and AI
    /// licences without restrictive clauses, `Some(false)` when a clause breaks one, `None` when
    /// unknown.
    pub grants_all_freedoms: Option<bool>,
    /// Restrictive clauses (of the licence and of any policy it incorporates).
    pub clauses: Vec<ClauseRef>,
    /// How sure the identification is: 1.0 for exact identifiers, the similarity or fingerprint
    /// share for texts.
    pub confidence: f64,
    /// Set when a text is a known licence with sentences added or removed: it is then *not* that
    /// licence, and its id and name say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

impl License {
    fn none(raw: &str) -> Self {
        Self {
            id: "none".into(),
            name: format!("no licence (declared `{}`)", raw.trim()),
            kind: LicenseKind::None,
            open: false,
            osi: false,
            grants_all_freedoms: Some(false),
            clauses: Vec::new(),
            confidence: 1.0,
            changes: None,
        }
    }

    fn unknown(raw: &str) -> Self {
        Self {
            id: "unknown".into(),
            name: raw.trim().chars().take(120).collect(),
            kind: LicenseKind::Unknown,
            open: false,
            osi: false,
            grants_all_freedoms: None,
            clauses: Vec::new(),
            confidence: 0.0,
            changes: None,
        }
    }

    fn proprietary(raw: &str) -> Self {
        Self {
            id: "proprietary".into(),
            name: raw.trim().chars().take(120).collect(),
            kind: LicenseKind::Proprietary,
            open: false,
            osi: false,
            grants_all_freedoms: Some(false),
            clauses: vec![ClauseRef {
                license: "proprietary".into(),
                kind: ClauseKind::ApprovalRequired.as_str(),
                section: "(whole licence)".into(),
                summary: "proprietary terms: no general permission to use, share or modify".into(),
                breaks: vec!["run", "redistribute", "modify"],
                ..ClauseRef::default()
            }],
            confidence: 1.0,
            changes: None,
        }
    }

    /// The freedoms its clauses break.
    pub fn broken(&self) -> Vec<Freedom> {
        let mut out: Vec<Freedom> = Freedom::ALL
            .into_iter()
            .filter(|f| self.clauses.iter().any(|c| c.breaks.contains(&f.as_str())))
            .collect();
        out.dedup();
        out
    }

    /// Ranks how restrictive a licence is, for "judged by the stricter" (higher is stricter).
    pub fn strictness(&self) -> (usize, usize) {
        let unknown = usize::from(self.grants_all_freedoms.is_none());
        (
            self.broken().len() * 2 + unknown + usize::from(!self.open),
            self.clauses.len(),
        )
    }
}

/// Every entry of the AI-licence table.
pub fn all_ai() -> impl Iterator<Item = &'static AiLicense> {
    table::AI_LICENSES
        .iter()
        .chain(table_others::OTHER_AI_LICENSES)
        .chain(table_recent::RECENT_AI_LICENSES)
}

/// The licence published at `url` by its licensor, when the AI-licence table knows the address
/// (scheme, `www.` and a trailing slash ignored).
pub fn from_url(url: &str) -> Option<License> {
    let key = |u: &str| {
        u.trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_start_matches("www.")
            .trim_end_matches('/')
            .to_ascii_lowercase()
    };
    let want = key(url);
    if want.is_empty() {
        return None;
    }
    all_ai()
        .find(|l| {
            !l.url.is_empty() && (key(l.url) == want || l.other_urls.iter().any(|u| key(u) == want))
        })
        .map(|l| from_ai(l, 1.0))
}

/// The AI-licence table entry with `key`.
pub fn ai_license(key: &str) -> Option<&'static AiLicense> {
    all_ai().find(|l| l.key == key)
}

fn from_ai(l: &'static AiLicense, confidence: f64) -> License {
    let mut clauses: Vec<ClauseRef> = l.clauses.iter().map(|c| clause_ref(l.key, c)).collect();
    if let Some(p) = l.policy.and_then(ai_license) {
        clauses.extend(p.clauses.iter().map(|c| clause_ref(p.key, c)));
    }
    License {
        id: l.key.to_string(),
        name: l.name.to_string(),
        kind: LicenseKind::Ai,
        open: false,
        osi: false,
        grants_all_freedoms: Some(l.grants_all_freedoms && clauses.is_empty()),
        clauses,
        confidence,
        changes: None,
    }
}

fn clause_ref(license: &str, c: &Clause) -> ClauseRef {
    ClauseRef {
        license: license.to_string(),
        kind: c.kind.as_str(),
        section: c.section.to_string(),
        summary: c.summary.to_string(),
        breaks: c.breaks.iter().map(|f| f.as_str()).collect(),
        ..ClauseRef::default()
    }
}

/// Clauses of standard licences that are not open (Creative Commons NC / ND families).
fn standard_clauses(id: &str) -> Vec<ClauseRef> {
    let mut out = Vec::new();
    let upper = id.to_ascii_uppercase();
    let cc = upper.starts_with("CC-BY") || upper.starts_with("POLYFORM");
    if cc && (upper.contains("-NC") || upper.contains("NONCOMMERCIAL")) {
        out.push(ClauseRef {
            license: id.to_string(),
            kind: ClauseKind::NonCommercial.as_str(),
            section: if upper.starts_with("CC-BY") {
                "1(i), 2(a)(1)".into()
            } else {
                "(licence grant)".into()
            },
            summary: "use and sharing only for non-commercial purposes".into(),
            breaks: vec!["run", "redistribute", "modify"],
            ..ClauseRef::default()
        });
    }
    if upper.starts_with("CC-BY") && upper.contains("-ND") {
        out.push(ClauseRef {
            license: id.to_string(),
            kind: ClauseKind::NoDerivatives.as_str(),
            section: "2(a)(1)(B)".into(),
            summary: "adapted material may not be shared".into(),
            breaks: vec!["modify"],
            ..ClauseRef::default()
        });
    }
    out
}

fn from_expression(expr: &spdx::Expression, confidence: f64) -> License {
    let ids: Vec<String> = expr
        .requirements()
        .filter_map(|r| r.req.license.id().map(|id| id.name.to_string()))
        .collect();
    let open = expr.evaluate(|r| {
        r.license
            .id()
            .is_some_and(|id| standard::openness(id.name).is_open())
    });
    let osi = expr.evaluate(|r| r.license.id().is_some_and(|id| id.is_osi_approved()));
    let clauses: Vec<ClauseRef> = if open {
        Vec::new()
    } else {
        ids.iter().flat_map(|i| standard_clauses(i)).collect()
    };
    let name = if ids.len() == 1 {
        spdx::license_id(&ids[0]).map_or_else(|| ids[0].clone(), |l| l.full_name.to_string())
    } else {
        expr.to_string()
    };
    License {
        id: expr.to_string(),
        name,
        kind: LicenseKind::Spdx,
        open,
        osi,
        grants_all_freedoms: if open {
            Some(true)
        } else if clauses.is_empty() {
            None
        } else {
            Some(false)
        },
        clauses,
        confidence,
        changes: None,
    }
}

/// Free-text names of standard licences that are not SPDX ids, after [`normalize`].
const STANDARD_ALIASES: &[(&str, &str)] = &[
    ("apache 2.0", "Apache-2.0"),
    ("apache 2", "Apache-2.0"),
    ("apache2", "Apache-2.0"),
    ("apache license 2.0", "Apache-2.0"),
    ("apache license version 2.0", "Apache-2.0"),
    ("apache software license 2.0", "Apache-2.0"),
    ("mit license", "MIT"),
    ("the mit license", "MIT"),
    ("bsd 3", "BSD-3-Clause"),
    ("bsd 3 clause", "BSD-3-Clause"),
    ("bsd 3 clause license", "BSD-3-Clause"),
    ("new bsd", "BSD-3-Clause"),
    ("bsd 2 clause", "BSD-2-Clause"),
    ("simplified bsd", "BSD-2-Clause"),
    ("gplv3", "GPL-3.0-only"),
    ("gpl 3.0", "GPL-3.0-only"),
    ("gplv2", "GPL-2.0-only"),
    ("agplv3", "AGPL-3.0-only"),
    ("lgplv3", "LGPL-3.0-only"),
    ("mpl 2.0", "MPL-2.0"),
    ("cc0", "CC0-1.0"),
    ("cc by 4.0", "CC-BY-4.0"),
    ("cc by sa 4.0", "CC-BY-SA-4.0"),
    ("cc by nc 4.0", "CC-BY-NC-4.0"),
    ("cc by nc sa 4.0", "CC-BY-NC-SA-4.0"),
    ("cc by nc nd 4.0", "CC-BY-NC-ND-4.0"),
    ("creative commons attribution 4.0", "CC-BY-4.0"),
    (
        "creative commons attribution 4.0 international",
        "CC-BY-4.0",
    ),
    (
        "creative commons attribution share alike 4.0",
        "CC-BY-SA-4.0",
    ),
    (
        "creative commons attribution sharealike 4.0 international",
        "CC-BY-SA-4.0",
    ),
    (
        "creative commons attribution non commercial 4.0",
        "CC-BY-NC-4.0",
    ),
    (
        "creative commons attribution noncommercial 4.0 international",
        "CC-BY-NC-4.0",
    ),
    (
        "creative commons attribution non commercial share alike 4.0",
        "CC-BY-NC-SA-4.0",
    ),
    ("odc by", "ODC-By-1.0"),
    ("odc by 1.0", "ODC-By-1.0"),
    ("odbl", "ODbL-1.0"),
    ("pddl", "PDDL-1.0"),
    // A work in the public domain carries no licence; the Creative Commons Public Domain Mark
    // is the SPDX identifier that labels it so.
    ("public domain", "CC-PDM-1.0"),
    ("public domain mark", "CC-PDM-1.0"),
    ("cdla permissive 2.0", "CDLA-Permissive-2.0"),
    ("unlicense", "Unlicense"),
    ("wtfpl", "WTFPL"),
    // Hugging Face identifiers that are not SPDX ids.
    ("bsd", "BSD-3-Clause"),
    ("gpl", "GPL-3.0-or-later"),
    ("lgpl", "LGPL-3.0-or-later"),
    ("gfdl", "GFDL-1.3-or-later"),
    ("cc by 2.0", "CC-BY-2.0"),
    ("bsd 3 clause clear", "BSD-3-Clause-Clear"),
    ("openmdw 1.0", "OpenMDW-1.0"),
];

/// Names that declare the absence of a licence (MOT's `unlicensed`, "Undisclosed", "Component
/// not included" and variants), after [`normalize`].
fn declares_none(n: &str) -> bool {
    n == "unlicensed"
        || n == "undisclosed"
        || n == "none"
        || n == "no license"
        || n.starts_with("component not include")
        || n.starts_with("component component not include")
}

/// Resolves a licence *name or identifier*: Hugging Face ids, SPDX expressions, free-text names.
/// Never fails: what cannot be identified is `unknown` (confidence 0).
pub fn from_name(raw: &str) -> License {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return License::unknown(raw);
    }
    let n = normalize(trimmed);
    if declares_none(&n) {
        return License::none(trimmed);
    }
    if matches!(
        n.as_str(),
        "proprietary" | "commercial" | "all rights reserved"
    ) {
        return License::proprietary(trimmed);
    }
    // 1. The AI table: Hugging Face ids first (exact, case-insensitive: `openrail++` and
    //    `openrail` differ only in characters `normalize` drops), then names.
    if let Some(l) = all_ai().find(|l| l.hf_ids.iter().any(|h| h.eq_ignore_ascii_case(trimmed))) {
        return from_ai(l, 1.0);
    }
    if let Some(l) = all_ai().find(|l| l.names.iter().any(|x| normalize(x) == n)) {
        return from_ai(l, 1.0);
    }
    // 2. SPDX expressions and ids (any case).
    if let Some(expr) = standard::parse_expression(trimmed) {
        return from_expression(&expr, 1.0);
    }
    if let Some(id) = standard::EXTRA_OPEN
        .iter()
        .find(|x| x.eq_ignore_ascii_case(trimmed))
    {
        return open_non_spdx(id);
    }
    // 3. Free-text names of standard licences.
    if let Some((_, id)) = STANDARD_ALIASES.iter().find(|(a, _)| *a == n) {
        if let Some(expr) = standard::parse_expression(id) {
            return from_expression(&expr, 0.95);
        }
        if standard::EXTRA_OPEN.contains(id) {
            return open_non_spdx(id);
        }
    }
    License::unknown(trimmed)
}

fn open_non_spdx(id: &str) -> License {
    License {
        id: id.to_string(),
        name: id.to_string(),
        kind: LicenseKind::Spdx,
        open: true,
        osi: false,
        grants_all_freedoms: Some(true),
        clauses: Vec::new(),
        confidence: 1.0,
        changes: None,
    }
}

/// Resolves the licence declared in Hugging Face card metadata: `license` (an id, a list, or
/// `other`), with `license_name` / `license_link` for `other`.
pub fn from_card_fields(
    license: &[String],
    license_name: Option<&str>,
    license_link: Option<&str>,
) -> Option<License> {
    let mut resolved: Vec<License> = Vec::new();
    for l in license {
        let n = normalize(l);
        if n == "other" || n == "unknown" {
            if let Some(name) = license_name {
                resolved.push(from_name(name));
            } else if let Some(link) = license_link {
                let mut u = License::unknown(&format!("other ({link})"));
                u.name = format!("other licence at {link}");
                resolved.push(u);
            } else {
                resolved.push(License::unknown(l));
            }
        } else {
            resolved.push(from_name(l));
        }
    }
    match resolved.len() {
        0 => None,
        1 => resolved.pop(),
        // Several ids in `license:` mean the release is under all of them (the Hub lists each
        // one that applies): judge by the strictest.
        _ => resolved.into_iter().max_by_key(|l| l.strictness()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_resolve() {
        assert_eq!(from_name("apache-2.0").id, "Apache-2.0");
        assert_eq!(from_name("Apache 2.0").id, "Apache-2.0");
        assert_eq!(from_name("MIT license").id, "MIT");
        assert_eq!(from_name("BSD-3").id, "BSD-3-Clause");
        assert!(from_name("CC BY-SA 4.0").open);
        assert_eq!(from_name("unlicensed").kind, LicenseKind::None);
        assert_eq!(from_name("Component not include.").kind, LicenseKind::None);
        assert_eq!(from_name("Proprietary").kind, LicenseKind::Proprietary);
        assert_eq!(from_name("something odd").kind, LicenseKind::Unknown);
        let nc = from_name("cc-by-nc-4.0");
        assert!(!nc.open && nc.broken().contains(&Freedom::Run));
        let e = from_name("Apache-2.0 AND CC-BY-4.0");
        assert!(e.open && e.id == "Apache-2.0 AND CC-BY-4.0");
        assert!(from_name("MIT OR CC-BY-NC-4.0").open);
        assert!(!from_name("MIT AND CC-BY-NC-4.0").open);
    }

    #[test]
    fn card_other_uses_license_name() {
        let l = from_card_fields(
            &["other".into()],
            Some("Meta Llama 3 Community License Agreement"),
            None,
        )
        .unwrap();
        assert_eq!(l.kind, LicenseKind::Ai);
    }
}
