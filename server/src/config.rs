//! Server settings from `initializationOptions` and `workspace/didChangeConfiguration`.
//!
//! Each key is applied on its own: an unknown key is warned about, a bad value is reported and the
//! old value kept, so one typo never resets the rest.

use dllm_models::{SamplerOptions, Strategy};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Checkpoint directory or Hugging Face id; `None` = the embedded default model.
    pub model: Option<String>,
    /// "f32" or "bf16".
    pub dtype: String,
    /// bf16 products where the CPU has AVX-512 BF16 (`LoadOptions::bf16_products`).
    pub bf16_products: bool,
    /// Sampler settings of multi-line spans; single-line ones differ by `inline_block_length`.
    pub sampler: SamplerOptions,
    /// Semi-autoregressive block length of single-line spans (`sampler_for`).
    pub inline_block_length: Option<usize>,
    /// Token budget of an inline (single-line) completion.
    pub max_tokens_inline: usize,
    /// Token budget of a multi-line span (block completion, rewrite, each hole).
    pub max_tokens_block: usize,
    /// Languages served (LSP language ids); empty = all supported.
    pub languages: Vec<String>,
    /// Extra hole markers (comment tags or macro names) beside the defaults.
    pub hole_markers: Vec<String>,
    /// Tokens of context around the span.
    pub context_tokens: usize,
    /// Rounds of re-masking when a candidate adds syntax errors.
    pub repair_rounds: usize,
    pub log_level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            model: None,
            dtype: "f32".into(),
            // On the 450-hole evaluation: 19-24% less time per hole, edit similarity within
            // ±0.15 hole by hole, the same exact matches (README, "Speed").
            bf16_products: true,
            sampler: SamplerOptions {
                threshold: Some(0.9),
                // Measured on the default model's evaluation: same exact match, several times
                // faster (README, "Speed").
                kv_cache: true,
                // A full pass every 8 steps gives the context's keys and values the span decoded
                // so far: body parse rate 50% against 40% with one pass per block, for about a
                // fifth more time (README, "Speed").
                cache_refresh: Some(8),
                // Those refreshes recompute only the span and the 64 columns on each side: on the
                // 450-hole evaluation, the same edit similarity hole by hole (-0.1 / -0.1 on
                // longer holes) in 11-15% less time (README, "Speed").
                refresh_radius: Some(64),
                // Semi-autoregressive blocks of 32 positions for multi-line spans: with the
                // default model of the second GPU session, 2-8 line and body requests a third
                // faster than without blocks at the same quality; blocks of 8 were faster still
                // but lost 3 points of edit similarity on 2-8 lines and 6 of body parse rate
                // (README, "Speed").
                block_length: Some(32),
                ..SamplerOptions::default()
            },
            // Lines lose nothing to blocks of 8 and are about 1.5x faster warm (README, "Speed").
            inline_block_length: Some(8),
            max_tokens_inline: 24,
            max_tokens_block: 64,
            languages: vec![],
            hole_markers: vec![],
            context_tokens: 1024,
            repair_rounds: 2,
            log_level: "info".into(),
        }
    }
}

pub const KEYS: &[&str] = &[
    "model",
    "dtype",
    "bf16Products",
    "strategy",
    "steps",
    "maxTokensInline",
    "maxTokensBlock",
    "threshold",
    "maxTokensPerStep",
    "blockLength",
    "inlineBlockLength",
    "kvCache",
    "cacheRefresh",
    "refreshRadius",
    "temperature",
    "topP",
    "seed",
    "languages",
    "holeMarkers",
    "contextTokens",
    "repairRounds",
    "logLevel",
];

/// Largest `maxTokensInline`.
pub const MAX_TOKENS_INLINE: u64 = 512;
/// Largest `maxTokensBlock` (and `max_tokens` of a `--batch` line).
pub const MAX_TOKENS_BLOCK: u64 = 2048;

/// What applying settings did: messages to show, and whether the model must be reloaded.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    pub warnings: Vec<String>,
    pub reload_model: bool,
}

fn positive(v: &Value, max: u64) -> Result<usize, String> {
    v.as_u64()
        .filter(|n| (1..=max).contains(n))
        .map(|n| n as usize)
        .ok_or(format!("expected an integer from 1 to {max}"))
}

fn unit_interval(v: &Value) -> Result<f32, String> {
    v.as_f64()
        .filter(|x| (0.0..=1.0).contains(x))
        .map(|x| x as f32)
        .ok_or("expected a number from 0 to 1".into())
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or("expected a list of strings".into())
}

/// A key or value as a warning quotes it: warnings reach the user as they are, so a huge value
/// is cut short.
fn brief(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

fn optional<T>(v: &Value, f: impl Fn(&Value) -> Result<T, String>) -> Result<Option<T>, String> {
    if v.is_null() {
        Ok(None)
    } else {
        f(v).map(Some)
    }
}

impl Config {
    /// How to load the model these settings name.
    pub fn load_options(&self) -> dllm_models::LoadOptions {
        dllm_models::LoadOptions {
            dtype: dllm_models::checkpoint::parse_dtype(&self.dtype)
                .unwrap_or(dllm_models::DType::F32),
            bf16_products: self.bf16_products,
        }
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
        let s = &mut self.sampler;
        match key {
            "model" => {
                let model = optional(v, |v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or("expected a path or a model id".into())
                })?;
                applied.reload_model |= model != self.model;
                self.model = model;
            }
            "dtype" => {
                let d = v
                    .as_str()
                    .filter(|d| matches!(*d, "f32" | "bf16"))
                    .ok_or("expected \"f32\" or \"bf16\"")?;
                applied.reload_model |= d != self.dtype;
                self.dtype = d.to_string();
            }
            "bf16Products" => {
                let b = v.as_bool().ok_or("expected true or false")?;
                applied.reload_model |= b != self.bf16_products;
                self.bf16_products = b;
            }
            "strategy" => {
                s.strategy = v
                    .as_str()
                    .ok_or("expected a string")?
                    .parse::<Strategy>()
                    .map_err(|e| e.to_string())?
            }
            "steps" => s.steps = optional(v, |v| positive(v, 4096))?,
            "threshold" => s.threshold = optional(v, unit_interval)?,
            "maxTokensPerStep" => s.max_per_step = optional(v, |v| positive(v, 4096))?,
            "blockLength" => s.block_length = optional(v, |v| positive(v, 4096))?,
            "inlineBlockLength" => self.inline_block_length = optional(v, |v| positive(v, 4096))?,
            "kvCache" => s.kv_cache = v.as_bool().ok_or("expected true or false")?,
            "cacheRefresh" => s.cache_refresh = optional(v, |v| positive(v, 4096))?,
            "refreshRadius" => s.refresh_radius = optional(v, |v| positive(v, 1 << 20))?,
            "temperature" => {
                s.temperature = v
                    .as_f64()
                    .filter(|t| (0.0..=10.0).contains(t))
                    .ok_or("expected a number from 0 to 10")? as f32
            }
            "topP" => {
                // Checked as f32: a tiny positive f64 would round to a top_p of 0.
                s.top_p = v
                    .as_f64()
                    .map(|p| p as f32)
                    .filter(|p| *p > 0.0 && *p <= 1.0)
                    .ok_or("expected a number in (0, 1]")?
            }
            "seed" => s.seed = v.as_u64().ok_or("expected a non-negative integer")?,
            "maxTokensInline" => self.max_tokens_inline = positive(v, MAX_TOKENS_INLINE)?,
            "maxTokensBlock" => self.max_tokens_block = positive(v, MAX_TOKENS_BLOCK)?,
            "languages" => self.languages = strings(v)?,
            "holeMarkers" => self.hole_markers = strings(v)?,
            "contextTokens" => self.context_tokens = positive(v, 1 << 20)?,
            "repairRounds" => {
                self.repair_rounds =
                    v.as_u64()
                        .filter(|n| *n <= 8)
                        .ok_or("expected an integer from 0 to 8")? as usize
            }
            "logLevel" => {
                let level = v
                    .as_str()
                    .filter(|l| matches!(*l, "error" | "warn" | "info" | "debug" | "trace"))
                    .ok_or("expected one of error, warn, info, debug, trace")?;
                self.log_level = level.to_string();
            }
            _ => return Err(format!("unknown setting; known: {}", KEYS.join(", "))),
        }
        Ok(())
    }

    /// The sampler settings for one span: a single-line span (an inline completion) decodes in
    /// blocks of `inline_block_length`, a multi-line one in blocks of `sampler.block_length`.
    pub fn sampler_for(&self, single_line: bool) -> SamplerOptions {
        let mut s = self.sampler.clone();
        if single_line {
            s.block_length = self.inline_block_length;
        }
        s
    }

    pub fn language_enabled(&self, language_id: &str) -> bool {
        self.languages.is_empty() || self.languages.iter().any(|l| l == language_id)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
        assert_eq!(c.sampler_for(false).block_length, Some(32));
        assert_eq!(
            c.sampler_for(true).block_length,
            Some(8),
            "lines in blocks of 8"
        );
        let applied = c.apply(&json!({"inlineBlockLength": null, "blockLength": 16}));
        assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
        assert_eq!(c.sampler_for(true).block_length, None);
        assert_eq!(c.sampler_for(false).block_length, Some(16));
        let applied = c.apply(&json!({"inlineBlockLength": 0}));
        assert_eq!(applied.warnings.len(), 1, "{:?}", applied.warnings);
        assert!(applied.warnings[0].contains("inlineBlockLength"));
        assert_eq!(
            c.sampler_for(true).block_length,
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
