//! Licences named in the recipe's `[release]` section: SPDX ids and expressions (any case), the
//! Hugging Face licence ids of the RAIL family, and "public domain"; each resolved to SPDX ids
//! whose full texts (from the SPDX licence list) go into the bundle.

use crate::{ReleaseError, Result};

/// A licence as the bundle states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The SPDX expression (canonical case).
    pub expression: String,
    /// Each licence id in it with its full text.
    pub texts: Vec<(String, String)>,
}

/// Names that are not SPDX ids, mapped to one.
const ALIASES: &[(&str, &str)] = &[
    ("public-domain", "CC-PDM-1.0"),
    ("public domain", "CC-PDM-1.0"),
    ("cc0", "CC0-1.0"),
];

fn canonical(id: &str) -> Option<&'static str> {
    spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(id))
        .map(|l| l.name)
}

fn text_of(id: &str) -> Option<&'static str> {
    spdx::text::LICENSE_TEXTS
        .iter()
        .find(|(n, _)| *n == id)
        .map(|(_, t)| *t)
}

/// Resolves the value of recipe key `key`; `given` holds licence texts the recipe supplies
/// (`[release] license_texts`) for licences outside the SPDX list.
pub fn resolve(
    key: &str,
    value: &str,
    given: &std::collections::BTreeMap<String, std::path::PathBuf>,
) -> Result<Resolved> {
    let err = |m: String| ReleaseError::License {
        key: key.into(),
        value: value.into(),
        message: m,
    };
    let v = value.trim();
    if let Some(path) = given.get(v) {
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(format!(
                "cannot read its text from {} ([release] license_texts): {e}",
                path.display()
            ))
        })?;
        return Ok(Resolved {
            expression: v.to_string(),
            texts: vec![(v.to_string(), text)],
        });
    }
    if v.is_empty() {
        return Err(err(
            "empty; name an SPDX licence id such as Apache-2.0".into()
        ));
    }
    let aliased = ALIASES
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(v))
        .map(|(_, id)| id.to_string());
    // Rewrite each identifier of an expression to its canonical case.
    let mut words = Vec::new();
    let mut ids = Vec::new();
    let source = aliased.unwrap_or_else(|| v.to_string());
    for w in source
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
    {
        match w {
            "AND" | "OR" | "WITH" | "and" | "or" | "with" | "(" | ")" => {
                words.push(w.to_ascii_uppercase());
            }
            _ => {
                let plus = w.ends_with('+');
                let base = w.trim_end_matches('+');
                let id = canonical(base)
                    .or_else(|| {
                        ALIASES
                            .iter()
                            .find(|(a, _)| a.eq_ignore_ascii_case(base))
                            .map(|(_, id)| *id)
                    })
                    .ok_or_else(|| {
                        err(format!(
                            "`{base}` is not an SPDX licence id (see https://spdx.org/licenses/); for another licence give its text in [release] license_texts"
                        ))
                    })?;
                if words.last().is_some_and(|p| p == "WITH") {
                    words.push(w.to_string());
                    continue;
                }
                ids.push(id.to_string());
                words.push(format!("{id}{}", if plus { "+" } else { "" }));
            }
        }
    }
    let expression = words.join(" ").replace("( ", "(").replace(" )", ")");
    spdx::Expression::parse(&expression)
        .map_err(|e| err(format!("not a valid SPDX expression: {e}")))?;
    let mut texts = Vec::new();
    for id in ids {
        if texts.iter().any(|(i, _): &(String, String)| *i == id) {
            continue;
        }
        let t = text_of(&id).ok_or_else(|| {
            err(format!(
                "no licence text for `{id}` in the SPDX licence list; give one in [release] license_texts"
            ))
        })?;
        texts.push((id, t.to_string()));
    }
    Ok(Resolved { expression, texts })
}

/// The Hugging Face card `license` value for an expression: the lowercase id when it is a
/// single licence, else `other` (with `license_name` set to the expression).
pub fn hf_card_id(expression: &str) -> (String, Option<String>) {
    if expression.contains(' ') {
        ("other".into(), Some(expression.to_string()))
    } else {
        (expression.to_ascii_lowercase(), None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn ids_aliases_and_expressions() {
        let none = Default::default();
        let resolve = |k: &str, v: &str| super::resolve(k, v, &none);
        assert_eq!(resolve("k", "apache-2.0").unwrap().expression, "Apache-2.0");
        let pd = resolve("k", "public-domain").unwrap();
        assert_eq!(pd.expression, "CC-PDM-1.0");
        assert!(pd.texts[0].1.contains("No Copyright"));
        let e = resolve("k", "mit AND cc-by-4.0").unwrap();
        assert_eq!(e.expression, "MIT AND CC-BY-4.0");
        assert_eq!(e.texts.len(), 2);
        let bad = resolve("weights_license", "my-own")
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("weights_license") && bad.contains("my-own"),
            "{bad}"
        );
    }
}
