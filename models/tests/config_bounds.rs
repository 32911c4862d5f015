//! A checkpoint whose `config.json` claims absurd sizes, or more than its weight files hold, or
//! whose files lie about their own size: each is a typed error, quickly, and nothing large is
//! allocated on the way. Every allocation of this test binary is watched for that.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{copy_fixture, edit_header, edit_json, edit_weights};
use dllm_models::config::{ArchConfig, MAX_HIDDEN, MAX_LAYERS, MAX_VOCAB};
use dllm_models::{DiffusionModel, Error, LoadOptions};
use proptest::prelude::*;
use serde_json::{json, Value};

/// The system allocator, remembering the largest single request.
struct Watched;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Watched {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Watched = Watched;

/// Far above anything the tiny fixtures need, far below what an absurd config would reserve.
const LARGE_ALLOCATION: usize = 64 << 20;

/// Loads, and checks the failure came quickly and without a large allocation on the way.
fn load(dir: &Path) -> Result<DiffusionModel, Error> {
    let start = Instant::now();
    let result = DiffusionModel::load_dir(dir, &LoadOptions::default());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < LARGE_ALLOCATION,
        "an allocation of {largest} bytes"
    );
    result
}

fn with_config(fixture: &str, field: &str, value: Value) -> Result<DiffusionModel, Error> {
    let dir = copy_fixture(fixture);
    edit_json(dir.path(), "config.json", |j| j[field] = value);
    load(dir.path())
}

#[test]
fn absurd_layer_counts_are_out_of_range() {
    for (fixture, field) in [
        ("dream-tiny", "num_hidden_layers"),
        ("llada-tiny", "n_layers"),
    ] {
        for value in [1_000_000_000u64, u64::MAX, MAX_LAYERS as u64 + 1] {
            let err = with_config(fixture, field, json!(value)).err().unwrap();
            assert!(err.to_string().contains("config.json"), "{err}");
            match err {
                Error::ConfigOutOfRange {
                    field: f,
                    value: v,
                    limit,
                    ..
                } => assert_eq!((f.as_str(), v, limit), (field, value, MAX_LAYERS as u64)),
                other => panic!("{field} = {value}: {other:?}"),
            }
        }
    }
}

#[test]
fn layer_counts_that_are_not_positive_integers_are_unsupported() {
    for value in [
        json!(-1),
        json!(0),
        json!(2.5),
        json!(1e9),
        json!("2"),
        json!([2]),
    ] {
        let err = with_config("dream-tiny", "num_hidden_layers", value.clone())
            .err()
            .unwrap();
        assert!(
            matches!(&err, Error::UnsupportedConfig { field, .. } if field == "num_hidden_layers"),
            "{value}: {err:?}"
        );
    }
}

#[test]
fn other_sizes_beyond_their_bounds_are_out_of_range() {
    let cases = [
        ("dream-tiny", "hidden_size", MAX_HIDDEN as u64 + 1),
        ("dream-tiny", "vocab_size", MAX_VOCAB as u64 + 1),
        ("dream-tiny", "intermediate_size", 1 << 40),
        ("dream-tiny", "num_attention_heads", 1 << 20),
        ("dream-tiny", "num_key_value_heads", u64::MAX),
        ("dream-tiny", "head_dim", 1 << 32),
        ("dream-tiny", "max_position_embeddings", 1 << 40),
        ("llada-tiny", "d_model", u64::MAX),
        ("llada-tiny", "embedding_size", 1 << 50),
        ("llada-tiny", "mlp_hidden_size", u64::MAX),
        ("llada-tiny", "max_sequence_length", u64::MAX),
    ];
    for (fixture, field, value) in cases {
        let err = with_config(fixture, field, json!(value)).err().unwrap();
        assert!(
            matches!(&err, Error::ConfigOutOfRange { field: f, value: v, .. } if f == field && *v == value),
            "{field}: {err:?}"
        );
    }
}

#[test]
fn a_head_size_derived_beyond_its_bound_is_out_of_range() {
    let dir = copy_fixture("dream-tiny");
    edit_json(dir.path(), "config.json", |j| {
        j["hidden_size"] = json!(MAX_HIDDEN);
        j["num_attention_heads"] = json!(2);
        j["num_key_value_heads"] = json!(2);
    });
    let err = load(dir.path()).err().unwrap();
    assert!(
        matches!(&err, Error::ConfigOutOfRange { field, .. } if field == "head_dim"),
        "{err:?}"
    );
}

#[test]
fn absurd_float_fields_are_unsupported() {
    for (field, value) in [
        ("rope_theta", json!(1e300)),
        ("rope_theta", json!(-1.0)),
        ("rope_theta", json!("big")),
        ("rms_norm_eps", json!(2.0)),
        ("rms_norm_eps", json!(0)),
    ] {
        let err = with_config("dream-tiny", field, value.clone())
            .err()
            .unwrap();
        assert!(
            matches!(&err, Error::UnsupportedConfig { field: f, .. } if f == field),
            "{field} = {value}: {err:?}"
        );
    }
}

/// Asserts a mismatch between `config.json` and the weights, naming the field and both sizes.
fn assert_mismatch(err: Error, field: &str, config: usize, actual: usize) {
    let msg = err.to_string();
    assert!(
        msg.contains(field)
            && msg.contains(&config.to_string())
            && msg.contains(&actual.to_string()),
        "{msg}"
    );
    match err {
        Error::ConfigMismatch {
            field: f,
            config: c,
            actual: a,
            ..
        } => assert_eq!((f.as_str(), c, a), (field, config, actual)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn more_layers_than_the_files_hold_is_a_mismatch() {
    for (fixture, field) in [
        ("dream-tiny", "num_hidden_layers"),
        ("dream-tiny-sharded", "num_hidden_layers"),
        ("llada-tiny", "n_layers"),
    ] {
        for claimed in [3, MAX_LAYERS] {
            let err = with_config(fixture, field, json!(claimed)).err().unwrap();
            assert_mismatch(err, field, claimed, 2);
        }
    }
}

#[test]
fn a_layer_missing_from_the_files_is_a_mismatch() {
    let dir = copy_fixture("dream-tiny");
    edit_weights(dir.path(), |t| {
        t.retain(|name, _| !name.starts_with("model.layers.1."))
    });
    assert_mismatch(load(dir.path()).err().unwrap(), "num_hidden_layers", 2, 1);
}

#[test]
fn a_hidden_size_that_disagrees_with_the_embedding_is_a_mismatch() {
    let err = with_config("dream-tiny", "hidden_size", json!(128))
        .err()
        .unwrap();
    assert_mismatch(err, "hidden_size", 128, 64);
    let err = with_config("llada-tiny", "d_model", json!(32))
        .err()
        .unwrap();
    assert_mismatch(err, "d_model", 32, 64);
}

#[test]
fn a_vocabulary_that_disagrees_with_the_embedding_is_a_mismatch() {
    let err = with_config("dream-tiny", "vocab_size", json!(MAX_VOCAB))
        .err()
        .unwrap();
    assert_mismatch(err, "vocab_size", MAX_VOCAB, 320);
    let err = with_config("llada-tiny", "embedding_size", json!(400))
        .err()
        .unwrap();
    assert_mismatch(err, "embedding_size", 400, 320);
}

#[test]
fn truncated_weights_are_corrupt() {
    let dir = copy_fixture("dream-tiny");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    for keep in [0, 4, 8, 20, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = load(dir.path()).err().unwrap();
        assert!(err.to_string().contains("model.safetensors"), "{err}");
        assert!(
            matches!(err, Error::CorruptSafetensors { .. }),
            "{keep}: {err:?}"
        );
    }
}

/// The last tensor of the file by offset (the one whose data ends the file).
fn last_tensor(header: &Value) -> String {
    let tensors = header.as_object().unwrap();
    let end = |v: &Value| v["data_offsets"][1].as_u64().unwrap_or(0);
    let (name, _) = tensors
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .max_by_key(|(_, v)| end(v))
        .unwrap();
    name.clone()
}

#[test]
fn a_header_claiming_more_than_the_file_holds_is_corrupt() {
    // A consistent header for a tensor of 2^40 bytes, in a file of a few hundred kilobytes.
    let dir = copy_fixture("dream-tiny");
    let path = dir.path().join("model.safetensors");
    edit_header(&path, |h| {
        let name = last_tensor(h);
        let start = h[&name]["data_offsets"][0].as_u64().unwrap();
        h[&name]["shape"] = json!([1u64 << 18, 1u64 << 20]);
        h[&name]["data_offsets"] = json!([start, start + (1u64 << 40)]);
    });
    let err = load(dir.path()).err().unwrap();
    assert!(
        matches!(&err, Error::CorruptSafetensors { reason, .. } if reason.contains("bytes of tensor data")),
        "{err:?}"
    );

    // A shape whose element count overflows, and offsets that disagree with the shape.
    for shape in [json!([u64::MAX, u64::MAX]), json!([1, 2, 3])] {
        let dir = copy_fixture("dream-tiny");
        let path = dir.path().join("model.safetensors");
        edit_header(&path, |h| h["model.norm.weight"]["shape"] = shape.clone());
        let err = load(dir.path()).err().unwrap();
        assert!(
            matches!(err, Error::CorruptSafetensors { .. }),
            "{shape}: {err:?}"
        );
    }

    // A header length beyond the file.
    let dir = copy_fixture("dream-tiny");
    let path = dir.path().join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len() as u64;
    bytes[..8].copy_from_slice(&len.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = load(dir.path()).err().unwrap();
    assert!(
        matches!(&err, Error::CorruptSafetensors { reason, .. } if reason.contains("header claims")),
        "{err:?}"
    );
}

#[test]
fn the_parameter_count_of_any_config_does_not_overflow() {
    let mut cfg = ArchConfig::qwen2_5_0_5b();
    assert_eq!(cfg.checked_parameter_count(), Some(cfg.parameter_count()));
    cfg.num_layers = usize::MAX;
    cfg.hidden_size = usize::MAX;
    assert_eq!(cfg.checked_parameter_count(), None);
    assert_eq!(cfg.parameter_count(), usize::MAX);
    assert!(cfg.pass_bytes(1 << 20, 1, 4).is_finite());
}

/// Cases per property: PROPTEST_CASES when set (for a longer run), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Any JSON value, weighted towards numbers at and around the bounds.
fn any_json() -> impl Strategy<Value = Value> {
    let edges = prop::sample::select(vec![
        0u64,
        1,
        2,
        MAX_LAYERS as u64,
        MAX_HIDDEN as u64 + 1,
        MAX_VOCAB as u64,
        1 << 32,
        1 << 63,
        u64::MAX,
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        edges.prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        prop::num::f64::ANY.prop_map(Value::from),
        "[a-z_]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The fields the parser reads, of both families, and one it does not.
const FIELDS: &[&str] = &[
    "model_type",
    "architectures",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "rms_norm_eps",
    "rope_theta",
    "max_position_embeddings",
    "tie_word_embeddings",
    "hidden_act",
    "rope_scaling",
    "use_sliding_window",
    "d_model",
    "n_heads",
    "n_kv_heads",
    "n_layers",
    "mlp_hidden_size",
    "embedding_size",
    "max_sequence_length",
    "weight_tying",
    "mask_token_id",
    "eos_token_id",
    "unrelated",
];

/// A fixture and its config with some fields replaced by arbitrary values.
fn any_config() -> impl Strategy<Value = (&'static str, Value)> {
    let fixture = prop::sample::select(vec!["dream-tiny", "llada-tiny"]);
    let edits = prop::collection::vec((prop::sample::select(FIELDS), any_json()), 0..6);
    (fixture, edits).prop_map(|(fixture, edits)| {
        let path = common::fixture(fixture).join("config.json");
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for (field, value) in edits {
            config[field] = value;
        }
        (fixture, config)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn the_config_parser_accepts_or_gives_a_typed_error(
        config in prop_oneof![1 => any_json(), 9 => any_config().prop_map(|(_, c)| c)],
    ) {
        match ArchConfig::from_json(Path::new("config.json"), &config) {
            Ok(cfg) => {
                prop_assert!(cfg.num_layers <= MAX_LAYERS && cfg.hidden_size <= MAX_HIDDEN);
                prop_assert!(cfg.vocab_size <= MAX_VOCAB);
                prop_assert!(cfg.checked_parameter_count().is_some());
            }
            Err(e) => prop_assert!(
                matches!(
                    e,
                    Error::UnknownFamily { .. }
                        | Error::MissingConfigField { .. }
                        | Error::UnsupportedConfig { .. }
                        | Error::ConfigOutOfRange { .. }
                ),
                "{e:?}"
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32)))]

    #[test]
    fn a_checkpoint_with_any_config_loads_or_gives_a_typed_error((fixture, config) in any_config()) {
        let dir = copy_fixture(fixture);
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        // An error from the tensor library would mean an inconsistent config reached the math.
        if let Err(e) = load(dir.path()) {
            prop_assert!(!matches!(e, Error::Tensor(_)), "{e:?}");
        }
    }
}

/// A GGUF fixture with the value stored after metadata key `key` rewritten in place (the key's
/// bytes, then a u32 value type, then the value).
fn gguf_with(key: &str, patch: impl FnOnce(&mut [u8])) -> tempfile::TempDir {
    let mut bytes = std::fs::read(common::fixture("gguf").join("dream-tiny.q4_0.gguf")).unwrap();
    let at = bytes
        .windows(key.len())
        .position(|w| w == key.as_bytes())
        .unwrap_or_else(|| panic!("no key {key}"));
    patch(&mut bytes[at + key.len() + 4..]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.gguf"), bytes).unwrap();
    dir
}

#[test]
fn absurd_gguf_sizes_are_out_of_range() {
    for (key, limit) in [
        ("dream.block_count", MAX_LAYERS),
        ("dream.embedding_length", MAX_HIDDEN),
    ] {
        let dir = gguf_with(key, |v| v[..4].copy_from_slice(&u32::MAX.to_le_bytes()));
        match load(&dir.path().join("model.gguf")).err().unwrap() {
            Error::ConfigOutOfRange {
                field,
                value,
                limit: l,
                ..
            } => {
                assert_eq!(
                    (field.as_str(), value, l),
                    (key, u32::MAX as u64, limit as u64)
                )
            }
            e => panic!("{key}: {e}"),
        }
    }
}

#[test]
fn a_gguf_header_claiming_more_than_the_file_holds_is_corrupt() {
    // The vocabulary's length (after the array's element type), then the file's counts.
    let vocab = gguf_with("tokenizer.ggml.tokens", |v| {
        v[4..12].copy_from_slice(&(1u64 << 40).to_le_bytes())
    });
    let dir = tempfile::tempdir().unwrap();
    let mut counts = b"GGUF".to_vec();
    counts.extend(3u32.to_le_bytes());
    counts.extend((1u64 << 40).to_le_bytes());
    counts.extend((1u64 << 40).to_le_bytes());
    std::fs::write(dir.path().join("model.gguf"), counts).unwrap();
    for dir in [vocab, dir] {
        let err = load(&dir.path().join("model.gguf")).err().unwrap();
        assert!(matches!(err, Error::CorruptGguf { .. }), "{err}");
    }
}
