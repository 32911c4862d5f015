//! `textDocument/inlineCompletion` (ghost text at the cursor, with the code after it in view) and
//! `textDocument/completion` for clients without inline completion.

use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::*;

use super::protocol::{checked, classify, Failure};
use super::{Backend, CancelOnDrop};
use crate::document::{Document, Encoding};
use crate::pipeline::{self, Edit, Outcome, Task};

/// The text to show at the cursor and the single-line range it replaces.
struct Suggestion {
    text: String,
    range: Range,
    ms: f64,
}

async fn suggest(
    backend: &Backend,
    uri: &Uri,
    position: Position,
) -> RpcResult<Option<Suggestion>> {
    let (snapshot, enc, config, doc) = backend.snapshot_with_doc(uri)?;
    if !config.language_enabled(&snapshot.language_id) || !backend.engine.is_ready() {
        return Ok(None);
    }
    let offset = doc
        .offset(position, enc)
        .map_err(|e| super::invalid_params(e.to_string()))?;
    let cancel = backend.track(uri);
    if let Some(old) = backend
        .state
        .lock()
        .unwrap()
        .inline_inflight
        .insert(uri.clone(), cancel.clone())
    {
        old.cancel();
    }
    let _guard = CancelOnDrop(cancel.clone());
    let outcome = pipeline::run(
        &backend.engine,
        &snapshot,
        &Task::Inline { offset },
        &config,
        &cancel,
    )
    .await;
    let Outcome {
        edits,
        total_time,
        model_time,
        steps,
        ..
    } = match outcome {
        Ok(o) if o.edits.is_empty() => {
            tracing::debug!("inline completion: {}", o.notes.join("; "));
            return Ok(None);
        }
        Ok(o) => o,
        Err(e) => {
            return match classify(e) {
                Failure::Empty(why) => {
                    tracing::debug!("inline completion: {why}");
                    Ok(None)
                }
                Failure::Error(err) => Err(err),
            }
        }
    };
    let Some(edit) = edits.into_iter().next() else {
        return Ok(None);
    };
    tracing::info!(
        "inline completion: {} bytes, {steps} steps, model {:.0} ms, total {:.0} ms",
        edit.text.len(),
        model_time.as_secs_f64() * 1e3,
        total_time.as_secs_f64() * 1e3
    );
    let ms = total_time.as_secs_f64() * 1e3;
    let Some(edit) = at_cursor(&doc, edit, offset, enc) else {
        return Ok(None);
    };
    Ok(checked(&doc, edit, enc).map(|e| Suggestion {
        text: e.new_text,
        range: e.range,
        ms,
    }))
}

/// The pipeline's edit as an inline item, which must stay on one line: a single-line region
/// as it is; a multi-line one (an empty block) becomes an insertion at the cursor, without the
/// indentation already there.
fn at_cursor(doc: &Document, edit: Edit, offset: usize, enc: Encoding) -> Option<TextEdit> {
    let region = doc.lsp_range(edit.range.clone(), enc);
    if region.start.line == region.end.line {
        return Some(TextEdit {
            range: region,
            new_text: edit.text,
        });
    }
    let text = edit
        .text
        .trim_start_matches([' ', '\t'])
        .trim_start_matches(['\n', '\r'])
        .trim_end()
        .to_string();
    // The cursor as a position of this text (a client may send one past the end of its line).
    let cursor = doc.position(offset, enc);
    let text = if doc
        .text
        .line(cursor.line as usize)
        .chars()
        .all(char::is_whitespace)
    {
        text.trim_start().to_string()
    } else {
        text
    };
    if text.is_empty() {
        return None;
    }
    Some(TextEdit {
        range: Range {
            start: cursor,
            end: cursor,
        },
        new_text: text,
    })
}

pub async fn inline_completion(
    backend: &Backend,
    params: InlineCompletionParams,
) -> RpcResult<Option<InlineCompletionResponse>> {
    let tdp = params.text_document_position;
    let items = match suggest(backend, &tdp.text_document.uri, tdp.position).await? {
        Some(s) => vec![InlineCompletionItem {
            insert_text: s.text,
            filter_text: None,
            range: Some(s.range),
            command: None,
            insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        }],
        None => vec![],
    };
    Ok(Some(InlineCompletionResponse::Array(items)))
}

pub async fn completion(
    backend: &Backend,
    params: CompletionParams,
) -> RpcResult<Option<CompletionResponse>> {
    let tdp = params.text_document_position;
    let Some(s) = suggest(backend, &tdp.text_document.uri, tdp.position).await? else {
        return Ok(None);
    };
    let label = s.text.lines().next().unwrap_or_default().trim().to_string();
    let item = CompletionItem {
        label,
        kind: Some(CompletionItemKind::TEXT),
        detail: Some(format!("dllm-ls ({:.0} ms)", s.ms)),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit {
            range: s.range,
            new_text: s.text,
        })),
        insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        ..Default::default()
    };
    Ok(Some(CompletionResponse::List(CompletionList {
        is_incomplete: true,
        items: vec![item],
    })))
}
