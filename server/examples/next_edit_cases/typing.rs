//! The user's edit as an editor sends it: the old text selected and the new text typed over
//! it one character at a time, each keystroke a change recorded in the document's history
//! (so the history merges keystrokes as it does for a real editor).

use std::ops::Range;

use dllm_ls::history::{Change, EditHistory};

use super::Replacement;

/// The history after typing `edit` over `before`, and the document's version after it (the
/// document was opened at version 1).
pub fn type_edit(before: &str, edit: &Replacement) -> (EditHistory, i32) {
    let mut history = EditHistory::default();
    let mut version = 1;
    let mut text = before.to_string();
    let mut keystroke = |range: Range<usize>, typed: &str| {
        let old = text[range.clone()].to_string();
        version += 1;
        let change = Change {
            range: range.clone(),
            old_text: Some(&old),
            new_text: typed,
        };
        history.record(change, version);
        text.replace_range(range.clone(), typed);
        range.start + typed.len()
    };
    let mut chars = edit.text.chars().map(String::from);
    let mut at = edit.range.start;
    // The first keystroke replaces the selection (or deletes it when nothing is typed).
    if !edit.range.is_empty() {
        let first = chars.next().unwrap_or_default();
        at = keystroke(edit.range.clone(), &first);
    }
    for typed in chars {
        at = keystroke(at..at, &typed);
    }
    debug_assert_eq!(text, edit.apply(before));
    (history, version)
}
