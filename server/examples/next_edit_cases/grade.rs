//! How a suggestion is judged against a case's expected edit.
//!
//! - A rename or a literal: right when the suggestion makes the same document as the expected
//!   edit (a different range that writes the same text counts).
//! - An added argument: right when the suggestion changes only the expected call's argument
//!   list, and that list, whitespace ignored, is the old one with one more argument at its end
//!   (any expression: the benchmark cannot know what the user would pass).
//! - A "nothing" case: any suggestion is wrong.

use std::ops::Range;

use super::{Case, Expected, Replacement};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The expected edit suggested.
    Right,
    /// A suggestion that is not the expected edit (or any suggestion where none was expected).
    Wrong,
    /// No suggestion where one was expected.
    Missed,
    /// No suggestion, rightly.
    Quiet,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Right => "right",
            Outcome::Wrong => "wrong",
            Outcome::Missed => "missed",
            Outcome::Quiet => "quiet",
        }
    }
}

pub fn grade(case: &Case, suggestion: Option<&Replacement>) -> Outcome {
    let Some(s) = suggestion else {
        return match case.expected {
            Expected::Nothing => Outcome::Quiet,
            _ => Outcome::Missed,
        };
    };
    let right = match &case.expected {
        Expected::Nothing => false,
        Expected::Replace(expected) => {
            fits(&case.after, &s.range) && s.apply(&case.after) == expected.apply(&case.after)
        }
        Expected::AppendArgument { arguments } => appends_one_argument(&case.after, arguments, s),
    };
    if right {
        Outcome::Right
    } else {
        Outcome::Wrong
    }
}

fn fits(text: &str, range: &Range<usize>) -> bool {
    range.start <= range.end
        && range.end <= text.len()
        && text.is_char_boundary(range.start)
        && text.is_char_boundary(range.end)
}

fn appends_one_argument(text: &str, arguments: &Range<usize>, s: &Replacement) -> bool {
    let inside = arguments.start + 1..arguments.end - 1;
    if !fits(text, &s.range) || s.range.start < inside.start || s.range.end > inside.end {
        return false;
    }
    let old = squeezed(&text[inside.clone()]);
    let mut new = text[inside.clone()].to_string();
    new.replace_range(
        s.range.start - inside.start..s.range.end - inside.start,
        &s.text,
    );
    let new = squeezed(&new);
    let added = if old.is_empty() {
        Some(new.as_str())
    } else {
        new.strip_prefix(&old)
            .and_then(|rest| rest.strip_prefix(','))
    };
    added.is_some_and(is_one_expression)
}

fn squeezed(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Non-empty, brackets balanced, and no comma outside them.
fn is_one_expression(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => return false,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    !s.is_empty() && depth == 0
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    fn case(after: &str, expected: Expected) -> Case {
        let mut c = Case::new(
            "python",
            "x.py",
            Kind::AddArgument,
            after,
            Replacement {
                range: 0..0,
                text: String::new(),
            },
            expected,
        );
        c.after = after.to_string();
        c
    }

    fn at(range: Range<usize>, text: &str) -> Replacement {
        Replacement {
            range,
            text: text.into(),
        }
    }

    #[test]
    fn an_argument_counts_once_at_the_end_whatever_it_is() {
        let after = "f(a, b)\n";
        let c = case(after, Expected::AppendArgument { arguments: 1..7 });
        assert_eq!(grade(&c, Some(&at(6..6, ", extra"))), Outcome::Right);
        assert_eq!(grade(&c, Some(&at(6..6, ",g(1, 2)"))), Outcome::Right);
        assert_eq!(grade(&c, Some(&at(6..6, ", x, y"))), Outcome::Wrong);
        assert_eq!(grade(&c, Some(&at(2..2, "x, "))), Outcome::Wrong);
        assert_eq!(grade(&c, Some(&at(7..7, "x"))), Outcome::Wrong);
        assert_eq!(grade(&c, None), Outcome::Missed);
    }

    #[test]
    fn a_replacement_counts_by_the_document_it_makes() {
        let after = "n = count + count\n";
        let c = case(after, Expected::Replace(at(4..9, "total")));
        assert_eq!(grade(&c, Some(&at(4..9, "total"))), Outcome::Right);
        assert_eq!(grade(&c, Some(&at(4..7, "tota"))), Outcome::Wrong);
        assert_eq!(grade(&c, Some(&at(12..17, "total"))), Outcome::Wrong);
        let quiet = case(after, Expected::Nothing);
        assert_eq!(grade(&quiet, None), Outcome::Quiet);
        assert_eq!(grade(&quiet, Some(&at(4..9, "total"))), Outcome::Wrong);
    }
}
