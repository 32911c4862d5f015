//! `initialized`: loads the model the settings name.

use tower_lsp_server::ls_types::InitializedParams;

use crate::lsp::backend::Backend;
use crate::lsp::error::LspResult;

pub(crate) async fn initialized(backend: &Backend, _: InitializedParams) -> LspResult<()> {
    backend.load_model().await;
    Ok(())
}
