//! llama.cpp's GGUF files as a model source: the files `fixtures/write_gguf.py` wrote from the
//! safetensors fixtures (with the `gguf` package the converter uses) load with the same config,
//! tokenizer and special tokens, and their logits match the safetensors fixture's within bounds
//! measured on them; damaged or unsupported files are typed errors that name what is wrong.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use common::{fixture, load, relative_error};
use dllm_models::{DiffusionModel, Error, LoadOptions, ModelSource, TokenPredictor};

/// Measured (max |Δlogit| / max |logit| against the safetensors fixture, f32 compute): F16 3.0e-4
/// (dream) and 4.0e-4 (llada), Q8_0 8.6e-3 and Q4_0 1.5e-1 (dream). The weights' own RMS quantization error
/// on these fixtures is 0.5% (Q8_0) and 8.6% (Q4_0); two layers and the head take the logits to
/// about 1.6x that. The bounds leave about 2x room.
const F16_BOUND: f32 = 1e-3;
const Q8_0_BOUND: f32 = 2e-2;
const Q4_0_BOUND: f32 = 0.3;

fn gguf_fixture(name: &str) -> PathBuf {
    fixture("gguf").join(name)
}

fn load_gguf(path: &Path) -> Result<DiffusionModel, Error> {
    DiffusionModel::load_dir(path, &LoadOptions::default())
}

/// Relative error of a GGUF file's logits against its safetensors fixture's, on the reference ids.
fn logits_error(gguf: &str, safetensors: &str) -> f32 {
    let model = load_gguf(&gguf_fixture(gguf)).unwrap();
    let reference = load(safetensors);
    let (ids, _) = common::reference(safetensors);
    let expected = reference.raw_logits(&ids).unwrap();
    let logits = model.raw_logits(&ids).unwrap();
    assert_eq!(logits.dims(), expected.dims());
    let err = relative_error(&logits, &expected);
    eprintln!("{gguf}: relative error {err:e}");
    err
}

#[test]
fn f16_logits_match_the_safetensors_fixtures_closely() {
    // LLaDA's q/k rows were permuted by the converter. Random weights attend almost uniformly,
    // so a wrong row order moves the logits little: only this tight bound catches it (measured
    // with the rows as stored: 8.2e-3).
    for (file, fixture) in [
        ("dream-tiny.f16.gguf", "dream-tiny"),
        ("llada-tiny.f16.gguf", "llada-tiny"),
    ] {
        let err = logits_error(file, fixture);
        assert!(err < F16_BOUND, "{file}: {err}");
    }
}

#[test]
fn quantized_logits_match_within_their_bounds() {
    for (file, fixture, bound) in [
        ("dream-tiny.q8_0.gguf", "dream-tiny", Q8_0_BOUND),
        ("dream-tiny.q4_0.gguf", "dream-tiny", Q4_0_BOUND),
    ] {
        let err = logits_error(file, fixture);
        assert!(err < bound, "{file}: {err}");
    }
}

#[test]
fn config_and_special_tokens_come_from_the_metadata() {
    for (file, name) in [
        ("dream-tiny.q8_0.gguf", "dream-tiny"),
        ("llada-tiny.f16.gguf", "llada-tiny"),
    ] {
        let gguf = load_gguf(&gguf_fixture(file)).unwrap();
        let reference = load(name);
        assert_eq!(gguf.config(), reference.config(), "{file}");
        let (g, r) = (gguf.special_tokens(), reference.special_tokens());
        assert_eq!(
            (g.mask, &g.end, g.pad, g.bos),
            (r.mask, &r.end, r.pad, r.bos),
            "{file}"
        );
    }
    // The converter asks for BOS in front of LLaDA's text; the tiny fixture's files do not.
    let llada = load_gguf(&gguf_fixture("llada-tiny.f16.gguf")).unwrap();
    assert!(llada.special_tokens().add_bos);
}

#[test]
fn the_tokenizer_from_the_metadata_encodes_as_tokenizer_json_does() {
    let texts = [
        "fn main() {\n    println!(\"hello, world\");\n}\n",
        "def add(a, b):\n\treturn a + b  # 12345 678\n\n\n",
        "  leading spaces, trailing spaces   \r\n",
        "ünïcödé ☃ 日本語 and emoji 🦀",
        "a literal <|mask|> or <|endoftext|> or <|mdm_mask|> is text",
        "",
    ];
    for (file, name) in [
        ("dream-tiny.f16.gguf", "dream-tiny"),
        ("llada-tiny.f16.gguf", "llada-tiny"),
    ] {
        let gguf = load_gguf(&gguf_fixture(file)).unwrap();
        let reference = load(name);
        for text in texts {
            let ids = gguf.tokenizer().encode(text).unwrap();
            assert_eq!(
                ids,
                reference.tokenizer().encode(text).unwrap(),
                "{file}: {text:?}"
            );
            assert_eq!(gguf.tokenizer().decode(&ids).unwrap(), text, "{file}");
        }
    }
}

#[test]
fn a_gguf_path_is_a_model_source() {
    let path = gguf_fixture("dream-tiny.q4_0.gguf");
    let source = ModelSource::parse(path.to_str().unwrap());
    let model = DiffusionModel::load(&source, &LoadOptions::default()).unwrap();
    assert_eq!(model.dir(), path);
}

/// A copy of a GGUF fixture with its metadata and tensors edited, written by candle's writer.
fn rewritten(
    name: &str,
    edit: impl FnOnce(&mut HashMap<String, Value>, &mut Vec<(String, QTensor)>),
) -> tempfile::TempDir {
    let src = gguf_fixture(name);
    let mut reader = File::open(&src).unwrap();
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let mut tensors: Vec<(String, QTensor)> = content
        .tensor_infos
        .keys()
        .map(|n| {
            (
                n.clone(),
                content.tensor(&mut reader, n, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut metadata = content.metadata;
    edit(&mut metadata, &mut tensors);
    let dir = tempfile::tempdir().unwrap();
    let mut out = File::create(dir.path().join("model.gguf")).unwrap();
    let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut out, &meta, &tens).unwrap();
    dir
}

fn load_rewritten(dir: &tempfile::TempDir) -> Result<DiffusionModel, Error> {
    load_gguf(&dir.path().join("model.gguf"))
}

#[test]
fn a_rewritten_file_still_loads() {
    // The control for the tests below: candle's writer, no edit.
    let dir = rewritten("dream-tiny.q8_0.gguf", |_, _| {});
    load_rewritten(&dir).unwrap();
}

#[test]
fn truncated_and_corrupt_files_are_named() {
    let bytes = std::fs::read(gguf_fixture("dream-tiny.q4_0.gguf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.gguf");
    let mut bad_magic = bytes.clone();
    bad_magic[..4].copy_from_slice(b"GGML");
    // Cut inside the metadata, inside the tensor data, and a file of garbage.
    for damaged in [
        bytes[..1000].to_vec(),
        bytes[..bytes.len() - 100].to_vec(),
        bad_magic,
        vec![0xff; 64],
    ] {
        std::fs::write(&path, &damaged).unwrap();
        match load_gguf(&path).err().unwrap() {
            Error::CorruptGguf { path: p, reason } => {
                assert_eq!(p, path);
                // One line: candle's backtrace (with RUST_BACKTRACE set) is not the user's business.
                assert!(!reason.contains('\n'), "{reason}");
                eprintln!("{} bytes: {reason}", damaged.len());
            }
            e => panic!("{} bytes: {e}", damaged.len()),
        }
    }
}

#[test]
fn an_unknown_architecture_is_named() {
    let dir = rewritten("dream-tiny.q8_0.gguf", |meta, _| {
        meta.insert("general.architecture".into(), Value::String("qwen2".into()));
    });
    let err = load_rewritten(&dir).err().unwrap();
    assert!(err.to_string().contains("\"qwen2\""), "{err}");
    assert!(matches!(err, Error::UnknownFamily { .. }), "{err}");
}

#[test]
fn an_unsupported_tensor_type_is_named() {
    // One candle reads but that is never a weight (llama.cpp's activation type)...
    let dir = rewritten("dream-tiny.q8_0.gguf", |_, tensors| {
        let (_, t) = tensors
            .iter_mut()
            .find(|(n, _)| n == "blk.1.ffn_up.weight")
            .unwrap();
        let w = t.dequantize(&Device::Cpu).unwrap();
        *t = QTensor::quantize(&w, GgmlDType::Q8_1).unwrap();
    });
    match load_rewritten(&dir).err().unwrap() {
        Error::GgufTensorType { name, dtype, .. } => {
            assert_eq!(name, "blk.1.ffn_up.weight");
            assert_eq!(dtype, "Q8_1");
        }
        e => panic!("{e}"),
    }
    // ...and one it does not know: the tensor info's type (after the name, the dimension count
    // and two dimensions) set to IQ2_XXS.
    let mut bytes = std::fs::read(gguf_fixture("dream-tiny.q8_0.gguf")).unwrap();
    let name = b"blk.1.ffn_up.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4 + 16;
    bytes[at..at + 4].copy_from_slice(&16u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.gguf"), bytes).unwrap();
    match load_rewritten(&dir).err().unwrap() {
        Error::GgufTensorType { dtype, .. } => assert_eq!(dtype, "IQ2_XXS (ggml type 16)"),
        e => panic!("{e}"),
    }
}

#[test]
fn unsupported_metadata_is_named() {
    let cases: [(&str, Value, &str); 4] = [
        (
            "tokenizer.ggml.model",
            Value::String("llama".into()),
            "tokenizer.ggml.model",
        ),
        (
            "tokenizer.ggml.pre",
            Value::String("deepseek-coder".into()),
            "tokenizer.ggml.pre",
        ),
        (
            "dream.attention.causal",
            Value::Bool(true),
            "dream.attention.causal",
        ),
        (
            "dream.rope.scaling.type",
            Value::String("yarn".into()),
            "dream.rope.scaling.type",
        ),
    ];
    for (key, value, field) in cases {
        let dir = rewritten("dream-tiny.q8_0.gguf", |meta, _| {
            meta.insert(key.into(), value);
        });
        match load_rewritten(&dir).err().unwrap() {
            Error::UnsupportedConfig { field: f, .. } => assert_eq!(f, field),
            e => panic!("{key}: {e}"),
        }
    }
}

#[test]
fn sizes_go_through_the_config_bounds() {
    let dir = rewritten("dream-tiny.q8_0.gguf", |meta, _| {
        meta.insert("dream.block_count".into(), Value::U64(1 << 40));
    });
    match load_rewritten(&dir).err().unwrap() {
        Error::ConfigOutOfRange { field, value, .. } => {
            assert_eq!((field.as_str(), value), ("dream.block_count", 1 << 40))
        }
        e => panic!("{e}"),
    }
    let dir = rewritten("dream-tiny.q8_0.gguf", |meta, _| {
        meta.insert("dream.block_count".into(), Value::U32(3));
    });
    match load_rewritten(&dir).err().unwrap() {
        Error::ConfigMismatch {
            field,
            config,
            actual,
            ..
        } => assert_eq!(
            (field.as_str(), config, actual),
            ("dream.block_count", 3, 2)
        ),
        e => panic!("{e}"),
    }
    let dir = rewritten("dream-tiny.q8_0.gguf", |meta, _| {
        meta.insert("dream.embedding_length".into(), Value::U32(96));
    });
    match load_rewritten(&dir).err().unwrap() {
        Error::ConfigMismatch { field, .. } => assert_eq!(field, "dream.embedding_length"),
        e => panic!("{e}"),
    }
}

#[test]
fn a_missing_tensor_and_a_missing_mask_are_named() {
    let dir = rewritten("dream-tiny.q8_0.gguf", |_, tensors| {
        tensors.retain(|(n, _)| n != "blk.0.attn_k.bias");
    });
    match load_rewritten(&dir).err().unwrap() {
        Error::MissingTensor { name, .. } => assert_eq!(name, "blk.0.attn_k.bias"),
        e => panic!("{e}"),
    }
    let dir = rewritten("dream-tiny.q8_0.gguf", |meta, _| {
        meta.remove("tokenizer.ggml.mask_token_id");
        // Without the id, the mask is found by its spelling in the vocabulary.
    });
    assert_eq!(load_rewritten(&dir).unwrap().special_tokens().mask, 1);
    let dir = rewritten("dream-tiny.q8_0.gguf", |meta, _| {
        meta.insert("tokenizer.ggml.mask_token_id".into(), Value::U32(4000));
    });
    assert!(matches!(
        load_rewritten(&dir).err().unwrap(),
        Error::SpecialTokenOutOfRange { .. }
    ));
}

/// Writes a one-layer Dream GGUF of width 256 (the K-quants' blocks are 256 wide, wider than the
/// fixtures' rows) with the fixture's vocabulary and random weights, its matrices stored as
/// `matrix` makes them.
fn wide_dream(
    weights: &[(String, Tensor)],
    matrix: impl Fn(&Tensor) -> QTensor,
) -> tempfile::TempDir {
    let mut reader = File::open(gguf_fixture("dream-tiny.f16.gguf")).unwrap();
    let mut meta = gguf_file::Content::read(&mut reader).unwrap().metadata;
    for (key, value) in [
        ("dream.embedding_length", 256),
        ("dream.feed_forward_length", 256),
        ("dream.block_count", 1),
    ] {
        meta.insert(key.into(), Value::U32(value));
    }
    let tensors: Vec<(String, QTensor)> = weights
        .iter()
        .map(|(name, w)| match w.rank() {
            2 => (name.clone(), matrix(w)),
            _ => (name.clone(), QTensor::quantize(w, GgmlDType::F32).unwrap()),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut out = File::create(dir.path().join("model.gguf")).unwrap();
    let meta: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut out, &meta, &tens).unwrap();
    dir
}

#[test]
fn block_types_load_as_the_values_their_blocks_hold() {
    let (h, kv, vocab) = (256, 128, 320);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("token_embd.weight".into(), vec![vocab, h]),
        ("output.weight".into(), vec![vocab, h]),
        ("output_norm.weight".into(), vec![h]),
    ];
    for (name, shape) in [
        ("attn_norm.weight", vec![h]),
        ("attn_q.weight", vec![h, h]),
        ("attn_q.bias", vec![h]),
        ("attn_k.weight", vec![kv, h]),
        ("attn_k.bias", vec![kv]),
        ("attn_v.weight", vec![kv, h]),
        ("attn_v.bias", vec![kv]),
        ("attn_output.weight", vec![h, h]),
        ("ffn_norm.weight", vec![h]),
        ("ffn_gate.weight", vec![h, h]),
        ("ffn_up.weight", vec![h, h]),
        ("ffn_down.weight", vec![h, h]),
    ] {
        shapes.push((format!("blk.0.{name}"), shape));
    }
    // Norm weights near one, the rest small: a model whose activations stay in range.
    let weights: Vec<(String, Tensor)> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let w = Tensor::randn(0f32, 0.1, shape, &Device::Cpu).unwrap();
            let w = match name.ends_with("norm.weight") {
                true => (w + 1.0).unwrap(),
                false => w,
            };
            (name, w)
        })
        .collect();
    let ids: Vec<u32> = (0..48).map(|i| (i * 37 % 300) as u32).collect();
    for dtype in [
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
        GgmlDType::Q2K,
        GgmlDType::Q3K,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
    ] {
        let quantize = |w: &Tensor| QTensor::quantize(w, dtype).unwrap();
        let stored = wide_dream(&weights, quantize);
        let exact = wide_dream(&weights, |w| {
            let held = quantize(w).dequantize(&Device::Cpu).unwrap();
            QTensor::quantize(&held, GgmlDType::F32).unwrap()
        });
        let logits = load_rewritten(&stored).unwrap().raw_logits(&ids).unwrap();
        let expected = load_rewritten(&exact).unwrap().raw_logits(&ids).unwrap();
        let err = relative_error(&logits, &expected);
        eprintln!("{dtype:?} against its dequantized values: {err:e}");
        assert!(err < 1e-5, "{dtype:?}: {err}");
    }
}

/// `dtype` q8 and q4 keep a GGUF file's matrices in blocks (its own Q8_0 or Q4_0 blocks as
/// stored, others quantized again): their logits against the same file loaded dense.
/// Measured: dream Q8_0 as q8 7.7e-3, Q4_0 as q4 9.5e-3 (the file's blocks: only the activations'
/// rounding and the bf16 embedding differ); llada F16 as q8 1.1e-2, as q4 6.6e-2. Bounds about 2x.
#[test]
fn quantized_loads_match_the_dense_load_of_the_same_file() {
    for (file, fixture, dtype, bound) in [
        ("dream-tiny.q8_0.gguf", "dream-tiny", "q8", 2.5e-2),
        ("dream-tiny.q4_0.gguf", "dream-tiny", "q4", 2.5e-2),
        ("llada-tiny.f16.gguf", "llada-tiny", "q8", 2.5e-2),
        ("llada-tiny.f16.gguf", "llada-tiny", "q4", 1.5e-1),
    ] {
        let path = gguf_fixture(file);
        let dense = load_gguf(&path).unwrap();
        let options = LoadOptions::for_dtype(dtype, false).unwrap();
        let quantized = DiffusionModel::load_dir(&path, &options).unwrap();
        let (ids, _) = common::reference(fixture);
        let expected = dense.raw_logits(&ids).unwrap();
        let err = relative_error(&quantized.raw_logits(&ids).unwrap(), &expected);
        eprintln!("{file} as {dtype}: relative error {err:e}");
        assert!(err < bound, "{file} as {dtype}: {err}");
        let resident = quantized.transformer().resident_bytes();
        assert!(
            resident < dense.transformer().resident_bytes() / 2,
            "{resident}"
        );
    }
}
