//! Which bytes to mask for a request: the selection widened to whole tokens, the region at the
//! cursor, or the inside of the enclosing statement, block or function body.

use std::ops::Range;

use tree_sitter::Node;

use crate::tree::SyntaxTree;
use crate::GrammarError;

/// A region to mask, and whether its replacement may span several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub range: Range<usize>,
    pub multiline: bool,
    /// The cursor sits right before an identifier character (mid-word): completions there
    /// usually duplicate the word, so callers may choose to stay quiet.
    pub mid_word: bool,
}

/// A function and the inside of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpan {
    pub whole: Range<usize>,
    pub body: Range<usize>,
}

pub(crate) fn check_offset(text: &str, offset: usize) -> Result<(), GrammarError> {
    if offset > text.len() || !text.is_char_boundary(offset) {
        return Err(GrammarError::BadOffset {
            offset,
            len: text.len(),
        });
    }
    Ok(())
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
            if f.kind() == "{" && l.kind() == "}" && f.end_byte() <= l.start_byte() {
                return f.end_byte()..l.start_byte();
            }
        }
    }
    node.byte_range()
}

/// Innermost block whose inside strictly contains `offset`.
fn enclosing_block_node<'t>(tree: &'t SyntaxTree, offset: usize) -> Option<Node<'t>> {
    let mut node = Some(tree.node_covering(offset..offset));
    while let Some(n) = node {
        if tree.language.is_block(n.kind()) {
            let inside = block_inside(tree, n);
            if inside.start <= offset && offset <= inside.end {
                return Some(n);
            }
        }
        node = n.parent();
    }
    None
}

/// The region at the cursor: the inside of an empty block (multi-line), a fresh line after a
/// line that opens a block (multi-line), or else the rest of the line (single-line).
pub fn span_at_cursor(tree: &SyntaxTree, text: &str, offset: usize) -> Result<Span, GrammarError> {
    check_offset(text, offset)?;
    let mid_word = text[offset..].chars().next().is_some_and(is_ident_char);
    if let Some(block) = enclosing_block_node(tree, offset) {
        let inside = block_inside(tree, block);
        let content = &text[inside.clone()];
        let empty = content.trim().is_empty() || is_placeholder_body(tree, content);
        if empty {
            return Ok(Span {
                range: inside,
                multiline: true,
                mid_word,
            });
        }
    }
    let end = line_end(text, offset);
    let start = line_start(text, offset);
    let line_blank = text[start..end].trim().is_empty();
    let opens_block = text[..start].trim_end().ends_with(['{', ':', '(', '[']);
    Ok(Span {
        range: offset..end,
        multiline: line_blank && opens_block,
        mid_word,
    })
}

/// Python's `pass` / `...` bodies count as empty.
fn is_placeholder_body(tree: &SyntaxTree, content: &str) -> bool {
    !tree.language.braces() && matches!(content.trim(), "pass" | "...")
}

/// The selection widened so neither end cuts through a token.
pub fn widen_selection(
    tree: &SyntaxTree,
    text: &str,
    range: Range<usize>,
) -> Result<Range<usize>, GrammarError> {
    check_offset(text, range.start)?;
    check_offset(text, range.end)?;
    if range.end < range.start {
        return Err(GrammarError::BadOffset {
            offset: range.end,
            len: text.len(),
        });
    }
    let leaf_at = |offset: usize| {
        tree.root()
            .descendant_for_byte_range(offset, offset)
            .filter(|n| n.child_count() == 0)
    };
    let mut start = range.start;
    let mut end = range.end;
    if let Some(leaf) = leaf_at(start) {
        if leaf.start_byte() < start && start < leaf.end_byte() {
            start = leaf.start_byte();
        }
    }
    if let Some(leaf) = leaf_at(end) {
        if leaf.start_byte() < end && end < leaf.end_byte() {
            end = leaf.end_byte();
        }
    }
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

/// The innermost statement around `offset`: the ancestor that sits directly in a block.
pub fn enclosing_statement(
    tree: &SyntaxTree,
    text: &str,
    offset: usize,
) -> Result<Option<Range<usize>>, GrammarError> {
    check_offset(text, offset)?;
    let mut node = Some(tree.node_covering(offset..offset));
    while let Some(n) = node {
        let parent = n.parent();
        if n.is_named()
            && parent.is_some_and(|p| {
                tree.language.is_block(p.kind())
                    || p.kind() == "source_file"
                    || p.kind() == "module"
                    || p.kind() == "program"
            })
        {
            return Ok(Some(n.byte_range()));
        }
        node = parent;
    }
    Ok(None)
}

/// The innermost function around `offset`, with the inside of its body.
pub fn enclosing_function(
    tree: &SyntaxTree,
    text: &str,
    offset: usize,
) -> Result<Option<FunctionSpan>, GrammarError> {
    check_offset(text, offset)?;
    let mut node = Some(tree.node_covering(offset..offset));
    while let Some(n) = node {
        if tree.language.is_function(n.kind()) {
            if let Some(body) = n.child_by_field_name("body") {
                let inside = if tree.language.is_block(body.kind()) {
                    block_inside(tree, body)
                } else {
                    body.byte_range()
                };
                return Ok(Some(FunctionSpan {
                    whole: n.byte_range(),
                    body: inside,
                }));
            }
        }
        node = n.parent();
    }
    Ok(None)
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

pub(crate) fn is_identifier(kind: &str) -> bool {
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
