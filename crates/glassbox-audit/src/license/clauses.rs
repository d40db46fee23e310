//! Restrictive clauses found in *any* licence text, known or not: the sentences that limit one
//! of the four freedoms, each quoted with its line and section.
//!
//! Rules are patterns over one sentence at a time (see [`super::text`]), in English and Chinese,
//! one or more per kind of restriction: user, device, visit or revenue thresholds; territory
//! exclusions; non-commercial, research-only or evaluation-only terms; acceptable-use policies
//! incorporated by reference; prohibited fields of use; bans on improving other models; naming and
//! "Built with" mandates; registration or approval before use; revocation or rewriting of the
//! terms at will; restrictions that must be passed to downstream licensees; no-derivatives terms;
//! competitor bans. A sentence that *grants* rather than limits (`commercial or non-commercial
//! purposes`, `does not restrict commercial use`, termination on breach, "except as provided by
//! this License") is not a restriction. Every open licence text in the test fixtures yields none.

use std::sync::OnceLock;

use regex::Regex;

use super::facts::{ClauseKind, Freedom};
use super::text::Sentence;

/// A restriction found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundClause {
    /// Kind.
    pub kind: ClauseKind,
    /// Freedoms it breaks.
    pub breaks: &'static [Freedom],
    /// The section it sits in (may be empty).
    pub section: String,
    /// 1-based line it starts on.
    pub line: usize,
    /// The sentence (cut to about 300 characters around the match).
    pub quote: String,
}

const RUN: &[Freedom] = &[Freedom::Run];
const MODIFY: &[Freedom] = &[Freedom::Modify];
const RUN_REDISTRIBUTE: &[Freedom] = &[Freedom::Run, Freedom::Redistribute];
const ALL_BUT_STUDY: &[Freedom] = &[Freedom::Run, Freedom::Redistribute, Freedom::Modify];

/// One rule: a kind, the freedoms it breaks, the pattern that finds it, and a pattern that, in
/// the same sentence, shows it is not a restriction after all.
struct Rule {
    kind: ClauseKind,
    breaks: &'static [Freedom],
    find: &'static str,
    unless: Option<&'static str>,
}

/// Sentences that grant, permit or merely define rather than restrict.
const GRANTING: &str = r"(?:commercial (?:or|and|and/or) non-?commercial|non-?commercial (?:or|and|and/or) commercial|including (?:for )?commercial|(?:does|do|shall) not (?:restrict|limit|prohibit|apply)|not (?:be )?(?:construed|deemed|interpreted) (?:as|to)|nothing in this)";

fn rules() -> Vec<Rule> {
    use ClauseKind as K;
    let r = |kind, breaks, find: &'static str, unless: Option<&'static str>| Rule {
        kind,
        breaks,
        find,
        unless,
    };
    vec![
        // Thresholds.
        r(
            K::UserThreshold,
            RUN,
            r"(?:monthly|daily|weekly) active users|\b(?:more|greater|higher) than [0-9][0-9,.]*\s*(?:million|billion|thousand|k\b|m\b)?\s*(?:(?:monthly|daily|active|registered|unique|end)\s+)*(?:users|devices|visits|visitors|customers|subscribers)|(?:annual|yearly)\s+(?:gross\s+)?(?:revenue|turnover|income|sales)s?\b[^.]{0,100}\b(?:exceed|more than|greater than|over|above|in excess of)|(?:revenue|turnover)s?\b[^.]{0,60}\b(?:exceed\w*|more than|greater than|in excess of)\s*(?:us\s*)?(?:\$|usd|eur|€|£|[0-9])",
            None,
        ),
        r(
            K::UserThreshold,
            RUN,
            r"月活跃用户|日活跃用户|月活|活跃用户数?|用户(?:数量|规模)?(?:超过|超出|达到)|(?:年|年度)?(?:营业)?收入(?:超过|超出|达到)",
            None,
        ),
        // Territory.
        r(
            K::Geographic,
            RUN,
            r"(?:sanctioned|embargoed)\s+(?:countr|jurisdiction|region|territor|nation)",
            Some(r"comply with (?:all )?applicable (?:export|sanction)"),
        ),
        r(
            K::Geographic,
            RUN,
            r"(?:not|never|no|withheld|excluded?)\b[^.]{0,160}\b(?:in|from|within|domiciled|based|resident|located)\b[^.]{0,60}\b(?:european union|mainland china|people'?s republic of china|russia|iran|north korea|cuba|syria|crimea|the eu\b)",
            None,
        ),
        r(
            K::Geographic,
            RUN,
            r"\bonly\b[^.]{0,80}\bwithin the territory|territory[^.]{0,40}\b(?:exclud\w*|except\w*|shall not include|does not include)|outside (?:of )?(?:the )?(?:territory|people'?s republic of china|mainland china|united states)",
            None,
        ),
        r(
            K::Geographic,
            RUN,
            r"(?:仅|只)(?:限|能|可)?(?:在|于)[^。；]{0,20}(?:境内|地区|国家)|(?:境外|受制裁|制裁)[^。；]{0,20}(?:国家|地区|不得)",
            None,
        ),
        // Non-commercial.
        r(
            K::NonCommercial,
            ALL_BUT_STUDY,
            r"non-?commercial\b|\bnot\b(?:[^.]|\.\S|\b[a-z0-9]{1,3}\.\s){0,400}\bcommercial(?: or [a-z-]+)? (?:use|purpose|activit|product|service|deployment|exploitation|advantage|application)|\bno commercial\b|for any commercial (?:use|purpose)[^.]{0,40}\b(?:prohibited|not permitted)",
            Some(GRANTING),
        ),
        r(
            K::NonCommercial,
            ALL_BUT_STUDY,
            r"非商业|不得(?:将[^。；]{0,30})?(?:用于|进行)?商业|不可商用|禁止(?:用于)?商业",
            None,
        ),
        // Research / evaluation only.
        r(
            K::ResearchOnly,
            RUN,
            r"(?:solely|only|exclusively|strictly)\s+(?:be\s+used\s+|use\s+[^.]{0,160}\s+)?(?:for|to)\s+(?:your\s+)?(?:own\s+)?(?:(?:personal|internal|non-?commercial|non-?profit|scientific|academic|the purposes? of|purposes? of)[,\s]+)*(?:research|evaluation|evaluating|testing|academic|experimental|educational|study)|(?:research|evaluation|testing|academic)(?:[, ]+(?:and|or))?(?: (?:research|evaluation|testing))? purposes only|non-?production (?:environment|use|purpose)|(?:allows?|permits?) (?:you )?to use [^.]{0,120}\bfor (?:free )?(?:for )?(?:academic|non-?commercial|scientific) research",
            Some(GRANTING),
        ),
        r(
            K::ResearchOnly,
            RUN,
            r"仅(?:限)?(?:用于|供|可用于)?(?:学术|科学|科研|个人|非商业)?(?:研究|评估|测试|学习)",
            None,
        ),
        // Acceptable-use policy incorporated by reference or attached.
        r(
            K::AcceptableUsePolicy,
            RUN,
            r"(?:acceptable|prohibited|responsible|usage|fair)[- ]use polic(?:y|ies)[^.]{0,200}\b(?:comply|compliance|subject to|incorporated|abide|adhere|in accordance|conform|governed|must|shall|agree)|(?:comply|compliance|subject to|abide|adhere|in accordance)[^.]{0,120}(?:acceptable|prohibited|responsible|usage)[- ]use polic(?:y|ies)|incorporated (?:herein )?by reference",
            None,
        ),
        r(
            K::AcceptableUsePolicy,
            RUN,
            r"(?:遵守|遵循|符合)[^。；]{0,40}(?:可接受使用|使用|行为)(?:政策|准则|规范)",
            None,
        ),
        // Prohibited fields of use.
        r(
            K::FieldOfUse,
            RUN,
            concat!(
                r"(?:shall|will|must|may|agree\w*|to)\s+",
                r"(?:not|never)",
                r"\s+(?:to\s+)?(?:use|deploy|utili[sz]e|exploit|permit|allow|engage)\b",
                r"(?:[^.]|\.\S|\b[a-z0-9]{1,3}\.\s){0,400}",
                r"\b(?:military|weapon|warfare|surveillance|biometric|nuclear|law enforcement|discriminat|harass|defam|disinformation|misinformation|medical advice|critical infrastructure|illegal|unlawful|harm|exploit\w* minors|violen)"
            ),
            Some(GRANTING),
        ),
        r(
            K::FieldOfUse,
            RUN,
            r"(?:will|shall|agree\w*|may|must)\s+(?:not|never)\s+(?:to\s+)?(?:use|deploy|utili[sz]e)\b(?:[^.]|\.\d){0,160}:|cannot use [^.]{0,120}(?:restricted|prohibited) uses|compliance with the (?:use )?restrictions[^.]{0,60}\bis a condition|(?:the following|these) (?:uses|activities) (?:are|is) (?:strictly )?prohibited|prohibited uses?\b[^.]{0,60}\b(?:include|are|:)",
            None,
        ),
        r(
            K::FieldOfUse,
            RUN,
            r"不得(?:将|利用)?[^。；]{0,40}(?:用于|从事)[^。；]{0,60}(?:军事|武器|监控|违法|非法|危害|歧视|虚假)",
            None,
        ),
        // No improving other models.
        r(
            K::NoImprovingOtherModels,
            MODIFY,
            concat!(
                r"\b",
                r"(?:not|never|no|prohibit\w*)",
                r"\b[^.]{0,160}\b(?:improve|train|develop|enhance|distil\w*|fine-?tune|create|build)\b[^.]{0,100}\b(?:other|another|any other|competing|third[- ]party|non-\w+)\b[^.]{0,40}\b(?:models?|llms?|ai systems?|language models?)"
            ),
            Some(GRANTING),
        ),
        r(
            K::NoImprovingOtherModels,
            MODIFY,
            r"(?:不得|禁止)[^。；]{0,40}(?:改进|改善|训练|提升)[^。；]{0,20}其他[^。；]{0,10}模型",
            None,
        ),
        // Naming and display mandates.
        r(
            K::NamingMandate,
            MODIFY,
            r#""?built with [a-z0-9][^".]{1,40}"?[^.]{0,80}(?:display|prominent|include|must|shall)|(?:display|prominent\w*|include)[^.]{0,80}"?built with|(?:name|title)s?\b[^.]{0,80}\b(?:must|shall)\s+(?:begin|start|include|contain|be prefixed|incorporate)|is built using [^.]{0,80} technology|prominently (?:label|mark|identify|indicate)[^.]{0,120}\b(?:based on|built (?:on|with)|derived from|developed)|powered by [a-z0-9][^.]{0,40}(?:must|shall|display)"#,
            None,
        ),
        r(
            K::NamingMandate,
            MODIFY,
            r"(?:名称|命名)[^。；]{0,40}(?:须|必须|应当|应)[^。；]{0,20}(?:包含|以|标明)|显著(?:位置|地)?(?:标明|展示|注明)",
            None,
        ),
        // Approval, registration or a separate licence before use.
        r(
            K::ApprovalRequired,
            RUN_REDISTRIBUTE,
            r"(?:prior\s+)?written\s+(?:consent|approval|permission|authori[sz]ation)\s+(?:of|from|by)|prior written (?:consent|approval|permission|authori[sz]ation)|(?:must|shall|need to|required to|will need to)\s+(?:first\s+)?(?:request|obtain|apply for|seek)\s+(?:a\s+|an\s+)?(?:separate\s+|commercial\s+|additional\s+|express\s+)?(?:licen[cs]e|permission|approval|authori[sz]ation)|(?:register|registration|apply|application)[^.]{0,100}\b(?:before|prior to|in order to)\b[^.]{0,60}\b(?:commercial|use|deploy)|may grant[^.]{0,80}(?:sole|absolute) discretion|apply to [a-z0-9 ]{2,30} for permission",
            Some(
                r"\bendorse\b|\bpromote\b|(?:trademark|trade names?|logos?)\b|except as required for reasonable and customary use",
            ),
        ),
        r(
            K::ApprovalRequired,
            RUN_REDISTRIBUTE,
            r"书面(?:同意|授权|许可)|商业[^。；]{0,40}(?:申请|登记|注册)|(?:wish|want|intend)\w* to use [^.]{0,80}\bcommercial(?:[^.]|\.\S){0,160}\b(?:registration|register|apply|application)|(?:需|须|应|需要|必须)(?:向[^。；]{0,20})?(?:申请|获得|取得)[^。；]{0,20}(?:授权|许可|同意)|商业(?:用途|使用|用)[^。；]{0,40}(?:申请|登记|注册|授权|许可)",
            None,
        ),
        // Revocation or rewriting at will.
        r(
            K::Revocable,
            RUN_REDISTRIBUTE,
            r"(?:may|can|reserves? the right to|is entitled to|retains? the right to)\s+(?:at any time\s+)?(?:terminate|revoke|suspend|cancel|withdraw)\b[^.]{0,120}\b(?:at any time|for any reason|without (?:cause|notice|reason)|at (?:its|our|their) (?:sole )?discretion|for convenience)|(?:may|reserves? the right to|can)\s+(?:unilaterally\s+)?(?:update|modify|amend|change|revise)\s+(?:this|these|the)\s+(?:agreement|licen[cs]e|terms|policy)|(?:may|will|can) be (?:updated|modified|amended|revised|changed) from time to time|latest version from time to time|\brevocable\b(?:[^.]{0,80})\b(?:licen[cs]e|right)|(?:efforts|required|must|shall) to use the latest version",
            Some(
                r"breach|fail\w* to comply|violat\w*|non-?compliance|patent (?:litigation|infringement)|institut\w* (?:patent )?litigation",
            ),
        ),
        r(
            K::Revocable,
            RUN_REDISTRIBUTE,
            r"(?:^|[^不])可撤销|(?:有权|可以|可|保留)[^。；]{0,10}(?:随时|任何时候)[^。；]{0,20}(?:终止|撤销|撤回|修改|更新)|(?:有权|可)(?:随时)?(?:修改|更新|变更)本(?:协议|许可)",
            Some(r"违反|违约"),
        ),
        // Downstream restrictions.
        r(
            K::DownstreamRestrictions,
            MODIFY,
            r"(?:must|shall)\s+(?:include|contain|impose|pass|flow|incorporate|be included|notify|inform|require)\b[^.]{0,240}\b(?:use[- ]based restrictions|restrictions|enforceable provisions|at least as (?:stringent|restrictive))|enforceable provisions?\b|(?:share|distribute)[^.]{0,120}\bunder (?:any|a) licen[cs]e\b[^.]{0,160}\b(?:includes?|contains?)\b(?:[^.]|\.\S|\b[a-z0-9]{1,3}\.\s){0,80}\brestrictions|at least as (?:stringent|restrictive)|(?:derivatives?|derivative works?|outputs?|modifications?)\b[^.]{0,80}\b(?:shall|must|will) (?:be|remain) subject to the (?:same )?(?:use )?restrictions|derivatives?\b[^.]{0,120}\b(?:will|shall|must) be (?:limited|restricted) to",
            Some(r"may not impose any further restrictions|you may not impose"),
        ),
        r(
            K::DownstreamRestrictions,
            MODIFY,
            r"(?:须|必须|应当|应)[^。；]{0,60}(?:包含|纳入|传递|告知)[^。；]{0,40}(?:限制|约束)|同等(?:的)?(?:限制|约束)",
            None,
        ),
        // No derivatives.
        r(
            K::NoDerivatives,
            MODIFY,
            concat!(
                r"(?:may|shall|must|will)\s+",
                r"(?:not|never)",
                r"\s+(?:modify|alter|adapt|translate|create derivative|make derivative|produce derivative|prepare derivative|distribute (?:any )?(?:derivative|modified|adapted))|no derivatives|noderivatives|(?:derivative works?|adaptations?|modifications?)\b[^.]{0,40}\b(?:are|is) (?:not permitted|prohibited|forbidden)"
            ),
            Some(
                r"except as (?:expressly )?(?:provided|permitted)|notices?\b|\bterms of this licen|copyright|attribution|technological measures",
            ),
        ),
        r(
            K::NoDerivatives,
            MODIFY,
            r"不得(?:修改|改编|改动|创作衍生|制作衍生)",
            None,
        ),
        // Competitor bans.
        r(
            K::CompetitorBan,
            RUN,
            concat!(
                r"\b",
                r"(?:not|never|no|prohibit\w*)",
                r"\b[^.]{0,160}\bcompet(?:e|es|ing|itive|itor|itors)\b"
            ),
            Some(GRANTING),
        ),
        r(
            K::CompetitorBan,
            RUN,
            r"(?:不得|禁止)[^。；]{0,60}竞争",
            None,
        ),
    ]
}

struct Compiled {
    kind: ClauseKind,
    breaks: &'static [Freedom],
    find: Regex,
    unless: Option<Regex>,
}

fn compiled() -> &'static [Compiled] {
    static RULES: OnceLock<Vec<Compiled>> = OnceLock::new();
    RULES.get_or_init(|| {
        rules()
            .into_iter()
            .filter_map(|r| {
                // The patterns are constants checked by the unit tests; one that fails to compile
                // is dropped rather than taking the audit down.
                Some(Compiled {
                    kind: r.kind,
                    breaks: r.breaks,
                    find: Regex::new(r.find).ok()?,
                    unless: match r.unless {
                        Some(u) => Some(Regex::new(u).ok()?),
                        None => None,
                    },
                })
            })
            .collect()
    })
}

/// The sentence in the form the rules read: lower case, straight quotes, single spaces.
fn plain(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '“' | '”' | '„' | '″' => '"',
            '‘' | '’' | '′' => '\'',
            '–' | '—' => '-',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
        .replace(['*', '_', '`'], " ")
}

/// At most ~300 characters of `raw` around chars `start..end`.
fn quote(raw: &str, start: usize, end: usize) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 300 {
        return raw.to_string();
    }
    let from = start.min(chars.len()).saturating_sub(120);
    let to = (end + 120).min(chars.len()).max(from);
    let mut q: String = chars[from..to].iter().collect();
    if from > 0 {
        q.insert(0, '…');
    }
    if to < chars.len() {
        q.push('…');
    }
    q
}

/// Char offset in `s.raw` of the start of the line holding char `at` (a sentence that runs on
/// from a heading is quoted from the line of the match, not from the heading).
fn line_start(s: &Sentence, at: usize) -> usize {
    s.marks
        .iter()
        .rev()
        .map(|(o, _, _)| *o)
        .find(|o| *o <= at)
        .unwrap_or(0)
}

/// The sentence from the start of the line holding char `at`.
fn line_tail(s: &Sentence, at: usize) -> String {
    s.raw.chars().skip(line_start(s, at)).collect()
}

/// Every restriction in `sentences` (all of a text, or only the sentences added to a known
/// licence), one per kind and sentence.
pub fn find(sentences: &[&Sentence]) -> Vec<FoundClause> {
    let rules = compiled();
    let mut out = Vec::new();
    for s in sentences {
        let p = plain(&s.raw);
        let mut kinds = Vec::new();
        for r in rules {
            if kinds.contains(&r.kind) {
                continue;
            }
            let Some(m) = r.find.find(&p) else { continue };
            if r.unless.as_ref().is_some_and(|u| u.is_match(&p)) {
                continue;
            }
            kinds.push(r.kind);
            // Lower-casing keeps one char per char (bar rare expansions): char offsets of the
            // plain form point into the sentence as written.
            let start = p[..m.start()].chars().count();
            let end = start + p[m.start()..m.end()].chars().count();
            // Where the match ends is where the restricted thing is named ("… to: a. use … for
            // (i) any commercial purposes" sits in item a).
            let (line, _) = s.position(start);
            let (_, section) = s.position(end.saturating_sub(1).max(start));
            out.push(FoundClause {
                kind: r.kind,
                breaks: r.breaks,
                section: section.to_string(),
                line,
                quote: quote(
                    &line_tail(s, start),
                    0,
                    end.saturating_sub(line_start(s, start)),
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::text::sentences;
    use super::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        let s = sentences(text);
        let refs: Vec<&Sentence> = s.iter().collect();
        find(&refs).into_iter().map(|c| c.kind.as_str()).collect()
    }

    #[test]
    fn every_rule_compiles() {
        assert_eq!(compiled().len(), rules().len());
    }

    #[test]
    fn restrictions_are_found_and_grants_are_not() {
        for (text, want) in [
            (
                "If your products had more than 100 million monthly active users, you must request a license.",
                "user_threshold",
            ),
            (
                "You may use the Model only for non-commercial research purposes.",
                "non_commercial",
            ),
            (
                "You shall only use the Model for Research Purposes.",
                "research_only",
            ),
            (
                "Your use must comply with the Acceptable Use Policy, which is incorporated by reference.",
                "acceptable_use_policy",
            ),
            (
                "You will not use the Model or its outputs to improve any other large language model.",
                "no_improving_other_models",
            ),
            (
                "You shall prominently display “Built with Acme” on a related website.",
                "naming_mandate",
            ),
            (
                "You must obtain prior written approval from Acme before any commercial deployment.",
                "approval_required",
            ),
            (
                "Acme may terminate this licence at any time for any reason.",
                "revocable",
            ),
            (
                "You must include these use-based restrictions as enforceable provisions in any agreement.",
                "downstream_restrictions",
            ),
            (
                "You may not use the Model in the European Union or from sanctioned countries.",
                "geographic",
            ),
            (
                "You agree not to use the Model for military purposes or surveillance.",
                "field_of_use",
            ),
            ("您不得将本模型用于商业用途。", "non_commercial"),
            (
                "如果您的产品月活跃用户超过1亿，须向我们申请授权。",
                "user_threshold",
            ),
        ] {
            assert!(kinds(text).contains(&want), "{text}: {:?}", kinds(text));
        }
        for text in [
            "You may use the Work for commercial or non-commercial purposes.",
            "This License does not restrict commercial use of the Work.",
            "Acme may terminate this Agreement at any time if you are in breach of it.",
            "You may not propagate or modify a covered work except as expressly provided under this License.",
            "You may not impose any further restrictions on the exercise of the rights granted.",
            "Neither the name of the copyright holder nor the names of its contributors may be used to endorse or promote products without specific prior written permission.",
        ] {
            assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
        }
    }
}
