//! glassbox's table of AI model licences and use policies: their names, Hugging Face ids,
//! text fingerprints, and the clauses that break one of the four freedoms.
//!
//! The table was written by reading the licence texts listed in the provenance file of
//! `tests/fixtures/licenses` (`PROVENANCE.md`). Entries whose text was not available there
//! (marked "no verbatim text" below) were written from the licensor's published terms as known
//! to the authors and carry no fingerprints. No licence text is stored here: fingerprints are
//! short normalized phrases used only to recognise a text, and clause summaries are glassbox's
//! own paraphrases.

use super::facts::{AiLicense, Clause, ClauseKind, DocKind, Freedom};

pub(super) const RUN: &[Freedom] = &[Freedom::Run];
pub(super) const MODIFY: &[Freedom] = &[Freedom::Modify];
pub(super) const STUDY: &[Freedom] = &[Freedom::Study];
pub(super) const RUN_REDISTRIBUTE: &[Freedom] = &[Freedom::Run, Freedom::Redistribute];
pub(super) const RUN_REDISTRIBUTE_MODIFY: &[Freedom] =
    &[Freedom::Run, Freedom::Redistribute, Freedom::Modify];
pub(super) const REDISTRIBUTE_MODIFY: &[Freedom] = &[Freedom::Redistribute, Freedom::Modify];

// ---------------------------------------------------------------------------------------------
// Clauses shared by several entries
// ---------------------------------------------------------------------------------------------

pub(super) const LLAMA_AUP_INCORPORATED: Clause = Clause {
    kind: ClauseKind::AcceptableUsePolicy,
    section: "1.b.iv",
    summary: "use must follow Meta's Acceptable Use Policy, incorporated by reference",
    breaks: RUN,
};

pub(super) const LLAMA_700M_MAU: Clause = Clause {
    kind: ClauseKind::UserThreshold,
    section: "2",
    summary: "licensees above 700 million monthly active users on the release date need a \
              separate licence that Meta may refuse",
    breaks: RUN,
};

/// Llama 3.1, 3.2, 3.3 and 4 share the same clause structure.
pub(super) const LLAMA_3X_CLAUSES: &[Clause] = &[
    Clause {
        kind: ClauseKind::NamingMandate,
        section: "1.b.i",
        summary: "products must display \"Built with Llama\" and models made with the materials \
                  or their outputs must start their name with \"Llama\"",
        breaks: MODIFY,
    },
    LLAMA_AUP_INCORPORATED,
    LLAMA_700M_MAU,
];

pub(super) const LLAMA_AUP_WHOLE: Clause = Clause {
    kind: ClauseKind::AcceptableUsePolicy,
    section: "(whole policy)",
    summary: "lists prohibited uses (illegal, harmful, deceptive and high-risk activities) that \
              the licensee must not engage in or allow",
    breaks: RUN,
};

pub(super) const LLAMA_AUP_EU: Clause = Clause {
    kind: ClauseKind::Geographic,
    section: "(paragraph after the numbered list)",
    summary: "for multimodal models, the Section 1(a) grant is withheld from individuals and \
              companies based in the European Union (end users of products are exempt)",
    breaks: RUN,
};

pub(super) const LLAMA_AUP_WITH_EU: &[Clause] = &[LLAMA_AUP_WHOLE, LLAMA_AUP_EU];

/// The Meta research-licence template (LLaMA 1, OPT-175B), reused by Stability AI (DeepFloyd IF)
/// and AI2 (Tulu).
pub(super) const META_TEMPLATE_RESEARCH_ONLY: Clause = Clause {
    kind: ClauseKind::ResearchOnly,
    section: "1.a",
    summary: "the grant covers only the licensee's own non-commercial research",
    breaks: RUN,
};

pub(super) const META_TEMPLATE_NON_COMMERCIAL: Clause = Clause {
    kind: ClauseKind::NonCommercial,
    section: "2.a(i)",
    summary: "no use, modification, copying or distribution for any commercial or production \
              purpose",
    breaks: RUN_REDISTRIBUTE_MODIFY,
};

pub(super) const META_TEMPLATE_FIELDS: Clause = Clause {
    kind: ClauseKind::FieldOfUse,
    section: "2.a(ii)-(iv)",
    summary: "bans military and nuclear uses, surveillance (including research on it) and \
              biometric processing",
    breaks: RUN,
};

pub(super) const META_TEMPLATE_SANCTIONS: Clause = Clause {
    kind: ClauseKind::Geographic,
    section: "2.e",
    summary: "no use or download from comprehensively sanctioned jurisdictions, and no hiding \
              one's location",
    breaks: RUN,
};

pub(super) const META_TEMPLATE_TERMINATE_AT_WILL: Clause = Clause {
    kind: ClauseKind::Revocable,
    section: "7.b",
    summary: "the licensor may terminate the licence at any time on notice",
    breaks: RUN_REDISTRIBUTE,
};

/// RAIL licences: use restrictions travel with every copy and derivative. The condition is the
/// first of Section 4's list, which each text numbers its own way.
pub(super) const fn rail_downstream(section: &'static str) -> Clause {
    Clause {
        kind: ClauseKind::DownstreamRestrictions,
        section,
        summary: "the use-based restrictions must be written into any licence for the model or \
                  its derivatives (distilled models included)",
        breaks: MODIFY,
    }
}

/// The licensor's published numbering (`a.`), kept where no verbatim text was available.
pub(super) const RAIL_DOWNSTREAM: Clause = rail_downstream("4.a");

pub(super) const RAIL_USE_RESTRICTIONS: Clause = Clause {
    kind: ClauseKind::FieldOfUse,
    section: "5, Attachment A",
    summary: "the model and derivatives must not be used for the restricted uses listed in \
              Attachment A",
    breaks: RUN,
};

pub(super) const RAIL_LATEST_VERSION: Clause = Clause {
    kind: ClauseKind::Revocable,
    section: "7",
    summary: "the licensor may update the model or its output remotely and the licensee must try \
              to run the latest version",
    breaks: RUN,
};

pub(super) const RAIL_M_CLAUSES: &[Clause] =
    &[RAIL_DOWNSTREAM, RAIL_USE_RESTRICTIONS, RAIL_LATEST_VERSION];

pub(super) const AI2_IMPACT_USE_RESTRICTIONS: Clause = Clause {
    kind: ClauseKind::FieldOfUse,
    section: "(prohibited uses)",
    summary: "lists prohibited uses such as weapons, surveillance and other harmful applications",
    breaks: RUN,
};

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// The AI licences and use policies of Meta, Google and the RAIL family, one entry each (the
/// others are in `table_others.rs` and `table_recent.rs`).
pub static AI_LICENSES: &[AiLicense] = &[
    // ----------------------------------------------------------------------------- Meta
    AiLicense {
        key: "llama-1-noncommercial",
        name: "LLaMA License (non-commercial model licence)",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "LLaMA License",
            "LLaMA Model License",
            "LLaMA 1 License",
            "LLaMA Non-Commercial License",
            "LLaMA 1 Non-Commercial Research License",
        ],
        fingerprints: &[
            "llama is licensed under the llama license",
            "the llama license copyright c meta platforms inc",
            "meta grants you a non exclusive worldwide non transferable non sublicensable",
            "security or protection used by meta in connection with the software",
            "located in a comprehensively sanctioned jurisdiction",
            "will not disguise your location through ip proxying or other methods",
        ],
        policy: None,
        url: "https://github.com/meta-llama/llama/blob/cebd3de/LICENSE_WEIGHTS",
        other_urls: &[],
        clauses: &[
            META_TEMPLATE_RESEARCH_ONLY,
            META_TEMPLATE_NON_COMMERCIAL,
            META_TEMPLATE_FIELDS,
            META_TEMPLATE_SANCTIONS,
            META_TEMPLATE_TERMINATE_AT_WILL,
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-2-community",
        name: "Llama 2 Community License Agreement",
        doc: DocKind::License,
        hf_ids: &["llama2"],
        names: &[
            "Llama 2 Community License Agreement",
            "Llama 2 Community License",
            "Meta Llama 2 Community License",
            "llama2 license",
            "Llama 2 License",
        ],
        fingerprints: &[
            "llama 2 community license agreement",
            "llama 2 version release date july 18 2023",
            "llama 2 is licensed under the llama 2 community license",
            "on the llama 2 version release date the monthly active users",
            "improve any other large language model excluding llama 2",
        ],
        policy: Some("llama-2-aup"),
        url: "https://ai.meta.com/llama/license/",
        other_urls: &[],
        clauses: &[
            LLAMA_AUP_INCORPORATED,
            Clause {
                kind: ClauseKind::NoImprovingOtherModels,
                section: "1.b.v",
                summary: "the materials and their outputs must not be used to improve other large \
                          language models",
                breaks: MODIFY,
            },
            LLAMA_700M_MAU,
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-2-aup",
        name: "Llama 2 Acceptable Use Policy",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &[
            "Llama 2 Acceptable Use Policy",
            "Meta Llama 2 Acceptable Use Policy",
        ],
        fingerprints: &[
            "llama 2 acceptable use policy",
            "we want everyone to use llama 2 safely and responsibly",
            "allow others to use llama 2 to",
            "including use of llama 2 related to the following",
            "representing that the use of llama 2 or outputs are human generated",
            "products or services using the llama 2 materials",
        ],
        policy: None,
        url: "https://ai.meta.com/llama/use-policy/",
        other_urls: &[],
        clauses: &[LLAMA_AUP_WHOLE],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-3-community",
        name: "Meta Llama 3 Community License Agreement",
        doc: DocKind::License,
        hf_ids: &["llama3"],
        names: &[
            "Meta Llama 3 Community License Agreement",
            "Meta Llama 3 Community License",
            "Llama 3 Community License Agreement",
            "Llama 3 Community License",
            "llama3 license",
            "Meta Llama 3 License",
        ],
        fingerprints: &[
            "meta llama 3 community license agreement",
            "meta llama 3 version release date april 18 2024",
            "prominently display built with meta llama 3",
            "include llama 3 at the beginning of any such ai model name",
            "meta llama 3 is licensed under the meta llama 3 community license",
            "improve any other large language model excluding meta llama 3",
        ],
        policy: Some("llama-3-aup"),
        url: "https://llama.meta.com/llama3/license/",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::NamingMandate,
                section: "1.b.i",
                summary: "products must display \"Built with Meta Llama 3\" and derived models \
                          must start their name with \"Llama 3\"",
                breaks: MODIFY,
            },
            LLAMA_AUP_INCORPORATED,
            Clause {
                kind: ClauseKind::NoImprovingOtherModels,
                section: "1.b.v",
                summary: "the materials and their outputs must not be used to improve other large \
                          language models",
                breaks: MODIFY,
            },
            LLAMA_700M_MAU,
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-3-aup",
        name: "Meta Llama 3 Acceptable Use Policy",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &[
            "Meta Llama 3 Acceptable Use Policy",
            "Llama 3 Acceptable Use Policy",
        ],
        // Phrases of the standalone policy; the copy appended to the licence file says
        // "Meta Llama 3" throughout and so matches only the title.
        fingerprints: &[
            "meta llama 3 acceptable use policy",
            "we want everyone to use llama 3 safely and responsibly",
            "allow others to use llama 3 to",
            "including use of llama 3 related to the following",
            "representing that the use of llama 3 or outputs are human generated",
            "products or services using the llama 3 materials",
        ],
        policy: None,
        url: "https://llama.meta.com/llama3/use-policy/",
        other_urls: &[],
        clauses: &[LLAMA_AUP_WHOLE],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-3.1-community",
        name: "Llama 3.1 Community License Agreement",
        doc: DocKind::License,
        hf_ids: &["llama3.1"],
        names: &[
            "Llama 3.1 Community License Agreement",
            "Llama 3.1 Community License",
            "Meta Llama 3.1 Community License",
            "llama3.1 license",
        ],
        fingerprints: &[
            "llama 3.1 community license agreement",
            "llama 3.1 version release date july 23 2024",
            "llama 3.1 is licensed under the llama 3.1 community license",
            "accompanying llama 3.1 distributed by meta",
            "meta s proprietary llama 3.1 and documentation",
            "the llama materials or llama 3.1 outputs or results",
        ],
        policy: Some("llama-3.1-aup"),
        url: "https://www.llama.com/llama3_1/license/",
        other_urls: &[],
        clauses: LLAMA_3X_CLAUSES,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-3.1-aup",
        name: "Llama 3.1 Acceptable Use Policy",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &[
            "Llama 3.1 Acceptable Use Policy",
            "Meta Llama 3.1 Acceptable Use Policy",
        ],
        fingerprints: &[
            "llama 3.1 acceptable use policy",
            "we want everyone to use llama 3.1 safely and responsibly",
            "including use of llama 3.1 related to the following",
            "representing that the use of llama 3.1 or outputs are human generated",
            "violations of the acceptable use policy or unlicensed uses of llama 3.1",
        ],
        policy: None,
        url: "https://www.llama.com/llama3_1/use-policy/",
        other_urls: &[],
        clauses: &[LLAMA_AUP_WHOLE],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-3.2-community",
        name: "Llama 3.2 Community License Agreement",
        doc: DocKind::License,
        hf_ids: &["llama3.2"],
        names: &[
            "Llama 3.2 Community License Agreement",
            "Llama 3.2 Community License",
            "Meta Llama 3.2 Community License",
            "llama3.2 license",
        ],
        // The title also occurs in the 3.2 use policy (its EU paragraph names the licence).
        fingerprints: &[
            "llama 3.2 community license agreement",
            "llama 3.2 version release date september 25 2024",
            "llama 3.2 is licensed under the llama 3.2 community license",
            "accompanying llama 3.2 distributed by meta",
            "meta s proprietary llama 3.2 and documentation",
            "the llama materials or llama 3.2 outputs or results",
        ],
        policy: Some("llama-3.2-aup"),
        url: "https://www.llama.com/llama3_2/license/",
        other_urls: &[],
        clauses: LLAMA_3X_CLAUSES,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-3.2-aup",
        name: "Llama 3.2 Acceptable Use Policy",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &[
            "Llama 3.2 Acceptable Use Policy",
            "Meta Llama 3.2 Acceptable Use Policy",
        ],
        fingerprints: &[
            "llama 3.2 acceptable use policy",
            "we want everyone to use llama 3.2 safely and responsibly",
            "representing that the use of llama 3.2 or outputs are human generated",
            "with respect to any multimodal models included in llama 3.2",
            "software are associated with meta or llama 3.2",
            "violations of the acceptable use policy or unlicensed uses of llama 3.2",
        ],
        policy: None,
        url: "https://www.llama.com/llama3_2/use-policy/",
        other_urls: &[],
        clauses: LLAMA_AUP_WITH_EU,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-3.3-community",
        name: "Llama 3.3 Community License Agreement",
        doc: DocKind::License,
        hf_ids: &["llama3.3"],
        names: &[
            "Llama 3.3 Community License Agreement",
            "Llama 3.3 Community License",
            "Meta Llama 3.3 Community License",
            "llama3.3 license",
        ],
        fingerprints: &[
            "llama 3.3 community license agreement",
            "llama 3.3 version release date december 6 2024",
            "llama 3.3 is licensed under the llama 3.3 community license",
            "accompanying llama 3.3 distributed by meta",
            "meta s proprietary llama 3.3 and documentation",
            "the llama materials or llama 3.3 outputs or results",
        ],
        policy: Some("llama-3.3-aup"),
        url: "https://www.llama.com/llama3_3/license/",
        other_urls: &[],
        clauses: LLAMA_3X_CLAUSES,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-3.3-aup",
        name: "Llama 3.3 Acceptable Use Policy",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &[
            "Llama 3.3 Acceptable Use Policy",
            "Meta Llama 3.3 Acceptable Use Policy",
        ],
        fingerprints: &[
            "llama 3.3 acceptable use policy",
            "we want everyone to use llama 3.3 safely and responsibly",
            "representing that the use of llama 3.3 or outputs are human generated",
            "with respect to any multimodal models included in llama 3.3",
            "software are associated with meta or llama 3.3",
            "violations of the acceptable use policy or unlicensed uses of llama 3.3",
        ],
        policy: None,
        url: "https://www.llama.com/llama3_3/use-policy/",
        other_urls: &[],
        clauses: LLAMA_AUP_WITH_EU,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-4-community",
        name: "Llama 4 Community License Agreement",
        doc: DocKind::License,
        hf_ids: &["llama4"],
        names: &[
            "Llama 4 Community License Agreement",
            "Llama 4 Community License",
            "Meta Llama 4 Community License",
            "llama4 license",
        ],
        fingerprints: &[
            "llama 4 community license agreement",
            "llama 4 version effective date april 5 2025",
            "llama 4 is licensed under the llama 4 community license",
            "accompanying llama 4 distributed by meta",
            "meta s proprietary llama 4 and documentation",
            "the llama materials or llama 4 outputs or results",
        ],
        policy: Some("llama-4-aup"),
        url: "https://www.llama.com/llama4/license/",
        other_urls: &[],
        clauses: LLAMA_3X_CLAUSES,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "llama-4-aup",
        name: "Llama 4 Acceptable Use Policy",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &[
            "Llama 4 Acceptable Use Policy",
            "Meta Llama 4 Acceptable Use Policy",
        ],
        fingerprints: &[
            "llama 4 acceptable use policy",
            "we want everyone to use llama 4 safely and responsibly",
            "representing that the use of llama 4 or outputs are human generated",
            "with respect to any multimodal models included in llama 4",
            "software are associated with meta or llama 4",
            "violations of the acceptable use policy or unlicensed uses of llama 4",
        ],
        policy: None,
        url: "https://www.llama.com/llama4/use-policy/",
        other_urls: &[],
        clauses: LLAMA_AUP_WITH_EU,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "opt-175b",
        name: "OPT-175B License Agreement",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "OPT-175B License Agreement",
            "OPT-175B License",
            "OPT 175B Non-Commercial License",
        ],
        fingerprints: &[
            "opt 175b license agreement",
            "opt 175b is licensed under the opt 175b license",
            "from an embargoed country as prohibited by the u s government",
            "meta grants you a non exclusive worldwide non transferable non sublicensable",
        ],
        policy: None,
        url: "https://github.com/facebookresearch/metaseq/blob/main/projects/OPT/MODEL_LICENSE.md",
        other_urls: &[],
        clauses: &[
            META_TEMPLATE_RESEARCH_ONLY,
            META_TEMPLATE_NON_COMMERCIAL,
            META_TEMPLATE_FIELDS,
            META_TEMPLATE_TERMINATE_AT_WILL,
        ],
        grants_all_freedoms: false,
    },
    // ----------------------------------------------------------------------------- Google
    AiLicense {
        key: "gemma-terms",
        name: "Gemma Terms of Use",
        doc: DocKind::License,
        hf_ids: &["gemma"],
        names: &[
            "Gemma Terms of Use",
            "Gemma",
            "Gemma License",
            "Gemma Terms",
        ],
        fingerprints: &[
            "gemma terms of use",
            "gemma is provided under and subject to the gemma terms of use",
            "restricted uses set forth in the gemma prohibited use policy",
            "google claims no rights in outputs you generate using gemma",
            "distillation methods that use intermediate data representations",
            "making gemma or its functionality available as a hosted service",
        ],
        policy: Some("gemma-prohibited-use"),
        url: "https://ai.google.dev/gemma/terms",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "1.1(e)",
                summary: "models trained by distillation or on synthetic Gemma outputs count as \
                          Model Derivatives and inherit the terms",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "3.1",
                summary: "the Section 3.2 use restrictions must be made enforceable in any \
                          agreement under which Gemma or derivatives are passed on",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::AcceptableUsePolicy,
                section: "3.2",
                summary: "use must follow the Gemma Prohibited Use Policy, incorporated by \
                          reference",
                breaks: RUN,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        // No verbatim text: written from Google's published policy.
        key: "gemma-prohibited-use",
        name: "Gemma Prohibited Use Policy",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &["Gemma Prohibited Use Policy", "Gemma Prohibited Use"],
        fingerprints: &[],
        policy: None,
        url: "https://ai.google.dev/gemma/prohibited_use_policy",
        other_urls: &[],
        clauses: &[Clause {
            kind: ClauseKind::AcceptableUsePolicy,
            section: "(whole policy)",
            summary: "bans dangerous, illegal or malicious activities, certain sexually explicit \
                      content, deception and misinformation, and circumventing safety filters",
            breaks: RUN,
        }],
        grants_all_freedoms: false,
    },
    // ----------------------------------------------------------------------------- RAIL family
    AiLicense {
        // No verbatim text: written from the published BigScience OpenRAIL-M (Aug 18, 2022).
        key: "bigscience-openrail-m",
        name: "BigScience OpenRAIL-M License",
        doc: DocKind::License,
        hf_ids: &["openrail", "bigscience-openrail-m"],
        names: &[
            "BigScience OpenRAIL-M License",
            "BigScience OpenRAIL-M",
            "BigScience Open RAIL-M License",
            "OpenRAIL",
            "OpenRAIL-M",
            "Open RAIL-M",
        ],
        fingerprints: &[],
        policy: None,
        url: "https://bigscience.huggingface.co/blog/bigscience-openrail-m",
        other_urls: &[],
        clauses: RAIL_M_CLAUSES,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "bigscience-bloom-rail-1.0",
        name: "BigScience RAIL License v1.0",
        doc: DocKind::License,
        hf_ids: &["bigscience-bloom-rail-1.0"],
        names: &[
            "BigScience BLOOM RAIL 1.0",
            "BigScience RAIL License v1.0",
            "BLOOM RAIL License v1.0",
            "BLOOM License",
            "Bloom",
        ],
        fingerprints: &[
            "bigscience rail license v1.0 dated may 19 2022",
            "this license governs the use of the bigscience bloom models",
            "collection of texts extracted from the bigscience corpus",
            "corresponding to the bigscience bloom model architecture",
            "informed by both the bigscience ethical charter",
        ],
        policy: None,
        url: "https://huggingface.co/spaces/bigscience/license",
        other_urls: &[],
        clauses: &[
            rail_downstream("4.1"),
            RAIL_USE_RESTRICTIONS,
            RAIL_LATEST_VERSION,
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "creativeml-openrail-m",
        name: "CreativeML Open RAIL-M",
        doc: DocKind::License,
        hf_ids: &["creativeml-openrail-m"],
        // Note: normalize() drops "+", so "OpenRAIL++-M" names would collide with these; the
        // ++ variant is told apart by its "License" suffix and its hf id.
        names: &[
            "CreativeML Open RAIL-M",
            "CreativeML OpenRAIL-M",
            "CreativeML OpenRAIL-M License",
        ],
        fingerprints: &[
            "creativeml open rail m dated august 22 2022",
            "2022 robin rombach and patrick esser and contributors",
            "undertake reasonable efforts to use the latest version of the model",
            "transform the way artists among other individuals conceive",
        ],
        policy: None,
        url: "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
        other_urls: &[],
        clauses: &[
            rail_downstream("4 (first condition)"),
            RAIL_USE_RESTRICTIONS,
            RAIL_LATEST_VERSION,
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "creativeml-openrail++-m",
        name: "CreativeML Open RAIL++-M License",
        doc: DocKind::License,
        hf_ids: &["openrail++"],
        names: &["CreativeML Open RAIL++-M License"],
        // Identical to Open RAIL-M except the header and the dropped "latest version" sentence
        // of paragraph 7, which the third phrase (running into paragraph 8) captures.
        fingerprints: &[
            "creativeml open rail m license dated november 24 2022",
            "copyright c 2022 stability ai and contributors",
            "the model in violation of this license 8 trademarks and related",
            "transform the way artists among other individuals conceive",
        ],
        policy: None,
        url: "https://huggingface.co/stabilityai/stable-diffusion-2/blob/main/LICENSE-MODEL",
        other_urls: &[],
        clauses: &[
            rail_downstream("4 (first condition)"),
            RAIL_USE_RESTRICTIONS,
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        // No verbatim text: written from the published BigCode OpenRAIL-M v1.
        key: "bigcode-openrail-m",
        name: "BigCode OpenRAIL-M v1 License Agreement",
        doc: DocKind::License,
        hf_ids: &["bigcode-openrail-m"],
        names: &[
            "BigCode OpenRAIL-M v1 License Agreement",
            "BigCode OpenRAIL-M v1",
            "BigCode OpenRAIL-M",
            "BigCode Open RAIL-M v1 License",
        ],
        fingerprints: &[
            "created under bigcode an open and collaborative research project",
            "explanatory documentation of the same or better quality",
            "restrict remotely or otherwise usage of the model",
            "bigcode open rail m v1 license agreement",
        ],
        policy: None,
        url: "https://huggingface.co/spaces/bigcode/bigcode-model-license-agreement",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "5.1",
                summary: "the model and modifications may be shared only under a licence that \
                          includes Paragraph 4 and the Attachment A restrictions (or equivalent)",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::FieldOfUse,
                section: "4, Attachment A",
                summary: "compliance with the Attachment A use restrictions is a condition of \
                          the grants",
                breaks: RUN,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "deepfloyd-if",
        name: "DeepFloyd IF License Agreement",
        doc: DocKind::License,
        hf_ids: &["deepfloyd-if-license"],
        names: &[
            "DeepFloyd IF License Agreement",
            "DeepFloyd IF License",
            "DeepFloyd License",
        ],
        fingerprints: &[
            "deepfloyd if license agreement",
            "deepfloyd is licensed under the deepfloyd license",
            "stability ai grants you a non exclusive worldwide non transferable non sublicensable",
            "security or protection used by stability ai in connection with the software",
            "stability ai and our subsidiaries and affiliates",
        ],
        policy: None,
        url: "https://github.com/deep-floyd/IF/blob/develop/LICENSE-MODEL",
        other_urls: &[],
        clauses: &[
            META_TEMPLATE_RESEARCH_ONLY,
            META_TEMPLATE_NON_COMMERCIAL,
            META_TEMPLATE_FIELDS,
            META_TEMPLATE_SANCTIONS,
            META_TEMPLATE_TERMINATE_AT_WILL,
        ],
        grants_all_freedoms: false,
    },
];
