//! Which bytes to mask for a request: the selection widened to whole tokens, the region at the
//! cursor, or the inside of the enclosing statement, block or function body. The model fills
//! exactly this range, so it must never cut a token in half or leave a brace outside.

use std::ops::Range;

use tree_sitter::Node;

use crate::syntax_tree::SyntaxTree;
use crate::{check_offset, check_range, GrammarError};

/// What the caller wants masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanRequest {
    /// Rewrite a selection; both ends are widened to token boundaries.
    Selection {
        start: usize,
        end: usize,
    },
    /// Complete at the cursor: an empty block around it, else the rest of its line.
    Cursor {
        offset: usize,
    },
    EnclosingStatement {
        offset: usize,
    },
    EnclosingBlock {
        offset: usize,
    },
    EnclosingFunctionBody {
        offset: usize,
    },
}

/// Why a [`Span`] covers what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// A selection widened to whole tokens.
    Selection,
    /// The inside of an empty block around the cursor (`{}`, `{ \n }`, or a Python suite that
    /// is only `pass` / `...`).
    EmptyBlock,
    /// From the cursor to the end of its line.
    RestOfLine,
    /// A whole statement.
    Statement,
    /// The inside of a block (between the braces; for Python the indented suite).
    Block,
    /// The inside of a function's body.
    FunctionBody,
}

/// A region to mask, and whether its replacement may span several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub range: Range<usize>,
    pub kind: SpanKind,
    /// The fill may span lines (a block, a body, a blank line after a block opener, a
    /// selection that already does). Single-line fills should stop at the first line break.
    pub multiline: bool,
    /// The cursor sits right before an identifier character (mid-word): completions there
    /// usually duplicate the word, so callers may choose to stay quiet. Only set for
    /// [`SpanKind::RestOfLine`] (in an empty block the word can only be the placeholder that
    /// the span replaces).
    pub mid_word: bool,
}

/// A function and the inside of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpan {
    /// The whole function, signature included.
    pub whole: Range<usize>,
    /// The inside of its body: between the braces, the indented suite (Python) or the
    /// expression of an expression-bodied closure / arrow function.
    pub body: Range<usize>,
}

/// Answers any [`SpanRequest`]. A request for an enclosing node where there is none is
/// [`GrammarError::NoEnclosing`]; the per-request functions below answer `Ok(None)` instead.
pub fn select_span(
    tree: &SyntaxTree,
    text: &str,
    request: &SpanRequest,
) -> Result<Span, GrammarError> {
    let whole = |range: Range<usize>, kind: SpanKind| Span {
        range,
        kind,
        multiline: true,
        mid_word: false,
    };
    let missing = |what: &'static str, offset: usize| GrammarError::NoEnclosing { what, offset };
    match *request {
        SpanRequest::Selection { start, end } => {
            let range = widen_selection(tree, text, start..end)?;
            Ok(Span {
                multiline: text[range.clone()].contains(['\n', '\r']),
                range,
                kind: SpanKind::Selection,
                mid_word: false,
            })
        }
        SpanRequest::Cursor { offset } => span_at_cursor(tree, text, offset),
        SpanRequest::EnclosingStatement { offset } => enclosing_statement(tree, text, offset)?
            .map(|r| whole(r, SpanKind::Statement))
            .ok_or(missing("statement", offset)),
        SpanRequest::EnclosingBlock { offset } => enclosing_block(tree, text, offset)?
            .map(|r| whole(r, SpanKind::Block))
            .ok_or(missing("block", offset)),
        SpanRequest::EnclosingFunctionBody { offset } => enclosing_function(tree, text, offset)?
            .map(|f| whole(f.body, SpanKind::FunctionBody))
            .ok_or(missing("function", offset)),
    }
}

/// End of the line holding `offset`, before its `\n` / `\r\n` / `\r`.
pub fn line_end(text: &str, offset: usize) -> usize {
    text[offset..]
        .find(['\n', '\r'])
        .map_or(text.len(), |i| offset + i)
}

/// Start of the line holding `offset`.
pub fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind(['\n', '\r']).map_or(0, |i| i + 1)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The inside of a block node: between its braces, or the whole indented block (Python).
fn block_inside(tree: &SyntaxTree, node: Node) -> Range<usize> {
    if tree.language.braces() {
        let (first, last) = (
            node.child(0),
            node.child(node.child_count().saturating_sub(1)),
        );
        if let (Some(f), Some(l)) = (first, last) {
            // A MISSING `}` (unclosed block) is zero-width at the end; its start still bounds.
            if f.kind() == "{" && l.kind() == "}" && f.end_byte() <= l.start_byte() {
                return f.end_byte()..l.start_byte();
            }
        }
    }
    node.byte_range()
}

/// Innermost block whose inside contains `offset` (its ends included).
fn enclosing_block_node<'t>(tree: &'t SyntaxTree, offset: usize) -> Option<Node<'t>> {
    tree.ancestors(tree.node_covering(offset..offset))
        .into_iter()
        .find(|&n| {
            tree.language.is_block(n.kind()) && {
                let inside = block_inside(tree, n);
                inside.start <= offset && offset <= inside.end
            }
        })
}

/// The region at the cursor: the inside of an empty block (multi-line), a blank line after a
/// line that opens a block (multi-line: the body is still to write), or else the rest of the
/// line up to, not including, its line break (single-line).
pub fn span_at_cursor(tree: &SyntaxTree, text: &str, offset: usize) -> Result<Span, GrammarError> {
    check_offset(text, offset)?;
    let mid_word = text[offset..].chars().next().is_some_and(is_ident_char);
    let start = line_start(text, offset);
    let end = line_end(text, offset);
    let mut probes = vec![offset];
    if !tree.language.braces() && text[start..offset].trim().is_empty() {
        // A Python suite starts at its first statement, after the indentation: a cursor in
        // the indentation of `    pass` is in that suite too.
        probes.push(offset + (text[offset..end].len() - text[offset..end].trim_start().len()));
    }
    for probe in probes {
        if let Some(block) = enclosing_block_node(tree, probe) {
            let inside = block_inside(tree, block);
            if is_empty_body(tree, &text[inside.clone()]) {
                // A word after the cursor here is the `pass` / `...` being replaced: no
                // duplicate to fear.
                return Ok(Span {
                    range: inside,
                    kind: SpanKind::EmptyBlock,
                    multiline: true,
                    mid_word: false,
                });
            }
        }
    }
    let line_blank = text[start..end].trim().is_empty();
    let opens_block = text[..start].trim_end().ends_with(['{', ':', '(', '[']);
    Ok(Span {
        range: offset..end,
        kind: SpanKind::RestOfLine,
        multiline: line_blank && opens_block,
        mid_word,
    })
}

/// Blank, or (Python) only `pass` / `...`: placeholders that stand for a body to write.
fn is_empty_body(tree: &SyntaxTree, content: &str) -> bool {
    let content = content.trim();
    content.is_empty() || (!tree.language.braces() && matches!(content, "pass" | "..."))
}

/// String and comment nodes are widened as one token: cutting into one must take in its
/// quotes or comment markers, or the fill could leave them unbalanced.
fn is_atomic(kind: &str) -> bool {
    matches!(
        kind,
        "string"
            | "string_literal"
            | "raw_string_literal"
            | "interpreted_string_literal"
            | "char_literal"
            | "rune_literal"
            | "template_string"
            | "comment"
            | "line_comment"
            | "block_comment"
    )
}

/// The token that `offset` falls strictly inside, if any: a string or comment around it, else
/// the leaf under it.
fn token_around(tree: &SyntaxTree, offset: usize) -> Option<Range<usize>> {
    let strictly_inside = |n: &Node| n.start_byte() < offset && offset < n.end_byte();
    let leaf = tree.root().descendant_for_byte_range(offset, offset)?;
    if let Some(n) = tree
        .ancestors(leaf)
        .into_iter()
        .find(|n| is_atomic(n.kind()) && strictly_inside(n))
    {
        return Some(n.byte_range());
    }
    (leaf.child_count() == 0 && strictly_inside(&leaf)).then(|| leaf.byte_range())
}

/// The selection widened so neither end cuts through a token (an identifier, a number, a
/// string, a comment). Ends between tokens or in whitespace stay where they are.
pub fn widen_selection(
    tree: &SyntaxTree,
    text: &str,
    range: Range<usize>,
) -> Result<Range<usize>, GrammarError> {
    check_range(text, &range)?;
    let start = token_around(tree, range.start).map_or(range.start, |t| t.start);
    let end = token_around(tree, range.end).map_or(range.end, |t| t.end);
    Ok(start..end)
}

/// The inside of the innermost block around `offset`.
pub fn enclosing_block(
    tree: &SyntaxTree,
    text: &str,
    offset: usize,
) -> Result<Option<Range<usize>>, GrammarError> {
    check_offset(text, offset)?;
    Ok(enclosing_block_node(tree, offset).map(|n| block_inside(tree, n)))
}

/// The innermost statement around `offset`: the named ancestor that sits directly in a block,
/// statement list or the file (so a function at the top level is a statement too).
pub fn enclosing_statement(
    tree: &SyntaxTree,
    text: &str,
    offset: usize,
) -> Result<Option<Range<usize>>, GrammarError> {
    check_offset(text, offset)?;
    let path = tree.ancestors(tree.node_covering(offset..offset));
    Ok(path
        .windows(2)
        .find(|w| w[0].is_named() && tree.language.holds_statements(w[1].kind()))
        .map(|w| w[0].byte_range()))
}

/// The innermost function node around `offset` that has a body.
fn function_node(tree: &SyntaxTree, offset: usize) -> Option<(Node<'_>, Node<'_>)> {
    tree.ancestors(tree.node_covering(offset..offset))
        .into_iter()
        .filter(|n| tree.language.is_function(n.kind()))
        .find_map(|n| Some((n, n.child_by_field_name("body")?)))
}

/// The inside of a function's body node.
fn body_inside(tree: &SyntaxTree, body: Node) -> Range<usize> {
    if tree.language.is_block(body.kind()) {
        block_inside(tree, body)
    } else {
        body.byte_range()
    }
}

/// The innermost function around `offset`, with the inside of its body.
pub fn enclosing_function(
    tree: &SyntaxTree,
    text: &str,
    offset: usize,
) -> Result<Option<FunctionSpan>, GrammarError> {
    check_offset(text, offset)?;
    Ok(function_node(tree, offset).map(|(f, body)| FunctionSpan {
        whole: f.byte_range(),
        body: body_inside(tree, body),
    }))
}

/// The identifier under (or just before) the cursor.
pub fn identifier_at(
    tree: &SyntaxTree,
    text: &str,
    offset: usize,
) -> Result<Option<Range<usize>>, GrammarError> {
    check_offset(text, offset)?;
    for probe in [offset, offset.saturating_sub(1)] {
        if let Some(n) = tree.root().descendant_for_byte_range(probe, probe) {
            if is_identifier(n.kind()) && n.start_byte() <= offset && offset <= n.end_byte() {
                return Ok(Some(n.byte_range()));
            }
        }
    }
    Ok(None)
}

fn is_identifier(kind: &str) -> bool {
    matches!(
        kind,
        "identifier"
            | "field_identifier"
            | "property_identifier"
            | "shorthand_property_identifier"
            | "type_identifier"
    )
}

/// Every identifier node inside `within` spelled like `name`.
pub fn occurrences(
    tree: &SyntaxTree,
    text: &str,
    name: &str,
    within: Range<usize>,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root()];
    while let Some(n) = stack.pop() {
        if n.end_byte() <= within.start || n.start_byte() >= within.end {
            continue;
        }
        if is_identifier(n.kind())
            && n.start_byte() >= within.start
            && n.end_byte() <= within.end
            && &text[n.byte_range()] == name
        {
            out.push(n.byte_range());
        }
        let mut cursor = n.walk();
        stack.extend(n.children(&mut cursor));
    }
    out.sort_by_key(|r| r.start);
    out
}
