//! Typed errors of the engine. Every load error names the file it is about, so a user pointing the
//! server at a broken checkpoint learns which file to fix.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: file not found")]
    MissingFile { path: PathBuf },

    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{path}: cannot tell the checkpoint family ({reason}); supported: Dream (Qwen2 names) and LLaDA")]
    UnknownFamily { path: PathBuf, reason: String },

    #[error("{path}: missing config field `{field}`")]
    MissingConfigField { path: PathBuf, field: String },

    #[error("{path}: unsupported config: `{field}` = {value} ({reason})")]
    UnsupportedConfig {
        path: PathBuf,
        field: String,
        value: String,
        reason: String,
    },

    /// A size in `config.json` beyond what any supported checkpoint has: rejected before
    /// anything is allocated from it.
    #[error("{path}: `{field}` = {value} is beyond the supported limit of {limit}")]
    ConfigOutOfRange {
        path: PathBuf,
        field: String,
        value: u64,
        limit: u64,
    },

    /// `config.json` claims a size its weight files do not hold.
    #[error("{path}: `{field}` = {config}, but the weights hold {actual} ({what})")]
    ConfigMismatch {
        path: PathBuf,
        field: String,
        config: usize,
        actual: usize,
        what: String,
    },

    #[error("{path}: corrupt or truncated safetensors file: {reason}")]
    CorruptSafetensors { path: PathBuf, reason: String },

    #[error("{path}: corrupt or truncated GGUF file: {reason}")]
    CorruptGguf { path: PathBuf, reason: String },

    /// A GGUF tensor stored in a type this engine does not read.
    #[error("{path}: tensor `{name}` has type {dtype}; GGUF weights load from F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and Q2_K to Q6_K")]
    GgufTensorType {
        path: PathBuf,
        name: String,
        dtype: String,
    },

    #[error("{path}: tensor `{name}` is missing")]
    MissingTensor { path: PathBuf, name: String },

    #[error("{path}: tensor `{name}` has shape {actual:?}, expected {expected:?}")]
    TensorShape {
        path: PathBuf,
        name: String,
        actual: Vec<usize>,
        expected: Vec<usize>,
    },

    #[error("{path}: tensor `{name}` has dtype {dtype}; only F32, BF16 and F16 weights load")]
    TensorDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },

    #[error("{path}: cannot load tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },

    #[error("{path}: no mask token: neither the config files give `mask_token_id` nor does the tokenizer have a mask token")]
    NoMaskToken { path: PathBuf },

    #[error("{path}: special token `{name}` = {id} is outside the vocabulary of {vocab} tokens")]
    SpecialTokenOutOfRange {
        path: PathBuf,
        name: String,
        id: u32,
        vocab: usize,
    },

    #[error("model `{id}`: {source}")]
    Hub {
        id: String,
        #[source]
        source: crate::hub::HubError,
    },

    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error("cancelled")]
    Cancelled,

    #[error("tokenizer failed: {0}")]
    Tokenize(String),

    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::MissingFile { path }
        } else {
            Error::Io { path, source }
        }
    }
}
