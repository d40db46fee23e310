//! Reading request fields from JSON with errors that name the field (`param`), so a wrong type
//! or an out-of-range value is a 400 saying which and why.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A request body: a JSON object.
pub(crate) struct Body(pub Map<String, Value>);

impl Body {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::invalid(None, format!("the request body is not valid JSON: {e}"))
        })?;
        match v {
            Value::Object(m) => Ok(Self(m)),
            other => Err(ApiError::invalid(
                None,
                format!(
                    "the request body must be a JSON object, not {}",
                    kind(&other)
                ),
            )),
        }
    }

    pub(crate) fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    fn wrong(&self, k: &str, want: &str) -> ApiError {
        let got = self.0.get(k).map_or("nothing".into(), kind);
        ApiError::invalid(
            Some(k.to_string()),
            format!("`{k}` must be {want}, not {got}"),
        )
    }

    pub(crate) fn str(&self, k: &str) -> Result<Option<&str>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(k, "a string")),
        }
    }

    pub(crate) fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(k, "true or false")),
        }
    }

    pub(crate) fn f64_in(&self, k: &str, lo: f64, hi: f64) -> Result<Option<f64>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if x >= lo && x <= hi {
                    Ok(Some(x))
                } else {
                    Err(ApiError::invalid(
                        Some(k.to_string()),
                        format!("`{k}` = {x} is out of range ({lo} to {hi})"),
                    ))
                }
            }
            Some(_) => Err(self.wrong(k, "a number")),
        }
    }

    pub(crate) fn int_in(&self, k: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(x) if x >= lo && x <= hi => Ok(Some(x)),
                Some(x) => Err(ApiError::invalid(
                    Some(k.to_string()),
                    format!("`{k}` = {x} is out of range ({lo} to {hi})"),
                )),
                None => Err(self.wrong(k, "an integer")),
            },
            Some(_) => Err(self.wrong(k, "an integer")),
        }
    }

    pub(crate) fn seed(&self) -> Result<Option<u64>, ApiError> {
        match self.get("seed") {
            None => Ok(None),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Ok(Some(u)),
                (None, Some(i)) => Ok(Some(i as u64)),
                _ => Err(self.wrong("seed", "an integer")),
            },
            Some(_) => Err(self.wrong("seed", "an integer")),
        }
    }

    /// `stop`: a string or up to 4 strings.
    pub(crate) fn stop(&self) -> Result<Vec<String>, ApiError> {
        match self.get("stop") {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) if a.len() <= 4 => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.wrong("stop", "a string or a list of up to 4 strings")),
                })
                .collect(),
            Some(_) => Err(self.wrong("stop", "a string or a list of up to 4 strings")),
        }
    }

    /// Fields glassbox does not implement must be absent or neutral.
    pub(crate) fn unsupported(&self, fields: &[(&str, Value)]) -> Result<(), ApiError> {
        for (k, neutral) in fields {
            if let Some(v) = self.get(k)
                && v != neutral
                && !(v.is_object() && v.as_object().is_some_and(Map::is_empty))
            {
                return Err(ApiError::invalid(
                    Some(k.to_string()),
                    format!("`{k}` is not supported by glassbox serve (only {neutral})"),
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}
