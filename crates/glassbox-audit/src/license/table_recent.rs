//! More of glassbox's AI-licence table: custom model licences common on the Hub since 2023
//! (TII Falcon, Mistral research and non-production, Qwen research, Skywork, GLM-4, AI21 Jamba,
//! Baichuan 2). Written, like `table.rs`, from reading the texts whose provenance is listed in
//! `tests/fixtures/licenses/PROVENANCE.md`; sections are as those texts number them (a test
//! checks each section against the text). Entries marked "no verbatim text" were written from
//! the licensor's published summary; they carry neither fingerprints nor section numbers, only
//! `(no verbatim text)`.
//!
//! InternLM needs no entry: its code and weights are Apache-2.0.

use super::facts::{AiLicense, Clause, ClauseKind, DocKind, Freedom};

const RUN: &[Freedom] = &[Freedom::Run];
const MODIFY: &[Freedom] = &[Freedom::Modify];
const RUN_REDISTRIBUTE: &[Freedom] = &[Freedom::Run, Freedom::Redistribute];
const RUN_REDISTRIBUTE_MODIFY: &[Freedom] = &[Freedom::Run, Freedom::Redistribute, Freedom::Modify];

/// No section can be cited for licences glassbox has no verbatim text of.
const UNVERIFIED: &str = "(no verbatim text)";

/// The clause structure shared by the Falcon 2 11B and the December 2024 TII Falcon licences
/// (Apache-2.0-like, numbered 1 to 11, no hosting section), apart from the naming statement.
const fn tii_falcon_clauses(naming: &'static str) -> [Clause; 4] {
    [
        Clause {
            kind: ClauseKind::DownstreamRestrictions,
            section: "4.1.1",
            summary: "the use restrictions of the Acceptable Use Policy must be written as \
                      enforceable provisions into any agreement governing the work or derivatives",
            breaks: MODIFY,
        },
        Clause {
            kind: ClauseKind::AcceptableUsePolicy,
            section: "5.1",
            summary: "use of the work and derivatives must comply with TII's Acceptable Use \
                      Policy at all times; outputs may not be used to create works that conflict \
                      with it (5.2)",
            breaks: RUN,
        },
        Clause {
            kind: ClauseKind::Revocable,
            section: "5.3",
            summary: "the Acceptable Use Policy may be updated from time to time and binds in its \
                      latest version",
            breaks: RUN,
        },
        Clause {
            kind: ClauseKind::NamingMandate,
            section: "6.1",
            summary: naming,
            breaks: MODIFY,
        },
    ]
}

const FALCON_2_CLAUSES: [Clause; 4] = tii_falcon_clauses(
    "any public statement about a derivative must say it \"is built using Falcon LLM \
     technology from the Technology Innovation Institute\"",
);

const TII_FALCON_CLAUSES: [Clause; 4] = tii_falcon_clauses(
    "any public statement about a derivative must say it \"is built using artificial \
     intelligence technology from the Technology Innovation Institute\"",
);

/// The four bans of both TII acceptable-use policies.
const TII_AUP_CLAUSES: &[Clause] = &[Clause {
    kind: ClauseKind::AcceptableUsePolicy,
    section: "(whole policy)",
    summary: "bans unlawful uses, harming minors or living beings, spreading verifiably false \
              information to harm others, and defaming or harassing others",
    breaks: RUN,
}];

/// Mistral's research and non-production licences share sections 2–9.
const MISTRAL_DOWNSTREAM: Clause = Clause {
    kind: ClauseKind::DownstreamRestrictions,
    section: "4.3",
    summary: "derivatives stay subject to the usage limitations of Section 3, whoever receives \
              them",
    breaks: MODIFY,
};

/// The entries.
pub static RECENT_AI_LICENSES: &[AiLicense] = &[
    // ------------------------------------------------------------------------------- TII Falcon
    AiLicense {
        key: "falcon-2-11b",
        name: "Falcon 2 11B TII License Version 1.0",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "Falcon 2 11B TII License Version 1.0",
            "Falcon 2 11B TII License",
            "tii-falcon-2-11b-license",
        ],
        fingerprints: &[
            "falcon 2 11b tii license version 1.0",
            "your copyright license to use the work shall be royalty free and without charge",
            "is built using falcon llm technology from the technology innovation institute",
            "must be included as enforceable provisions by you in any type of legal agreement",
            "the acceptable use policy may be updated from time to time",
        ],
        policy: Some("falcon-2-11b-aup"),
        url: "https://falconllm-staging.tii.ae/falcon-2-terms-and-conditions.html",
        other_urls: &["https://falconllm.tii.ae/falcon-2-terms-and-conditions.html"],
        clauses: &FALCON_2_CLAUSES,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "falcon-2-11b-aup",
        name: "Falcon 2 11B TII Acceptable Use Policy",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &["Falcon 2 11B Acceptable Use Policy"],
        fingerprints: &[
            "you agree not to use falcon 2 11b or any work or derivative work",
            "as such terms are defined in the falcon 2 11b tii license version 1.0",
            "verifiably false information with the purpose of harming others",
            "to defame disparage or otherwise harass others",
        ],
        policy: None,
        url: "https://falconllm-staging.tii.ae/falcon-2-acceptable-use-policy.html",
        other_urls: &["https://falconllm.tii.ae/falcon-2-acceptable-use-policy.html"],
        clauses: TII_AUP_CLAUSES,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "tii-falcon",
        name: "TII Falcon License (December 2024)",
        doc: DocKind::License,
        hf_ids: &["falcon-llm-license"],
        names: &[
            "TII Falcon License",
            "Falcon 3 TII Falcon License",
            "TII Falcon-LLM License 2.0",
            "falcon-llm-license",
        ],
        fingerprints: &[
            "licensed under the tii falcon license",
            "to which this license has been applied as indicated by a copyright notice",
            "is built using artificial intelligence technology from the technology innovation institute",
            "in relation to the initial release of each relevant model is in object form only",
            "the acceptable use policy may be updated from time to time",
        ],
        policy: Some("tii-falcon-aup"),
        url: "https://falconllm.tii.ae/falcon-terms-and-conditions.html",
        other_urls: &[],
        clauses: &TII_FALCON_CLAUSES,
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "tii-falcon-aup",
        name: "TII Falcon Acceptable Use Policy (December 2024)",
        doc: DocKind::UsePolicy,
        hf_ids: &[],
        names: &["TII Falcon Acceptable Use Policy"],
        fingerprints: &[
            "you agree not to use the relevant model or any work or derivative work",
            "as such terms are defined in the tii falcon license",
            "verifiably false information with the purpose of harming others",
            "to defame disparage or otherwise harass others",
        ],
        policy: None,
        url: "https://falconllm.tii.ae/falcon-acceptable-use-policy.html",
        other_urls: &[],
        clauses: TII_AUP_CLAUSES,
        grants_all_freedoms: false,
    },
    // ---------------------------------------------------------------------------------- Mistral
    AiLicense {
        key: "mistral-research",
        name: "Mistral AI Research License (MRL-0.1)",
        doc: DocKind::License,
        hf_ids: &["mrl"],
        names: &[
            "Mistral AI Research License",
            "MRL-0.1",
            "MRL",
            "mistral-research-license",
        ],
        fingerprints: &[
            "licensed by mistral ai under the mistral ai research license",
            "which mistral ai may grant to you in mistral ai s sole discretion",
            "outputs for research purposes",
            "please contact mistral ai via the website contact form",
            "solely for a personal scientific or academic research",
        ],
        policy: None,
        url: "https://mistral.ai/licenses/MRL-0.1.md",
        other_urls: &["https://mistral.ai/licenses/MRL-0.1"],
        clauses: &[
            Clause {
                kind: ClauseKind::ResearchOnly,
                section: "3.2",
                summary: "models, derivatives and outputs may be used for Research Purposes only",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::NonCommercial,
                section: "9",
                summary: "\"Research Purposes\" are personal, scientific or academic research \
                          for non-profit and non-commercial purposes; work tasks of companies \
                          are excluded",
                breaks: RUN_REDISTRIBUTE_MODIFY,
            },
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: "(preamble)",
                summary: "any other use needs a licence that Mistral AI may grant at its sole \
                          discretion",
                breaks: RUN_REDISTRIBUTE,
            },
            MISTRAL_DOWNSTREAM,
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "mistral-non-production",
        name: "Mistral AI Non-Production License (MNPL-0.1)",
        doc: DocKind::License,
        hf_ids: &["mnpl"],
        names: &["Mistral AI Non-Production License", "MNPL-0.1", "MNPL"],
        fingerprints: &[
            "for testing research personal or evaluation purposes in non production environments",
            "licensed by mistral ai under the mistral ai non production license",
            "or behind a software layer",
            "expressly excludes live real world conditions commercial operations",
            "outputs are not considered as derivatives under this agreement",
        ],
        policy: None,
        url: "https://mistral.ai/licenses/MNPL-0.1.md",
        other_urls: &["https://mistral.ai/licenses/MNPL-0.1"],
        clauses: &[
            Clause {
                kind: ClauseKind::ResearchOnly,
                section: "3.2",
                summary: "models and derivatives may be used only for testing, research, \
                          personal or evaluation purposes in non-production environments",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::NonCommercial,
                section: "3.2",
                summary: "models and derivatives may not be supplied in the course of a \
                          commercial activity, paid or free, hosted or behind a software layer",
                breaks: RUN_REDISTRIBUTE_MODIFY,
            },
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: "3.3",
                summary: "any other use needs a licence that Mistral AI may grant at its sole \
                          discretion",
                breaks: RUN_REDISTRIBUTE,
            },
            MISTRAL_DOWNSTREAM,
        ],
        grants_all_freedoms: false,
    },
    // ------------------------------------------------------------------------------------- Qwen
    AiLicense {
        key: "qwen-research",
        name: "Qwen Research License Agreement (September 2024)",
        doc: DocKind::License,
        hf_ids: &["qwen-research"],
        names: &["Qwen RESEARCH LICENSE AGREEMENT", "Qwen Research License"],
        fingerprints: &[
            "qwen research license agreement release date september 19 2024",
            "non commercial shall mean for research or evaluation purposes only",
            "prominently display built with qwen or improved using qwen",
            "qwen is licensed under the qwen research license agreement",
            "the people s courts in hangzhou city shall have exclusive jurisdiction",
        ],
        policy: None,
        url: "https://huggingface.co/Qwen/Qwen2.5-3B/blob/main/LICENSE",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::NonCommercial,
                section: "2.a",
                summary: "use, copies, derivatives and distribution for non-commercial purposes \
                          only",
                breaks: RUN_REDISTRIBUTE_MODIFY,
            },
            Clause {
                kind: ClauseKind::ResearchOnly,
                section: "1.i",
                summary: "\"Non-Commercial\" means research or evaluation purposes only",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: "2.b",
                summary: "commercial use needs a licence requested from Alibaba Cloud",
                breaks: RUN_REDISTRIBUTE,
            },
            Clause {
                kind: ClauseKind::NamingMandate,
                section: "4.b",
                summary: "models made or improved with the materials or their outputs must \
                          display \"Built with Qwen\" or \"Improved using Qwen\"",
                breaks: MODIFY,
            },
        ],
        grants_all_freedoms: false,
    },
    // ---------------------------------------------------------------------------------- Skywork
    AiLicense {
        key: "skywork-community",
        name: "Skywork Community License",
        doc: DocKind::License,
        hf_ids: &["skywork-community-license"],
        names: &[
            "Skywork Community License",
            "Skywork 模型社区许可协议",
            "skywork-license",
        ],
        fingerprints: &[
            "beijing skywork intelligence technology co ltd",
            "for any military or unlawful purposes",
            "this labeling includes but is not limited to skywork inside",
            "brand exposure and prominent identification",
            "the model parameters in the skywork model are examples",
            "the licensor has the final right to interpret the terms",
        ],
        policy: None,
        url: "https://github.com/SkyworkAI/Skywork/blob/main/Skywork%20Community%20License.pdf",
        other_urls: &["https://github.com/SkyworkAI/Skywork/blob/main/Skywork-license-zh.pdf"],
        clauses: &[
            Clause {
                kind: ClauseKind::FieldOfUse,
                section: "1",
                summary: "no use, copying, modification or distribution for military or unlawful \
                          purposes",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "4",
                summary: "every third party receiving the model gets this Agreement with its use \
                          restrictions, and modified models must not violate them (5)",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::NamingMandate,
                section: "15",
                summary: "derivatives offered or open-sourced must be prominently labelled as \
                          based on the Skywork Model (\"Skywork Inside\"), also on leaderboards \
                          (16)",
                breaks: MODIFY,
            },
        ],
        grants_all_freedoms: false,
    },
    // ------------------------------------------------------------------------------------ GLM-4
    AiLicense {
        key: "glm-4",
        name: "The glm-4-9b License",
        doc: DocKind::License,
        hf_ids: &["glm-4"],
        names: &["The glm-4-9b License", "glm-4-9b License", "GLM-4 License"],
        fingerprints: &[
            "the glm 4 9b license",
            "built with glm 4",
            "to the beginning of any such ai model name",
            "endangers national security and unity",
            "open bigmodel cn mla form",
        ],
        policy: None,
        url: "https://huggingface.co/THUDM/glm-4-9b/blob/main/LICENSE",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: "2",
                summary: "commercial use requires registration with the licensor first",
                breaks: RUN_REDISTRIBUTE,
            },
            Clause {
                kind: ClauseKind::NamingMandate,
                section: "2",
                summary: "products must display \"Built with glm-4\" and models made with the \
                          materials must start their name with \"glm-4\"",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::Revocable,
                section: "2",
                summary: "the copyright licence granted is revocable",
                breaks: RUN_REDISTRIBUTE,
            },
            Clause {
                kind: ClauseKind::FieldOfUse,
                section: "3",
                summary: "no military or illegal use, nor use that endangers national security \
                          and unity",
                breaks: RUN,
            },
        ],
        grants_all_freedoms: false,
    },
    // ------------------------------------------------------------------ no verbatim text below
    AiLicense {
        // No verbatim text: written from AI21's published summary of the licence.
        key: "jamba-open-model",
        name: "Jamba Open Model License Agreement",
        doc: DocKind::License,
        hf_ids: &["jamba-open-model-license"],
        names: &[
            "Jamba Open Model License",
            "Jamba Open Model License Agreement",
        ],
        fingerprints: &[],
        policy: None,
        url: "https://www.ai21.com/licenses/jamba-open-model-license",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::UserThreshold,
                section: UNVERIFIED,
                summary: "organisations above an annual revenue threshold need a separate \
                          commercial licence",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::AcceptableUsePolicy,
                section: UNVERIFIED,
                summary: "use must follow AI21's usage guidelines",
                breaks: RUN,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        // No verbatim text (the licence is published as a PDF): written from the licensor's
        // repository README.
        key: "baichuan-2-community",
        name: "Baichuan 2 Model Community License Agreement",
        doc: DocKind::License,
        hf_ids: &["baichuan2-community-license"],
        names: &[
            "Baichuan 2 Model Community License Agreement",
            "Community License for Baichuan 2 Model",
            "Baichuan 2 模型社区许可协议",
        ],
        fingerprints: &[],
        policy: None,
        url: "https://huggingface.co/baichuan-inc/Baichuan2-7B-Chat/blob/main/Community%20License%20for%20Baichuan2%20Model.pdf",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: UNVERIFIED,
                summary: "commercial use needs an application to and a licence from Baichuan",
                breaks: RUN_REDISTRIBUTE,
            },
            Clause {
                kind: ClauseKind::UserThreshold,
                section: UNVERIFIED,
                summary: "the commercial licence is open only below a daily-active-user \
                          threshold and not to software or cloud service providers",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::Revocable,
                section: UNVERIFIED,
                summary: "the commercial licence granted is revocable",
                breaks: RUN_REDISTRIBUTE,
            },
        ],
        grants_all_freedoms: false,
    },
];
