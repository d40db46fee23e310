//! Types of glassbox's own table of AI model licences (`table.rs`): what each licence is called,
//! how its text is recognised, and which of its clauses break which freedom.
//!
//! Everything here is data written for glassbox from reading the licences; no licence text is
//! stored. Fingerprints are short, distinctive phrases (after [`normalize`]) whose presence
//! identifies a text.

/// The four freedoms of the Open Source AI Definition, as design.md defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Freedom {
    /// Use the system for any purpose, without asking permission.
    Run,
    /// Study how the system works and inspect its components.
    Study,
    /// Share the system with others, for any purpose.
    Redistribute,
    /// Modify the system for any purpose and share the modifications.
    Modify,
}

impl Freedom {
    /// All four, in the conventional order.
    pub const ALL: [Freedom; 4] = [
        Freedom::Run,
        Freedom::Study,
        Freedom::Redistribute,
        Freedom::Modify,
    ];

    /// Lowercase name used in reports (`run`, `study`, `redistribute`, `modify`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Study => "study",
            Self::Redistribute => "redistribute",
            Self::Modify => "modify",
        }
    }
}

/// Kinds of restrictive clause found in AI licences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClauseKind {
    /// Users above a size threshold (e.g. 700 million monthly active users) need a separate licence.
    UserThreshold,
    /// Use must comply with an acceptable-use / prohibited-use policy incorporated by reference.
    AcceptableUsePolicy,
    /// Specific uses or fields are banned in the licence itself (use-based restrictions).
    FieldOfUse,
    /// The model or its outputs must not be used to improve other models.
    NoImprovingOtherModels,
    /// Derivatives must carry the licensor's name, or a "Built with …" notice must be displayed.
    NamingMandate,
    /// Use restrictions must be passed on to every downstream recipient (RAIL-style).
    DownstreamRestrictions,
    /// The licensor may revoke or terminate the licence at will, or update its terms unilaterally.
    Revocable,
    /// Commercial use is not allowed.
    NonCommercial,
    /// Use is excluded in some places or for some nationalities.
    Geographic,
    /// Use to compete with the licensor is banned.
    CompetitorBan,
    /// Distribution or some use needs the licensor's approval or a separate agreement.
    ApprovalRequired,
    /// Derivatives may not be made or shared.
    NoDerivatives,
    /// Use is limited to research or evaluation.
    ResearchOnly,
}

impl ClauseKind {
    /// snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserThreshold => "user_threshold",
            Self::AcceptableUsePolicy => "acceptable_use_policy",
            Self::FieldOfUse => "field_of_use",
            Self::NoImprovingOtherModels => "no_improving_other_models",
            Self::NamingMandate => "naming_mandate",
            Self::DownstreamRestrictions => "downstream_restrictions",
            Self::Revocable => "revocable",
            Self::NonCommercial => "non_commercial",
            Self::Geographic => "geographic",
            Self::CompetitorBan => "competitor_ban",
            Self::ApprovalRequired => "approval_required",
            Self::NoDerivatives => "no_derivatives",
            Self::ResearchOnly => "research_only",
        }
    }
}

/// One restrictive clause of a licence.
#[derive(Debug, Clone, Copy)]
pub struct Clause {
    /// What kind of restriction it is.
    pub kind: ClauseKind,
    /// Where it is, as the licence numbers it (`"2"`, `"1.b.i"`, `"Attachment A"`).
    pub section: &'static str,
    /// glassbox's one-line paraphrase of the clause (never a quotation).
    pub summary: &'static str,
    /// The freedoms it breaks.
    pub breaks: &'static [Freedom],
}

/// Whether a document is a licence or a policy that a licence incorporates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// A licence agreement or terms of use.
    License,
    /// An acceptable-use / prohibited-use policy (restricts use; grants nothing).
    UsePolicy,
}

/// One entry of the AI-licence table.
#[derive(Debug, Clone, Copy)]
pub struct AiLicense {
    /// Stable key used in reports (`llama-3-community`).
    pub key: &'static str,
    /// Human name (`Meta Llama 3 Community License Agreement`).
    pub name: &'static str,
    /// Licence or policy.
    pub doc: DocKind,
    /// Hugging Face `license:` identifiers that mean this licence (`llama3`); empty if none.
    pub hf_ids: &'static [&'static str],
    /// Names seen in free text (model cards, MOT files), compared after [`normalize`].
    pub names: &'static [&'static str],
    /// Distinctive phrases of the text, already in [`normalize`]d form; a text is this licence
    /// when enough of them are present (see `identify_text`). Empty when no verbatim text was
    /// available to write them from.
    pub fingerprints: &'static [&'static str],
    /// The policy this licence incorporates by reference (key of a `UsePolicy` entry).
    pub policy: Option<&'static str>,
    /// Where the licensor publishes it.
    pub url: &'static str,
    /// Other addresses of the same text (model cards' `license_link` often point there).
    pub other_urls: &'static [&'static str],
    /// Restrictive clauses, each with its section.
    pub clauses: &'static [Clause],
    /// Whether the licence grants all four freedoms for the component it covers (no clause
    /// breaks one and it allows use, study, redistribution and modification).
    pub grants_all_freedoms: bool,
}

/// Lowercases, maps every run of characters other than ASCII letters and digits to one space
/// (a `.` between two digits is kept, so `3.1` stays `3.1`), and trims: the form fingerprints and
/// names are compared in. Curly quotes count as separators like straight ones.
pub fn normalize(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for (i, &c) in chars.iter().enumerate() {
        let keep_dot = c == '.'
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c.is_ascii_alphanumeric() || keep_dot {
            out.push(c.to_ascii_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}
