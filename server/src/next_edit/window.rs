//! Which part of the document a next-edit request looks at: whole lines around the cursor.

use std::ops::Range;

/// Lines on each side of the cursor's line that a suggestion may edit.
pub const WINDOW_LINES: usize = 30;

/// The byte range of the whole lines from `lines` above the line holding `offset` to `lines`
/// below it (clipped to the text), line breaks included.
pub fn around(text: &str, offset: usize, lines: usize) -> Range<usize> {
    let offset = offset.min(text.len());
    let mut start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    for _ in 0..lines {
        if start == 0 {
            break;
        }
        start = text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
    }
    let mut end = offset;
    for _ in 0..=lines {
        match text[end..].find('\n') {
            Some(i) => end += i + 1,
            None => {
                end = text.len();
                break;
            }
        }
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_around_the_cursor_clipped_to_the_text() {
        let text = "0\n1\n2\n3\n4\n5\n6";
        let at = |line: usize| text.find(&line.to_string()).unwrap();
        assert_eq!(&text[around(text, at(3), 1)], "2\n3\n4\n");
        assert_eq!(&text[around(text, at(0), 2)], "0\n1\n2\n");
        assert_eq!(&text[around(text, at(6), 2)], "4\n5\n6");
        assert_eq!(&text[around(text, text.len(), 0)], "6");
        assert_eq!(around("", 0, 30), 0..0);
    }
}
