//! A loaded diffusion model: architecture + weights + tokenizer + special tokens, and the one
//! question the sampler asks of it: "what do you predict at these positions of this canvas?"

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::chat::ChatTemplate;
use crate::checkpoint::{load_quantized, load_tensors, Inventory, Keep, TensorSpec, WeightFiles};
use crate::config::{read_json, token_ids_in, ArchConfig, Family};
use crate::error::{Error, Result};
use crate::gguf::{self, GgufWeights};
use crate::kernels::panels::ProductPrecision;
use crate::preflight::checked_specs;
use crate::progress::{no_progress, weight_reader, ProgressFn};
use crate::quant::QuantKind;
use crate::source::ModelSource;
use crate::tokenizer::{
    resolve_special_tokens, CodeTokenizer, SpecialTokens, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE,
};
use crate::transformer::{KvCache, Transformer};

pub const CONFIG_FILE: &str = "config.json";

/// The output head's quantization under `q8` and `q4` alike: the logits decide every token, and
/// the head is a small part of a large model's weights.
const HEAD_QUANT: QuantKind = QuantKind::Q8;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Compute dtype: F32 (exact) or BF16 (half the memory). F16 weights are converted.
    pub dtype: DType,
    /// With F32 and a bf16 checkpoint on a CPU with AVX-512 BF16: the layers' and the head's
    /// products round their inputs to bf16 and run at twice the rate (`vdpbf16ps`, f32 sums).
    /// Results move in the third significant digit: off here, so the library computes exactly
    /// by default; the server turns it on for speed.
    pub bf16_products: bool,
    /// Quantize the layers' matrices as they load (`dtype` `q8` or `q4`): only the blocks are
    /// kept, and products run on the engine's integer kernels (f32 activations between them).
    /// The embedding stays bf16, norms and biases f32, and the output head is q8 either way.
    pub quantize: Option<QuantKind>,
}

impl LoadOptions {
    /// The options a dtype name asks for (`f32`, `bf16`, `q8`, `q4`); `None` for other names.
    pub fn for_dtype(name: &str, bf16_products: bool) -> Option<Self> {
        let quantize = crate::checkpoint::parse_quantization(name);
        let dtype = match quantize {
            Some(_) => DType::F32,
            None => crate::checkpoint::parse_dtype(name)?,
        };
        Some(LoadOptions {
            dtype,
            bf16_products,
            quantize,
        })
    }

    /// The arithmetic of the weight products `bf16_products` asks for.
    pub fn product_precision(&self) -> ProductPrecision {
        match self.bf16_products {
            true => ProductPrecision::Bf16,
            false => ProductPrecision::F32,
        }
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            dtype: DType::F32,
            bf16_products: false,
            quantize: None,
        }
    }
}

/// The dtype weights are held in: F16 is computed in F32.
fn load_dtype(options: &LoadOptions) -> DType {
    match options.dtype {
        DType::F16 => DType::F32,
        d => d,
    }
}

/// What the sampler needs from a model: predictions for masked positions of a canvas.
pub trait TokenPredictor {
    /// Logits `[positions.len(), vocab]` (f32) for the tokens at `positions` of `canvas`.
    fn predict(&self, canvas: &[u32], positions: &[usize]) -> Result<Tensor>;
    /// [`predict`](Self::predict) with an approximate KV cache. With `cache` empty, a full pass
    /// answers and fills it; otherwise only the columns in `window` (which holds `positions`)
    /// are recomputed against the cached keys and values of the rest of the canvas, as it was
    /// when the cache was filled. Predictors without a cache ignore it.
    fn predict_cached(
        &self,
        canvas: &[u32],
        positions: &[usize],
        window: &[usize],
        cache: &mut Option<KvCache>,
    ) -> Result<Tensor> {
        let _ = (window, cache);
        self.predict(canvas, positions)
    }
    fn special_tokens(&self) -> &SpecialTokens;
}

pub struct DiffusionModel {
    transformer: Transformer,
    tokenizer: CodeTokenizer,
    special: SpecialTokens,
    chat: Option<ChatTemplate>,
    dir: PathBuf,
}

impl DiffusionModel {
    pub fn load(source: &ModelSource, options: &LoadOptions) -> Result<Self> {
        Self::load_with_progress(source, options, &no_progress)
    }

    /// [`load`](Self::load), telling `progress` how the download (for a hub id whose files are
    /// not all cached) and then the reading of the weights advance. Reports are throttled.
    pub fn load_with_progress(
        source: &ModelSource,
        options: &LoadOptions,
        progress: ProgressFn<'_>,
    ) -> Result<Self> {
        if let ModelSource::Dir(path) = source {
            if gguf::is_gguf_file(path) {
                return Self::load_gguf_with_progress(path, options, progress);
            }
        }
        let dir = source.resolve_with_progress(progress)?;
        Self::load_dir_with_progress(&dir, options, progress)
    }

    /// Loads one GGUF file of architecture `dream` or `llada`, as llama.cpp's converter writes
    /// them: config, tokenizer and special tokens from its metadata, weights dequantized to
    /// `options.dtype`, or with `options.quantize` kept in blocks as safetensors checkpoints are
    /// (a file's own Q8_0 or Q4_0 blocks taken as stored; see [`crate::gguf`]).
    pub fn load_gguf_with_progress(
        path: &Path,
        options: &LoadOptions,
        progress: ProgressFn<'_>,
    ) -> Result<Self> {
        let dtype = load_dtype(options);
        let quantization = options.quantize.map(|kind| gguf::Quantization {
            kind,
            head: HEAD_QUANT,
        });
        let g = gguf::load(path, dtype, quantization, progress)?;
        let chat = g.chat_template.and_then(|source| {
            let token = |id: Option<u32>| id.and_then(|id| g.tokenizer.id_to_token(id));
            ChatTemplate::from_tokenizer_config(&serde_json::json!({
                "chat_template": source,
                "bos_token": token(g.special.bos),
                "eos_token": token(g.special.end.first().copied()),
            }))
        });
        let device = Device::Cpu;
        let transformer = match g.weights {
            GgufWeights::Dense(tensors) => {
                let precision = options.product_precision();
                Transformer::from_tensors(g.cfg, tensors, dtype, &device, precision)?
            }
            GgufWeights::Quantized(tensors, blocks) => {
                Transformer::from_quantized(g.cfg, tensors, blocks, &device, HEAD_QUANT)?
            }
        };
        tracing::info!(
            file = %path.display(),
            family = ?transformer.config().family,
            params = transformer.config().parameter_count(),
            ?dtype,
            quantize = ?options.quantize,
            resident_mb = transformer.resident_bytes() / 1_000_000,
            "model loaded from GGUF"
        );
        Ok(DiffusionModel {
            transformer,
            tokenizer: g.tokenizer,
            special: g.special,
            chat,
            dir: path.to_path_buf(),
        })
    }

    /// Loads a checkpoint directory in the Hugging Face layout; see
    /// [`load_dir_with_progress`](Self::load_dir_with_progress).
    pub fn load_dir(dir: &Path, options: &LoadOptions) -> Result<Self> {
        Self::load_dir_with_progress(dir, options, &no_progress)
    }

    /// Loads a checkpoint directory in the Hugging Face layout, or a `.gguf` file (see
    /// [`load_gguf_with_progress`](Self::load_gguf_with_progress)). Cheap files are read and checked
    /// first, so a bad config or tokenizer fails before gigabytes of weights are read: the config
    /// is bounded, then checked against the weight files' headers before anything is sized
    /// from it. `progress` hears of the weight bytes read.
    pub fn load_dir_with_progress(
        dir: &Path,
        options: &LoadOptions,
        progress: ProgressFn<'_>,
    ) -> Result<Self> {
        if gguf::is_gguf_file(dir) {
            return Self::load_gguf_with_progress(dir, options, progress);
        }
        if !dir.is_dir() {
            return Err(Error::MissingFile {
                path: dir.to_path_buf(),
            });
        }
        let config_path = dir.join(CONFIG_FILE);
        let config_json = read_json(&config_path)?;
        let cfg = ArchConfig::from_json(&config_path, &config_json)?;
        let weights = Inventory::read(WeightFiles::locate(dir)?)?;
        let specs = checked_specs(&cfg, &config_path, &config_json, &weights)?;
        let tokenizer = CodeTokenizer::from_file(&dir.join(TOKENIZER_FILE))?;
        if tokenizer.vocab_size() > cfg.vocab_size {
            return Err(Error::UnsupportedConfig {
                path: config_path,
                field: "vocab_size".into(),
                value: cfg.vocab_size.to_string(),
                reason: format!(
                    "the tokenizer has {} tokens, more than the embedding rows",
                    tokenizer.vocab_size()
                ),
            });
        }
        let special = resolve_special_tokens(
            dir,
            &token_ids_in(&config_path, &config_json),
            &tokenizer,
            cfg.vocab_size,
        )?;
        let dtype = load_dtype(options);
        let device = Device::Cpu;
        let total = weights.stored_bytes(&specs);
        let mut read = weight_reader(total, progress);
        let transformer = match options.quantize {
            None => {
                let tensors = load_tensors(weights.files(), &specs, dtype, &device, &mut read)?;
                Transformer::from_tensors(
                    cfg,
                    tensors,
                    dtype,
                    &device,
                    options.product_precision(),
                )?
            }
            Some(kind) => {
                let names = crate::transformer::WeightNames::of(cfg.family);
                let keep = |spec: &TensorSpec| match () {
                    _ if spec.name == names.embed => Keep::As(DType::BF16),
                    _ if spec.shape.len() != 2 => Keep::As(DType::F32),
                    _ if spec.name == names.head => Keep::Quantized(HEAD_QUANT),
                    _ => Keep::Quantized(kind),
                };
                let (tensors, quantized) =
                    load_quantized(weights.files(), &specs, &keep, &device, &mut read)?;
                Transformer::from_quantized(cfg, tensors, quantized, &device, HEAD_QUANT)?
            }
        };
        tracing::info!(
            dir = %dir.display(),
            family = ?transformer.config().family,
            params = transformer.config().parameter_count(),
            ?dtype,
            quantize = ?options.quantize,
            resident_mb = transformer.resident_bytes() / 1_000_000,
            "model loaded"
        );
        let tc_path = dir.join(TOKENIZER_CONFIG_FILE);
        let chat = if tc_path.is_file() {
            ChatTemplate::from_tokenizer_config(&read_json(&tc_path)?)
        } else {
            None
        };
        Ok(DiffusionModel {
            transformer,
            tokenizer,
            special,
            chat,
            dir: dir.to_path_buf(),
        })
    }

    pub fn config(&self) -> &ArchConfig {
        self.transformer.config()
    }

    pub fn family(&self) -> Family {
        self.config().family
    }

    pub fn tokenizer(&self) -> &CodeTokenizer {
        &self.tokenizer
    }

    /// The checkpoint's chat template: present only for checkpoints that follow instructions.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat.as_ref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes the weights hold in memory (see [`Transformer::resident_bytes`]).
    pub fn resident_bytes(&self) -> usize {
        self.transformer.resident_bytes()
    }

    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    /// Raw logits `[seq, vocab]`, position-aligned (row i from the hidden state at i).
    pub fn raw_logits(&self, tokens: &[u32]) -> Result<Tensor> {
        self.transformer.check_tokens(tokens)?;
        let t = Tensor::from_slice(tokens, (1, tokens.len()), &Device::Cpu)?;
        let positions: Vec<usize> = (0..tokens.len()).collect();
        Ok(self
            .transformer
            .forward(&t, &positions, None, None)?
            .squeeze(0)?)
    }
}

impl TokenPredictor for DiffusionModel {
    fn predict(&self, canvas: &[u32], positions: &[usize]) -> Result<Tensor> {
        let rows = self.head_rows_for(canvas, positions)?;
        self.transformer.logits_at(canvas, &rows)
    }

    fn predict_cached(
        &self,
        canvas: &[u32],
        positions: &[usize],
        window: &[usize],
        cache: &mut Option<KvCache>,
    ) -> Result<Tensor> {
        let rows = self.head_rows_for(canvas, positions)?;
        self.transformer
            .logits_at_cached(canvas, &rows, window, cache)
    }

    fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }
}

impl DiffusionModel {
    /// Checks a prediction request and returns the hidden-state rows that answer it.
    fn head_rows_for(&self, canvas: &[u32], positions: &[usize]) -> Result<Vec<usize>> {
        if let Some(&p) = positions.iter().find(|&&p| p >= canvas.len()) {
            return Err(Error::InvalidRequest(format!(
                "position {p} outside a canvas of {}",
                canvas.len()
            )));
        }
        if canvas.len() > self.config().max_positions {
            return Err(Error::InvalidRequest(format!(
                "canvas of {} tokens exceeds the model's {} positions",
                canvas.len(),
                self.config().max_positions
            )));
        }
        self.transformer.check_tokens(canvas)?;
        // Dream-family models predict token i from the hidden state at i-1 (token 0 from 0).
        Ok(if self.family().shifted_logits() {
            positions.iter().map(|&p| p.saturating_sub(1)).collect()
        } else {
            positions.to_vec()
        })
    }
}
