//! Answers that repeat themselves: the failure mode of a small model asked for a long span
//! (`width: x,` five times, `Math.floor(Math.floor(Math.floor(…`). Such an answer often parses,
//! so the syntax check lets it through; the server withholds it instead (Tabby's completion
//! post-processing drops repetitive lines for the same reason).
//!
//! Two patterns:
//! - three identical lines in a row that name something (a line with an identifier);
//! - a unit of 2-40 characters four times back to back that chains, nests or extends a path
//!   (an identifier and one of `. ( [ /`).
//!
//! Code repeats on purpose too, in data tables (`0, 0, 0, 0`, `b"\xff\xff\xff\xff"`,
//! `None, None, None, None`): hence the identifier and the chaining character, which such
//! tables lack and looping answers have.

/// Describes the first repetition in `text`, or `None` when there is none.
pub fn repetition_in(text: &str) -> Option<String> {
    repeated_lines(text).or_else(|| repeated_unit(text))
}

const LINE_RUN: usize = 3;
const UNIT_RUN: usize = 4;
const UNIT_CHARS: std::ops::RangeInclusive<usize> = 2..=40;

fn repeated_lines(text: &str) -> Option<String> {
    let mut run = 1;
    let mut lines = text.split('\n');
    let mut previous = lines.next()?;
    for line in lines {
        run = if line == previous && has_identifier(line) {
            run + 1
        } else {
            1
        };
        if run >= LINE_RUN {
            return Some(format!(
                "the line {:?} {LINE_RUN} times in a row",
                line.trim()
            ));
        }
        previous = line;
    }
    None
}

fn repeated_unit(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    for len in UNIT_CHARS {
        if len * UNIT_RUN > chars.len() {
            break;
        }
        for start in 0..=chars.len() - len * UNIT_RUN {
            let unit = &chars[start..start + len];
            let repeats =
                (1..UNIT_RUN).all(|k| &chars[start + k * len..start + (k + 1) * len] == unit);
            if repeats {
                let unit: String = unit.iter().collect();
                if has_identifier(&unit) && unit.contains(['.', '(', '[', '/']) {
                    return Some(format!("{unit:?} {UNIT_RUN} times in a row"));
                }
            }
        }
    }
    None
}

/// A letter or `_` followed by at least one more identifier character.
fn has_identifier(s: &str) -> bool {
    let mut previous_starts = false;
    for c in s.chars() {
        let continues = c.is_alphanumeric() || c == '_';
        if previous_starts && continues {
            return true;
        }
        previous_starts = (c.is_alphabetic() || c == '_') || (previous_starts && continues);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::repetition_in;

    #[test]
    fn degenerate_answers_of_the_default_model_are_caught() {
        // Answers the shipped model gave on held-out holes.
        for answer in [
            "width: x,\n\t\t\twidth: x,\n\t\t\twidth: x,\n\t\t\twidth: x,",
            "height: y,\n\t\t\twidth: x,\n\t\t\twidth: x,\n\t\t\twidth: x,",
            "return absDistance.div(Math.floor(Math.floor(Math.floor(Math.floor(Math",
            "this.global.global.global.global.global = global;",
            "content := httptest.NewServer(http.MethodGet, \"http://example.com/echo/echo/echo/echo/e",
            "if (\n\t\tif (\n\t\t\tparser.parser.parser.parser.parser.parser",
        ] {
            assert!(repetition_in(answer).is_some(), "{answer:?}");
        }
    }

    #[test]
    fn ordinary_code_and_data_tables_pass() {
        for code in [
            "let zeros = [0, 0, 0, 0, 0, 0];",
            "xs = [None, None, None, None]",
            "b\"\\xff\\xff\\xff\\xff\"",
            "      });\n    });\n  });\n});",
            "}\n}\n}\n",
            "a.b.c.d()",
            "x = f(g(h(y)))",
            "assert_eq!(it.next(), Some(1));\nassert_eq!(it.next(), Some(2));\nassert_eq!(it.next(), None);",
            "s.push(x);\ns.push(x);",
            // The answer's first line has its indentation in the text before the hole.
            "width: x,\n\t\t\twidth: x,\n\t\t\theight: y,",
            "// ----------------------------------------",
            "",
        ] {
            assert_eq!(repetition_in(code), None, "{code:?}");
        }
    }

    #[test]
    fn identifiers_are_two_characters_from_a_letter() {
        assert!(super::has_identifier("ab"));
        assert!(super::has_identifier("_x"));
        assert!(super::has_identifier("(x1"));
        assert!(!super::has_identifier("42"));
        assert!(!super::has_identifier("x"));
        assert!(!super::has_identifier("1a"));
        assert!(!super::has_identifier("\\x"));
    }
}
