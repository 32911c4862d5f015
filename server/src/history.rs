//! Each open document's recent edits, for next-edit suggestions: the last few, in the current
//! text's offsets, with the keystrokes that write one word merged into one edit (typing `total`
//! over `count` is one edit `count` → `total`, not five), and bounded in memory.

use std::collections::VecDeque;
use std::ops::Range;

use crate::next_edit::diff::shared_affixes;

/// How many edits a document keeps; older ones are dropped first.
pub const MAX_EDITS: usize = 16;

/// The most text one kept edit holds, old and new together; a bigger edit (a paste, a
/// formatter's rewrite) is kept as a marker without its text, so it still ends a merge and
/// says "something large happened here" without costing memory.
pub const MAX_EDIT_BYTES: usize = 4 << 10;

/// One edit of a document, as it stands in the current text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastEdit {
    /// Where the edit's new text starts in the current text.
    pub start: usize,
    /// The text the edit replaced.
    pub old_text: String,
    /// The text it wrote, at `start..start + new_text.len()` of the current text, unless a
    /// later edit overlapped it ([`PastEdit::overwritten`]).
    pub new_text: String,
    /// The document's version after the edit (after its last keystroke, when merged).
    pub version: i32,
    /// Whether a later edit changed part of this one's new text without merging with it; its
    /// range then no longer holds `new_text`.
    pub overwritten: bool,
    /// Whether the edit was too large to keep its text (both texts are then empty).
    pub elided: bool,
}

impl PastEdit {
    /// Where the new text lies in the current text.
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + self.new_text.len()
    }

    fn end(&self) -> usize {
        self.start + self.new_text.len()
    }
}

/// One change of a `didChange` batch, in the text as it was just before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<'a> {
    /// The replaced bytes, in the text before the change.
    pub range: Range<usize>,
    /// The replaced text; `None` when it was too large to copy out (the change is then kept
    /// without its text).
    pub old_text: Option<&'a str>,
    pub new_text: &'a str,
}

impl Change<'_> {
    /// The change without the text it writes back as it was: a client that sends whole lines,
    /// or the whole document, for one changed word records that word. A change within a line
    /// stays as it is: typing `t` over a selected `count` is that, not a deletion of `coun`.
    fn trimmed(&self) -> Self {
        let Some(old) = self.old_text else {
            return self.clone();
        };
        if !(old.contains('\n') && self.new_text.contains('\n')) {
            return self.clone();
        }
        let (prefix, suffix) = shared_affixes(old, self.new_text);
        Change {
            range: self.range.start + prefix..self.range.end - suffix,
            old_text: Some(&old[prefix..old.len() - suffix]),
            new_text: &self.new_text[prefix..self.new_text.len() - suffix],
        }
    }
}

/// A document's recent edits, oldest first.
#[derive(Debug, Clone, Default)]
pub struct EditHistory {
    edits: VecDeque<PastEdit>,
}

impl EditHistory {
    /// The kept edits, oldest first.
    pub fn edits(&self) -> impl DoubleEndedIterator<Item = &PastEdit> + ExactSizeIterator {
        self.edits.iter()
    }

    pub fn latest(&self) -> Option<&PastEdit> {
        self.edits.back()
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Records `change`, which brought the document to `version`: merged into the latest edit
    /// when it continues the same word, else kept as a new edit; older edits move with it.
    pub fn record(&mut self, change: Change<'_>, version: i32) {
        let change = change.trimmed();
        if change.range.is_empty() && change.new_text.is_empty() {
            return;
        }
        let merged = self
            .edits
            .back_mut()
            .is_some_and(|latest| merge_into(latest, &change, version));
        self.shift_others(&change, merged);
        if !merged {
            self.push(new_edit(&change, version));
        }
    }

    /// Moves the edits that `change` did not merge into by its change in length, and marks
    /// those it overlapped.
    fn shift_others(&mut self, change: &Change<'_>, merged: bool) {
        let skip_latest = usize::from(merged);
        let count = self.edits.len() - skip_latest;
        let grown = change.new_text.len() as isize - change.range.len() as isize;
        for edit in self.edits.iter_mut().take(count) {
            if change.range.end <= edit.start {
                edit.start = edit.start.saturating_add_signed(grown);
            } else if change.range.start < edit.end() {
                edit.overwritten = true;
            }
        }
    }

    fn push(&mut self, edit: PastEdit) {
        if self.edits.len() == MAX_EDITS {
            self.edits.pop_front();
        }
        self.edits.push_back(edit);
    }
}

fn new_edit(change: &Change<'_>, version: i32) -> PastEdit {
    let old_text = change.old_text.unwrap_or_default();
    let elided =
        change.old_text.is_none() || old_text.len() + change.new_text.len() > MAX_EDIT_BYTES;
    let keep = |s: &str| if elided { String::new() } else { s.to_string() };
    PastEdit {
        start: change.range.start,
        old_text: keep(old_text),
        new_text: keep(change.new_text),
        version,
        overwritten: false,
        elided,
    }
}

/// Merges `change` into `latest` when it is a keystroke of the same word: it touches the
/// latest edit's new text, writes only word characters (or deletes), and the merged new text
/// stays one word.
fn merge_into(latest: &mut PastEdit, change: &Change<'_>, version: i32) -> bool {
    let Some(old_text) = change.old_text else {
        return false;
    };
    if latest.elided || latest.overwritten {
        return false;
    }
    let (start, end) = (latest.start, latest.end());
    let touches = change.range.start <= end && change.range.end >= start;
    if !touches || !is_word(change.new_text) || !is_word(&latest.new_text) {
        return false;
    }
    // What the change deleted outside the latest edit's new text joins its old text.
    let before_len = start.saturating_sub(change.range.start).min(old_text.len());
    let before = &old_text[..before_len];
    let after_from = end.saturating_sub(change.range.start).min(old_text.len());
    let after = if change.range.end > end {
        &old_text[after_from..]
    } else {
        ""
    };
    let inner_start = change.range.start.max(start) - start;
    let inner_end = change.range.end.min(end) - start;
    let new_text = format!(
        "{}{}{}",
        &latest.new_text[..inner_start],
        change.new_text,
        &latest.new_text[inner_end..]
    );
    if !is_word(before) || !is_word(after) || !is_word(&new_text) {
        return false;
    }
    latest.old_text = format!("{before}{}{after}", latest.old_text);
    latest.new_text = new_text;
    latest.start = change.range.start.min(start);
    latest.version = version;
    true
}

/// Whether `s` is made of identifier characters only (empty counts: a deletion).
fn is_word(s: &str) -> bool {
    s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `new_text` over `range` of `text`, recording it.
    fn type_in(history: &mut EditHistory, text: &mut String, range: Range<usize>, new: &str) {
        let old = text[range.clone()].to_string();
        let change = Change {
            range: range.clone(),
            old_text: Some(&old),
            new_text: new,
        };
        history.record(change, history.edits.len() as i32 + 2);
        text.replace_range(range, new);
    }

    fn only(history: &EditHistory) -> (&str, &str, usize) {
        assert_eq!(history.edits().len(), 1, "{history:?}");
        let e = history.latest().unwrap();
        (&e.old_text, &e.new_text, e.start)
    }

    #[test]
    fn keystrokes_over_a_selected_word_merge_into_one_rename() {
        let mut text = "let count = 0;\ncount += 1;\n".to_string();
        let mut h = EditHistory::default();
        type_in(&mut h, &mut text, 4..9, "t");
        for (i, c) in "otal".chars().enumerate() {
            let at = 5 + i;
            type_in(&mut h, &mut text, at..at, &c.to_string());
        }
        assert_eq!(only(&h), ("count", "total", 4));
        assert_eq!(&text[h.latest().unwrap().range()], "total");
    }

    #[test]
    fn backspaces_then_typing_merge_and_extend_the_old_text() {
        let mut text = "fn f(count: u32) {}\n".to_string();
        let mut h = EditHistory::default();
        // Backspace from the end of `count`, one character at a time.
        for end in (6..=10).rev() {
            type_in(&mut h, &mut text, end - 1..end, "");
        }
        assert_eq!(only(&h), ("count", "", 5));
        for (i, c) in "n".chars().enumerate() {
            type_in(&mut h, &mut text, 5 + i..5 + i, &c.to_string());
        }
        assert_eq!(only(&h), ("count", "n", 5));
        assert_eq!(text, "fn f(n: u32) {}\n");
    }

    #[test]
    fn a_space_a_line_break_or_a_distant_edit_starts_a_new_edit() {
        let mut text = "a = 1\nb = 2\n".to_string();
        let mut h = EditHistory::default();
        type_in(&mut h, &mut text, 0..1, "x");
        type_in(&mut h, &mut text, 1..1, " ");
        type_in(&mut h, &mut text, 11..12, "3");
        let edits: Vec<_> = h
            .edits()
            .map(|e| (e.old_text.as_str(), e.new_text.as_str()))
            .collect();
        assert_eq!(edits, [("a", "x"), ("", " "), ("2", "3")]);
    }

    #[test]
    fn an_edit_before_older_ones_moves_them_and_an_overlapping_one_marks_them() {
        let mut text = "one two three\n".to_string();
        let mut h = EditHistory::default();
        type_in(&mut h, &mut text, 8..13, "THREE");
        type_in(&mut h, &mut text, 0..0, "// ");
        let first = h.edits().next().unwrap();
        assert_eq!(&text[first.range()], "THREE");
        assert!(!first.overwritten);
        type_in(&mut h, &mut text, 13..15, "--");
        assert!(h.edits().next().unwrap().overwritten);
    }

    #[test]
    fn a_whole_line_or_document_sent_again_records_only_what_changed() {
        let mut text = "let count = 0;\nlet x = count;\n".to_string();
        let mut h = EditHistory::default();
        let whole = text.len();
        type_in(
            &mut h,
            &mut text,
            0..whole,
            "let total = 0;\nlet x = count;\n",
        );
        assert_eq!(only(&h), ("count", "total", 4));
        // Sending the same text again records nothing.
        let whole = text.len();
        let same = text.clone();
        type_in(&mut h, &mut text, 0..whole, &same);
        assert_eq!(h.edits().len(), 1);
    }

    #[test]
    fn history_is_bounded_in_count_and_in_bytes() {
        let mut text = "x\n".repeat(100);
        let mut h = EditHistory::default();
        for line in 0..40 {
            type_in(&mut h, &mut text, line * 2..line * 2, "\n");
        }
        assert_eq!(h.edits().len(), MAX_EDITS);
        let big = "y".repeat(MAX_EDIT_BYTES + 1);
        type_in(&mut h, &mut text, 0..0, &big);
        let latest = h.latest().unwrap();
        assert!(latest.elided && latest.new_text.is_empty());
        // An elided edit never merges: the next keystroke is its own edit.
        type_in(&mut h, &mut text, 0..0, "z");
        assert_eq!(h.latest().unwrap().new_text, "z");
    }
}
