//! The diffusion engine of dllm-ls: loads masked diffusion language models (Dream and LLaDA
//! checkpoint families, Hugging Face layout) and fills masked spans of code.
//!
//! The path through this crate: [`ModelSource`] → [`DiffusionModel::load`] (config, tokenizer,
//! special tokens, weights, each checked) → [`DiffusionModel::infill`] (text → canvas → [`sample`]
//! → text).

pub mod chat;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod gguf;
pub mod hub;
pub mod infill;
mod kernels;
pub mod model;
pub mod net;
mod preflight;
pub mod progress;
pub mod quant;
pub mod resident;
pub mod sampler;
pub mod source;
#[cfg(test)]
mod testing;
pub mod threads;
pub mod tokenizer;
pub mod transformer;

pub use candle_core::DType;
pub use chat::{ChatMessage, ChatTemplate};
pub use config::{ArchConfig, Family};
pub use error::{Error, Result};
pub use infill::{CanvasCache, InfillOutput, InfillRequest, Segment};
pub use kernels::panels::ProductPrecision;
pub use model::{DiffusionModel, LoadOptions, TokenPredictor};
pub use progress::LoadProgress;
pub use quant::QuantKind;
pub use sampler::{
    sample, sample_with_cache, CancelFlag, Canvas, Commit, SampleOutput, SamplerOptions,
    StepObserver, StepTrace, Strategy,
};
pub use source::ModelSource;
pub use threads::pin_thread_count;
pub use tokenizer::{CodeTokenizer, SpecialTokens};
pub use transformer::{KvCache, Transformer};
