//! The Model Openness Framework class, computed by the rules the Model Openness Tool publishes
//! (`ModelEvaluator::evaluate`, `getProgress`, `getClassification` in lfai/model_openness_tool):
//!
//! - Components are cumulative: Class II needs Class III's required components too, Class I all.
//! - A required component counts when it is included *and* its licence is open (OSI-approved,
//!   FSF libre, or on MOT's open-data list). An open licence of the wrong kind (a code licence on
//!   data) still counts, but is reported as "not type-appropriate".
//! - A class is met when every required component of it and of the classes above is counted; the
//!   model's class is the best met class. Progress per class is counted / required, and 0 when a
//!   class above is not met.
//! - The technical report may be replaced by the research paper (MOF 1.0, section on Class III).

use serde::Serialize;

use crate::component::{Component, ComponentId, ContentType, Presence};

/// Status of one component in the evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MofStatus {
    /// Included with an open licence.
    Included,
    /// Included without a licence.
    Unlicensed,
    /// Included with a licence that is not open (or could not be identified).
    Invalid,
    /// Not included.
    Missing,
}

/// MOF evaluation of a release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MofResult {
    /// Best class met: 1, 2 or 3; `None` when not even Class III is met.
    pub class: Option<u8>,
    /// Progress towards Class I, II and III, in percent.
    pub progress: [f64; 3],
    /// Status of every MOF component.
    pub components: Vec<(ComponentId, MofStatus)>,
    /// Required components holding each class back, per class (index 0 = Class I).
    pub blocking: [Vec<ComponentId>; 3],
    /// Components with an open licence that is not of their content type's kind.
    pub not_type_appropriate: Vec<ComponentId>,
}

/// Roman numeral of a class.
pub fn roman(class: u8) -> &'static str {
    match class {
        1 => "I",
        2 => "II",
        3 => "III",
        _ => "none",
    }
}

fn required(class: u8) -> Vec<ComponentId> {
    ComponentId::ALL
        .into_iter()
        .filter(|c| c.mof_class() == Some((class, true)))
        .collect()
}

/// Whether an open licence suits a component's content type (MOF: OSI-style licences for code,
/// open data licences for data, open content licences for documents).
fn type_appropriate(c: &Component) -> bool {
    let Some(l) = &c.license else { return false };
    let data_like = crate::license::standard::OPEN_DATA
        .iter()
        .any(|d| l.id == *d)
        || l.id == "OpenMDW-1.0";
    match c.id.content_type() {
        ContentType::Code => l.osi || l.id == "OpenMDW-1.0",
        ContentType::Data | ContentType::Document => data_like || l.id == "OpenMDW-1.0",
    }
}

/// Status of a component for MOF purposes.
pub fn status(c: &Component) -> MofStatus {
    if !c.presence.available() {
        return MofStatus::Missing;
    }
    match &c.license {
        Some(l) if l.open => MofStatus::Included,
        Some(l) if l.kind == crate::license::LicenseKind::None => MofStatus::Unlicensed,
        None => MofStatus::Unlicensed,
        Some(_) => MofStatus::Invalid,
    }
}

/// Evaluates the seventeen MOF components of `components`.
pub fn evaluate(components: &[Component]) -> MofResult {
    let get = |id: ComponentId| components.iter().find(|c| c.id == id);
    let st = |id: ComponentId| get(id).map_or(MofStatus::Missing, status);
    let mut statuses: Vec<(ComponentId, MofStatus)> = ComponentId::ALL
        .into_iter()
        .filter(|c| c.mof_id().is_some())
        .map(|c| (c, st(c)))
        .collect();
    statuses.sort_by_key(|(c, _)| c.mof_id());
    let not_type_appropriate = components
        .iter()
        .filter(|c| c.mof_id.is_some() && status(c) == MofStatus::Included && !type_appropriate(c))
        .map(|c| c.id)
        .collect();
    // Included (counted) required components per class, cumulative from Class III down.
    let tr = ComponentId::TechnicalReport;
    let rp = ComponentId::ResearchPaper;
    let mut counted = [0usize; 4]; // index by class
    let mut totals = [0usize; 4];
    let mut blocking: [Vec<ComponentId>; 3] = Default::default();
    let mut req_so_far: Vec<ComponentId> = Vec::new();
    for class in [3u8, 2, 1] {
        req_so_far.extend(required(class));
        totals[class as usize] = req_so_far.len();
        let mut n = req_so_far
            .iter()
            .filter(|c| st(**c) == MofStatus::Included)
            .count();
        // MOT: when the technical report is not included, a research paper with a status stands
        // in for it in classes II and III (Class I requires the paper itself already).
        if class >= 2 && st(tr) != MofStatus::Included && st(rp) == MofStatus::Included {
            n += 1;
        }
        counted[class as usize] = n;
        blocking[class as usize - 1] = req_so_far
            .iter()
            .copied()
            .filter(|c| st(*c) != MofStatus::Included)
            .filter(|c| !(*c == tr && st(rp) == MofStatus::Included))
            .collect();
    }
    let progress_of = |class: u8| -> f64 {
        // Every class above must be met first.
        for above in (class + 1)..=3 {
            if counted[above as usize] < totals[above as usize] {
                return 0.0;
            }
        }
        let mut total = totals[class as usize];
        if class == 1 && st(tr) != MofStatus::Included && st(rp) == MofStatus::Included {
            total -= 1;
        }
        (counted[class as usize] as f64 / total as f64 * 100.0).min(100.0)
    };
    let progress = [progress_of(1), progress_of(2), progress_of(3)];
    let class = [1u8, 2, 3]
        .into_iter()
        .find(|c| progress[*c as usize - 1] >= 100.0);
    MofResult {
        class,
        progress,
        components: statuses,
        blocking,
        not_type_appropriate,
    }
}

/// Whether `presence` counts as included for MOF (available in any form).
pub fn included(presence: Presence) -> bool {
    presence.available()
}
