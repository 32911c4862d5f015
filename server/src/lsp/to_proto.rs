//! The server's plain types out, LSP types in their place: the pipeline's byte-range edits to
//! LSP text edits (each through [`checked`], the gate every outgoing edit passes), suggestions
//! to completion items, tasks to code actions.

use tower_lsp_server::ls_types::*;

use super::actions::ActionData;
use super::ext::NextEdit;
use super::inline::Suggestion;
use crate::document::{Document, Encoding};
use crate::next_edit::Proposal;
use crate::pipeline::{Edit, Task};

/// The LSP edit of a pipeline edit, in positions of `doc`.
pub(crate) fn text_edit(doc: &Document, edit: &Edit, enc: Encoding) -> TextEdit {
    TextEdit {
        range: doc.lsp_range(edit.range.clone(), enc),
        new_text: edit.text.clone(),
    }
}

/// The gate every edit passes before it leaves the server: its range must name real positions
/// of `doc`, the text it was computed on. One that does not is dropped with a log line: no edit
/// is better than one that lands in the wrong place.
pub(crate) fn checked(doc: &Document, edit: TextEdit, enc: Encoding) -> Option<TextEdit> {
    match doc.check_range(edit.range, enc) {
        Ok(()) => Some(edit),
        Err(e) => {
            tracing::error!(
                "dropped an edit of {:?} that does not fit the document (version {}): {e}",
                edit.range,
                doc.version
            );
            None
        }
    }
}

/// A versioned edit of `doc`: the client refuses it if the document changed since, so a late
/// answer can never land on text it was not computed for. `None` when no edit passed
/// [`checked`].
pub(crate) fn workspace_edit(
    uri: &Uri,
    doc: &Document,
    edits: &[Edit],
    enc: Encoding,
) -> Option<WorkspaceEdit> {
    let edits: Vec<OneOf<TextEdit, AnnotatedTextEdit>> = edits
        .iter()
        .filter_map(|e| checked(doc, text_edit(doc, e, enc), enc))
        .map(OneOf::Left)
        .collect();
    if edits.is_empty() {
        return None;
    }
    Some(WorkspaceEdit {
        document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier {
                uri: uri.clone(),
                version: Some(doc.version),
            },
            edits,
        }])),
        ..Default::default()
    })
}

/// A next-edit proposal in positions of `doc`, its text written with the document's line
/// breaks; `None` if it does not pass [`checked`].
pub(crate) fn next_edit(
    uri: &Uri,
    doc: &Document,
    proposal: Proposal,
    enc: Encoding,
) -> Option<NextEdit> {
    let edit = TextEdit {
        range: doc.lsp_range(proposal.range, enc),
        new_text: doc.line_ending().convert(&proposal.text).into_owned(),
    };
    let edit = checked(doc, edit, enc)?;
    Some(NextEdit {
        uri: uri.clone(),
        range: edit.range,
        new_text: edit.new_text,
        version: doc.version,
        label: proposal.label,
    })
}

/// The pipeline's edit as an inline item, which must stay on one line: a single-line region
/// as it is; a multi-line one (an empty block) becomes an insertion at the cursor, without the
/// indentation already there. `None` if nothing is left or it does not pass [`checked`].
pub(crate) fn inline_edit(
    doc: &Document,
    edit: Edit,
    offset: usize,
    enc: Encoding,
) -> Option<TextEdit> {
    let region = doc.lsp_range(edit.range.clone(), enc);
    if region.start.line == region.end.line {
        let edit = TextEdit {
            range: region,
            new_text: edit.text,
        };
        return checked(doc, edit, enc);
    }
    let text = edit
        .text
        .trim_start_matches([' ', '\t'])
        .trim_start_matches(['\n', '\r'])
        .trim_end();
    // The cursor as a position of this text (a client may send one past the end of its line).
    let cursor = doc.position(offset, enc);
    let blank_line = doc
        .text
        .line(cursor.line as usize)
        .chars()
        .all(char::is_whitespace);
    let text = if blank_line { text.trim_start() } else { text };
    if text.is_empty() {
        return None;
    }
    let edit = TextEdit {
        range: Range {
            start: cursor,
            end: cursor,
        },
        new_text: text.to_string(),
    };
    checked(doc, edit, enc)
}

pub(crate) fn inline_completion(suggestion: Option<Suggestion>) -> InlineCompletionResponse {
    let items = suggestion
        .map(|s| InlineCompletionItem {
            insert_text: s.text,
            filter_text: None,
            range: Some(s.range),
            command: None,
            insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        })
        .into_iter()
        .collect();
    InlineCompletionResponse::Array(items)
}

/// A suggestion as the one item of an incomplete completion list, for clients without inline
/// completion.
pub(crate) fn completion(s: Suggestion) -> CompletionResponse {
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
    CompletionResponse::List(CompletionList {
        is_incomplete: true,
        items: vec![item],
    })
}

/// A code action listed without its edit; `codeAction/resolve` computes it from `data`.
pub(crate) fn code_action(data: ActionData) -> CodeActionOrCommand {
    let kind = match data.task {
        Task::FillHoles { .. } => CodeActionKind::QUICKFIX,
        _ => CodeActionKind::REFACTOR_REWRITE,
    };
    CodeActionOrCommand::CodeAction(CodeAction {
        title: format!("{} (dllm)", data.task.title()),
        kind: Some(kind),
        data: serde_json::to_value(data).ok(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(a: (u32, u32), b: (u32, u32)) -> Range {
        Range {
            start: Position::new(a.0, a.1),
            end: Position::new(b.0, b.1),
        }
    }

    #[test]
    fn edits_that_do_not_fit_the_document_are_dropped() {
        let doc = Document::new("go", 3, "a\r\nbc\r\n");
        let uri: Uri = "file:///x.go".parse().unwrap();
        let edit = |r| Edit {
            range: r,
            text: "x".into(),
        };
        // Bytes 0..2 end between the \r and the \n; 4..5 is fine.
        let out = workspace_edit(&uri, &doc, &[edit(0..2), edit(4..5)], Encoding::Utf16)
            .expect("one edit fits");
        let Some(DocumentChanges::Edits(changes)) = out.document_changes else {
            panic!("versioned edits expected")
        };
        assert_eq!(changes[0].text_document.version, Some(3));
        assert_eq!(
            changes[0].edits,
            vec![OneOf::Left(TextEdit {
                range: range((1, 1), (1, 2)),
                new_text: "x".into()
            })]
        );
        assert!(workspace_edit(&uri, &doc, &[edit(0..2)], Encoding::Utf16).is_none());
        let past = TextEdit {
            range: range((1, 0), (5, 0)),
            new_text: String::new(),
        };
        assert_eq!(checked(&doc, past, Encoding::Utf8), None);
    }

    #[test]
    fn a_multi_line_answer_becomes_an_insertion_at_the_cursor() {
        let doc = Document::new("rust", 1, "fn f() {\n    \n}\n");
        // The inside of the block, bytes 8..15: "\n    \n".
        let edit = Edit {
            range: 8..14,
            text: "\n    let x = 1;\n".into(),
        };
        let out = inline_edit(&doc, edit, 13, Encoding::Utf16).unwrap();
        assert_eq!(out.range, range((1, 4), (1, 4)));
        assert_eq!(out.new_text, "let x = 1;");
        let blank = Edit {
            range: 8..14,
            text: "\n   \n".into(),
        };
        assert_eq!(inline_edit(&doc, blank, 13, Encoding::Utf16), None);
    }
}
