//! Every load error on a damaged copy of a fixture: a typed error that names the file, never a
//! panic and never a silent fallback.

mod common;

use std::path::Path;

use candle_core::DType;
use common::{copy_fixture, edit_json, edit_weights, fixture, reference, relative_error};
use dllm_models::{DiffusionModel, Error, LoadOptions, ModelSource};

fn load(dir: &Path) -> Result<DiffusionModel, Error> {
    DiffusionModel::load_dir(dir, &LoadOptions::default())
}

/// Asserts the error's message names `file`, and returns it for a closer look.
fn names(err: Error, file: &str) -> Error {
    let msg = err.to_string();
    assert!(msg.contains(file), "error should name {file}: {msg}");
    err
}

#[test]
fn missing_files_are_named() {
    for (fixture_name, file) in [
        ("dream-tiny", "config.json"),
        ("dream-tiny", "tokenizer.json"),
        ("dream-tiny", "model.safetensors"),
        ("dream-tiny-sharded", "model-00002-of-00003.safetensors"),
    ] {
        let dir = copy_fixture(fixture_name);
        std::fs::remove_file(dir.path().join(file)).unwrap();
        let err = names(load(dir.path()).err().expect("must fail"), file);
        assert!(matches!(err, Error::MissingFile { .. }), "{file}: {err:?}");
    }
    let err = load(Path::new("/nonexistent/model")).err().unwrap();
    assert!(matches!(err, Error::MissingFile { .. }));
}

#[test]
fn invalid_json_is_named() {
    let dir = copy_fixture("llada-tiny");
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    assert!(matches!(
        names(load(dir.path()).err().unwrap(), "config.json"),
        Error::Json { .. }
    ));
}

#[test]
fn unsupported_config_fields_are_rejected() {
    let cases: [(&str, &str, serde_json::Value); 6] = [
        (
            "dream-tiny",
            "rope_scaling",
            serde_json::json!({"type": "yarn", "factor": 4.0}),
        ),
        ("dream-tiny", "use_sliding_window", serde_json::json!(true)),
        ("dream-tiny", "hidden_act", serde_json::json!("gelu")),
        ("llada-tiny", "include_bias", serde_json::json!(true)),
        ("llada-tiny", "alibi", serde_json::json!(true)),
        ("llada-tiny", "n_kv_heads", serde_json::json!(3)),
    ];
    for (fixture_name, field, value) in cases {
        let dir = copy_fixture(fixture_name);
        edit_json(dir.path(), "config.json", |j| j[field] = value.clone());
        let err = names(load(dir.path()).err().expect("must fail"), "config.json");
        match err {
            Error::UnsupportedConfig { field: f, .. } => {
                assert!(f.contains(field) || field == "n_kv_heads", "{f}")
            }
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn unknown_family_and_missing_fields_are_named() {
    let dir = copy_fixture("dream-tiny");
    edit_json(dir.path(), "config.json", |j| {
        j["model_type"] = "gpt2".into();
        j["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    });
    assert!(matches!(
        names(load(dir.path()).err().unwrap(), "config.json"),
        Error::UnknownFamily { .. }
    ));

    let dir = copy_fixture("llada-tiny");
    edit_json(dir.path(), "config.json", |j| {
        j.as_object_mut().unwrap().remove("d_model");
    });
    let err = names(load(dir.path()).err().unwrap(), "config.json");
    assert!(
        matches!(&err, Error::MissingConfigField { field, .. } if field == "d_model"),
        "{err:?}"
    );
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named() {
    let dir = copy_fixture("dream-tiny");
    edit_weights(dir.path(), |t| {
        let w = t["model.layers.1.mlp.up_proj.weight"]
            .narrow(0, 0, 100)
            .unwrap();
        t.insert("model.layers.1.mlp.up_proj.weight".into(), w);
    });
    let err = names(load(dir.path()).err().unwrap(), "model.safetensors");
    match err {
        Error::TensorShape {
            name,
            actual,
            expected,
            ..
        } => {
            assert_eq!(name, "model.layers.1.mlp.up_proj.weight");
            assert_eq!(actual, vec![100, 64]);
            assert_eq!(expected, vec![128, 64]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tensor_of_an_unsupported_dtype_is_named() {
    let dir = copy_fixture("llada-tiny");
    edit_weights(dir.path(), |t| {
        let w = t["model.transformer.ln_f.weight"]
            .to_dtype(DType::I64)
            .unwrap();
        t.insert("model.transformer.ln_f.weight".into(), w);
    });
    let err = names(load(dir.path()).err().unwrap(), "model.safetensors");
    assert!(
        matches!(&err, Error::TensorDtype { name, .. } if name == "model.transformer.ln_f.weight"),
        "{err:?}"
    );
}

#[test]
fn a_missing_tensor_is_named() {
    let dir = copy_fixture("llada-tiny");
    edit_weights(dir.path(), |t| {
        t.remove("model.transformer.blocks.1.ff_norm.weight");
    });
    let err = names(load(dir.path()).err().unwrap(), "model.safetensors");
    assert!(
        matches!(&err, Error::MissingTensor { name, .. } if name.ends_with("blocks.1.ff_norm.weight"))
    );
}

#[test]
fn truncated_and_corrupt_safetensors_are_named() {
    let dir = copy_fixture("dream-tiny");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        names(load(dir.path()).err().unwrap(), "model.safetensors"),
        Error::CorruptSafetensors { .. }
    ));

    let mut garbage = bytes.clone();
    garbage[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &garbage).unwrap();
    assert!(matches!(
        names(load(dir.path()).err().unwrap(), "model.safetensors"),
        Error::CorruptSafetensors { .. }
    ));

    let dir = copy_fixture("dream-tiny-sharded");
    let shard = dir.path().join("model-00003-of-00003.safetensors");
    std::fs::write(&shard, b"\x10\0\0\0\0\0\0\0{\"a\":").unwrap();
    names(
        load(dir.path()).err().unwrap(),
        "model-00003-of-00003.safetensors",
    );
}

#[test]
fn a_corrupt_tokenizer_is_named() {
    let dir = copy_fixture("dream-tiny");
    std::fs::write(
        dir.path().join("tokenizer.json"),
        "{\"version\": \"1.0\", \"model\": 3}",
    )
    .unwrap();
    assert!(matches!(
        names(load(dir.path()).err().unwrap(), "tokenizer.json"),
        Error::Tokenizer { .. }
    ));
}

#[test]
fn a_tokenizer_without_a_mask_token_is_rejected() {
    let dir = copy_fixture("dream-tiny");
    for file in ["config.json", "generation_config.json"] {
        edit_json(dir.path(), file, |j| {
            j.as_object_mut().unwrap().remove("mask_token_id");
        });
    }
    edit_json(dir.path(), "tokenizer_config.json", |j| {
        j.as_object_mut().unwrap().remove("mask_token");
    });
    // Still found: the tokenizer spells it the way Dream does.
    assert!(load(dir.path()).is_ok());
    let tok = std::fs::read_to_string(dir.path().join("tokenizer.json")).unwrap();
    std::fs::write(
        dir.path().join("tokenizer.json"),
        tok.replace("<|mask|>", "<|blank|>"),
    )
    .unwrap();
    assert!(matches!(
        names(load(dir.path()).err().unwrap(), "tokenizer.json"),
        Error::NoMaskToken { .. }
    ));

    // A config mask id the tokenizer does not know is the same error, not a silent fallback.
    let dir = copy_fixture("llada-tiny");
    edit_json(dir.path(), "config.json", |j| {
        j["mask_token_id"] = 100_000.into()
    });
    assert!(matches!(
        load(dir.path()).err().unwrap(),
        Error::NoMaskToken { .. }
    ));
}

#[test]
fn a_special_token_outside_the_vocabulary_is_named() {
    let dir = copy_fixture("dream-tiny");
    edit_json(dir.path(), "config.json", |j| {
        j["eos_token_id"] = 5000.into()
    });
    let err = names(load(dir.path()).err().unwrap(), "config.json");
    assert!(
        matches!(err, Error::SpecialTokenOutOfRange { id: 5000, .. }),
        "{err:?}"
    );
}

#[test]
fn f16_weights_convert() {
    let dir = copy_fixture("dream-tiny");
    edit_weights(dir.path(), |t| {
        for v in t.values_mut() {
            *v = v.to_dtype(DType::F16).unwrap();
        }
    });
    let model = load(dir.path()).unwrap();
    let (ids, expected) = reference("dream-tiny");
    let err = relative_error(&model.raw_logits(&ids).unwrap(), &expected);
    // f16 rounding of the weights only; the compute is f32.
    assert!(err < 1e-2, "relative error {err}");
}

#[test]
fn out_of_range_tokens_are_an_error_not_a_panic() {
    let model = load(&fixture("dream-tiny")).unwrap();
    assert!(matches!(
        model.raw_logits(&[1, 2, 99_999]),
        Err(Error::InvalidRequest(_))
    ));
}

#[test]
fn model_sources_parse_and_report_clearly() {
    assert_eq!(
        ModelSource::parse("./models/x"),
        ModelSource::Dir("./models/x".into())
    );
    assert_eq!(
        ModelSource::parse("/abs/path"),
        ModelSource::Dir("/abs/path".into())
    );
    assert_eq!(
        ModelSource::parse("Dream-org/Dream-Coder-v0-Base-7B"),
        ModelSource::Hub {
            id: "Dream-org/Dream-Coder-v0-Base-7B".into(),
            revision: None
        }
    );
    assert_eq!(
        ModelSource::parse("GSAI-ML/LLaDA-8B-Base@main"),
        ModelSource::Hub {
            id: "GSAI-ML/LLaDA-8B-Base".into(),
            revision: Some("main".into())
        }
    );
    let existing = fixture("dream-tiny");
    assert_eq!(
        ModelSource::parse(existing.to_str().unwrap()),
        ModelSource::Dir(existing.clone())
    );
    assert_eq!(
        ModelSource::Dir(existing.clone()).resolve().unwrap(),
        existing
    );
    assert!(matches!(
        ModelSource::parse("./no/such/dir").resolve(),
        Err(Error::MissingFile { .. })
    ));
}

#[test]
fn a_tied_head_reads_the_embedding() {
    // Untied, with the head set equal to the embedding, must equal the tied model without a head.
    let untied = copy_fixture("dream-tiny");
    edit_weights(untied.path(), |t| {
        let embed = t["model.embed_tokens.weight"].clone();
        t.insert("lm_head.weight".into(), embed);
    });
    let tied = copy_fixture("dream-tiny");
    edit_weights(tied.path(), |t| {
        t.remove("lm_head.weight");
    });
    edit_json(tied.path(), "config.json", |j| {
        j["tie_word_embeddings"] = true.into()
    });
    let (ids, _) = reference("dream-tiny");
    let a = load(untied.path()).unwrap().raw_logits(&ids).unwrap();
    let b = load(tied.path()).unwrap().raw_logits(&ids).unwrap();
    assert!(relative_error(&a, &b) < 1e-6);
    // Untied without a head is a missing tensor, not a silent tie.
    edit_json(tied.path(), "config.json", |j| {
        j["tie_word_embeddings"] = false.into()
    });
    assert!(matches!(
        load(tied.path()).err().unwrap(),
        Error::MissingTensor { .. }
    ));
}
