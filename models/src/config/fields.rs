//! Typed reads of `config.json` fields, with errors that name the file and the field the user
//! would edit, and the special token ids the config files name.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Special token ids named in `config.json` itself (the other files are consulted later).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigTokenIds {
    pub mask: Option<u32>,
    pub eos: Vec<u32>,
    pub pad: Option<u32>,
    pub bos: Option<u32>,
}

/// A field this engine implements for one value only, the value, and why others are refused.
pub(super) type Rule = (&'static str, Expect, &'static str);

/// The one value of a field this engine implements (absent or null always passes).
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect {
    Str(&'static str),
    Bool(bool),
    /// No value: the feature the field turns on is not implemented at all.
    Absent,
}

impl Expect {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Expect::Str(s) => v == s,
            Expect::Bool(b) => *v == b,
            Expect::Absent => false,
        }
    }
}

/// One parsed config file and where it came from.
pub(super) struct Fields<'a> {
    pub path: &'a Path,
    pub json: &'a Value,
}

impl<'a> Fields<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    /// A positive integer no larger than `limit`.
    pub fn size(&self, key: &str, limit: usize) -> Result<usize> {
        let v = self.get(key).ok_or_else(|| Error::MissingConfigField {
            path: self.path.to_path_buf(),
            field: key.to_string(),
        })?;
        let n = v
            .as_u64()
            .filter(|&n| n > 0)
            .ok_or_else(|| self.unsupported(key, v, "expected a positive integer"))?;
        if n > limit as u64 {
            return Err(out_of_range(self.path, key, n, limit));
        }
        Ok(n as usize)
    }

    pub fn size_or(&self, key: &str, default: usize, limit: usize) -> Result<usize> {
        match self.get(key) {
            Some(_) => self.size(key, limit),
            None => Ok(default),
        }
    }

    /// A positive finite number no larger than `limit`.
    pub fn f64_or(&self, key: &str, default: f64, limit: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0 && *x <= limit)
                .ok_or_else(|| {
                    let reason = format!("expected a positive number up to {limit:e}");
                    self.unsupported(key, v, &reason)
                }),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.unsupported(key, v, "expected true or false")),
        }
    }

    /// Rejects every field whose value this engine does not implement, instead of ignoring
    /// it, in the order given.
    pub fn require_all(&self, rules: &[Rule]) -> Result<()> {
        for &(key, expect, reason) in rules {
            match self.get(key) {
                Some(v) if !expect.accepts(v) => return Err(self.unsupported(key, v, reason)),
                _ => {}
            }
        }
        Ok(())
    }

    fn unsupported(&self, key: &str, v: &Value, reason: &str) -> Error {
        Error::UnsupportedConfig {
            path: self.path.to_path_buf(),
            field: key.to_string(),
            value: v.to_string(),
            reason: reason.to_string(),
        }
    }

    fn token_id(&self, key: &str) -> Option<u32> {
        self.token_ids(key).into_iter().next()
    }

    /// `eos_token_id` may be one id or a list of them.
    fn token_ids(&self, key: &str) -> Vec<u32> {
        match self.get(key) {
            Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_u64)
                .map(|n| n as u32)
                .collect(),
            _ => vec![],
        }
    }
}

pub(super) fn out_of_range(path: &Path, field: &str, value: u64, limit: usize) -> Error {
    Error::ConfigOutOfRange {
        path: path.to_path_buf(),
        field: field.to_string(),
        value,
        limit: limit as u64,
    }
}

/// Reads and parses a JSON file with errors that name it.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the special token ids a JSON file names (`config.json`, `generation_config.json`).
pub(crate) fn token_ids_in(path: &Path, json: &Value) -> ConfigTokenIds {
    let f = Fields { path, json };
    ConfigTokenIds {
        mask: f.token_id("mask_token_id"),
        eos: f.token_ids("eos_token_id"),
        pad: f.token_id("pad_token_id"),
        bos: f.token_id("bos_token_id"),
    }
}
