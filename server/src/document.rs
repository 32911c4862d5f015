//! Open documents: a ropey rope per document, positions in the negotiated encoding, and edits
//! that either apply whole or not at all.
//!
//! Lines end at `\n`, `\r\n` or `\r` as LSP defines them (ropey built with `cr_lines` only, so
//! U+2028 and friends are not line breaks here either).

use std::path::Path;
use std::sync::Arc;

use dllm_grammars::{Language, SyntaxTree, TextEdit as TreeEdit, TextPoint};
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
}

/// An open document: its rope (for edits and position conversion), the same text as one
/// string (what snapshots share and the parser reads), and its syntax tree, kept up to date
/// incrementally so a request never parses a large file from scratch.
#[derive(Debug, Clone)]
pub struct Document {
    pub language_id: String,
    pub language: Option<Language>,
    pub version: i32,
    pub text: Rope,
    pub flat: Arc<str>,
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
        let tree = language.and_then(|l| SyntaxTree::parse(l, text).ok());
        Document {
            language_id: language_id.to_string(),
            language,
            version,
            text: Rope::from_str(text),
            flat: Arc::from(text),
            tree,
        }
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
    /// Returns the byte-level edits applied, in order, for incremental reparsing.
    pub fn apply_changes(
        &mut self,
        version: i32,
        changes: &[TextDocumentContentChangeEvent],
        enc: Encoding,
    ) -> Result<Vec<TextEdit>, EditError> {
        let mut text = self.text.clone();
        let mut edits = Vec::with_capacity(changes.len());
        let mut tree_edits = Vec::with_capacity(changes.len());
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
            text.remove(cs..ce);
            text.insert(cs, &change.text);
            let new_end = range.start + change.text.len();
            tree_edits.push(TreeEdit {
                start_byte: range.start,
                old_end_byte: range.end,
                new_end_byte: new_end,
                start_point,
                old_end_point,
                new_end_point: point(&text, new_end),
            });
            edits.push(TextEdit {
                range,
                new_len: change.text.len(),
            });
        }
        self.flat = Arc::from(text.to_string());
        self.text = text;
        self.version = version;
        if let Some(tree) = self.tree.as_mut() {
            if let Err(e) = tree.edit_all(&tree_edits, &self.flat) {
                tracing::warn!("incremental reparse failed ({e}); parsing from scratch");
                self.tree = self
                    .language
                    .and_then(|l| SyntaxTree::parse(l, &self.flat).ok());
            }
        }
        Ok(edits)
    }
}

/// One applied replacement in byte offsets of the text before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEdit {
    pub range: std::ops::Range<usize>,
    pub new_len: usize,
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
        Encoding::Utf8 => byte - text.char_to_byte(line_start),
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
        let edits = doc
            .apply_changes(
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
        assert_eq!(
            edits[0],
            TextEdit {
                range: 19..20,
                new_len: 2
            }
        );
        assert_eq!(&*doc.flat, doc.text.to_string());
        // The maintained tree equals a fresh parse of the new text.
        let fresh = SyntaxTree::parse(Language::Go, &doc.flat).unwrap();
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
}
