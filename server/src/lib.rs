//! dllm-ls: the language server. Only this crate knows LSP, JSON-RPC and tokio.
pub mod cli;
pub mod config;
pub mod default_model;
pub mod document;
pub mod engine;
pub mod entry;
pub mod gate;
pub mod hub_cli;
pub mod lifecycle;
pub mod load_bar;
pub mod logging;
pub mod lsp;
pub mod pipeline;
pub mod repetition;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;
