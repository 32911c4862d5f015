//! A GGUF file's `general.architecture` and hyperparameters → the engine's [`ArchConfig`], under
//! the same bounds as `config.json`. The keys are those llama.cpp's converter writes for
//! `dream` (Qwen2's TextModel keys) and `llada`.

use candle_core::quantized::gguf_file::Value;

use super::container::GgufFile;
use crate::config::{
    ArchConfig, Family, MAX_HEADS, MAX_HEAD_DIM, MAX_HIDDEN, MAX_INTERMEDIATE, MAX_LAYERS,
    MAX_POSITIONS, MAX_RMS_NORM_EPS, MAX_ROPE_THETA, MAX_VOCAB,
};
use crate::error::{Error, Result};

pub(crate) const ARCHITECTURE: &str = "general.architecture";

/// The family of a GGUF file's architecture; anything but `dream` and `llada` is refused.
pub(crate) fn family(file: &GgufFile) -> Result<(Family, &str)> {
    let arch = file.string(ARCHITECTURE)?;
    match arch {
        "dream" => Ok((Family::Dream, arch)),
        "llada" => Ok((Family::Llada, arch)),
        other => Err(Error::UnknownFamily {
            path: file.path().to_path_buf(),
            reason: format!(
                "GGUF `{ARCHITECTURE}` = {other:?}; GGUF files load for architectures \"dream\" and \"llada\""
            ),
        }),
    }
}

/// The architecture a GGUF file describes. `vocab_rows` is the embedding's row count, for files
/// that do not state a vocabulary size; `tied` whether the file has no separate output head.
pub(crate) fn arch_config(
    file: &GgufFile,
    family: Family,
    arch: &str,
    vocab_rows: usize,
    tied: bool,
) -> Result<ArchConfig> {
    let key = |k: &str| format!("{arch}.{k}");
    refuse_unsupported(file, family, arch)?;
    let hidden = file.size(&key("embedding_length"), MAX_HIDDEN)?;
    let heads = file.size(&key("attention.head_count"), MAX_HEADS)?;
    let kv_heads = match file.get(&key("attention.head_count_kv")) {
        Some(_) => file.size(&key("attention.head_count_kv"), MAX_HEADS)?,
        None => heads,
    };
    let head_dim = match file.get(&key("attention.key_length")) {
        Some(_) => file.size(&key("attention.key_length"), MAX_HEAD_DIM)?,
        None => hidden / heads,
    };
    if let Some(rope_dims) = file.uint_opt(&key("rope.dimension_count"))? {
        if rope_dims != head_dim as u64 {
            return Err(file.unsupported(
                &key("rope.dimension_count"),
                &Value::U64(rope_dims),
                "partial rotary embeddings are not implemented",
            ));
        }
    }
    let vocab_size = match file.get(&key("vocab_size")) {
        Some(_) => file.size(&key("vocab_size"), MAX_VOCAB)?,
        None => vocab_rows,
    };
    let (default_eps, default_theta, default_ctx) = match family {
        Family::Dream => (1e-6, 10_000.0, 32_768),
        Family::Llada => (1e-5, 10_000.0, 4096),
    };
    let cfg = ArchConfig {
        family,
        vocab_size,
        hidden_size: hidden,
        intermediate_size: file.size(&key("feed_forward_length"), MAX_INTERMEDIATE)?,
        num_layers: file.size(&key("block_count"), MAX_LAYERS)?,
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim,
        rms_norm_eps: file.float_or(
            &key("attention.layer_norm_rms_epsilon"),
            default_eps,
            MAX_RMS_NORM_EPS,
        )?,
        rope_theta: file.float_or(&key("rope.freq_base"), default_theta, MAX_ROPE_THETA)?,
        max_positions: match file.get(&key("context_length")) {
            Some(_) => file.size(&key("context_length"), MAX_POSITIONS)?,
            None => default_ctx,
        },
        tie_word_embeddings: tied,
        qkv_bias: family == Family::Dream,
    };
    cfg.validate(file.path())?;
    Ok(cfg)
}

/// Settings a converted file may carry that this engine does not implement.
fn refuse_unsupported(file: &GgufFile, family: Family, arch: &str) -> Result<()> {
    let causal = format!("{arch}.attention.causal");
    if file.bool_opt(&causal)? == Some(true) {
        return Err(file.unsupported(
            &causal,
            &Value::Bool(true),
            "diffusion models attend both ways; causal attention is not implemented here",
        ));
    }
    let shift = "diffusion.shift_logits";
    if let Some(s) = file.bool_opt(shift)? {
        if s != family.shifted_logits() {
            return Err(file.unsupported(
                shift,
                &Value::Bool(s),
                "this architecture's logit alignment is fixed by its family",
            ));
        }
    }
    let scaling = format!("{arch}.rope.scaling.type");
    match file.get(&scaling) {
        None => {}
        Some(Value::String(s)) if s == "none" => {}
        Some(v) => return Err(file.unsupported(&scaling, v, "rope scaling is not implemented")),
    }
    let window = format!("{arch}.attention.sliding_window");
    if let Some(v) = file.get(&window) {
        return Err(file.unsupported(&window, v, "sliding-window attention is not implemented"));
    }
    Ok(())
}
