//! Does a candidate edit break the syntax? Errors (ERROR / MISSING nodes) in or next to the
//! edited range are counted before and after, and so are the file's errors in all: an unbalanced
//! brace in the edit often surfaces as an error far below it. An edit may add neither. A file
//! that was already broken elsewhere is not held against the edit.

use std::ops::Range;

use crate::language::Language;
use crate::syntax_tree::SyntaxTree;
use crate::{check_range, GrammarError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditCheck {
    /// Errors touching the edited ranges: before (old coordinates) and after (new ones).
    pub errors_before: usize,
    pub errors_after: usize,
    /// Errors anywhere in the file, before and after.
    pub total_before: usize,
    pub total_after: usize,
    /// The error nodes touching the edited ranges after the edit, in the coordinates of
    /// [`EditCheck::new_text`], sorted: the tokens to re-mask for a repair.
    pub error_ranges: Vec<Range<usize>>,
    /// `errors_after <= errors_before && total_after <= total_before`.
    pub ok: bool,
    /// The whole text after the edits.
    pub new_text: String,
}

/// ERROR and MISSING nodes that overlap `range` or touch one of its ends. A MISSING node is
/// zero-width (tree-sitter's guess at a token it expected), so "touching" is what catches it.
pub fn count_errors_in(tree: &SyntaxTree, range: Range<usize>) -> usize {
    tree.errors_near(range).len()
}

/// [`check_edits`] for one edit: `replacement` stands in for `edit_range` of `old_text`.
pub fn check_edit(
    language: Language,
    old_text: &str,
    edit_range: Range<usize>,
    replacement: &str,
) -> Result<EditCheck, GrammarError> {
    check_edits(language, old_text, &[(edit_range, replacement.to_string())])
}

/// Applies `edits` (non-overlapping, any order; each a range of `old_text` and its
/// replacement) and compares syntax errors near each edited range and in the whole file.
pub fn check_edits(
    language: Language,
    old_text: &str,
    edits: &[(Range<usize>, String)],
) -> Result<EditCheck, GrammarError> {
    check_edits_on(&SyntaxTree::parse(language, old_text)?, old_text, edits)
}

/// [`check_edits`] with the tree of `old_text` at hand (a document's maintained tree).
///
/// Only the top-level items (functions, classes, statements of the file) that the edits touch
/// are parsed again, before and after, on their own: a check costs the size of the code around
/// the edit, not of the file. "Total" errors are counted over those items. An edit that reaches
/// outside them (say, an extra `}` that closes the item early) shows up as an error inside them.
pub fn check_edits_on(
    before_tree: &SyntaxTree,
    old_text: &str,
    edits: &[(Range<usize>, String)],
) -> Result<EditCheck, GrammarError> {
    let mut sorted: Vec<&(Range<usize>, String)> = edits.iter().collect();
    sorted.sort_by_key(|(r, _)| (r.start, r.end));
    for (r, _) in &sorted {
        check_range(old_text, r)?;
    }
    for pair in sorted.windows(2) {
        if pair[0].0.end > pair[1].0.start {
            return Err(GrammarError::OverlappingEdits);
        }
    }
    let mut new_text = String::with_capacity(old_text.len());
    let mut new_ranges = Vec::new();
    let mut last = 0;
    for (range, replacement) in &sorted {
        new_text.push_str(&old_text[last..range.start]);
        let start = new_text.len();
        new_text.push_str(replacement);
        new_ranges.push(start..new_text.len());
        last = range.end;
    }
    new_text.push_str(&old_text[last..]);

    // The region: whole top-level items around the edits, from a line start to a line end.
    let (lo, hi) = match (sorted.first(), sorted.last()) {
        (Some(first), Some(last)) => (first.0.start, last.0.end),
        _ => (0, 0),
    };
    let (mut start, mut end) = (lo, hi);
    let root = before_tree.root();
    let mut cursor = root.walk();
    for item in root.children(&mut cursor) {
        if item.end_byte() >= lo && item.start_byte() <= hi {
            start = start.min(item.start_byte());
            end = end.max(item.end_byte());
        }
    }
    let start = old_text[..start].rfind('\n').map_or(0, |i| i + 1);
    let end = old_text[end..]
        .find('\n')
        .map_or(old_text.len(), |i| end + i + 1);
    let growth = new_text.len() as isize - old_text.len() as isize;
    let new_end = (end as isize + growth) as usize;
    let language = before_tree.language;
    let region_before = SyntaxTree::parse(language, &old_text[start..end])?;
    let region_after = SyntaxTree::parse(language, &new_text[start..new_end])?;
    let local = |r: &Range<usize>| r.start - start..r.end - start;

    let mut before = Vec::new();
    for (r, _) in &sorted {
        before.extend(region_before.errors_near(local(r)));
    }
    let mut after = Vec::new();
    for r in &new_ranges {
        after.extend(
            region_after
                .errors_near(local(r))
                .into_iter()
                .map(|e| e.start + start..e.end + start),
        );
    }
    // Two edits next to one error see it once.
    for v in [&mut before, &mut after] {
        v.sort_by_key(|r| (r.start, r.end));
        v.dedup();
    }
    let total_before = region_before.errors_near(0..end - start).len();
    let total_after = region_after.errors_near(0..new_end - start).len();
    let ok = after.len() <= before.len() && total_after <= total_before;
    tracing::trace!(
        language = language.name(),
        region = ?(start..end),
        before = before.len(),
        after = after.len(),
        total_before,
        total_after,
        ok,
        "edit check"
    );
    Ok(EditCheck {
        errors_before: before.len(),
        errors_after: after.len(),
        total_before,
        total_after,
        ok,
        error_ranges: after,
        new_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_errors_overlapping_or_touching_a_range() {
        // `let x = ;` : tree-sitter wraps the dangling `=` in an ERROR node.
        let text = "fn a() { let x = ; }\nfn b() { let y = 1; }\n";
        let t = SyntaxTree::parse(Language::Rust, text).unwrap();
        let eq = text.find('=').unwrap();
        assert_eq!(t.errors_near(0..text.len()), vec![eq..eq + 1], "{t:?}");
        assert_eq!(count_errors_in(&t, 0..text.len()), 1);
        // Touching an end counts, also for an empty range; one byte away does not.
        assert_eq!(count_errors_in(&t, eq + 1..eq + 1), 1);
        assert_eq!(count_errors_in(&t, eq - 3..eq), 1);
        assert_eq!(count_errors_in(&t, eq + 2..eq + 3), 0);
        let b = text.find("fn b").unwrap();
        assert_eq!(count_errors_in(&t, b..text.len()), 0);
    }

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // inverted on purpose
    fn edits_are_validated() {
        let text = "x = 'größe'\n";
        let o = text.find('ö').unwrap();
        assert_eq!(
            check_edit(Language::Python, text, o + 1..o + 2, "o").unwrap_err(),
            GrammarError::NotCharBoundary { offset: o + 1 }
        );
        assert!(matches!(
            check_edit(Language::Python, text, 0..99, ""),
            Err(GrammarError::OutOfBounds { offset: 99, .. })
        ));
        assert_eq!(
            check_edit(Language::Python, text, 3..1, "").unwrap_err(),
            GrammarError::InvertedRange { start: 3, end: 1 }
        );
        assert_eq!(
            check_edits(
                Language::Python,
                text,
                &[(0..3, "y".into()), (2..4, "z".into())]
            )
            .unwrap_err(),
            GrammarError::OverlappingEdits
        );
    }

    #[test]
    fn several_edits_are_applied_in_order_and_judged_together() {
        let text = "def f():\n    pass\n\ndef g():\n    pass\n";
        let second = text.rfind("pass").unwrap();
        let first = text.find("pass").unwrap();
        let c = check_edits(
            Language::Python,
            text,
            &[
                (second..second + 4, "return 2".into()),
                (first..first + 4, "return 1".into()),
            ],
        )
        .unwrap();
        assert!(c.ok, "{c:?}");
        assert_eq!(
            c.new_text,
            "def f():\n    return 1\n\ndef g():\n    return 2\n"
        );
        let c = check_edits(
            Language::Python,
            text,
            &[
                (first..first + 4, "return 1".into()),
                (second..second + 4, "return [2".into()),
            ],
        )
        .unwrap();
        assert!(!c.ok);
        assert_eq!(c.errors_before, 0);
        assert!(c.errors_after >= 1);
        // The error is reported in new-text coordinates: the broken statement, not the first
        // edit (which moved everything after it by four bytes).
        let broken = c.new_text.find("return [2").unwrap();
        assert_eq!(c.error_ranges, vec![broken..broken + "return [2".len()]);
    }
}
