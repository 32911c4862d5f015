//! `workspace/didChangeConfiguration`: applies the settings (each bad key a warning, its old
//! value kept), and loads the model again if they name another one.

use tower_lsp_server::ls_types::DidChangeConfigurationParams;

use crate::lsp::backend::Backend;
use crate::lsp::error::LspResult;

pub(crate) async fn did_change_configuration(
    backend: &Backend,
    params: DidChangeConfigurationParams,
) -> LspResult<()> {
    let applied = backend.state().config.apply(&params.settings);
    backend.show_warnings(&applied.warnings).await;
    if applied.reload_model {
        backend.load_model().await;
    }
    Ok(())
}
