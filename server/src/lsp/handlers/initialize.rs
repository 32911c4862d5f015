//! `initialize`: negotiates the position encoding, notes whether the client shows progress,
//! applies `initializationOptions`, and answers with the capabilities.

use tower_lsp_server::ls_types::{InitializeParams, InitializeResult};

use crate::document::Encoding;
use crate::lsp::backend::Backend;
use crate::lsp::capabilities::{server_capabilities, server_info};
use crate::lsp::error::LspResult;
use crate::lsp::state::State;

pub(crate) async fn initialize(
    backend: &Backend,
    params: InitializeParams,
) -> LspResult<InitializeResult> {
    let (encoding, warnings) = configure(&mut backend.state(), &params);
    backend.show_warnings(&warnings).await;
    Ok(InitializeResult {
        server_info: Some(server_info()),
        capabilities: server_capabilities(encoding),
        offset_encoding: None,
    })
}

/// Records what the client offered; returns the negotiated encoding and the settings warnings.
fn configure(state: &mut State, params: &InitializeParams) -> (Encoding, Vec<String>) {
    let capabilities = &params.capabilities;
    let offered = capabilities.general.as_ref();
    state.encoding = Encoding::negotiate(offered.and_then(|g| g.position_encodings.as_deref()));
    state.work_done_progress = capabilities
        .window
        .as_ref()
        .and_then(|w| w.work_done_progress)
        .unwrap_or(false);
    let warnings = params
        .initialization_options
        .as_ref()
        .map(|o| state.config.apply(o).warnings)
        .unwrap_or_default();
    (state.encoding, warnings)
}
