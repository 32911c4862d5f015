//! One handler a file. Each LSP request and notification is a function of what it reads and its
//! params, returning an [`LspResult`](super::error::LspResult):
//!
//! - notifications that change documents take `&mut State` and are synchronous, so they take
//!   effect before anything awaits, in the order they arrive;
//! - `textDocument/codeAction` takes a [`DocumentSnapshot`](super::snapshot::DocumentSnapshot);
//! - handlers that await the model or the client take the [`Backend`](super::backend::Backend)
//!   and snapshot the document themselves.
//!
//! `dispatch.rs` is the one place that calls them.

mod code_action;
mod code_action_resolve;
mod completion;
mod did_change;
mod did_change_configuration;
mod did_close;
mod did_open;
mod execute_command;
mod initialize;
mod initialized;
mod inline_completion;
mod next_edit;
mod shutdown;
mod status;

pub(crate) use code_action::code_action;
pub(crate) use code_action_resolve::code_action_resolve;
pub(crate) use completion::completion;
pub(crate) use did_change::did_change;
pub(crate) use did_change_configuration::did_change_configuration;
pub(crate) use did_close::did_close;
pub(crate) use did_open::did_open;
pub(crate) use execute_command::execute_command;
pub(crate) use initialize::initialize;
pub(crate) use initialized::initialized;
pub(crate) use inline_completion::inline_completion;
pub(crate) use next_edit::next_edit;
pub(crate) use shutdown::shutdown;
pub(crate) use status::status;
