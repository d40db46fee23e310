//! glassbox's AI-licence table, continued: Tongyi Qianwen, DeepSeek, Falcon 180B, NVIDIA,
//! Databricks, Apple, AI2, ChatGLM and Microsoft Research licences (written as `table.rs` says;
//! the shared clauses are defined there).

use super::facts::{AiLicense, Clause, ClauseKind, DocKind};
use super::table::*;

/// The entries.
pub static OTHER_AI_LICENSES: &[AiLicense] = &[
    AiLicense {
        key: "tongyi-qianwen",
        name: "Tongyi Qianwen License Agreement",
        doc: DocKind::License,
        hf_ids: &["tongyi-qianwen"],
        names: &[
            "Tongyi Qianwen License Agreement",
            "Tongyi Qianwen License",
            "tongyi-qianwen",
            "Qwen License Agreement",
            "Qwen License",
        ],
        fingerprints: &[
            "tongyi qianwen release date august 3 2023",
            "including qwen model and qwen chat model",
            "has more than 100 million monthly active users",
            "licensed under the tongyi qianwen license agreement copyright c alibaba cloud",
            "this tongyi qianwen license agreement this agreement shall mean",
        ],
        policy: None,
        url: "https://github.com/QwenLM/Qwen/blob/main/Tongyi%20Qianwen%20LICENSE%20AGREEMENT",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::UserThreshold,
                section: "4",
                summary: "commercial users whose product has over 100 million monthly active \
                          users must obtain a licence from Alibaba Cloud",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::NoImprovingOtherModels,
                section: "5.b",
                summary: "the materials and their outputs must not be used to improve other large \
                          language models",
                breaks: MODIFY,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "tongyi-qianwen-research",
        name: "Tongyi Qianwen Research License Agreement",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "Tongyi Qianwen Research License Agreement",
            "Tongyi Qianwen Research License",
            "tongyi-qianwen-research",
            "Qwen Research License Agreement",
        ],
        fingerprints: &[
            "tongyi qianwen research license agreement",
            "tongyi qianwen release date november 30 2023",
            "non commercial shall mean for research or evaluation purposes only",
            "modifications to the materials for non commercial purposes only",
            "if you are commercially using the materials you shall request a license",
            "you shall request a seperate license from us",
        ],
        policy: None,
        url: "https://github.com/QwenLM/Qwen/blob/main/Tongyi%20Qianwen%20RESEARCH%20LICENSE%20AGREEMENT",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::ResearchOnly,
                section: "1.i",
                summary: "permitted use is defined as research or evaluation only",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::NonCommercial,
                section: "2.a, 2.b",
                summary: "all rights are for non-commercial purposes; commercial use needs a \
                          separate licence from Alibaba Cloud",
                breaks: RUN_REDISTRIBUTE_MODIFY,
            },
            Clause {
                kind: ClauseKind::NoImprovingOtherModels,
                section: "4.b",
                summary: "the materials and their outputs must not be used to improve other large \
                          language models",
                breaks: MODIFY,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "deepseek-license",
        name: "DeepSeek License Agreement",
        doc: DocKind::License,
        hf_ids: &["deepseek"],
        names: &[
            "DeepSeek License Agreement",
            "DeepSeek License Agreement Version 1.0",
            "DeepSeek License",
            "DeepSeek Model License",
        ],
        fingerprints: &[
            "deepseek license agreement version 1.0 23 october 2023",
            "large generative models are being widely adopted and used",
            "for military use in any way",
            "inappropriate content subject to applicable regulatory requirements",
            "governed and construed under prc laws",
            "as an independent personal information processor and ip rights user",
        ],
        policy: None,
        url: "https://github.com/deepseek-ai/DeepSeek-V2/blob/main/LICENSE-MODEL",
        other_urls: &[],
        clauses: &[RAIL_DOWNSTREAM, RAIL_USE_RESTRICTIONS],
        grants_all_freedoms: false,
    },
    AiLicense {
        // Written from the published Falcon 180B TII License Version 1.0 (September 2023);
        // fingerprints from a third-party Markdown copy (no verbatim copy, so no reference
        // sentences: identified by phrases only).
        key: "falcon-tii",
        name: "Falcon 180B TII License Version 1.0",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "Falcon-180B TII License",
            "Falcon 180B TII License Version 1.0",
            "TII Falcon 180B License",
        ],
        fingerprints: &[
            "use of falcon180b for hosted services may require a separate license",
            "hosting application address",
            "offer shared instances or managed services based on the work",
            "in an inference or finetuning api form",
            "licensed under the falcon 180b tii license version 1.0",
            "is built using falcon llm technology from the technology innovation institute",
        ],
        policy: None,
        url: "https://huggingface.co/spaces/tiiuae/falcon-180b-license/blob/main/LICENSE.txt",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "4.1(a), 4.1(b)",
                summary: "the acceptable-use and hosting restrictions must be made enforceable in \
                          any licence for the work or derivatives",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::AcceptableUsePolicy,
                section: "5.1, 5.2",
                summary: "use of the work, derivatives and outputs must follow TII's Acceptable \
                          Use Policy",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::Revocable,
                section: "5.3",
                summary: "TII may change the Acceptable Use Policy at any time and the licensee \
                          must track the current version",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::NamingMandate,
                section: "6.1",
                summary: "public statements about a derivative must say it is built using Falcon \
                          LLM technology from TII",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: "9.3, 9.4",
                summary: "offering the model or derivatives as a shared API or managed service \
                          needs TII's permission and a separate licence",
                breaks: RUN_REDISTRIBUTE,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        // No verbatim text: written from NVIDIA's published terms; sections follow the
        // September 2025 version (earlier versions number them differently).
        key: "nvidia-open-model",
        name: "NVIDIA Open Model License Agreement",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "NVIDIA Open Model License Agreement",
            "NVIDIA Open Model License",
        ],
        fingerprints: &[],
        policy: None,
        url: "https://www.nvidia.com/en-us/agreements/enterprise-software/nvidia-open-model-license/",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::FieldOfUse,
                section: "2.1",
                summary: "rights end if the licensee bypasses or weakens the model's guardrails \
                          without an equivalent replacement",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::Revocable,
                section: "2.1, 2.2",
                summary: "the grant is revocable and NVIDIA may update the agreement unilaterally",
                breaks: RUN_REDISTRIBUTE,
            },
            Clause {
                kind: ClauseKind::AcceptableUsePolicy,
                section: "2.3",
                summary: "use must be consistent with NVIDIA's Trustworthy AI terms",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::NamingMandate,
                section: "3.2",
                summary: "products built from NVIDIA Cosmos models must state they are built on \
                          NVIDIA Cosmos",
                breaks: MODIFY,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "databricks-open-model",
        name: "Databricks Open Model License",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "Databricks Open Model License",
            "Databricks Open Model License Agreement",
            "DBRX License",
        ],
        fingerprints: &[
            "databricks open model license",
            "version release date march 27 2024",
            "dbrx is provided under and subject to the databricks open model license",
            "databricks open model acceptable use policy",
            "you must make reasonable efforts to use the latest version of dbrx",
            "improve any other large language model excluding dbrx or dbrx derivatives",
        ],
        // The Databricks Open Model Acceptable Use Policy has no entry of its own; its
        // incorporation is listed as a clause.
        policy: None,
        url: "https://www.databricks.com/legal/open-model-license",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::NoImprovingOtherModels,
                section: "2.3",
                summary: "DBRX, derivatives and outputs must not be used to improve other large \
                          language models",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::AcceptableUsePolicy,
                section: "2.3(1)",
                summary: "use must follow the Databricks Open Model Acceptable Use Policy, \
                          incorporated by reference",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::UserThreshold,
                section: "3",
                summary: "licensees above 700 million monthly active users need a separate \
                          licence that Databricks may refuse",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::Revocable,
                section: "4.1",
                summary: "Databricks may update DBRX and the licensee must try to run the latest \
                          version",
                breaks: RUN,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "apple-sample-code",
        name: "Apple Sample Code License",
        doc: DocKind::License,
        hf_ids: &["apple-ascl"],
        names: &["Apple Sample Code License", "Apple ASCL"],
        fingerprints: &[
            "this apple software is supplied to you by apple inc apple",
            "under apple s copyrights in this original apple software",
            "to use reproduce modify and redistribute the apple software",
            "if you redistribute the apple software in its entirety and without modifications",
            "used to endorse or promote products derived from the apple software",
        ],
        policy: None,
        url: "https://github.com/apple/corenet/blob/main/LICENSE",
        other_urls: &[],
        // Permissive: use, reproduction, modification and redistribution are granted; the only
        // conditions are notice retention and non-endorsement (no patent licence is granted).
        clauses: &[],
        grants_all_freedoms: true,
    },
    AiLicense {
        key: "apple-ml-research",
        name: "Apple Machine Learning Research Model License Agreement",
        doc: DocKind::License,
        hf_ids: &["apple-amlr"],
        names: &[
            "Apple Machine Learning Research Model License Agreement",
            "Apple Machine Learning Research Model License",
            "Apple ML Research Model License",
            "apple-amlr",
        ],
        fingerprints: &[
            "apple machine learning research model license agreement",
            "sole purpose of scientific research of artificial intelligence",
            "apple machine learning research model exclusively for research purposes",
            "research purposes does not include any commercial exploitation",
            "all model derivatives must clearly be identified as such",
        ],
        policy: None,
        url: "https://github.com/apple/ml-starflow/blob/main/LICENSE_MODEL",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::ResearchOnly,
                section: "1",
                summary: "use, copying, modification and distribution only for research purposes",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::NonCommercial,
                section: "1",
                summary: "research purposes exclude any commercial exploitation, product \
                          development or commercial use",
                breaks: RUN_REDISTRIBUTE_MODIFY,
            },
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "1",
                summary: "model derivatives are likewise limited to research purposes",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::Revocable,
                section: "1",
                summary: "the grant is expressly revocable",
                breaks: RUN_REDISTRIBUTE,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        // No verbatim text: written from AI2's published ImpACT licence summaries.
        key: "ai2-impact-lr",
        name: "AI2 ImpACT License - Low Risk Artifacts",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "AI2 ImpACT License - Low Risk Artifacts",
            "AI2 ImpACT LR License",
            "ImpACT LR",
            "ai2-impact-lr",
        ],
        fingerprints: &[],
        policy: None,
        url: "https://allenai.org/licenses/impact-lr",
        other_urls: &[],
        clauses: &[
            AI2_IMPACT_USE_RESTRICTIONS,
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "(distribution of derivatives)",
                summary: "derivatives must be shared under the same ImpACT terms and their use \
                          restrictions",
                breaks: MODIFY,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        // No verbatim text: written from AI2's published ImpACT licence summaries.
        key: "ai2-impact-mr",
        name: "AI2 ImpACT License - Medium Risk Artifacts",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "AI2 ImpACT License - Medium Risk Artifacts",
            "AI2 ImpACT MR License",
            "ImpACT MR",
            "ai2-impact-mr",
        ],
        fingerprints: &[],
        policy: None,
        url: "https://allenai.org/licenses/impact-mr",
        other_urls: &[],
        clauses: &[
            AI2_IMPACT_USE_RESTRICTIONS,
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "(distribution)",
                summary: "artifacts and derivatives may be passed on only under the same terms, to \
                          recipients who accept them",
                breaks: MODIFY,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        // No verbatim text: written from AI2's published ImpACT licence summaries.
        key: "ai2-impact-hr",
        name: "AI2 ImpACT License - High Risk Artifacts",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "AI2 ImpACT License - High Risk Artifacts",
            "AI2 ImpACT HR License",
            "ImpACT HR",
            "ai2-impact-hr",
        ],
        fingerprints: &[],
        policy: None,
        url: "https://allenai.org/licenses/impact-hr",
        other_urls: &[],
        clauses: &[
            AI2_IMPACT_USE_RESTRICTIONS,
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: "(access)",
                summary: "access requires disclosing contact details and the intended use to AI2",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: "(distribution)",
                summary: "artifacts and derivatives may not be redistributed without AI2's \
                          agreement",
                breaks: REDISTRIBUTE_MODIFY,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "ai2-tulu",
        name: "AI2 AI Model License Agreement",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "AI2 AI Model License Agreement",
            "AI Model License Agreement",
            "AI Model License",
            "Tulu License",
        ],
        // The file's list numbering is garbled by a Markdown conversion; sections below use the
        // a-f lettering of the licence's Meta template.
        fingerprints: &[
            "ai model license agreement",
            "the allen institute for artificial intelligence a washington nonprofit corporation",
            "is licensed under the ai model license copyright",
            "ai2 grants you a non exclusive worldwide non transferable non sublicensable revocable",
            "in service of any of the restricted uses identified in appendix a",
            "determine an insurance premium or deny insurance applications or claims",
        ],
        policy: None,
        url: "https://github.com/allenai/open-instruct/blob/aca8dfe/model_licenses/tulu_license.txt",
        other_urls: &[],
        clauses: &[
            META_TEMPLATE_RESEARCH_ONLY,
            META_TEMPLATE_NON_COMMERCIAL,
            META_TEMPLATE_FIELDS,
            Clause {
                kind: ClauseKind::FieldOfUse,
                section: "2.e, Appendix A",
                summary: "bans the use-based and domain-specific uses of Appendix A (surveillance, \
                          insurance, medical, criminal prediction and others)",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::Geographic,
                section: "2.f",
                summary: "no use or download from comprehensively sanctioned jurisdictions, and no \
                          hiding one's location",
                breaks: RUN,
            },
            META_TEMPLATE_TERMINATE_AT_WILL,
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "chatglm3-6b",
        name: "The ChatGLM3-6B License",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "ChatGLM3-6B License",
            "The ChatGLM3-6B License",
            "ChatGLM3-6B Model License",
            "ChatGLM2-6B License",
            "ChatGLM2-6B Model License",
            "ChatGLM-6B License",
            "ChatGLM-6B Model License",
        ],
        fingerprints: &[
            "the chatglm3 6b license",
            "chatglm3 6b model team that distributes its software",
            "use all open source models in this repository for academic research free",
            "users who wish to use the models for commercial purposes must register",
            "endangers national security and unity",
            "submitted to haidian district people s court in beijing",
        ],
        policy: None,
        url: "https://github.com/THUDM/ChatGLM3/blob/main/MODEL_LICENSE",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::ResearchOnly,
                section: "2",
                summary: "free use is granted for academic research",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::ApprovalRequired,
                section: "2",
                summary: "commercial use requires registering with the licensor first",
                breaks: RUN,
            },
            Clause {
                kind: ClauseKind::Revocable,
                section: "2, closing note",
                summary: "the grant is revocable and the licence says it may be updated",
                breaks: RUN_REDISTRIBUTE,
            },
            Clause {
                kind: ClauseKind::FieldOfUse,
                section: "3",
                summary: "bans military or illegal purposes and acts endangering national security \
                          or public interest",
                breaks: RUN,
            },
        ],
        grants_all_freedoms: false,
    },
    AiLicense {
        key: "msr-la",
        name: "Microsoft Research License Terms",
        doc: DocKind::License,
        hf_ids: &[],
        names: &[
            "Microsoft Research License Terms",
            "Microsoft Research License Agreement",
            "Microsoft Research License",
            "MSR-LA",
            "MSR License Agreement",
        ],
        fingerprints: &[
            "microsoft research license terms",
            "examples of non commercial uses are teaching academic research public demonstrations",
            "subject to the restrictions in this msr la",
            "that microsoft is granted back without any restrictions or limitations",
            "use the software for commercial software hosting services",
            "different from those provided by this msr la",
        ],
        policy: None,
        url: "https://github.com/rbgirshick/py-faster-rcnn/blob/7e34c00/license.txt",
        other_urls: &[],
        clauses: &[
            Clause {
                kind: ClauseKind::NonCommercial,
                section: "SCOPE OF RIGHTS (License Grant)",
                summary: "use, copying, modification and distribution only for non-commercial \
                          purposes; no commercial hosting",
                breaks: RUN_REDISTRIBUTE_MODIFY,
            },
            Clause {
                kind: ClauseKind::DownstreamRestrictions,
                section: "SCOPE OF RIGHTS (first condition)",
                summary: "copies and derivatives must be distributed under these same \
                          non-commercial terms",
                breaks: MODIFY,
            },
            Clause {
                kind: ClauseKind::FieldOfUse,
                section: "SCOPE OF LICENSE",
                summary: "no reverse engineering, decompiling or disassembling, and no working \
                          around technical limitations",
                breaks: STUDY,
            },
        ],
        grants_all_freedoms: false,
    },
];
