//! A checkpoint whose answers are known in advance, for end-to-end tests of the server and of
//! the editor integrations: every masked position becomes one chosen token.
//!
//! It is the Dream-layout fixture with all layers zeroed, every embedding row the same vector,
//! and only the chosen token's head row pointing along it. How far it points sets how sure the
//! model is of the token ([`write_doubtful_model`]).

use std::path::Path;

use anyhow::{anyhow, Context};
use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};

/// How likely the model finds its one token.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Certainty {
    /// As good as certain (the head row's entries are 1).
    Sure,
    /// About this probability at every masked position, the rest spread evenly over the other
    /// tokens (the mask aside).
    About(f32),
}

/// Writes the model into `out`, starting from the fixture checkpoint in `fixture`.
pub fn write_constant_model(
    fixture: &Path,
    out: &Path,
    token: &str,
    max_positions: usize,
    chat_template: Option<&str>,
) -> anyhow::Result<()> {
    write_model(
        fixture,
        out,
        token,
        max_positions,
        chat_template,
        Certainty::Sure,
    )
}

/// [`write_constant_model`] that gives its token only about `probability` (in (0, 1)) at every
/// masked position: the same answers, with a confidence the tests choose.
pub fn write_doubtful_model(
    fixture: &Path,
    out: &Path,
    token: &str,
    max_positions: usize,
    probability: f32,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        probability > 0.0 && probability < 1.0,
        "a doubtful model's probability is in (0, 1), not {probability}"
    );
    let certainty = Certainty::About(probability);
    write_model(fixture, out, token, max_positions, None, certainty)
}

fn write_model(
    fixture: &Path,
    out: &Path,
    token: &str,
    max_positions: usize,
    chat_template: Option<&str>,
    certainty: Certainty,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let read_json = |name: &str| -> anyhow::Result<Value> {
        Ok(serde_json::from_str(
            &std::fs::read_to_string(fixture.join(name)).with_context(|| name.to_string())?,
        )?)
    };
    for f in ["tokenizer.json", "generation_config.json"] {
        std::fs::copy(fixture.join(f), out.join(f)).with_context(|| f.to_string())?;
    }
    let mut config = read_json("config.json")?;
    config["max_position_embeddings"] = json!(max_positions);
    std::fs::write(out.join("config.json"), config.to_string())?;
    let mut tokenizer_config = read_json("tokenizer_config.json")?;
    if let Some(t) = chat_template {
        tokenizer_config["chat_template"] = json!(t);
    }
    std::fs::write(
        out.join("tokenizer_config.json"),
        tokenizer_config.to_string(),
    )?;

    let id = read_json("tokenizer.json")?["model"]["vocab"][token]
        .as_u64()
        .ok_or_else(|| anyhow!("{token:?} is not a token of the fixture vocabulary"))?
        as usize;
    let mut tensors =
        candle_core::safetensors::load(fixture.join("model.safetensors"), &Device::Cpu)?;
    for (name, t) in tensors.iter_mut() {
        *t = if name.ends_with("norm.weight") {
            t.ones_like()?
        } else {
            t.zeros_like()?
        };
    }
    let (vocab, hidden) = tensors["model.embed_tokens.weight"].dims2()?;
    tensors.insert(
        "model.embed_tokens.weight".into(),
        Tensor::ones((vocab, hidden), DType::F32, &Device::Cpu)?,
    );
    // The final hidden state is all ones (zeroed layers, a norm of ones), so the token's logit
    // is the sum of its head row and every other logit is 0: p = e^L / (e^L + others), where
    // the others leave out the token itself and the mask (never proposed).
    let entry = match certainty {
        Certainty::Sure => 1.0,
        Certainty::About(p) => {
            let others = (vocab - 2) as f32;
            (p / (1.0 - p) * others).ln() / hidden as f32
        }
    };
    let mut head = vec![0f32; vocab * hidden];
    head[id * hidden..(id + 1) * hidden].fill(entry);
    tensors.insert(
        "lm_head.weight".into(),
        Tensor::from_vec(head, (vocab, hidden), &Device::Cpu)?,
    );
    candle_core::safetensors::save(&tensors, out.join("model.safetensors"))?;
    Ok(())
}

/// The engine's Dream fixture, next to this crate in the repository.
pub fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/dream-tiny")
}

/// `DLLM_TEST_LOAD_DELAY_MS`: every model load first sleeps this long, so end-to-end tests can
/// send requests while the model loads. Only test builds read it.
pub fn slow_load() {
    if let Some(delay) = millis_from_env("DLLM_TEST_LOAD_DELAY_MS") {
        std::thread::sleep(delay);
    }
}

/// `DLLM_TEST_LOAD_WAIT_MS`: how long requests wait for a loading model, in place of the
/// shipped 30 s, so a test can reach the bound quickly. Only test builds read it.
pub fn load_wait() -> Option<std::time::Duration> {
    millis_from_env("DLLM_TEST_LOAD_WAIT_MS")
}

fn millis_from_env(name: &str) -> Option<std::time::Duration> {
    let ms = std::env::var(name).ok()?.parse().ok()?;
    Some(std::time::Duration::from_millis(ms))
}
