//! Property tests of the server's settings (`Config::apply`): arbitrary JSON — nested objects,
//! wrong types, huge and tiny numbers, number-like strings, nulls — never panics; each key
//! either applies or gets one warning and keeps the old value; the config stays within the
//! bounds the README documents. Cases are cheap (no model), so proptest's default count runs in
//! well under a second; `PROPTEST_CASES` raises it.

use dllm_ls::config::{Config, KEYS, MAX_TOKENS_BLOCK, MAX_TOKENS_INLINE};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Numbers at and around every bound `apply` checks, and extremes of each JSON number kind.
fn edge_number() -> impl Strategy<Value = Value> {
    let ints = [
        0i64,
        1,
        2,
        8,
        -1,
        511,
        512,
        513,
        2048,
        2049,
        4096,
        4097,
        1 << 20,
        (1 << 20) + 1,
        i64::MIN,
        i64::MAX,
    ];
    let floats = [
        0.0f64,
        -0.0,
        0.5,
        0.9,
        1.0,
        1.000_000_01,
        0.999_999_999_9,
        10.0,
        10.000_001,
        1e-300,
        1e-45,
        1e-40,
        4e-39,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        -f64::MAX,
        8.0,
        -1.5,
    ];
    prop_oneof![
        prop::sample::select(ints.to_vec()).prop_map(Value::from),
        prop::sample::select(floats.to_vec()).prop_map(|x| json!(x)),
        Just(json!(u64::MAX)),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| json!(x)),
    ]
}

/// Strings a setting might be given, right or wrong.
fn edge_string() -> impl Strategy<Value = Value> {
    let words = [
        "",
        "f32",
        "bf16",
        "F32",
        "f16",
        "entropy",
        "low_confidence",
        "maskgit_plus",
        "topk_margin",
        "random",
        "Entropy",
        "debug",
        "trace",
        "warn",
        "error",
        "info",
        "verbose",
        "rust",
        "python",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1",
        "0",
        "-1",
        "1e309",
        "true",
        "null",
        "/tmp/model",
        "todo!",
        "FIXME",
        "dllm",
    ];
    prop_oneof![
        prop::sample::select(words.to_vec()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        edge_number(),
        edge_string(),
    ]
}

/// A key: mostly known ones, so their values get exercised, sometimes anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_string),
        1 => Just("dllm".to_string()),
        1 => ".{0,20}",
    ]
}

/// Any JSON, nested a few levels.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A settings object of known and unknown keys.
fn settings_map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), value()), 0..12).prop_map(|kv| kv.into_iter().collect())
}

/// What a client may send: the keys themselves, nested under "dllm", or not an object at all.
fn settings() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => settings_map().prop_map(Value::Object),
        2 => settings_map().prop_map(|m| json!({ "dllm": m })),
        1 => value(),
    ]
}

/// The object `apply` reads its keys from, if it reads any.
fn keys_of(settings: &Value) -> Option<&Map<String, Value>> {
    settings.get("dllm").unwrap_or(settings).as_object()
}

fn within<T: PartialOrd + std::fmt::Debug>(
    what: &str,
    x: T,
    lo: T,
    hi: T,
) -> Result<(), TestCaseError> {
    prop_assert!(lo <= x && x <= hi, "{what} = {x:?} outside {lo:?}..={hi:?}");
    Ok(())
}

fn within_opt(what: &str, x: Option<usize>, hi: usize) -> Result<(), TestCaseError> {
    x.map_or(Ok(()), |x| within(what, x, 1, hi))
}

/// The bounds of each setting (README, settings table; `Config::apply_key`).
fn assert_within_bounds(c: &Config) -> Result<(), TestCaseError> {
    let s = &c.sampler;
    prop_assert!(
        matches!(c.dtype.as_str(), "f32" | "bf16"),
        "dtype {:?}",
        c.dtype
    );
    prop_assert!(
        matches!(
            c.log_level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ),
        "logLevel {:?}",
        c.log_level
    );
    within_opt("steps", s.steps, 4096)?;
    within_opt("maxTokensPerStep", s.max_per_step, 4096)?;
    within_opt("blockLength", s.block_length, 4096)?;
    within_opt("inlineBlockLength", c.inline_block_length, 4096)?;
    within_opt("cacheRefresh", s.cache_refresh, 4096)?;
    within_opt("refreshRadius", s.refresh_radius, 1 << 20)?;
    if let Some(t) = s.threshold {
        within("threshold", t, 0.0, 1.0)?;
    }
    within("temperature", s.temperature, 0.0, 10.0)?;
    prop_assert!(
        s.top_p > 0.0 && s.top_p <= 1.0,
        "topP = {} outside (0, 1]",
        s.top_p
    );
    within(
        "maxTokensInline",
        c.max_tokens_inline,
        1,
        MAX_TOKENS_INLINE as usize,
    )?;
    within(
        "maxTokensBlock",
        c.max_tokens_block,
        1,
        MAX_TOKENS_BLOCK as usize,
    )?;
    within("contextTokens", c.context_tokens, 1, 1 << 20)?;
    within("repairRounds", c.repair_rounds, 0, 8)?;
    Ok(())
}

/// One key on its own: applied without a word (a known key), or one warning that names it and
/// the old value kept.
fn check_one_key(before: &Config, key: &str, value: &Value) -> Result<Config, TestCaseError> {
    let mut single = before.clone();
    // Nested, so that a key "dllm" is a key like any other, as it is inside the object.
    let applied = single.apply(&json!({ "dllm": { key: value } }));
    match applied.warnings.as_slice() {
        [] => prop_assert!(KEYS.contains(&key), "unknown key {key:?} applied silently"),
        [w] => {
            prop_assert_eq!(
                &single,
                before,
                "a warned-about value changed the config: {}",
                w
            );
            prop_assert!(!applied.reload_model, "a refused value asked for a reload");
        }
        many => prop_assert!(false, "several warnings for one key: {many:?}"),
    }
    Ok(single)
}

/// Warnings are shown to the user as they are: one line each, of a readable length however
/// large the value or key that caused them.
fn check_warnings(warnings: &[String]) -> Result<(), TestCaseError> {
    for w in warnings {
        prop_assert!(!w.contains('\n'), "a warning on several lines: {w:?}");
        prop_assert!(
            w.chars().count() <= 600,
            "a warning of {} characters",
            w.chars().count()
        );
    }
    Ok(())
}

fn check_apply(before: &Config, settings: &Value) -> Result<Config, TestCaseError> {
    let mut after = before.clone();
    let applied = after.apply(settings);
    check_warnings(&applied.warnings)?;
    assert_within_bounds(&after)?;
    let reload = after.model != before.model
        || after.dtype != before.dtype
        || after.bf16_products != before.bf16_products;
    prop_assert_eq!(
        applied.reload_model,
        reload,
        "reload_model for {}",
        settings
    );

    // The whole object does what its keys do one by one, in order.
    let mut one_by_one = before.clone();
    match keys_of(settings) {
        Some(map) => {
            for (k, v) in map {
                one_by_one = check_one_key(&one_by_one, k, v)?;
            }
        }
        None if settings.get("dllm").unwrap_or(settings).is_null() => {
            prop_assert!(applied.warnings.is_empty())
        }
        None => prop_assert_eq!(applied.warnings.len(), 1, "{:?}", applied.warnings),
    }
    prop_assert_eq!(&after, &one_by_one);

    // Applying the same settings again changes nothing and reloads nothing.
    let mut again = after.clone();
    let applied_again = again.apply(settings);
    prop_assert_eq!(&again, &after);
    prop_assert!(!applied_again.reload_model);
    Ok(after)
}

proptest! {
    #[test]
    fn arbitrary_settings_apply_or_warn_and_stay_in_bounds(sequence in prop::collection::vec(settings(), 1..4)) {
        let mut config = Config::default();
        assert_within_bounds(&config)?;
        for settings in &sequence {
            config = check_apply(&config, settings)?;
        }
    }

    #[test]
    fn edge_values_of_every_key_apply_or_warn(key in prop::sample::select(KEYS.to_vec()), value in leaf()) {
        let before = Config::default();
        let after = check_one_key(&before, key, &value)?;
        assert_within_bounds(&after)?;
    }
}

#[test]
fn a_tiny_top_p_is_refused_rather_than_rounded_to_zero() {
    let mut c = Config::default();
    let applied = c.apply(&json!({"topP": 1e-50}));
    assert_eq!(applied.warnings.len(), 1, "{:?}", applied.warnings);
    assert_eq!(c.sampler.top_p, Config::default().sampler.top_p);
}

#[test]
fn a_huge_value_is_cut_short_in_its_warning() {
    let mut c = Config::default();
    let huge = "x".repeat(100_000);
    let applied = c.apply(&json!({ "dtype": huge, huge.clone(): 1 }));
    assert_eq!(applied.warnings.len(), 2, "{:?}", applied.warnings);
    for w in &applied.warnings {
        assert!(w.len() < 600, "{} bytes", w.len());
    }
}
