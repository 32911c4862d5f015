//! `shutdown`: cancels all model work. The process ends at `exit`, decided by the transport.

use crate::lsp::error::LspResult;
use crate::lsp::state::State;

pub(crate) fn shutdown(state: &State) -> LspResult<()> {
    state.cancel_all();
    Ok(())
}
