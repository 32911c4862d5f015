//! `dllm.status`: the model's state, for the editors' status items.

use crate::engine::Engine;
use crate::lsp::command::Status;
use crate::lsp::error::LspResult;

pub(crate) fn status(engine: &Engine) -> LspResult<Status> {
    Ok(Status::new(engine.status(), engine.load_progress()))
}
