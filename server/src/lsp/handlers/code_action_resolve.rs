//! `codeAction/resolve`: computes a listed action's edit, on the very text it was listed on.
//! An edit the model is not confident of still comes, its title saying so.

use tower_lsp_server::ls_types::CodeAction;

use crate::lsp::actions::{compute, Computed};
use crate::lsp::backend::Backend;
use crate::lsp::error::{LspError, LspResult};
use crate::lsp::from_proto;

/// The edit, versioned; content modified if the document changed (or was opened again) since
/// the action was listed; request failed, with the reason, if there is nothing to offer.
pub(crate) async fn code_action_resolve(
    backend: &Backend,
    mut action: CodeAction,
) -> LspResult<CodeAction> {
    let data = from_proto::action_data(&action)?;
    let snap = backend.snapshot(&data.uri)?;
    if !data.is_current(&snap) {
        return Err(LspError::content_modified());
    }
    match compute(backend, &snap, &data.task).await? {
        Computed::Edit { edit, verdict, .. } => {
            action.edit = Some(edit);
            if let Some(note) = verdict.low_confidence_note() {
                tracing::info!("{}: {note}", action.title);
                action.title = format!("{} (low confidence)", action.title);
            }
            Ok(action)
        }
        Computed::Nothing(why) => {
            tracing::info!("{}: {why}", action.title);
            Err(LspError::request_failed(format!(
                "dllm-ls: {why}; nothing changed"
            )))
        }
    }
}
