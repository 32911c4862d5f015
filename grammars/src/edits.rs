//! Where the edits that call for a follow-up edit happen: a function's parameters and its call
//! sites, fields and their uses, literals, comments. Plain byte ranges, for whoever makes or
//! predicts such edits (the next-edit benchmark makes them; a rule can predict them).

use std::ops::Range;

use tree_sitter::Node;

use crate::language::Language;
use crate::syntax_tree::SyntaxTree;

/// A parameter with a plain name, in a function's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: Range<usize>,
    /// The whole function the parameter belongs to.
    pub function: Range<usize>,
}

/// A named function whose parameter list can take one more plain parameter at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDefinition {
    pub name: Range<usize>,
    /// Where a new last parameter goes: after the last one, or just inside `(` when none.
    pub append_at: usize,
    pub has_parameters: bool,
    pub whole: Range<usize>,
}

/// A call: the callee's last name (`f` of `a.b.f(x)`) and its argument list, parentheses
/// included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub callee: Range<usize>,
    pub arguments: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    Number,
    /// A one-line string without escapes or interpolation; the range is its inside, quotes
    /// left out.
    String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    pub range: Range<usize>,
    pub kind: LiteralKind,
}

/// Names no one renames: the receiver.
const RECEIVERS: [&str; 4] = ["self", "cls", "this", "_"];

/// Every node of the tree, depth first in text order.
fn nodes(tree: &SyntaxTree) -> Vec<Node<'_>> {
    nodes_within(tree, 0..usize::MAX)
}

/// The nodes that overlap `within`, depth first in text order (subtrees outside it skipped).
fn nodes_within(tree: &SyntaxTree, within: Range<usize>) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root()];
    while let Some(n) = stack.pop() {
        if n.end_byte() < within.start || n.start_byte() > within.end {
            continue;
        }
        out.push(n);
        let mut cursor = n.walk();
        let children: Vec<Node> = n.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

fn is_comment(kind: &str) -> bool {
    matches!(kind, "comment" | "line_comment" | "block_comment")
}

/// The plain name a parameter node declares, if it declares one.
fn parameter_name<'t>(param: Node<'t>) -> Option<Node<'t>> {
    if param.kind() == "identifier" {
        return Some(param);
    }
    let named = ["pattern", "name", "left"]
        .iter()
        .find_map(|f| param.child_by_field_name(f))
        .or_else(|| {
            param
                .named_child(0)
                .filter(|_| param.kind() == "typed_parameter")
        })?;
    (named.kind() == "identifier").then_some(named)
}

fn parameter_list<'t>(function: Node<'t>) -> Option<Node<'t>> {
    function
        .child_by_field_name("parameters")
        .or_else(|| function.child_by_field_name("parameter"))
}

fn named_params(list: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = list.walk();
    list.named_children(&mut cursor)
        .filter(|n| !is_comment(n.kind()))
        .collect()
}

/// The plainly named parameters of every function (receivers and patterns left out).
pub fn parameters(tree: &SyntaxTree, text: &str) -> Vec<Parameter> {
    let mut out = Vec::new();
    for f in nodes(tree) {
        if !tree.language.is_function(f.kind()) {
            continue;
        }
        let Some(list) = parameter_list(f) else {
            continue;
        };
        let params = if list.kind() == "identifier" {
            vec![list]
        } else {
            named_params(list)
        };
        for p in params {
            if let Some(name) = parameter_name(p) {
                if !RECEIVERS.contains(&&text[name.byte_range()]) {
                    out.push(Parameter {
                        name: name.byte_range(),
                        function: f.byte_range(),
                    });
                }
            }
        }
    }
    out
}

/// Whether a plain parameter may follow `params` (no variadic, splat or defaulted one, which
/// a plain parameter after them would make invalid).
fn takes_plain_parameter(language: Language, params: &[Node]) -> bool {
    let blocks = |kind: &str| match language {
        Language::Python => matches!(
            kind,
            "default_parameter"
                | "typed_default_parameter"
                | "list_splat_pattern"
                | "dictionary_splat_pattern"
                | "keyword_separator"
                | "positional_separator"
        ),
        Language::JavaScript | Language::TypeScript | Language::Tsx => {
            matches!(
                kind,
                "rest_pattern" | "assignment_pattern" | "optional_parameter"
            )
        }
        Language::Go => kind == "variadic_parameter_declaration",
        Language::Rust => kind == "variadic_parameter",
    };
    let unnamed_go = |p: &Node| language == Language::Go && p.child_by_field_name("name").is_none();
    !params
        .iter()
        .any(|p| blocks(p.kind()) || unnamed_go(p) || has_default_or_rest(p))
}

/// A TypeScript parameter with a default value or a rest pattern.
fn has_default_or_rest(p: &Node) -> bool {
    p.child_by_field_name("value").is_some()
        || p.child_by_field_name("pattern")
            .is_some_and(|n| n.kind() == "rest_pattern")
}

/// A function's name: its own, or the variable it is assigned to (`const f = (x) => …`).
fn function_name<'t>(f: Node<'t>) -> Option<Node<'t>> {
    if let Some(name) = f.child_by_field_name("name") {
        return Some(name);
    }
    let parent = f.parent()?;
    (parent.kind() == "variable_declarator")
        .then(|| parent.child_by_field_name("name"))
        .flatten()
        .filter(|n| n.kind() == "identifier")
}

/// Named functions (closures left out) that can take one more plain parameter.
pub fn function_definitions(tree: &SyntaxTree) -> Vec<FunctionDefinition> {
    let mut out = Vec::new();
    for f in nodes(tree) {
        if !tree.language.is_function(f.kind()) || f.kind() == "closure_expression" {
            continue;
        }
        let (Some(name), Some(list)) = (function_name(f), f.child_by_field_name("parameters"))
        else {
            continue;
        };
        let params = named_params(list);
        if !takes_plain_parameter(tree.language, &params) {
            continue;
        }
        let append_at = params
            .last()
            .map_or(list.start_byte() + 1, |p| p.end_byte());
        out.push(FunctionDefinition {
            name: name.byte_range(),
            append_at,
            has_parameters: !params.is_empty(),
            whole: f.byte_range(),
        });
    }
    out
}

/// Every call whose callee ends in a name, in text order.
pub fn calls(tree: &SyntaxTree) -> Vec<Call> {
    let mut out = Vec::new();
    for n in nodes(tree) {
        if !matches!(n.kind(), "call" | "call_expression") {
            continue;
        }
        let (Some(function), Some(arguments)) = (
            n.child_by_field_name("function"),
            n.child_by_field_name("arguments"),
        ) else {
            continue;
        };
        let callee = match function.kind() {
            "identifier" => Some(function),
            _ => ["attribute", "property", "field", "name"]
                .iter()
                .find_map(|f| function.child_by_field_name(f)),
        };
        if let Some(callee) = callee {
            out.push(Call {
                callee: callee.byte_range(),
                arguments: arguments.byte_range(),
            });
        }
    }
    out.sort_by_key(|c| c.callee.start);
    out
}

/// Whether an `identifier` node names something other than a variable: a keyword argument's
/// name, a Python attribute, the last segment of a Rust path.
fn names_a_member(n: Node) -> bool {
    let Some(parent) = n.parent() else {
        return false;
    };
    let in_field = |field: &str| parent.child_by_field_name(field) == Some(n);
    match parent.kind() {
        "keyword_argument" => in_field("name"),
        "attribute" => in_field("attribute"),
        "scoped_identifier" => in_field("name"),
        _ => false,
    }
}

/// Every use of a variable spelled `name` inside `within`: `identifier` nodes, members and
/// keyword-argument names left out.
pub fn variable_uses(
    tree: &SyntaxTree,
    text: &str,
    name: &str,
    within: Range<usize>,
) -> Vec<Range<usize>> {
    nodes_within(tree, within.clone())
        .into_iter()
        .filter(|n| {
            n.kind() == "identifier"
                && n.start_byte() >= within.start
                && n.end_byte() <= within.end
                && &text[n.byte_range()] == name
                && !names_a_member(*n)
        })
        .map(|n| n.byte_range())
        .collect()
}

/// Declared fields: Rust and Go struct fields, JavaScript and TypeScript class fields and
/// interface properties, `this.x = …` and Python's `self.x = …` and class-level `x: T`.
pub fn field_definitions(tree: &SyntaxTree, text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for n in nodes(tree) {
        let name = match n.kind() {
            "field_declaration" | "public_field_definition" | "property_signature" => {
                n.child_by_field_name("name")
            }
            "field_definition" => n.child_by_field_name("property"),
            "assignment" | "assignment_expression" => {
                assigned_member(n, text, tree.language == Language::Python)
            }
            _ => None,
        };
        if let Some(name) = name.filter(|m| {
            matches!(
                m.kind(),
                "field_identifier" | "property_identifier" | "identifier"
            )
        }) {
            out.push(name.byte_range());
        }
    }
    out.sort_by_key(|r| r.start);
    out.dedup();
    out
}

/// The member name `x` of an assignment to `self.x` / `this.x`, or Python's class-level `x: T`.
fn assigned_member<'t>(assignment: Node<'t>, text: &str, python: bool) -> Option<Node<'t>> {
    let left = assignment.child_by_field_name("left")?;
    if python && left.kind() == "identifier" {
        let in_class = assignment
            .parent()
            .and_then(|s| s.parent())
            .is_some_and(|b| b.parent().is_some_and(|c| c.kind() == "class_definition"));
        return (in_class && assignment.child_by_field_name("type").is_some()).then_some(left);
    }
    let object = left.child_by_field_name("object")?;
    if !matches!(&text[object.byte_range()], "self" | "this") {
        return None;
    }
    left.child_by_field_name("attribute")
        .or_else(|| left.child_by_field_name("property"))
}

/// Every use of a member spelled `name` inside `within`: `a.name`, struct-literal keys, object
/// keys (and Python's attributes).
pub fn field_uses(
    tree: &SyntaxTree,
    text: &str,
    name: &str,
    within: Range<usize>,
) -> Vec<Range<usize>> {
    nodes_within(tree, within.clone())
        .into_iter()
        .filter(|n| {
            n.start_byte() >= within.start
                && n.end_byte() <= within.end
                && &text[n.byte_range()] == name
                && is_member_name(*n, tree.language)
        })
        .map(|n| n.byte_range())
        .collect()
}

fn is_member_name(n: Node, language: Language) -> bool {
    let parent_kind = n.parent().map(|p| p.kind());
    match n.kind() {
        "field_identifier" | "property_identifier" => true,
        "identifier" if language == Language::Python => {
            parent_kind == Some("attribute") && names_a_member(n)
        }
        // Go's keyed composite literal: `T{name: …}`.
        "identifier" if language == Language::Go => {
            parent_kind == Some("literal_element")
                && n.parent()
                    .and_then(|p| p.parent())
                    .is_some_and(|k| k.kind() == "keyed_element" && k.named_child(0) == n.parent())
        }
        _ => false,
    }
}

/// Whether a shorthand spelled `name` (`Foo { name }`, `{ name }`) lies inside `within`: a
/// field there is also a variable, so renaming it takes more than one edit.
pub fn has_shorthand(tree: &SyntaxTree, text: &str, name: &str, within: Range<usize>) -> bool {
    nodes_within(tree, within.clone()).into_iter().any(|n| {
        n.kind().starts_with("shorthand_")
            && n.start_byte() >= within.start
            && n.end_byte() <= within.end
            && text[n.byte_range()].trim() == name
    })
}

/// Number literals and plain one-line strings, in text order.
pub fn literals(tree: &SyntaxTree, text: &str) -> Vec<Literal> {
    let mut out = Vec::new();
    for n in nodes(tree) {
        let kind = n.kind();
        let r = n.byte_range();
        if matches!(
            kind,
            "integer" | "float" | "integer_literal" | "float_literal" | "number" | "int_literal"
        ) {
            out.push(Literal {
                range: r,
                kind: LiteralKind::Number,
            });
        } else if matches!(
            kind,
            "string" | "string_literal" | "interpreted_string_literal"
        ) {
            let s = &text[r.clone()];
            let quote = s.chars().next().filter(|c| matches!(c, '"' | '\''));
            let plain = |c: char| !matches!(c, '\\' | '{' | '}' | '\n' | '$' | '"' | '\'');
            if let Some(q) = quote {
                if s.len() >= 2 && s.ends_with(q) && s[1..s.len() - 1].chars().all(plain) {
                    out.push(Literal {
                        range: r.start + 1..r.end - 1,
                        kind: LiteralKind::String,
                    });
                }
            }
        }
    }
    out.sort_by_key(|l| l.range.start);
    out
}

/// Every comment, in text order.
pub fn comments(tree: &SyntaxTree) -> Vec<Range<usize>> {
    nodes(tree)
        .into_iter()
        .filter(|n| is_comment(n.kind()))
        .map(|n| n.byte_range())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(id: &str, text: &str) -> SyntaxTree {
        SyntaxTree::parse(Language::from_language_id(id).unwrap(), text).unwrap()
    }

    fn spelled<'a>(text: &'a str, ranges: &[Range<usize>]) -> Vec<&'a str> {
        ranges.iter().map(|r| &text[r.clone()]).collect()
    }

    #[test]
    fn parameters_leave_out_receivers_and_patterns() {
        let text =
            "class A:\n    def f(self, count, size: int, d=1, *rest):\n        return count\n";
        let tree = parse("python", text);
        let names: Vec<_> = parameters(&tree, text)
            .iter()
            .map(|p| &text[p.name.clone()])
            .collect();
        assert_eq!(names, ["count", "size", "d"]);
        let text = "fn f(&self, n: u32, (a, b): (u8, u8)) {}\n";
        let tree = parse("rust", text);
        let names: Vec<_> = parameters(&tree, text)
            .iter()
            .map(|p| &text[p.name.clone()])
            .collect();
        assert_eq!(names, ["n"]);
    }

    #[test]
    fn definitions_that_take_one_more_parameter_and_their_calls() {
        let text = "def f(a, b):\n    pass\ndef g(a=1):\n    pass\nf(1, 2)\nx.f()\ng()\n";
        let tree = parse("python", text);
        let defs = function_definitions(&tree);
        assert_eq!(
            defs.len(),
            1,
            "g has a default: no plain parameter after it"
        );
        assert_eq!(&text[defs[0].name.clone()], "f");
        assert_eq!(&text[..defs[0].append_at], "def f(a, b");
        let calls: Vec<_> = calls(&tree)
            .into_iter()
            .map(|c| (&text[c.callee], &text[c.arguments]))
            .collect();
        assert_eq!(calls, [("f", "(1, 2)"), ("f", "()"), ("g", "()")]);
        let text = "const h = () => 1;\nfunction k(...xs) {}\n";
        let tree = parse("javascript", text);
        let defs = function_definitions(&tree);
        assert_eq!(defs.len(), 1);
        assert_eq!(&text[defs[0].name.clone()], "h");
        assert!(!defs[0].has_parameters);
        assert_eq!(&text[..defs[0].append_at], "const h = (");
    }

    #[test]
    fn variable_uses_leave_out_members_and_keyword_names() {
        let text = "def f(n):\n    g(n=n, m=o.n)\n    return n\n";
        let tree = parse("python", text);
        let uses = variable_uses(&tree, text, "n", 0..text.len());
        assert_eq!(uses.len(), 3, "{uses:?}");
        assert_eq!(&text[uses[1].clone()], "n");
        assert_eq!(&text[uses[1].start - 1..uses[1].end], "=n");
    }

    #[test]
    fn fields_and_their_uses() {
        let text =
            "struct P { x: u8, y: u8 }\nfn f(p: P) -> u8 { let x = 1; p.x + P { x, y: 2 }.y }\n";
        let tree = parse("rust", text);
        assert_eq!(spelled(text, &field_definitions(&tree, text)), ["x", "y"]);
        assert_eq!(field_uses(&tree, text, "y", 0..text.len()).len(), 3);
        assert!(has_shorthand(&tree, text, "x", 0..text.len()));
        assert!(!has_shorthand(&tree, text, "y", 0..text.len()));
        let text = "class A:\n    size: int\n    def __init__(self):\n        self.count = 0\n        self.count += self.size\n";
        let tree = parse("python", text);
        assert_eq!(
            spelled(text, &field_definitions(&tree, text)),
            ["size", "count"]
        );
        assert_eq!(field_uses(&tree, text, "count", 0..text.len()).len(), 2);
        let text = "type T struct {\n\tName string\n}\nvar t = T{Name: \"a\"}\nvar n = t.Name\n";
        let tree = parse("go", text);
        assert_eq!(spelled(text, &field_definitions(&tree, text)), ["Name"]);
        assert_eq!(field_uses(&tree, text, "Name", 0..text.len()).len(), 3);
    }

    #[test]
    fn literals_are_numbers_and_plain_strings_inside_their_quotes() {
        let text = "let a = [1, 2.5, \"x y\", \"a\\n\", 'c'];\n// note\n";
        let tree = parse("javascript", text);
        let lits: Vec<_> = literals(&tree, text)
            .into_iter()
            .map(|l| (&text[l.range], l.kind))
            .collect();
        use LiteralKind::*;
        assert_eq!(
            lits,
            [
                ("1", Number),
                ("2.5", Number),
                ("x y", String),
                ("c", String)
            ]
        );
        assert_eq!(spelled(text, &comments(&tree)), ["// note"]);
    }
}
