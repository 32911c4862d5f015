//! Server settings from `initializationOptions` and `workspace/didChangeConfiguration`.
//!
//! Each key is applied on its own: an unknown key is warned about, a bad value is reported and the
//! old value kept, so one typo never resets the rest. What each key accepts, its default and
//! what a change does come from one table ([`table::SETTINGS`]), from which the editor
//! extensions' settings, the README's table and the command line's model flags are generated.

pub mod generate;
mod parse;
pub mod table;

use dllm_models::SamplerOptions;
use serde_json::{Map, Value};

use crate::remote::{Api, RemoteSettings};
use parse::brief;
use table::{OnChange, Setting, Target, SETTINGS};
pub use table::{KEYS, MAX_TOKENS_BLOCK, MAX_TOKENS_INLINE};

/// The settings in force. Each field's key, bounds and default are in [`table::SETTINGS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `model`: a checkpoint directory or Hugging Face id; `None` = the embedded default model.
    pub model: Option<String>,
    /// `dtype`: "f32" or "bf16".
    pub dtype: String,
    /// `bf16Products` (`LoadOptions::bf16_products`).
    pub bf16_products: bool,
    /// The sampler of multi-line spans; single-line ones differ by `inline_block_length`.
    pub sampler: SamplerOptions,
    /// `inlineBlockLength`: the block length of single-line spans (`sampler_for`).
    pub inline_block_length: Option<usize>,
    /// `maxTokensInline`.
    pub max_tokens_inline: usize,
    /// `maxTokensBlock`: a block completion, a rewrite, each hole.
    pub max_tokens_block: usize,
    /// `languages` (LSP language ids); empty = all supported.
    pub languages: Vec<String>,
    /// `holeMarkers`: comment tags or macro names beside the defaults.
    pub hole_markers: Vec<String>,
    /// `contextTokens` on each side of the span.
    pub context_tokens: usize,
    /// `repairRounds`.
    pub repair_rounds: usize,
    /// `minConfidence`: the confidence gate's threshold ([`crate::gate`]).
    pub min_confidence: f32,
    /// `nextEditSuggestions`: whether `dllm/nextEdit` answers.
    pub next_edit: bool,
    /// `logLevel`.
    pub log_level: String,
    /// `backend`: "local" or "remote" ([`Config::remote`]).
    pub backend: String,
    /// `endpoint`: the remote engine's base URL.
    pub endpoint: Option<String>,
    /// `api`: a [`crate::remote::Api`] name.
    pub api: String,
    /// `remoteModel`.
    pub remote_model: Option<String>,
    /// `apiKeyEnv`: the name of the variable holding the key, never the key.
    pub api_key_env: Option<String>,
    /// `requestTimeoutMs`.
    pub request_timeout_ms: usize,
}

impl Default for Config {
    /// The table's defaults, stored through the same checks as any settings object.
    fn default() -> Self {
        let mut config = Config::empty();
        for setting in SETTINGS {
            if let Err(problem) = config.set(setting.key, &setting.default.to_json()) {
                panic!("the default of `{}` is refused: {problem}", setting.key);
            }
        }
        config
    }
}

/// How far an answer reaches: the rest of one line, or lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Line,
    Lines,
}

/// What applying settings did: messages to show, and whether the model must be reloaded.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    pub warnings: Vec<String>,
    pub reload_model: bool,
}

impl Config {
    /// Every field before the table's defaults are stored; the sampler's fields that are no
    /// setting keep `SamplerOptions::default()`.
    fn empty() -> Self {
        Config {
            model: None,
            dtype: String::new(),
            bf16_products: false,
            sampler: SamplerOptions::default(),
            inline_block_length: None,
            max_tokens_inline: 0,
            max_tokens_block: 0,
            languages: vec![],
            hole_markers: vec![],
            context_tokens: 0,
            repair_rounds: 0,
            min_confidence: 0.0,
            next_edit: false,
            log_level: String::new(),
            backend: String::new(),
            endpoint: None,
            api: String::new(),
            remote_model: None,
            api_key_env: None,
            request_timeout_ms: 0,
        }
    }

    /// The remote engine's settings when `backend` is "remote"; `None` for the local model.
    pub fn remote(&self) -> Option<RemoteSettings> {
        (self.backend == "remote").then(|| RemoteSettings {
            endpoint: self.endpoint.clone(),
            // The table admits only the names `Api` parses.
            api: self.api.parse().unwrap_or(Api::Fim),
            model: self.remote_model.clone(),
            api_key_env: self.api_key_env.clone(),
            timeout: std::time::Duration::from_millis(self.request_timeout_ms as u64),
        })
    }

    /// How to load the model these settings name.
    pub fn load_options(&self) -> dllm_models::LoadOptions {
        // The table admits only the names `for_dtype` takes.
        dllm_models::LoadOptions::for_dtype(&self.dtype, self.bf16_products).unwrap_or(
            dllm_models::LoadOptions {
                bf16_products: self.bf16_products,
                ..Default::default()
            },
        )
    }

    /// Applies a settings object: either the keys themselves or nested under `"dllm"`.
    pub fn apply(&mut self, settings: &Value) -> Applied {
        let mut applied = Applied::default();
        let map: &Map<String, Value> = match settings.get("dllm").unwrap_or(settings) {
            Value::Object(map) => map,
            Value::Null => return applied,
            other => {
                applied.warnings.push(format!(
                    "settings must be an object, got {}",
                    brief(&other.to_string())
                ));
                return applied;
            }
        };
        for (key, value) in map {
            if let Err(problem) = self.apply_key(key, value, &mut applied) {
                applied.warnings.push(format!(
                    "setting `{}` = {}: {problem}; keeping the previous value",
                    brief(&key.escape_debug().to_string()),
                    brief(&value.to_string())
                ));
            }
        }
        applied
    }

    /// Sets one key, or says why not (the value then stays as it was).
    pub fn set(&mut self, key: &str, value: &Value) -> Result<(), String> {
        self.apply_key(key, value, &mut Applied::default())
    }

    fn apply_key(&mut self, key: &str, v: &Value, applied: &mut Applied) -> Result<(), String> {
        let (setting, field) = server_setting(key)
            .ok_or_else(|| format!("unknown setting; known: {}", KEYS.join(", ")))?;
        let value = parse::parse(setting, v)?;
        let changed = parse::store(field(self), value)?;
        applied.reload_model |= changed && setting.on_change == OnChange::ReloadsModel;
        Ok(())
    }

    /// The sampler settings for one span: a single-line span (an inline completion) decodes in
    /// blocks of `inline_block_length`, a multi-line one in blocks of `sampler.block_length`.
    pub fn sampler_for(&self, reach: Reach) -> SamplerOptions {
        let mut s = self.sampler.clone();
        if reach == Reach::Line {
            s.block_length = self.inline_block_length;
        }
        s
    }

    pub fn language_enabled(&self, language_id: &str) -> bool {
        self.languages.is_empty() || self.languages.iter().any(|l| l == language_id)
    }
}

/// A server setting and the field it writes.
fn server_setting(key: &str) -> Option<(&'static Setting, table::FieldOf)> {
    let setting = table::setting(key)?;
    match setting.target {
        Target::Server(field) => Some((setting, field)),
        Target::Editor => None,
    }
}

#[cfg(test)]
mod tests {
    use dllm_models::Strategy;
    use serde_json::json;

    use super::*;

    /// Values at and just past a setting's bounds, each with whether it is accepted.
    fn edges(setting: &Setting) -> Vec<(Value, bool)> {
        use table::{Kind, Min};
        let mut edges = vec![(Value::Null, setting.null_means.is_some())];
        match setting.kind {
            Kind::Int { min, max } => {
                edges.push((json!(min), true));
                edges.extend(min.checked_sub(1).map(|n| (json!(n), false)));
                edges.push((json!(-1), false));
                edges.push((json!(max.unwrap_or(u64::MAX)), true));
                edges.extend(max.map(|n| (json!(n + 1), false)));
            }
            Kind::Number { min, max } => {
                let (m, at_min) = match min {
                    Min::Inclusive(m) => (m, true),
                    Min::Exclusive(m) => (m, false),
                };
                edges.extend([(json!(m), at_min), (json!(m - 0.5), false)]);
                edges.extend([(json!(max), true), (json!(max + 0.5), false)]);
            }
            Kind::Bool => edges.extend([(json!(true), true), (json!("true"), false)]),
            Kind::Choice { choices, .. } => {
                edges.extend(choices.iter().map(|c| (json!(c.name), true)));
                edges.push((json!("no-such-name"), false));
            }
            Kind::Text { .. } => edges.extend([(json!("x"), true), (json!(1), false)]),
            Kind::List { .. } => edges.extend([(json!(["x"]), true), (json!([1]), false)]),
        }
        edges
    }

    #[test]
    fn every_bound_and_choice_of_the_table_applies_and_one_past_a_bound_is_refused() {
        for setting in SETTINGS {
            assert!(!setting.doc.is_empty(), "`{}` has a doc", setting.key);
            for (value, accepted) in edges(setting) {
                let mut c = Config::default();
                let applied = c.apply(&json!({ setting.key: value }));
                assert_eq!(
                    applied.warnings.is_empty(),
                    accepted,
                    "`{}` = {value}: {:?}",
                    setting.key,
                    applied.warnings
                );
                if !accepted {
                    assert_eq!(c, Config::default(), "`{}` = {value}", setting.key);
                }
            }
        }
    }

    #[test]
    fn the_table_names_every_strategy_and_no_key_twice() {
        let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
        let table::Kind::Choice { choices, .. } = table::setting("strategy").unwrap().kind else {
            panic!("strategy is a choice");
        };
        let mut listed: Vec<&str> = choices.iter().map(|c| c.name).collect();
        listed.sort_unstable();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(listed, sorted);
        let all = SETTINGS.iter().chain(table::EDITOR_SETTINGS);
        let mut keys: Vec<&str> = all.map(|s| s.key).collect();
        let count = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), count, "a key is declared twice");
        assert_eq!(KEYS.len(), SETTINGS.len());
    }

    #[test]
    fn cache_settings_apply_and_bad_ones_keep_the_old_value() {
        let mut c = Config::default();
        assert!(c.sampler.kv_cache, "the cache is on by default");
        assert_eq!(
            c.sampler.cache_refresh,
            Some(8),
            "refreshed every 8 steps by default"
        );
        assert_eq!(c.sampler.block_length, Some(32), "blocks of 32 by default");
        assert_eq!(c.sampler_for(Reach::Lines).block_length, Some(32));
        assert_eq!(
            c.sampler_for(Reach::Line).block_length,
            Some(8),
            "lines in blocks of 8"
        );
        let applied = c.apply(&json!({"inlineBlockLength": null, "blockLength": 16}));
        assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
        assert_eq!(c.sampler_for(Reach::Line).block_length, None);
        assert_eq!(c.sampler_for(Reach::Lines).block_length, Some(16));
        let applied = c.apply(&json!({"inlineBlockLength": 0}));
        assert_eq!(applied.warnings.len(), 1, "{:?}", applied.warnings);
        assert!(applied.warnings[0].contains("inlineBlockLength"));
        assert_eq!(
            c.sampler_for(Reach::Line).block_length,
            None,
            "the old value stays"
        );
        let mut c = Config::default();
        let applied = c.apply(&json!({"kvCache": false, "cacheRefresh": 4}));
        assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
        assert!(!c.sampler.kv_cache);
        assert_eq!(c.sampler.cache_refresh, Some(4));
        let applied = c.apply(&json!({"kvCache": "yes", "cacheRefresh": 0}));
        assert_eq!(applied.warnings.len(), 2, "{:?}", applied.warnings);
        assert!(!c.sampler.kv_cache);
        assert_eq!(c.sampler.cache_refresh, Some(4));
        c.apply(&json!({"cacheRefresh": null}));
        assert_eq!(c.sampler.cache_refresh, None);
        assert_eq!(c.sampler.refresh_radius, Some(64));
        assert!(c.apply(&json!({"refreshRadius": 16})).warnings.is_empty());
        assert_eq!(c.sampler.refresh_radius, Some(16));
        assert_eq!(c.apply(&json!({"refreshRadius": -1})).warnings.len(), 1);
        assert_eq!(c.sampler.refresh_radius, Some(16), "the old value stays");
        c.apply(&json!({"refreshRadius": null}));
        assert_eq!(c.sampler.refresh_radius, None);
    }

    #[test]
    fn max_tokens_per_step_caps_the_threshold() {
        let mut c = Config::default();
        assert_eq!(c.sampler.max_per_step, None);
        assert!(c.apply(&json!({"maxTokensPerStep": 3})).warnings.is_empty());
        assert_eq!(c.sampler.max_per_step, Some(3));
        assert_eq!(c.apply(&json!({"maxTokensPerStep": 0})).warnings.len(), 1);
        assert_eq!(c.sampler.max_per_step, Some(3));
        c.apply(&json!({"maxTokensPerStep": null}));
        assert_eq!(c.sampler.max_per_step, None);
    }

    #[test]
    fn good_values_apply_and_bad_ones_keep_the_old_value() {
        let mut c = Config::default();
        let applied = c.apply(&json!({"strategy": "entropy", "steps": 8, "threshold": 2.0, "bogus": 1, "model": "/m"}));
        assert_eq!(c.sampler.strategy, Strategy::Entropy);
        assert_eq!(c.sampler.steps, Some(8));
        assert_eq!(
            c.sampler.threshold,
            Some(0.9),
            "bad threshold keeps the default"
        );
        assert_eq!(c.model.as_deref(), Some("/m"));
        assert!(applied.reload_model);
        assert_eq!(applied.warnings.len(), 2, "{:?}", applied.warnings);
        assert!(applied
            .warnings
            .iter()
            .any(|w| w.contains("bogus") && w.contains("unknown")));
        assert!(applied.warnings.iter().any(|w| w.contains("threshold")));
    }

    #[test]
    fn bf16_products_reloads_the_model_and_a_bad_value_keeps_the_old_one() {
        let mut c = Config::default();
        assert!(
            c.bf16_products && c.load_options().bf16_products,
            "on by default"
        );
        let applied = c.apply(&json!({"bf16Products": "no"}));
        assert!(c.bf16_products, "a bad value keeps the old one");
        assert!(!applied.reload_model);
        assert!(
            applied.warnings.iter().any(|w| w.contains("bf16Products")),
            "{:?}",
            applied.warnings
        );
        let applied = c.apply(&json!({"bf16Products": false}));
        assert!(applied.warnings.is_empty() && applied.reload_model);
        assert!(!c.load_options().bf16_products);
        assert!(
            !c.apply(&json!({"bf16Products": false})).reload_model,
            "unchanged: no reload"
        );
    }

    #[test]
    fn quantized_dtypes_reach_the_load_options_and_reload_the_model() {
        let mut c = Config::default();
        assert_eq!(c.load_options().quantize, None);
        for (name, kind) in [
            ("q8", dllm_models::QuantKind::Q8),
            ("q4", dllm_models::QuantKind::Q4),
        ] {
            let applied = c.apply(&json!({ "dtype": name }));
            assert!(
                applied.warnings.is_empty() && applied.reload_model,
                "{name}"
            );
            let options = c.load_options();
            assert_eq!(options.quantize, Some(kind));
            assert_eq!(
                options.dtype,
                dllm_models::DType::F32,
                "activations stay f32"
            );
        }
        let applied = c.apply(&json!({"dtype": "q3"}));
        assert!(!applied.warnings.is_empty(), "an unknown dtype is refused");
        assert_eq!(c.load_options().quantize, Some(dllm_models::QuantKind::Q4));
    }

    #[test]
    fn nested_under_dllm_and_null_clears_optional_values() {
        let mut c = Config::default();
        let applied =
            c.apply(&json!({"dllm": {"threshold": null, "languages": ["rust"], "model": null}}));
        assert!(applied.warnings.is_empty());
        assert!(!applied.reload_model);
        assert_eq!(c.sampler.threshold, None);
        assert!(c.language_enabled("rust"));
        assert!(!c.language_enabled("go"));
        assert_eq!(c.apply(&json!("nope")).warnings.len(), 1);
    }
}
