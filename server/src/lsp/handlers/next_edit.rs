//! `dllm/nextEdit`: the edit that follows the document's recent edits ([`crate::next_edit`]),
//! versioned so that an editor never applies it to another text.

use crate::engine::EngineError;
use crate::lsp::backend::Backend;
use crate::lsp::error::{classify, Failure, LspResult};
use crate::lsp::ext::{NextEdit, NextEditParams};
use crate::lsp::from_proto;
use crate::lsp::loading;
use crate::lsp::state::CancelOnDrop;
use crate::lsp::to_proto;
use crate::next_edit::{self, Context};
use crate::pipeline::PipelineError;

pub(crate) async fn next_edit(
    backend: &Backend,
    params: NextEditParams,
) -> LspResult<Option<NextEdit>> {
    let uri = params.text_document.uri;
    let snap = backend.snapshot(&uri)?;
    if !snap.config.next_edit || !snap.language_enabled() {
        return Ok(None);
    }
    let cursor = from_proto::offset(&snap, params.position)?;
    let (cancel, recently_viewed) = {
        let mut state = backend.state();
        (state.track(&uri), state.recently_edited(&uri))
    };
    let _guard = CancelOnDrop(cancel.clone());
    let infiller = backend.infiller(&snap.config);
    if let Some(unready) = loading::ready(&infiller, &cancel).await? {
        tracing::info!("next edit: {}", unready.message());
        return Ok(None);
    }
    let context = Context {
        snapshot: snap.pipeline.clone(),
        history: snap.history.clone(),
        cursor,
        path: uri.path().to_string(),
        recently_viewed,
    };
    let suggested = next_edit::suggest(&infiller, &context, &snap.config, &cancel).await;
    backend.show_remote_message().await;
    let proposal = match suggested {
        Ok(Some(proposal)) => proposal,
        Ok(None) => return Ok(None),
        // The masks are the server's choice, not the user's: one that does not fit is no
        // suggestion, not an error.
        Err(
            e @ (PipelineError::TooLarge { .. } | PipelineError::Engine(EngineError::Model(_))),
        ) => {
            tracing::info!("next edit: none, the request does not fit the model: {e}");
            return Ok(None);
        }
        Err(e) => match classify(e) {
            Failure::Empty(why) => {
                tracing::debug!("next edit: {why}");
                return Ok(None);
            }
            Failure::Error(err) => return Err(err),
        },
    };
    // The label quotes the code (a string literal may hold a secret): not at info level.
    tracing::info!(
        "next edit: a suggestion at bytes {:?} of version {}",
        proposal.range,
        snap.doc.version
    );
    tracing::debug!("next edit: {}", proposal.label);
    Ok(to_proto::next_edit(
        &uri,
        &snap.doc,
        proposal,
        snap.encoding,
    ))
}
