//! The user's edit as an editor sends it: the old text selected and the new text typed over
//! it one character at a time, each keystroke a change recorded in the document's history
//! (so the history merges keystrokes as it does for a real editor); or, to compare, the whole
//! edit as one change (a paste).

use std::ops::Range;

use dllm_ls::history::{Change, EditHistory};

use super::Replacement;

/// How the user's edit reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Typing {
    /// The old text selected, the new one typed a character at a time.
    Keystrokes,
    /// The whole edit as one change.
    Paste,
}

/// The history after making `edit` over `before`, and the document's version after it (the
/// document was opened at version 1).
pub fn type_edit(before: &str, edit: &Replacement, typing: Typing) -> (EditHistory, i32) {
    if typing == Typing::Paste {
        let mut history = EditHistory::default();
        let change = Change {
            range: edit.range.clone(),
            old_text: Some(&before[edit.range.clone()]),
            new_text: &edit.text,
        };
        history.record(change, 2);
        return (history, 2);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(h: &EditHistory) -> Vec<(String, String)> {
        h.edits()
            .map(|e| (e.old_text.clone(), e.new_text.clone()))
            .collect()
    }

    #[test]
    fn a_typed_rename_is_one_edit_and_a_typed_parameter_several() {
        let before = "def f(count):\n    return count\n";
        let rename = Replacement {
            range: 6..11,
            text: "total_count".into(),
        };
        let (h, version) = type_edit(before, &rename, Typing::Keystrokes);
        assert_eq!(edits(&h), [("count".into(), "total_count".into())]);
        assert_eq!(version, 1 + "total_count".len() as i32);
        let added = Replacement {
            range: 11..11,
            text: ", extra".into(),
        };
        let (h, _) = type_edit(before, &added, Typing::Keystrokes);
        let typed: Vec<_> = edits(&h).into_iter().map(|(_, new)| new).collect();
        assert_eq!(typed, [",", " ", "extra"]);
        let (h, version) = type_edit(before, &added, Typing::Paste);
        assert_eq!(edits(&h), [(String::new(), ", extra".into())]);
        assert_eq!(version, 2);
    }
}
