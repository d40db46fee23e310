//! The components of a release (the Model Openness Framework's seventeen plus the
//! reproducibility evidence glassbox also looks for), with their presence, licence and evidence.

use serde::Serialize;

use crate::evidence::Evidence;
use crate::license::License;

/// Content type of a component, which decides the kind of licence MOF expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    /// Source code.
    Code,
    /// Data (datasets, parameters).
    Data,
    /// Documents (cards, reports, papers).
    Document,
}

/// Every component glassbox tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentId {
    /// MOF 9: well-commented code for the architecture.
    ModelArchitecture,
    /// MOF 10: final weights.
    ModelParametersFinal,
    /// MOF 24: intermediate checkpoints.
    ModelParametersIntermediate,
    /// MOF 17: training configuration, optimiser states.
    ModelMetadata,
    /// MOF 15: training/validation/test datasets.
    Datasets,
    /// MOF 16: data cleaning, filtering, tokenisation code.
    DataPreprocessingCode,
    /// MOF 7: training code.
    TrainingCode,
    /// MOF 8: inference code.
    InferenceCode,
    /// MOF 18: evaluation code.
    EvaluationCode,
    /// MOF 19: evaluation data.
    EvaluationData,
    /// MOF 12: evaluation results.
    EvaluationResults,
    /// MOF 22: supporting libraries and tools.
    SupportingLibraries,
    /// MOF 13: model card.
    ModelCard,
    /// MOF 14: data card / datasheet.
    DataCard,
    /// MOF 11: technical report.
    TechnicalReport,
    /// MOF 21: research paper.
    ResearchPaper,
    /// MOF 20: sample outputs.
    SampleOutputs,
    /// Tokenizer files (not a MOF component; needed to run the weights).
    Tokenizer,
    /// Training logs (loss curves, metrics per step).
    TrainingLogs,
    /// The exact order in which training saw the data.
    DataOrder,
    /// The resolved training recipe (every hyper-parameter).
    Recipe,
}

impl ComponentId {
    /// The seventeen MOF components followed by glassbox's extras.
    pub const ALL: [ComponentId; 21] = [
        Self::ModelArchitecture,
        Self::ModelParametersFinal,
        Self::ModelParametersIntermediate,
        Self::ModelMetadata,
        Self::Datasets,
        Self::DataPreprocessingCode,
        Self::TrainingCode,
        Self::InferenceCode,
        Self::EvaluationCode,
        Self::EvaluationData,
        Self::EvaluationResults,
        Self::SupportingLibraries,
        Self::ModelCard,
        Self::DataCard,
        Self::TechnicalReport,
        Self::ResearchPaper,
        Self::SampleOutputs,
        Self::Tokenizer,
        Self::TrainingLogs,
        Self::DataOrder,
        Self::Recipe,
    ];

    /// The MOF name (as in MOT files), or glassbox's name for extras.
    pub fn name(self) -> &'static str {
        match self {
            Self::ModelArchitecture => "Model architecture",
            Self::ModelParametersFinal => "Model parameters (Final)",
            Self::ModelParametersIntermediate => "Model parameters (Intermediate)",
            Self::ModelMetadata => "Model metadata",
            Self::Datasets => "Datasets",
            Self::DataPreprocessingCode => "Data preprocessing code",
            Self::TrainingCode => "Training code",
            Self::InferenceCode => "Inference code",
            Self::EvaluationCode => "Evaluation code",
            Self::EvaluationData => "Evaluation data",
            Self::EvaluationResults => "Evaluation results",
            Self::SupportingLibraries => "Supporting libraries and tools",
            Self::ModelCard => "Model card",
            Self::DataCard => "Data card",
            Self::TechnicalReport => "Technical report",
            Self::ResearchPaper => "Research paper",
            Self::SampleOutputs => "Sample model outputs",
            Self::Tokenizer => "Tokenizer",
            Self::TrainingLogs => "Training logs",
            Self::DataOrder => "Data order",
            Self::Recipe => "Training recipe",
        }
    }

    /// The component with MOF name `name`.
    pub fn from_mof_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().take(17).find(|c| c.name() == name)
    }

    /// MOF component id (MOT's `id`), for the seventeen MOF components.
    pub fn mof_id(self) -> Option<u32> {
        Some(match self {
            Self::ModelArchitecture => 9,
            Self::ModelParametersFinal => 10,
            Self::ModelParametersIntermediate => 24,
            Self::ModelMetadata => 17,
            Self::Datasets => 15,
            Self::DataPreprocessingCode => 16,
            Self::TrainingCode => 7,
            Self::InferenceCode => 8,
            Self::EvaluationCode => 18,
            Self::EvaluationData => 19,
            Self::EvaluationResults => 12,
            Self::SupportingLibraries => 22,
            Self::ModelCard => 13,
            Self::DataCard => 14,
            Self::TechnicalReport => 11,
            Self::ResearchPaper => 21,
            Self::SampleOutputs => 20,
            _ => return None,
        })
    }

    /// MOF class the component belongs to (3 = Open Model, 2 = Open Tooling, 1 = Open Science) and
    /// whether the class requires it, per MOF 1.0 (`schema/mof-components.yml`).
    pub fn mof_class(self) -> Option<(u8, bool)> {
        Some(match self {
            Self::ModelArchitecture
            | Self::ModelParametersFinal
            | Self::EvaluationResults
            | Self::ModelCard
            | Self::DataCard
            | Self::TechnicalReport => (3, true),
            Self::SampleOutputs => (3, false),
            Self::TrainingCode
            | Self::InferenceCode
            | Self::EvaluationCode
            | Self::EvaluationData => (2, true),
            Self::SupportingLibraries => (2, false),
            Self::Datasets
            | Self::DataPreprocessingCode
            | Self::ModelParametersIntermediate
            | Self::ResearchPaper => (1, true),
            Self::ModelMetadata => (1, false),
            _ => return None,
        })
    }

    /// MOF content type.
    pub fn content_type(self) -> ContentType {
        match self {
            Self::ModelArchitecture
            | Self::DataPreprocessingCode
            | Self::TrainingCode
            | Self::InferenceCode
            | Self::EvaluationCode
            | Self::SupportingLibraries
            | Self::Tokenizer => ContentType::Code,
            Self::ModelParametersFinal
            | Self::ModelParametersIntermediate
            | Self::ModelMetadata
            | Self::Datasets
            | Self::EvaluationData
            | Self::TrainingLogs
            | Self::DataOrder
            | Self::Recipe => ContentType::Data,
            _ => ContentType::Document,
        }
    }
}

/// Whether a component is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Its files are part of the release.
    Present,
    /// The release links to it elsewhere (a code repository, a dataset on the Hub, a library).
    Referenced,
    /// Declared present by a MOT file (not checked against files).
    Declared,
    /// Not found.
    Absent,
}

impl Presence {
    /// Present, referenced or declared.
    pub fn available(self) -> bool {
        !matches!(self, Self::Absent)
    }
}

/// One component as found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Which component.
    pub id: ComponentId,
    /// Its name.
    pub name: &'static str,
    /// MOF id, if a MOF component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mof_id: Option<u32>,
    /// Availability.
    pub presence: Presence,
    /// Its licence, when one applies (`None`: no licence information at all).
    pub license: Option<License>,
    /// Where the licence comes from.
    pub license_evidence: Vec<Evidence>,
    /// Where the component was found.
    pub evidence: Vec<Evidence>,
    /// A remark (e.g. "section of the model card", "checkpoints as stepN branches").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Component {
    /// An absent component.
    pub fn absent(id: ComponentId) -> Self {
        Self {
            id,
            name: id.name(),
            mof_id: id.mof_id(),
            presence: Presence::Absent,
            license: None,
            license_evidence: Vec::new(),
            evidence: Vec::new(),
            note: None,
        }
    }
}
