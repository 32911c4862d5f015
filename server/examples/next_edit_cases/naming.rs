//! The new spellings the cases' edits write: a name gets a qualifier word in the name's own
//! style (`count` → `total_count`, `count` → `totalCount`, `Count` → `TotalCount`,
//! `MAX` → `TOTAL_MAX`), a number is doubled, a string gets `_v2`.

use super::{whole_word_occurrences, Rng};

/// Qualifier words, tried from a seeded start until one makes a name the file does not use.
const QUALIFIERS: [&str; 5] = ["total", "new", "local", "current", "next"];

/// How a language writes a one-word lowercase name's qualified form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Snake,
    Camel,
}

impl Style {
    /// JavaScript, TypeScript and Go write camel case; Python and Rust snake case.
    pub fn of(lang: &str) -> Style {
        if matches!(lang, "javascript" | "typescript" | "go") {
            Style::Camel
        } else {
            Style::Snake
        }
    }
}

/// A new name for `name` that `text` does not already use as a word.
pub fn renamed(name: &str, style: Style, text: &str, rng: &mut Rng) -> Option<String> {
    let first = rng.below(QUALIFIERS.len());
    (0..QUALIFIERS.len())
        .map(|i| qualified(name, QUALIFIERS[(first + i) % QUALIFIERS.len()], style))
        .find(|new| whole_word_occurrences(text, new, 0..text.len()).is_empty())
}

fn qualified(name: &str, word: &str, style: Style) -> String {
    let has_lower = name.chars().any(|c| c.is_lowercase());
    let starts_upper = name.chars().next().is_some_and(|c| c.is_uppercase());
    let camel_inside = name.chars().skip(1).any(|c| c.is_uppercase());
    if !has_lower {
        format!("{}_{name}", word.to_uppercase())
    } else if name.contains('_') {
        format!("{word}_{name}")
    } else if starts_upper {
        format!("{}{name}", capitalised(word))
    } else if camel_inside || style == Style::Camel {
        format!("{word}{}", capitalised(name))
    } else {
        format!("{word}_{name}")
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The changed spelling of a literal: a decimal integer doubled (0 becomes 1), a decimal
/// fraction with a `5` appended, a string's inside with `_v2` appended; `None` for other
/// spellings (hex, exponents, suffixes, separators).
pub fn changed_literal(spelling: &str, is_string: bool) -> Option<String> {
    if is_string {
        return Some(format!("{spelling}_v2"));
    }
    if !spelling.is_empty() && spelling.chars().all(|c| c.is_ascii_digit()) {
        let n: u64 = spelling.parse().ok()?;
        return Some(if n == 0 { 1 } else { n.checked_mul(2)? }.to_string());
    }
    let (whole, fraction) = spelling.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (digits(whole) && digits(fraction)).then(|| format!("{spelling}5"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_style() {
        use Style::*;
        assert_eq!(qualified("count", "total", Snake), "total_count");
        assert_eq!(qualified("count", "total", Camel), "totalCount");
        assert_eq!(qualified("itemCount", "total", Snake), "totalItemCount");
        assert_eq!(qualified("Count", "total", Snake), "TotalCount");
        assert_eq!(qualified("MAX_N", "total", Camel), "TOTAL_MAX_N");
        assert_eq!(changed_literal("0", false).as_deref(), Some("1"));
        assert_eq!(changed_literal("0.5", false).as_deref(), Some("0.55"));
        assert_eq!(changed_literal("0x1", false), None);
    }
}
