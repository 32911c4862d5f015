//! The smallest edit between two versions of a region: what a rewritten region (a remote
//! engine's answer, the local model's denoised window) changes, as one replacement.

use std::ops::Range;

/// The one replacement that turns `before` into `after`: the common prefix and suffix (whole
/// characters) left out. `None` when they are equal. The range is in `before`'s bytes.
pub fn smallest_edit(before: &str, after: &str) -> Option<(Range<usize>, String)> {
    if before == after {
        return None;
    }
    let (prefix, suffix) = shared_affixes(before, after);
    let range = prefix..before.len() - suffix;
    let text = after[prefix..after.len() - suffix].to_string();
    Some((range, text))
}

/// How many bytes `before` and `after` share at their start, and then at their end (never
/// reaching into what the start shares), in whole characters.
pub fn shared_affixes(before: &str, after: &str) -> (usize, usize) {
    let prefix = before
        .char_indices()
        .zip(after.chars())
        .find(|((_, a), b)| a != b)
        .map_or(before.len().min(after.len()), |((i, _), _)| i);
    // The suffix may not reach into the prefix of either text.
    let room = before.len().min(after.len()) - prefix;
    let suffix = before[prefix..]
        .chars()
        .rev()
        .zip(after[prefix..].chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .scan(0, |total, n| {
            *total += n;
            Some(*total)
        })
        .take_while(|&total| total <= room)
        .last()
        .unwrap_or(0);
    (prefix, suffix)
}

/// How many items `old` and `new` share at their start, and then at their end (never reaching
/// into what the start shares): what a line diff leaves out as unchanged.
pub fn common_ends<T: PartialEq>(old: &[T], new: &[T]) -> (usize, usize) {
    let head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let room = old.len().min(new.len()) - head;
    let tail = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take_while(|(a, b)| a == b)
        .count()
        .min(room);
    (head, tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(before: &str, edit: Option<(Range<usize>, String)>) -> String {
        let (range, text) = edit.expect("an edit");
        let mut out = before.to_string();
        out.replace_range(range, &text);
        out
    }

    #[test]
    fn the_edit_is_only_what_changed() {
        let (b, a) = ("    total += count;\n", "    total += total;\n");
        let edit = smallest_edit(b, a);
        assert_eq!(edit, Some((13..18, "total".into())));
        assert_eq!(apply(b, edit), a);
        assert_eq!(smallest_edit("same", "same"), None);
        assert_eq!(smallest_edit("f(a)", "f(a, b)"), Some((3..3, ", b".into())));
        assert_eq!(smallest_edit("f(a, b)", "f(a)"), Some((3..6, "".into())));
    }

    #[test]
    fn common_ends_never_overlap() {
        assert_eq!(common_ends(&[1, 2, 3], &[1, 9, 3]), (1, 1));
        assert_eq!(common_ends(&[1, 1], &[1, 1, 1]), (2, 0));
        assert_eq!(common_ends::<u8>(&[], &[]), (0, 0));
    }

    #[test]
    fn repeated_text_and_non_ascii_keep_whole_characters() {
        for (b, a) in [
            ("aaa", "aaaa"),
            ("aaaa", "aa"),
            ("é😀é", "é😀😀é"),
            ("x = 'é'", "x = 'è'"),
        ] {
            let edit = smallest_edit(b, a);
            assert_eq!(apply(b, edit), a, "{b} -> {a}");
        }
    }
}
