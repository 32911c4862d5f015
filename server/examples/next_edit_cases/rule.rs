//! The rule-only baseline, what a regex would do without a model or a syntax tree:
//!
//! - the edit replaced one token by another (`count` → `total_count`, `10` → `20`): the same
//!   replacement at the next occurrence of the old token in the window (after the edit, else
//!   the nearest before);
//! - the edit inserted `, name…` into the parentheses after `word(` on its line: `, name` (or
//!   `name`) at the end of the next `word(…)` in the window;
//! - anything else: no suggestion.

use std::ops::Range;

use dllm_ls::next_edit::window;

use super::{is_word_char, nearest, whole_word_occurrences, Replacement};

/// The rule's suggestion after `old` was replaced by the text at `edited` of `text`.
pub fn suggest(text: &str, edited: Range<usize>, old: &str) -> Option<Replacement> {
    let new = &text[edited.clone()];
    let within = window::around(text, edited.end, window::WINDOW_LINES);
    if is_token(old) && is_token(new) {
        let found: Vec<_> = whole_word_occurrences(text, old, within)
            .into_iter()
            .filter(|r| r.end <= edited.start || r.start >= edited.end)
            .collect();
        let at = nearest(&found, edited.start, edited.end)?;
        return Some(Replacement {
            range: at,
            text: new.to_string(),
        });
    }
    if old.is_empty() {
        return added_argument(text, edited, within);
    }
    None
}

/// One run of non-blank characters.
fn is_token(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_whitespace)
}

fn added_argument(text: &str, edited: Range<usize>, within: Range<usize>) -> Option<Replacement> {
    let inserted = text[edited.clone()].trim_start_matches([',', ' ']);
    let param: String = inserted.chars().take_while(|&c| is_word_char(c)).collect();
    if param.is_empty() {
        return None;
    }
    let line_start = text[..edited.start].rfind('\n').map_or(0, |i| i + 1);
    let open = unmatched_open(&text[line_start..edited.start])? + line_start;
    let name_start = text[..open]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word_char(c))
        .last()?
        .0;
    let name = &text[name_start..open];
    let calls: Vec<Range<usize>> = whole_word_occurrences(text, &format!("{name}("), within)
        .into_iter()
        .filter(|r| r.start != name_start)
        .collect();
    let call = nearest(&calls, edited.start, edited.end)?;
    let close = matching_close(text, call.end - 1)?;
    let empty = text[call.end..close].trim().is_empty();
    Some(Replacement {
        range: close..close,
        text: if empty { param } else { format!(", {param}") },
    })
}

/// The last `(` of `s` not closed within it.
fn unmatched_open(s: &str) -> Option<usize> {
    let mut open = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '(' => open.push(i),
            ')' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}

/// The `)` that closes the `(` at `open`.
fn matching_close(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_replaced_is_replaced_at_its_next_occurrence() {
        let text = "def f(total):\n    n = count\n    return count\n";
        let edited = 6..11;
        let s = suggest(text, edited, "count").unwrap();
        assert_eq!(&text[s.range.clone()], "count");
        assert_eq!(s.range.start, text.find("n = count").unwrap() + 4);
        assert_eq!(s.text, "total");
    }

    #[test]
    fn a_parameter_added_becomes_an_argument_of_the_next_call() {
        let text = "def f(a, extra):\n    pass\nf(1)\nf()\n";
        let edited = 7..14;
        let s = suggest(text, edited, "").unwrap();
        assert_eq!(
            s.range,
            text.find("f(1)").unwrap() + 3..text.find("f(1)").unwrap() + 3
        );
        assert_eq!(s.text, ", extra");
        assert_eq!(suggest("x = 1\n\ny = 2\n", 6..7, ""), None);
    }
}
