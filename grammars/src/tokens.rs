//! The tokens an edit changed and the places that should change with them, for next-edit
//! suggestions: the identifier or literal around an edit ([`leaf_around`]), the other leaves
//! spelled the same ([`leaves_spelled`]), the parameter list an edit changed
//! ([`parameters_around`]) and the calls of that function ([`calls_to`]).

use std::ops::Range;

use tree_sitter::Node;

use crate::language::Language;
use crate::syntax_tree::SyntaxTree;
use crate::{check_range, GrammarError};

/// An identifier or literal token of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub range: Range<usize>,
    pub kind: LeafKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// A name that stands on its own: a variable, a parameter, a function, a type.
    Identifier,
    /// A name after a `.`: a field, a method, an attribute, a property.
    Member,
    Number,
    /// A string literal, quotes included.
    String,
}

/// The identifier or literal token that holds all of `range` (an edit inside it or at its
/// ends), or `None` where the range spans more than one token or none.
pub fn leaf_around(
    tree: &SyntaxTree,
    text: &str,
    range: Range<usize>,
) -> Result<Option<Leaf>, GrammarError> {
    check_range(text, &range)?;
    let probes = [
        (range.start, range.end),
        (range.start.saturating_sub(1), range.end),
        (range.start, (range.end + 1).min(text.len())),
    ];
    for (start, end) in probes {
        let Some(node) = tree.root().descendant_for_byte_range(start, end) else {
            continue;
        };
        let found = std::iter::successors(Some(node), |n| n.parent())
            .take(3)
            .find_map(|n| leaf_of(tree.language, n));
        if let Some(leaf) =
            found.filter(|l| l.range.start <= range.start && range.end <= l.range.end)
        {
            return Ok(Some(leaf));
        }
    }
    Ok(None)
}

/// Every identifier or literal token inside `within` spelled exactly `spelled`, in order.
pub fn leaves_spelled(
    tree: &SyntaxTree,
    text: &str,
    spelled: &str,
    within: Range<usize>,
) -> Vec<Leaf> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root()];
    while let Some(n) = stack.pop() {
        if n.end_byte() <= within.start || n.start_byte() >= within.end {
            continue;
        }
        let inside = n.start_byte() >= within.start && n.end_byte() <= within.end;
        if let Some(leaf) = leaf_of(tree.language, n) {
            if inside && text.get(leaf.range.clone()) == Some(spelled) {
                out.push(leaf);
            }
            continue;
        }
        let mut cursor = n.walk();
        stack.extend(n.children(&mut cursor));
    }
    out.sort_by_key(|l| l.range.start);
    out
}

/// The leaf a node is, if it is one: identifiers and literals (a string as a whole).
fn leaf_of(language: Language, n: Node) -> Option<Leaf> {
    let kind = match n.kind() {
        "identifier" | "type_identifier" | "shorthand_property_identifier" => {
            if is_member_position(language, n) {
                LeafKind::Member
            } else {
                LeafKind::Identifier
            }
        }
        "field_identifier" | "property_identifier" => LeafKind::Member,
        "integer_literal" | "float_literal" | "integer" | "float" | "number" | "int_literal" => {
            LeafKind::Number
        }
        "string_literal"
        | "raw_string_literal"
        | "string"
        | "interpreted_string_literal"
        | "template_string" => LeafKind::String,
        _ => return None,
    };
    Some(Leaf {
        range: n.byte_range(),
        kind,
    })
}

/// Python's attribute names are plain identifiers: one is a member when it is the `attribute`
/// of an `attribute` node.
fn is_member_position(language: Language, n: Node) -> bool {
    language == Language::Python
        && n.parent().is_some_and(|p| {
            p.kind() == "attribute" && p.child_by_field_name("attribute") == Some(n)
        })
}

/// A function's parameter list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    /// The function's name; `None` for an anonymous one (a closure, a lambda, an arrow
    /// function), which no call names.
    pub function: Option<String>,
    /// The whole function, where its parameters are in scope.
    pub owner: Range<usize>,
    /// The list, parentheses included.
    pub list: Range<usize>,
    /// How many parameters a call passes: a method's `self` or receiver not counted.
    pub count: usize,
    /// How many of those a call must pass: those without a default value, before any
    /// variadic one.
    pub required: usize,
}

/// The parameter list of a function (named or not) that holds `range`, if one does.
pub fn parameters_around(
    tree: &SyntaxTree,
    text: &str,
    range: Range<usize>,
) -> Result<Option<Parameters>, GrammarError> {
    check_range(text, &range)?;
    let node = tree
        .root()
        .descendant_for_byte_range(range.start, range.end)
        .unwrap_or(tree.root());
    let found = std::iter::successors(Some(node), |n| n.parent()).find_map(|n| {
        let owner = n.parent()?;
        let list = owner
            .child_by_field_name("parameters")
            .filter(|l| *l == n)?;
        let function = owner
            .child_by_field_name("name")
            .and_then(|name| text.get(name.byte_range()))
            .map(str::to_string);
        let (count, required) = parameter_counts(tree.language, list, text);
        Some(Parameters {
            function,
            owner: owner.byte_range(),
            list: list.byte_range(),
            count,
            required,
        })
    });
    Ok(found.filter(|p| p.list.start < range.start && range.end < p.list.end))
}

/// How many parameters of `list` a call passes, and how many it must pass.
fn parameter_counts(language: Language, list: Node, text: &str) -> (usize, usize) {
    let mut cursor = list.walk();
    let mut count = 0;
    let mut required = 0;
    let mut optional_seen = false;
    for (i, p) in list.named_children(&mut cursor).enumerate() {
        let kind = p.kind();
        if kind.contains("comment") || is_receiver(language, p, i, text) {
            continue;
        }
        let names = go_names(p);
        count += names;
        optional_seen |= is_optional(p);
        if !optional_seen {
            required += names;
        }
    }
    (count, required)
}

/// `self` in Rust; Python's first `self` or `cls`: what a method call passes before the
/// parentheses.
fn is_receiver(language: Language, p: Node, index: usize, text: &str) -> bool {
    match language {
        Language::Rust => p.kind() == "self_parameter",
        Language::Python => {
            index == 0
                && p.kind() == "identifier"
                && matches!(text.get(p.byte_range()), Some("self" | "cls"))
        }
        _ => false,
    }
}

/// A parameter with a default value, or a variadic one: calls may leave it out.
fn is_optional(p: Node) -> bool {
    matches!(
        p.kind(),
        "default_parameter"
            | "typed_default_parameter"
            | "list_splat_pattern"
            | "dictionary_splat_pattern"
            | "keyword_separator"
            | "assignment_pattern"
            | "rest_pattern"
            | "optional_parameter"
            | "variadic_parameter_declaration"
            | "variadic_parameter"
    ) || p.child_by_field_name("value").is_some()
        || p.named_child(0).is_some_and(|c| c.kind() == "rest_pattern")
}

/// How many parameters one declaration declares: Go's `a, b int` declares two.
fn go_names(p: Node) -> usize {
    if p.kind() != "parameter_declaration" {
        return 1;
    }
    let mut cursor = p.walk();
    let names = p.children_by_field_name("name", &mut cursor).count();
    names.max(1)
}

/// A call of a function by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The argument list, parentheses included.
    pub arguments: Range<usize>,
    /// How many arguments it passes.
    pub count: usize,
}

/// Every call inside `within` of a function or method named `name` (`name(…)`, `x.name(…)`,
/// `path::name(…)`), in order.
pub fn calls_to(tree: &SyntaxTree, text: &str, name: &str, within: Range<usize>) -> Vec<Call> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root()];
    while let Some(n) = stack.pop() {
        if n.end_byte() <= within.start || n.start_byte() >= within.end {
            continue;
        }
        if let Some(call) = call_of(n, text, name) {
            if call.arguments.start >= within.start && call.arguments.end <= within.end {
                out.push(call);
            }
        }
        let mut cursor = n.walk();
        stack.extend(n.children(&mut cursor));
    }
    out.sort_by_key(|c| c.arguments.start);
    out
}

fn call_of(n: Node, text: &str, name: &str) -> Option<Call> {
    if !matches!(n.kind(), "call_expression" | "call") {
        return None;
    }
    let callee = n.child_by_field_name("function")?;
    let named = match callee.kind() {
        "field_expression" => callee.child_by_field_name("field"),
        "member_expression" => callee.child_by_field_name("property"),
        "attribute" => callee.child_by_field_name("attribute"),
        "selector_expression" => callee.child_by_field_name("field"),
        "scoped_identifier" => callee.child_by_field_name("name"),
        _ => Some(callee),
    }?;
    if text.get(named.byte_range()) != Some(name) {
        return None;
    }
    let arguments = n.child_by_field_name("arguments")?;
    Some(Call {
        arguments: arguments.byte_range(),
        count: list_items(arguments),
    })
}

/// The items of a parenthesised list: its named children, comments left out.
fn list_items(list: Node) -> usize {
    let mut cursor = list.walk();
    list.named_children(&mut cursor)
        .filter(|c| !c.kind().contains("comment"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(language: Language, text: &str) -> SyntaxTree {
        SyntaxTree::parse(language, text).unwrap()
    }

    fn at(text: &str, needle: &str) -> Range<usize> {
        let i = text.find(needle).unwrap();
        i..i + needle.len()
    }

    #[test]
    fn the_leaf_around_an_edit_is_the_whole_identifier_or_literal() {
        let text = "fn f(count: u32) -> f64 {\n    let w = 1.5;\n    self.total + count\n}\n";
        let t = tree(Language::Rust, text);
        let c = text.find("count").unwrap();
        let leaf = leaf_around(&t, text, c + 2..c + 3).unwrap().unwrap();
        assert_eq!(
            (&text[leaf.range.clone()], leaf.kind),
            ("count", LeafKind::Identifier)
        );
        let w = text.find("1.5").unwrap();
        let leaf = leaf_around(&t, text, w..w + 1).unwrap().unwrap();
        assert_eq!((&text[leaf.range], leaf.kind), ("1.5", LeafKind::Number));
        let total = at(text, "total");
        let leaf = leaf_around(&t, text, total.clone()).unwrap().unwrap();
        assert_eq!(leaf.kind, LeafKind::Member);
        // An edit over two tokens has no one leaf.
        assert_eq!(leaf_around(&t, text, at(text, "count: u32")).unwrap(), None);
    }

    #[test]
    fn leaves_spelled_the_same_tell_members_from_variables() {
        let text = "def f(self, count):\n    self.count = count\n    return 'count'\n";
        let t = tree(Language::Python, text);
        let all = leaves_spelled(&t, text, "count", 0..text.len());
        let kinds: Vec<_> = all.iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            [LeafKind::Identifier, LeafKind::Member, LeafKind::Identifier]
        );
    }

    #[test]
    fn a_parameter_list_and_the_calls_of_its_function() {
        for (language, text) in [
            (Language::Rust, "fn add(a: i32, b: i32) -> i32 { a + b }\nfn g() { add(1, 2); m.add(3, 4); }\n"),
            (Language::Python, "def add(a, b):\n    return a + b\n\nadd(1, 2)\nm.add(3, 4)\n"),
            (Language::JavaScript, "function add(a, b) { return a + b; }\nadd(1, 2);\nm.add(3, 4);\n"),
            (Language::Go, "package p\nfunc add(a int, b int) int { return a + b }\nfunc g() { add(1, 2); m.add(3, 4) }\n"),
        ] {
            let t = tree(language, text);
            let b = text.find("b").unwrap();
            let params = parameters_around(&t, text, b..b + 1).unwrap();
            let params = params.unwrap_or_else(|| panic!("{language:?}"));
            assert_eq!(
                (params.function.as_deref(), params.count, params.required),
                (Some("add"), 2, 2),
                "{language:?}"
            );
            let calls = calls_to(&t, text, "add", 0..text.len());
            let args: Vec<_> = calls.iter().map(|c| (&text[c.arguments.clone()], c.count)).collect();
            assert_eq!(args, [("(1, 2)", 2), ("(3, 4)", 2)], "{language:?}");
        }
    }

    #[test]
    fn receivers_defaults_and_variadics_are_not_required() {
        for (language, text, count, required) in [
            (
                Language::Python,
                "class A:\n    def f(self, a, b=1, *rest):\n        pass\n",
                3,
                1,
            ),
            (Language::Rust, "impl A { fn f(&self, a: u8) {} }\n", 1, 1),
            (
                Language::JavaScript,
                "function f(a, b = 2, ...rest) {}\n",
                3,
                1,
            ),
            (
                Language::TypeScript,
                "function f(a: number, b?: number) {}\n",
                2,
                1,
            ),
            (
                Language::Go,
                "package p\nfunc f(a, b int, rest ...int) {}\n",
                3,
                2,
            ),
        ] {
            let t = tree(language, text);
            // Just inside the list's opening parenthesis.
            let a = text.find('(').unwrap() + 1;
            let params = parameters_around(&t, text, a..a + 1).unwrap();
            let params = params.unwrap_or_else(|| panic!("{language:?}"));
            assert_eq!(
                (params.count, params.required),
                (count, required),
                "{language:?}"
            );
        }
        // An anonymous function's list has no name, and its owner is the function.
        let text = "xs.map(function (key, value) { return key; });\n";
        let t = tree(Language::JavaScript, text);
        let key = text.find("key").unwrap();
        let params = parameters_around(&t, text, key..key + 3).unwrap().unwrap();
        assert_eq!(params.function, None);
        assert_eq!(&text[params.owner], "function (key, value) { return key; }");
    }

    #[test]
    fn an_edit_outside_a_parameter_list_has_none() {
        let text = "fn add(a: i32) -> i32 { a }\n";
        let t = tree(Language::Rust, text);
        let body = text.rfind("a }").unwrap();
        assert_eq!(parameters_around(&t, text, body..body + 1).unwrap(), None);
    }
}
