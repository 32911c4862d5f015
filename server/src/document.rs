//! Open documents: a ropey rope per document, positions in the negotiated encoding, and edits
//! that either apply whole or not at all.
//!
//! Lines end at `\n`, `\r\n` or `\r` as LSP defines them (ropey built with `cr_lines` only, so
//! U+2028 and friends are not line breaks here either).

use std::path::Path;
use std::sync::Arc;

use dllm_grammars::{Language, SyntaxTree, TextPoint, TreeEdit};
use ropey::Rope;
use tower_lsp_server::ls_types::{
    Position, PositionEncodingKind, Range, TextDocumentContentChangeEvent,
};

/// How the client counts characters in a `Position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    Utf8,
    #[default]
    Utf16,
}

impl Encoding {
    /// UTF-8 when the client offers it (no conversion needed), else the mandatory UTF-16.
    pub fn negotiate(offered: Option<&[PositionEncodingKind]>) -> Self {
        match offered {
            Some(kinds) if kinds.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
            _ => Encoding::Utf16,
        }
    }

    pub fn kind(self) -> PositionEncodingKind {
        match self {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("line {line} is past the end of the document ({lines} lines)")]
    LineOutOfRange { line: u32, lines: usize },
    #[error("range end {end:?} is before its start {start:?}")]
    Inverted { start: Position, end: Position },
    #[error("{pos:?} is past the end of its line or inside a character")]
    NotAPosition { pos: Position },
}

/// How lines end in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
    Cr,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }

    /// `text` (generated with `\n` line breaks) with its line breaks written this way. LF leaves
    /// it as it is; otherwise every `\n`, `\r\n` and lone `\r` becomes this ending.
    pub fn convert(self, text: &str) -> std::borrow::Cow<'_, str> {
        if self == LineEnding::Lf || !text.contains(['\n', '\r']) {
            return text.into();
        }
        let mut out = String::with_capacity(text.len() + text.len() / 16);
        let mut rest = text;
        while let Some(i) = rest.find(['\n', '\r']) {
            out.push_str(&rest[..i]);
            out.push_str(self.as_str());
            let width = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
            rest = &rest[i + width..];
        }
        out.push_str(rest);
        out.into()
    }
}

/// `range` of `text` with each end that falls between the `\r` and the `\n` of a line break moved
/// before the `\r`: no edit splits a line break, and one that ended inside it keeps it whole.
pub fn outside_line_breaks(text: &str, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let inside = |i: usize| {
        i > 0
            && text.as_bytes().get(i - 1) == Some(&b'\r')
            && text.as_bytes().get(i) == Some(&b'\n')
    };
    let back = |i: usize| if inside(i) { i - 1 } else { i };
    back(range.start)..back(range.end)
}

/// Counts line endings over text fed in pieces (a `\r\n` may straddle two pieces).
#[derive(Default)]
struct LineEndingCounter {
    lf: usize,
    crlf: usize,
    cr: usize,
    after_cr: bool,
}

impl LineEndingCounter {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => {
                    self.cr -= 1;
                    self.crlf += 1;
                }
                b'\n' => self.lf += 1,
                b'\r' => self.cr += 1,
                _ => {}
            }
            self.after_cr = b == b'\r';
        }
    }

    fn dominant(&self) -> LineEnding {
        if self.crlf > self.lf && self.crlf >= self.cr {
            LineEnding::CrLf
        } else if self.cr > self.lf && self.cr > self.crlf {
            LineEnding::Cr
        } else {
            LineEnding::Lf
        }
    }
}

/// Above this size a document keeps no flat copy and no syntax tree, and a request reads and
/// parses only a window of its rope. A tree costs tens of times the text, and the syntax check
/// of an edit in a broken file re-parses (with tree-sitter's slow error recovery) everything the
/// broken item swallowed, up to the file's end: at 128 KiB that stays well under a second.
pub const LARGE_DOCUMENT_BYTES: usize = 128 << 10;

/// How much of a document's start [`Document::line_ending`] reads: enough lines to tell.
const LINE_ENDING_SAMPLE_BYTES: usize = 64 << 10;

/// What one change of a `didChange` batch replaced, in the text just before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    pub range: std::ops::Range<usize>,
    /// The replaced text, up to [`REPLACED_TEXT_BYTES`]; `None` above (a whole-document sync
    /// of a large file is not copied out).
    pub old_text: Option<String>,
}

/// The most replaced text [`Document::apply_changes`] copies out for the edit history.
pub const REPLACED_TEXT_BYTES: usize = crate::history::MAX_EDIT_BYTES;

/// An open document: its rope (for edits, position conversion and windows of large documents)
/// and, up to [`LARGE_DOCUMENT_BYTES`], the same text as one string (what snapshots share and
/// the parser reads) and its syntax tree, kept up to date incrementally.
#[derive(Debug, Clone)]
pub struct Document {
    pub language_id: String,
    pub language: Option<Language>,
    pub version: i32,
    pub text: Rope,
    /// The whole text, for documents up to [`LARGE_DOCUMENT_BYTES`] only.
    pub flat: Option<Arc<str>>,
    pub tree: Option<SyntaxTree>,
}

impl Document {
    pub fn new(language_id: &str, version: i32, text: &str) -> Self {
        Self::open(language_id, None, version, text)
    }

    /// The language comes from the language id, else from the file's extension.
    pub fn open(language_id: &str, path: Option<&Path>, version: i32, text: &str) -> Self {
        let language =
            Language::from_language_id(language_id).or_else(|| path.and_then(Language::from_path));
        let mut doc = Document {
            language_id: language_id.to_string(),
            language,
            version,
            text: Rope::from_str(text),
            flat: None,
            tree: None,
        };
        if text.len() <= LARGE_DOCUMENT_BYTES {
            let flat: Arc<str> = Arc::from(text);
            doc.tree = language.and_then(|l| SyntaxTree::parse(l, &flat).ok());
            doc.flat = Some(flat);
        }
        doc
    }

    /// Whether this document is past [`LARGE_DOCUMENT_BYTES`] (no flat copy, no tree).
    fn is_large(&self) -> bool {
        self.text.len_bytes() > LARGE_DOCUMENT_BYTES
    }

    /// The line ending most used in the document's first lines (`\n` when there are none).
    pub fn line_ending(&self) -> LineEnding {
        let mut counter = LineEndingCounter::default();
        let mut read = 0;
        for chunk in self.text.chunks() {
            counter.feed(chunk.as_bytes());
            read += chunk.len();
            if read >= LINE_ENDING_SAMPLE_BYTES {
                break;
            }
        }
        counter.dominant()
    }

    /// Whether `range` names real positions of this text: each end is on a line that exists,
    /// within its line (not past its end, never between `\r` and `\n`) and not inside a
    /// character; the end is not before the start.
    pub fn check_range(&self, range: Range, enc: Encoding) -> Result<(), EditError> {
        for pos in [range.start, range.end] {
            let byte = self.offset(pos, enc)?;
            if self.position(byte, enc) != pos {
                return Err(EditError::NotAPosition { pos });
            }
        }
        if range.end < range.start {
            return Err(EditError::Inverted {
                start: range.start,
                end: range.end,
            });
        }
        Ok(())
    }

    /// Byte offset of a position. A character past the end of its line means the end of the line
    /// (as the LSP specification says); a position inside a character rounds down to its start.
    pub fn offset(&self, pos: Position, enc: Encoding) -> Result<usize, EditError> {
        offset_in(&self.text, pos, enc)
    }

    pub fn position(&self, byte: usize, enc: Encoding) -> Position {
        position_in(&self.text, byte, enc)
    }

    pub fn byte_range(
        &self,
        range: Range,
        enc: Encoding,
    ) -> Result<std::ops::Range<usize>, EditError> {
        let (start, end) = (self.offset(range.start, enc)?, self.offset(range.end, enc)?);
        if end < start {
            return Err(EditError::Inverted {
                start: range.start,
                end: range.end,
            });
        }
        Ok(start..end)
    }

    pub fn lsp_range(&self, bytes: std::ops::Range<usize>, enc: Encoding) -> Range {
        Range {
            start: self.position(bytes.start, enc),
            end: self.position(bytes.end, enc),
        }
    }

    /// Applies a `didChange` batch: every change or none. On error the document is unchanged.
    /// Answers what each change replaced, in order, for the edit history.
    pub fn apply_changes(
        &mut self,
        version: i32,
        changes: &[TextDocumentContentChangeEvent],
        enc: Encoding,
    ) -> Result<Vec<Replaced>, EditError> {
        let mut text = self.text.clone();
        let mut edits = Vec::with_capacity(changes.len());
        let mut replaced = Vec::with_capacity(changes.len());
        for change in changes {
            let range = match change.range {
                Some(range) => {
                    let (start, end) = (
                        offset_in(&text, range.start, enc)?,
                        offset_in(&text, range.end, enc)?,
                    );
                    if end < start {
                        return Err(EditError::Inverted {
                            start: range.start,
                            end: range.end,
                        });
                    }
                    start..end
                }
                None => 0..text.len_bytes(),
            };
            let start_point = point(&text, range.start);
            let old_end_point = point(&text, range.end);
            let (cs, ce) = (text.byte_to_char(range.start), text.byte_to_char(range.end));
            replaced.push(Replaced {
                old_text: (range.len() <= REPLACED_TEXT_BYTES)
                    .then(|| text.slice(cs..ce).to_string()),
                range: range.clone(),
            });
            text.remove(cs..ce);
            text.insert(cs, &change.text);
            let new_end = range.start + change.text.len();
            edits.push(TreeEdit {
                start_byte: range.start,
                old_end_byte: range.end,
                new_end_byte: new_end,
                start_point,
                old_end_point,
                new_end_point: point(&text, new_end),
            });
        }
        self.text = text;
        self.version = version;
        self.refresh(&edits);
        Ok(replaced)
    }

    /// Brings the flat copy and the tree up to the rope: reparsed incrementally while the
    /// document stays small, dropped when it grows large, parsed anew when it shrinks back.
    fn refresh(&mut self, tree_edits: &[TreeEdit]) {
        if self.is_large() {
            self.flat = None;
            self.tree = None;
            return;
        }
        let flat: Arc<str> = Arc::from(self.text.to_string());
        let reparsed = match self.tree.as_mut() {
            Some(tree) => match tree.edit_all(tree_edits, &flat) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("incremental reparse failed ({e}); parsing from scratch");
                    false
                }
            },
            None => false,
        };
        if !reparsed {
            self.tree = self.language.and_then(|l| SyntaxTree::parse(l, &flat).ok());
        }
        self.flat = Some(flat);
    }
}

/// tree-sitter's point of a byte: rows end at `\n` (ropey's `cr_lines` also ends them at a lone
/// `\r`, which only shifts points that dllm-ls never reads), columns count bytes.
fn point(text: &Rope, byte: usize) -> TextPoint {
    let row = text.byte_to_line(byte);
    TextPoint {
        row,
        column: byte - text.line_to_byte(row),
    }
}

/// Char index just past the last non-line-break char of `line`.
fn line_content_end(text: &Rope, line: usize) -> usize {
    let start = text.line_to_char(line);
    let slice = text.line(line);
    let mut len = slice.len_chars();
    if len > 0 && slice.char(len - 1) == '\n' {
        len -= 1;
    }
    if len > 0 && slice.char(len - 1) == '\r' {
        len -= 1;
    }
    start + len
}

fn offset_in(text: &Rope, pos: Position, enc: Encoding) -> Result<usize, EditError> {
    let line = pos.line as usize;
    if line >= text.len_lines() {
        return Err(EditError::LineOutOfRange {
            line: pos.line,
            lines: text.len_lines(),
        });
    }
    let start_char = text.line_to_char(line);
    let end_char = line_content_end(text, line);
    let char_idx = match enc {
        Encoding::Utf8 => {
            let start = text.char_to_byte(start_char);
            let end = text.char_to_byte(end_char);
            let byte = (start + pos.character as usize).min(end);
            text.byte_to_char(byte)
        }
        Encoding::Utf16 => {
            let start = text.char_to_utf16_cu(start_char);
            let end = text.char_to_utf16_cu(end_char);
            let cu = (start + pos.character as usize).min(end);
            text.utf16_cu_to_char(cu)
        }
    };
    Ok(text.char_to_byte(char_idx))
}

fn position_in(text: &Rope, byte: usize, enc: Encoding) -> Position {
    let byte = byte.min(text.len_bytes());
    let char_idx = text.byte_to_char(byte);
    let line = text.char_to_line(char_idx);
    let line_start = text.line_to_char(line);
    let character = match enc {
        // A byte inside a character counts as the character's start, as in UTF-16.
        Encoding::Utf8 => text.char_to_byte(char_idx) - text.char_to_byte(line_start),
        Encoding::Utf16 => text.char_to_utf16_cu(char_idx) - text.char_to_utf16_cu(line_start),
    };
    Position {
        line: line as u32,
        character: character as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    fn change(range: Option<(Position, Position)>, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: range.map(|(start, end)| Range { start, end }),
            range_length: None,
            text: text.to_string(),
        }
    }

    #[test]
    fn utf16_and_utf8_positions_on_non_ascii_text() {
        // "é" is 2 bytes / 1 UTF-16 unit; "😀" is 4 bytes / 2 units.
        let doc = Document::new("rust", 1, "let é = \"😀\";\nx");
        let quote = "let é = \"".len();
        assert_eq!(doc.offset(pos(0, 9), Encoding::Utf16).unwrap(), quote);
        assert_eq!(doc.offset(pos(0, 11), Encoding::Utf16).unwrap(), quote + 4);
        assert_eq!(doc.offset(pos(0, 10), Encoding::Utf8).unwrap(), quote);
        assert_eq!(doc.position(quote + 4, Encoding::Utf16), pos(0, 11));
        assert_eq!(doc.position(quote + 4, Encoding::Utf8), pos(0, 14));
        // Inside the surrogate pair rounds down to the emoji's start.
        assert_eq!(doc.offset(pos(0, 10), Encoding::Utf16).unwrap(), quote);
        assert_eq!(
            doc.offset(pos(1, 0), Encoding::Utf16).unwrap(),
            doc.text.len_bytes() - 1
        );
    }

    #[test]
    fn crlf_and_cr_end_lines_and_characters_clamp_before_them() {
        let doc = Document::new("python", 1, "a = 1\r\nb\rc\n");
        assert_eq!(doc.text.len_lines(), 4);
        assert_eq!(doc.offset(pos(0, 99), Encoding::Utf16).unwrap(), 5);
        assert_eq!(doc.offset(pos(1, 0), Encoding::Utf16).unwrap(), 7);
        assert_eq!(doc.offset(pos(2, 0), Encoding::Utf16).unwrap(), 9);
        assert!(matches!(
            doc.offset(pos(4, 0), Encoding::Utf16),
            Err(EditError::LineOutOfRange { .. })
        ));
    }

    #[test]
    fn incremental_edits_with_tabs_and_emoji() {
        let mut doc = Document::new("go", 1, "func f() {\n\treturn 1 // 😀\n}\n");
        doc.apply_changes(
            2,
            &[
                change(Some((pos(1, 8), pos(1, 9))), "42"),
                change(Some((pos(1, 16), pos(1, 16))), "!"),
            ],
            Encoding::Utf16,
        )
        .unwrap();
        assert_eq!(doc.text.to_string(), "func f() {\n\treturn 42 // 😀!\n}\n");
        assert_eq!(doc.version, 2);
        // The `!` went after the emoji (two UTF-16 units), in the line as the first change left it.
        let bang = doc.text.to_string().find('!').unwrap();
        assert_eq!(doc.offset(pos(1, 16), Encoding::Utf16), Ok(bang));
        let flat = doc.flat.clone().unwrap();
        assert_eq!(&*flat, doc.text.to_string());
        // The maintained tree equals a fresh parse of the new text.
        let fresh = SyntaxTree::parse(Language::Go, &flat).unwrap();
        assert_eq!(doc.tree.as_ref().unwrap().sexp(), fresh.sexp());
    }

    #[test]
    fn a_bad_edit_leaves_the_document_untouched() {
        let mut doc = Document::new("rust", 1, "fn main() {}\n");
        let before = doc.text.to_string();
        let err = doc
            .apply_changes(
                2,
                &[
                    change(Some((pos(0, 0), pos(0, 2))), "pub fn"),
                    change(Some((pos(9, 0), pos(9, 1))), "x"),
                ],
                Encoding::Utf16,
            )
            .unwrap_err();
        assert!(matches!(err, EditError::LineOutOfRange { line: 9, .. }));
        assert_eq!(doc.text.to_string(), before);
        assert_eq!(doc.version, 1);
        let err = doc
            .apply_changes(
                3,
                &[change(Some((pos(0, 5), pos(0, 2))), "")],
                Encoding::Utf16,
            )
            .unwrap_err();
        assert!(matches!(err, EditError::Inverted { .. }));
        // A full replacement always fits.
        doc.apply_changes(4, &[change(None, "x")], Encoding::Utf8)
            .unwrap();
        assert_eq!(doc.text.to_string(), "x");
    }

    #[test]
    fn encoding_negotiation_prefers_utf8() {
        assert_eq!(Encoding::negotiate(None), Encoding::Utf16);
        assert_eq!(
            Encoding::negotiate(Some(&[
                PositionEncodingKind::UTF16,
                PositionEncodingKind::UTF8
            ])),
            Encoding::Utf8
        );
        assert_eq!(
            Encoding::negotiate(Some(&[PositionEncodingKind::UTF32])),
            Encoding::Utf16
        );
    }

    #[test]
    fn line_endings_are_detected_and_written() {
        let of = |text: &str| Document::new("go", 1, text).line_ending();
        assert_eq!(of("a\r\nb\r\nc\n"), LineEnding::CrLf);
        assert_eq!(of("a\rb\rc\n"), LineEnding::Cr);
        assert_eq!(of("a\nb\r\n"), LineEnding::Lf);
        assert_eq!(of("one line"), LineEnding::Lf);
        assert_eq!(LineEnding::CrLf.convert("a\nb\r\nc\rd"), "a\r\nb\r\nc\r\nd");
        assert_eq!(LineEnding::Cr.convert("a\nb\r\n"), "a\rb\r");
        // LF text stays exactly as generated.
        assert_eq!(LineEnding::Lf.convert("a\r\nb\n"), "a\r\nb\n");
        // A \r\n split across rope chunks counts once.
        let text = format!("{}\r\n", "x".repeat(2000)).repeat(50);
        assert_eq!(
            Document::new("go", 1, &text).line_ending(),
            LineEnding::CrLf
        );
    }

    #[test]
    fn edits_never_split_a_line_break_and_ranges_are_checked() {
        let text = "a\r\nb\nc";
        assert_eq!(outside_line_breaks(text, 0..2), 0..1);
        assert_eq!(outside_line_breaks(text, 2..5), 1..5);
        assert_eq!(outside_line_breaks(text, 4..5), 4..5);
        let doc = Document::new("go", 1, text);
        let range = |a: (u32, u32), b: (u32, u32)| Range {
            start: pos(a.0, a.1),
            end: pos(b.0, b.1),
        };
        assert_eq!(
            doc.check_range(range((0, 0), (0, 1)), Encoding::Utf16),
            Ok(())
        );
        assert_eq!(
            doc.check_range(range((1, 1), (2, 1)), Encoding::Utf8),
            Ok(())
        );
        // Between the \r and the \n, past a line's end, past the last line, inverted.
        assert!(doc
            .check_range(range((0, 0), (0, 2)), Encoding::Utf16)
            .is_err());
        assert!(doc
            .check_range(range((2, 0), (2, 2)), Encoding::Utf16)
            .is_err());
        assert!(doc
            .check_range(range((0, 0), (3, 0)), Encoding::Utf16)
            .is_err());
        assert!(doc
            .check_range(range((1, 1), (1, 0)), Encoding::Utf16)
            .is_err());
        // Inside a surrogate pair.
        let doc = Document::new("go", 1, "😀");
        assert!(doc
            .check_range(range((0, 1), (0, 1)), Encoding::Utf16)
            .is_err());
        assert_eq!(
            doc.check_range(range((0, 2), (0, 2)), Encoding::Utf16),
            Ok(())
        );
    }

    #[test]
    fn large_documents_keep_no_flat_copy_and_no_tree() {
        let line = "fn f() {}\n";
        let big = line.repeat(LARGE_DOCUMENT_BYTES / line.len() + 1);
        let mut doc = Document::new("rust", 1, &big);
        assert!(doc.is_large() && doc.flat.is_none() && doc.tree.is_none());
        // Shrinking below the limit parses it; growing past drops both again.
        let cut = pos((big.len() / line.len() / 2) as u32, 0);
        let end = pos((big.len() / line.len()) as u32, 0);
        doc.apply_changes(2, &[change(Some((cut, end)), "")], Encoding::Utf8)
            .unwrap();
        assert!(!doc.is_large() && doc.flat.is_some() && doc.tree.is_some());
        doc.apply_changes(3, &[change(None, &big)], Encoding::Utf8)
            .unwrap();
        assert!(doc.flat.is_none() && doc.tree.is_none());
    }
}

/// `Document` against a naive model of the same semantics (lines end at `\n`, `\r\n` or a lone
/// `\r`; a character past its line's end means the line's end; inside a character rounds down).
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The naive document: a `String` and a linear scan for everything.
    struct Naive(String);

    impl Naive {
        /// (start, content end) of each line.
        fn lines(&self) -> Vec<(usize, usize)> {
            let b = self.0.as_bytes();
            let (mut lines, mut start, mut i) = (vec![], 0, 0);
            while i < b.len() {
                let width = match (b[i], b.get(i + 1)) {
                    (b'\r', Some(b'\n')) => 2,
                    (b'\r' | b'\n', _) => 1,
                    _ => 0,
                };
                if width > 0 {
                    lines.push((start, i));
                    start = i + width;
                    i = start;
                } else {
                    i += 1;
                }
            }
            lines.push((start, b.len()));
            lines
        }

        fn offset(&self, pos: Position, enc: Encoding) -> Option<usize> {
            let &(start, end) = self.lines().get(pos.line as usize)?;
            let mut units = 0;
            for (i, c) in self.0[start..end].char_indices() {
                units += width(c, enc);
                if units > pos.character as usize {
                    return Some(start + i);
                }
            }
            Some(end)
        }

        fn position(&self, byte: usize, enc: Encoding) -> Position {
            let byte = (0..=byte.min(self.0.len()))
                .rev()
                .find(|&i| self.0.is_char_boundary(i))
                .unwrap();
            let lines = self.lines();
            let line = lines.iter().rposition(|&(s, _)| s <= byte).unwrap();
            let character = self.0[lines[line].0..byte]
                .chars()
                .map(|c| width(c, enc))
                .sum::<usize>();
            pos(line as u32, character as u32)
        }

        /// Applies a batch whole or not at all, like `Document::apply_changes`.
        fn apply(&mut self, changes: &[TextDocumentContentChangeEvent], enc: Encoding) -> bool {
            let mut text = Naive(self.0.clone());
            for c in changes {
                let range = match c.range {
                    None => 0..text.0.len(),
                    Some(r) => match (text.offset(r.start, enc), text.offset(r.end, enc)) {
                        (Some(s), Some(e)) if s <= e => s..e,
                        _ => return false,
                    },
                };
                text.0.replace_range(range, &c.text);
            }
            self.0 = text.0;
            true
        }
    }

    fn width(c: char, enc: Encoding) -> usize {
        match enc {
            Encoding::Utf8 => c.len_utf8(),
            Encoding::Utf16 => c.len_utf16(),
        }
    }

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    const PIECES: &[&str] = &[
        "a", "bc", " ", "\t", "\n", "\r\n", "\r", "é", "中", "😀", "{", "}", "fn f() {", ";",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(PIECES), 0..12).prop_map(|p| p.concat())
    }

    /// A change as seeds: its positions are chosen within the text it will apply to, at and past
    /// line ends, now and then past the last line or inverted.
    #[derive(Debug, Clone)]
    struct Seed {
        whole: bool,
        start: (u32, u32),
        len: (u32, u32),
        text: String,
    }

    fn seed() -> impl Strategy<Value = Seed> {
        (
            prop::bool::weighted(0.05),
            any::<(u32, u32)>(),
            (0u32..3, 0u32..8),
            text(),
        )
            .prop_map(|(whole, start, len, text)| Seed {
                whole,
                start,
                len,
                text,
            })
    }

    fn change_of(seed: &Seed, naive: &Naive, enc: Encoding) -> TextDocumentContentChangeEvent {
        let lines = naive.lines();
        let line = seed.start.0 % (lines.len() as u32 + 1);
        let len_of = |l: u32| {
            lines.get(l as usize).map_or(0, |&(s, e)| {
                naive.0[s..e].chars().map(|c| width(c, enc)).sum::<usize>() as u32
            })
        };
        let start = pos(line, seed.start.1 % (len_of(line) + 3));
        let end_line = line + seed.len.0;
        let end = if seed.len.0 == 0 {
            // Now and then one before the start: an inverted range.
            pos(line, (start.character + seed.len.1).saturating_sub(1))
        } else {
            pos(end_line, seed.len.1 % (len_of(end_line) + 3))
        };
        TextDocumentContentChangeEvent {
            range: (!seed.whole).then_some(Range { start, end }),
            range_length: None,
            text: seed.text.clone(),
        }
    }

    /// Every conversion agrees with the naive model, and real positions round-trip.
    fn check_positions(doc: &Document, naive: &Naive, enc: Encoding) {
        let text = &naive.0;
        for byte in 0..=text.len() {
            let p = doc.position(byte, enc);
            assert_eq!(
                p,
                naive.position(byte, enc),
                "position of {byte} in {text:?}"
            );
            let b = text.as_bytes();
            let inside_crlf = byte > 0 && b[byte - 1] == b'\r' && b.get(byte) == Some(&b'\n');
            if text.is_char_boundary(byte) && !inside_crlf {
                assert_eq!(doc.offset(p, enc), Ok(byte), "{p:?} in {text:?}");
            }
        }
        for (line, &(s, e)) in naive.lines().iter().enumerate() {
            let len: u32 = text[s..e].chars().map(|c| width(c, enc) as u32).sum();
            for character in 0..len + 3 {
                let p = pos(line as u32, character);
                let byte = doc.offset(p, enc).unwrap();
                assert_eq!(Some(byte), naive.offset(p, enc), "{p:?} in {text:?}");
                let real = character <= len && doc.position(byte, enc) == p;
                assert_eq!(
                    doc.check_range(Range { start: p, end: p }, enc).is_ok(),
                    real
                );
            }
        }
        let past = pos(naive.lines().len() as u32, 0);
        assert!(doc.offset(past, enc).is_err());
    }

    fn config() -> ProptestConfig {
        let mut config = ProptestConfig::default();
        // PROPTEST_CASES, when set, wins; the default keeps a test build near ten seconds.
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = 2000;
        }
        config
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn incremental_edits_match_a_naive_model(
            initial in text(),
            utf8 in any::<bool>(),
            batches in prop::collection::vec(prop::collection::vec(seed(), 1..4), 1..8),
        ) {
            let enc = if utf8 { Encoding::Utf8 } else { Encoding::Utf16 };
            let mut doc = Document::new("rust", 1, &initial);
            let mut naive = Naive(initial);
            for (i, batch) in batches.iter().enumerate() {
                // Each change's positions are drawn against the text the one before left.
                let mut scratch = Naive(naive.0.clone());
                let changes: Vec<_> = batch
                    .iter()
                    .map(|seed| {
                        let c = change_of(seed, &scratch, enc);
                        scratch.apply(std::slice::from_ref(&c), enc);
                        c
                    })
                    .collect();
                let version = doc.version;
                let applied = doc.apply_changes(i as i32 + 2, &changes, enc).is_ok();
                prop_assert_eq!(applied, naive.apply(&changes, enc));
                prop_assert_eq!(doc.text.to_string(), naive.0.clone());
                prop_assert_eq!(doc.version, if applied { i as i32 + 2 } else { version });
                prop_assert_eq!(doc.flat.as_deref(), Some(naive.0.as_str()));
                let fresh = SyntaxTree::parse(Language::Rust, &naive.0).unwrap();
                prop_assert_eq!(doc.tree.as_ref().unwrap().sexp(), fresh.sexp());
                check_positions(&doc, &naive, enc);
            }
        }
    }
}
