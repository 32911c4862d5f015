//! Does a candidate edit break the syntax? Errors (ERROR / MISSING nodes) in or next to the edited
//! range are counted before and after, and so are the file's errors in all: an unbalanced brace
//! in the edit often surfaces as an error far below it. An edit may add neither.

use std::ops::Range;

use crate::language::Language;
use crate::tree::SyntaxTree;
use crate::GrammarError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditCheck {
    /// Errors touching the edited ranges, before and after.
    pub errors_before: usize,
    pub errors_after: usize,
    /// Errors anywhere in the file, before and after.
    pub total_before: usize,
    pub total_after: usize,
    /// Error nodes touching the edit, in the coordinates of the edited text.
    pub error_ranges: Vec<Range<usize>>,
    pub ok: bool,
    /// The edited text.
    pub new_text: String,
}

/// Applies `edits` (non-overlapping, any order) to `old_text` and compares syntax errors near
/// each edited range.
pub fn check_edits(
    language: Language,
    old_text: &str,
    edits: &[(Range<usize>, String)],
) -> Result<EditCheck, GrammarError> {
    let mut sorted: Vec<&(Range<usize>, String)> = edits.iter().collect();
    sorted.sort_by_key(|(r, _)| r.start);
    for (r, _) in &sorted {
        crate::span::check_offset(old_text, r.start)?;
        crate::span::check_offset(old_text, r.end)?;
        if r.end < r.start {
            return Err(GrammarError::BadOffset {
                offset: r.end,
                len: old_text.len(),
            });
        }
    }
    for pair in sorted.windows(2) {
        if pair[0].0.end > pair[1].0.start {
            return Err(GrammarError::OverlappingEdits);
        }
    }
    let before_tree = SyntaxTree::parse(language, old_text)?;
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
    let after_tree = SyntaxTree::parse(language, &new_text)?;

    let mut before = Vec::new();
    for (r, _) in &sorted {
        before.extend(before_tree.errors_near(r.clone()));
    }
    let mut after = Vec::new();
    for r in &new_ranges {
        after.extend(after_tree.errors_near(r.clone()));
    }
    for v in [&mut before, &mut after] {
        v.sort_by_key(|r| (r.start, r.end));
        v.dedup();
    }
    let total_before = before_tree.errors_near(0..old_text.len()).len();
    let total_after = after_tree.errors_near(0..new_text.len()).len();
    Ok(EditCheck {
        errors_before: before.len(),
        errors_after: after.len(),
        total_before,
        total_after,
        ok: after.len() <= before.len() && total_after <= total_before,
        error_ranges: after,
        new_text,
    })
}
