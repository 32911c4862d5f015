//! llama.cpp's GGUF files as a model source: one `.gguf` file of architecture `dream` or
//! `llada`, as llama.cpp's converter (`convert_hf_to_gguf.py`) writes them, stands in for a
//! Hugging Face checkpoint directory.
//!
//! The parts, in the order a load uses them: [`container`] (header, metadata, tensor infos),
//! [`arch`] (metadata → [`ArchConfig`](crate::config::ArchConfig), under the config's bounds),
//! [`vocab`] (tokenizer and special tokens from `tokenizer.ggml.*`), [`tensors`] (names, checks,
//! dequantization). Everything cheap is read and checked before any weight is.
//!
//! Weights are dequantized to the load dtype: F32, F16, BF16, Q8_0, Q4_0 and Q4_K tensors load,
//! and the other block types llama-quantize mixes into its files (Q4_1, Q5_0, Q5_1, Q2_K to Q6_K).

mod arch;
mod container;
mod tensors;
mod vocab;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Tensor};

use crate::config::ArchConfig;
use crate::error::{Error, Result};
use crate::progress::{weight_reader, ProgressFn};
use crate::quant::QuantizedMatrix;
use crate::tokenizer::{CodeTokenizer, SpecialTokens};

/// Whether `path` names a GGUF file (by its extension; the magic is checked when it is read).
pub fn is_gguf_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

pub(crate) use tensors::Quantization;

/// The weights as the engine will hold them.
pub(crate) enum GgufWeights {
    /// Every tensor in the load dtype.
    Dense(HashMap<String, Tensor>),
    /// The layers' matrices and the head in blocks; the embedding, norms and biases dense.
    Quantized(HashMap<String, Tensor>, HashMap<String, QuantizedMatrix>),
}

/// What a GGUF file holds, checked and loaded.
pub(crate) struct GgufModel {
    pub cfg: ArchConfig,
    pub weights: GgufWeights,
    pub tokenizer: CodeTokenizer,
    pub special: SpecialTokens,
    pub chat_template: Option<String>,
}

/// Reads a GGUF file: metadata and tokenizer first, then every tensor checked, then the weights,
/// dequantized to `dtype`, or kept in blocks as `quantization` asks. `progress` hears of the
/// weight bytes read.
pub(crate) fn load(
    path: &Path,
    dtype: DType,
    quantization: Option<Quantization>,
    progress: ProgressFn<'_>,
) -> Result<GgufModel> {
    let mut file = container::GgufFile::open(path)?;
    let (family, arch_name) = arch::family(&file)?;
    let arch_name = arch_name.to_string();
    let (vocab_rows, _) = tensors::embedding_shape(&file)?;
    let tied = !tensors::has_output_head(&file);
    let cfg = arch::arch_config(&file, family, &arch_name, vocab_rows, tied)?;
    let planned = tensors::checked_tensors(&file, &cfg, &arch_name)?;
    let tokenizer = vocab::tokenizer(&file)?;
    if tokenizer.vocab_size() > cfg.vocab_size {
        return Err(Error::ConfigMismatch {
            path: path.to_path_buf(),
            field: "tokenizer.ggml.tokens".into(),
            config: tokenizer.vocab_size(),
            actual: cfg.vocab_size,
            what: format!("rows of `{}`", tensors::EMBED),
        });
    }
    let special = vocab::special_tokens(&file, &tokenizer, cfg.vocab_size)?;
    let chat_template = match file.get("tokenizer.chat_template") {
        Some(_) => Some(file.string("tokenizer.chat_template")?.to_string()),
        None => None,
    };
    let total = tensors::stored_bytes(&file, &planned);
    let mut read = weight_reader(total, progress);
    let weights = match quantization {
        None => GgufWeights::Dense(tensors::load(&mut file, planned, dtype, &mut read)?),
        Some(q) => {
            let (dense, blocks) = tensors::load_quantized(&mut file, planned, q, &mut read)?;
            GgufWeights::Quantized(dense, blocks)
        }
    };
    Ok(GgufModel {
        cfg,
        weights,
        tokenizer,
        special,
        chat_template,
    })
}
