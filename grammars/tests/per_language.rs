//! Span selection, holes, syntax checks and incremental reparsing, for every language, with byte
//! offsets checked exactly. Fixtures mark positions inline: `‸` is a cursor (two make a
//! selection) and `«…»` an expected range, numbered in the order they open. The markers are
//! removed before parsing, so every offset is a byte offset into the clean text, which holds
//! non-ASCII identifiers, emoji, CRLF line endings and tabs.

use std::ops::Range;

use dllm_grammars::span::{enclosing_function, identifier_at, occurrences, span_at_cursor};
use dllm_grammars::{
    check_edit, check_edits, find_holes, select_span, GrammarError, HoleKind, HoleMarkers,
    Language, SpanKind, SpanRequest, SyntaxTree,
};

struct Marked {
    text: String,
    cursors: Vec<usize>,
    ranges: Vec<Range<usize>>,
}

fn marked(src: &str) -> Marked {
    let mut text = String::new();
    let mut cursors = Vec::new();
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut open = Vec::new();
    for c in src.chars() {
        match c {
            '‸' => cursors.push(text.len()),
            '«' => {
                open.push(ranges.len());
                ranges.push(text.len()..usize::MAX);
            }
            '»' => ranges[open.pop().expect("unbalanced »")].end = text.len(),
            _ => text.push(c),
        }
    }
    assert!(open.is_empty(), "unbalanced « in {src:?}");
    Marked {
        text,
        cursors,
        ranges,
    }
}

fn tree(lang: Language, text: &str) -> SyntaxTree {
    SyntaxTree::parse(lang, text).unwrap()
}

/// Every node with its kind, byte range and row:column span: stricter than the S-expression,
/// which has no positions.
fn dump(t: &SyntaxTree) -> String {
    fn walk(n: tree_sitter::Node, depth: usize, out: &mut String) {
        let missing = if n.is_missing() { " MISSING" } else { "" };
        let (from, to) = (n.start_position(), n.end_position());
        out.push_str(&format!(
            "{}{} {:?} {}:{}-{}:{}{missing}\n",
            " ".repeat(depth),
            n.kind(),
            n.byte_range(),
            from.row,
            from.column,
            to.row,
            to.column
        ));
        let mut cursor = n.walk();
        for child in n.children(&mut cursor) {
            walk(child, depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(t.root(), 0, &mut out);
    out
}

struct Fixture {
    lang: Language,
    ids: &'static [&'static str],
    exts: &'static [&'static str],
    /// `‸` inside an empty block; `«»` the block's inside.
    empty_block: &'static str,
    /// `‸` mid-line; `«»` the rest of the line; whether the cursor is mid-word.
    rest_of_line: (&'static str, bool),
    /// Two `‸` cutting through tokens; `«»` the selection widened to whole tokens.
    selection: &'static str,
    /// `‸` in a function; the first `«»` is its body's inside, the second the statement.
    function: &'static str,
    /// `«»` around every hole, and their kinds in order.
    holes: (&'static str, &'static [HoleKind]),
    /// `«»` an edit range, a valid replacement, and replacements that unbalance braces.
    check: (&'static str, &'static str, &'static [&'static str]),
    /// `«»` a range to replace incrementally, and its replacement.
    edit: (&'static str, &'static str),
}

const RUST: Fixture = Fixture {
    lang: Language::Rust,
    ids: &["rust"],
    exts: &["rs"],
    empty_block: "fn größe(a: i32) -> i32 {«\n    ‸\n»}\n",
    rest_of_line: (
        "fn main() {\r\n\tlet größe = «‸compute(\"😀\");»\r\n\tprintln!(\"{größe}\");\r\n}\r\n",
        true,
    ),
    selection: "fn f() -> usize {\n    let größe = «grö‸ße + ano‸ther»;\n    größe\n}\n",
    function: "impl S {\n    fn m(&self) -> i32 {«\n        «let x = 1 ‸+ 2;»\n        x\n    »}\n}\n",
    holes: (
        "fn f(a: i32) -> i32 {\n    «// TODO: größe 😀»\n    let b = «todo!()»;\n    «unimplemented!(\"later\");»\n}\n",
        &[HoleKind::Comment, HoleKind::Macro, HoleKind::Macro],
    ),
    check: (
        "fn add(a: i32, b: i32) -> i32 {\n    «todo!()»\n}\n",
        "a + b",
        &["{ a + b", "a + b }"],
    ),
    edit: ("fn main() {\n    let x = «1»;\n}\n", "größe(\"😀\") + 2"),
};

const PYTHON: Fixture = Fixture {
    lang: Language::Python,
    ids: &["python"],
    exts: &["py", "pyi"],
    empty_block: "def größe(a, b):\r\n    «‸pass»\r\n",
    rest_of_line: (
        "def f(xs):\r\n    total = «‸sum(xs)»\r\n    return total\r\n",
        true,
    ),
    selection: "x = «größ‸e + 1‸0»\n",
    function: "class A:\n    def m(self):\n        ««y = 1 ‸+ 2»\n        return y»\n\nz = 3\n",
    holes: (
        "def f(xs):\n    «pass»\n\ndef g():\n    «...»\n\ndef h():\n    «raise NotImplementedError(\"größe 😀\")»\n\n«# FIXME later»\ndef k():\n    pass\n    return 1\n",
        &[
            HoleKind::Placeholder,
            HoleKind::Placeholder,
            HoleKind::NotImplemented,
            HoleKind::Comment,
        ],
    ),
    check: (
        "def f(xs):\n    «pass»\n",
        "return sum(xs)",
        &["return {x: 1 for x in xs"],
    ),
    edit: ("def f():\r\n\treturn «1»\r\n", "größe + \"😀\""),
};

const JAVASCRIPT: Fixture = Fixture {
    lang: Language::JavaScript,
    ids: &["javascript", "javascriptreact"],
    exts: &["js", "mjs", "cjs", "jsx"],
    empty_block: "function add(a, b) {«‸»}\n",
    rest_of_line: ("const s = \"😀\";\nconst n = «‸s.length + 1;»\n", true),
    selection: "const total = «fir‸st + sec‸ond»;\n",
    function: "const f = (x) => {«\n  «const y = x ‸+ 1;»\n  return y;\n»};\n",
    holes: (
        "function f() {\n  «// TODO: implement 😀»\n  «throw new Error(\"not implemented\");»\n}\n/* TODOS aren't holes */\n",
        &[HoleKind::Comment, HoleKind::NotImplemented],
    ),
    check: (
        "function f(a, b) {\n  return «a»;\n}\n",
        "a + b",
        &["{ a + b", "a + b }"],
    ),
    edit: ("function f() {\n  return «1»;\n}\n", "`größe ${\"😀\"}`"),
};

const TYPESCRIPT: Fixture = Fixture {
    lang: Language::TypeScript,
    ids: &["typescript"],
    exts: &["ts", "mts", "cts"],
    empty_block: "class A {\r\n  m(x: number): number {« \r\n  ‸\r\n  »}\r\n}\r\n",
    rest_of_line: (
        "function f(x: number): number {\n  const y: number = x ‸«* 2;»\n  return y;\n}\n",
        false,
    ),
    selection: "let s: string = «\"héllo wo‸rld\" + na‸me»;\n",
    function: "class A {\n  m(x: number) {«\n    «return x ‸* 2;»\n  »}\n}\n",
    holes: (
        "function f(): number {\n  «throw new Error(\"Not implemented\");»\n}\n«/* TODOS are not TODO-less */»\n// nothing to do here\n",
        &[HoleKind::NotImplemented, HoleKind::Comment],
    ),
    check: (
        "function f(a: number, b: number): number {\n  return «a»;\n}\n",
        "a + b",
        &["{ a + b", "a + b }"],
    ),
    edit: ("let x: number = «1»;\n", "größe as number"),
};

const TSX: Fixture = Fixture {
    lang: Language::Tsx,
    ids: &["typescriptreact"],
    exts: &["tsx"],
    empty_block: "const App = () => {«\n  ‸\n»};\n",
    rest_of_line: ("const App = () => <div>{‸«count}</div>;»\n", true),
    selection: "const el = <p title=\"x\">{«cou‸nt + of‸fset»}</p>;\n",
    function:
        "function App({ n }: { n: number }) {«\n  «const m = n ‸+ 1;»\n  return <b>{m}</b>;\n»}\n",
    holes: (
        "export function App() {\n  «// TODO: layout»\n  return <div>{«/* FIXME */»}</div>;\n}\n",
        &[HoleKind::Comment, HoleKind::Comment],
    ),
    check: (
        "function App() {\n  return «1»;\n}\n",
        "<b>{größe} 😀</b>",
        &["<b>{x</b>", "<b>{x}</b> }"],
    ),
    edit: ("const A = () => <p>«hi»</p>;\n", "{größe} 😀"),
};

const GO: Fixture = Fixture {
    lang: Language::Go,
    ids: &["go"],
    exts: &["go"],
    empty_block: "package main\n\nfunc add(a int, b int) int {«\n\t‸\n»}\n",
    rest_of_line: (
        "package main\n\nfunc main() {\n\tgröße := 1\n\tfmt.Println(«‸größe, \"😀\")»\n}\n",
        true,
    ),
    selection: "package p\n\nfunc f() {\n\tx := «stri‸ngs.Repeat(\"ab\", 3‸2»)\n}\n",
    function: "package p\n\nfunc (s *S) M(x int) int {«\n\t«y := x ‸+ 1»\n\treturn y\n»}\n",
    holes: (
        "package p\n\nfunc f() int {\n\t«// TODO(me): größe»\n\t«panic(\"not implemented\")»\n}\n",
        &[HoleKind::Comment, HoleKind::NotImplemented],
    ),
    check: (
        "package p\n\nfunc f() int {\n\treturn «1»\n}\n",
        "len(\"größe 😀\")",
        &["func() int { return 1", "1 }"],
    ),
    edit: (
        "package p\n\nfunc f() int {\n\treturn «1»\n}\n",
        "len(\"größe\")\n\t// 😀",
    ),
};

fn lookup(f: &Fixture) {
    for id in f.ids {
        assert_eq!(Language::from_language_id(id), Some(f.lang), "{id}");
    }
    for ext in f.exts {
        assert_eq!(Language::from_extension(ext), Some(f.lang), "{ext}");
        let path = format!("src/größe.{ext}");
        assert_eq!(
            Language::from_path(std::path::Path::new(&path)),
            Some(f.lang)
        );
    }
    assert_eq!(Language::from_language_id(f.lang.name()), Some(f.lang));
    let text = marked(f.function).text;
    assert!(
        !tree(f.lang, &text).has_errors(),
        "{}",
        tree(f.lang, &text).sexp()
    );
}

fn empty_block(f: &Fixture) {
    let m = marked(f.empty_block);
    let t = tree(f.lang, &m.text);
    let span = select_span(
        &t,
        &m.text,
        &SpanRequest::Cursor {
            offset: m.cursors[0],
        },
    )
    .unwrap();
    assert_eq!(span.range, m.ranges[0], "{:?}", &m.text[span.range.clone()]);
    assert_eq!(span.kind, SpanKind::EmptyBlock);
    assert!(span.multiline);
    assert!(!span.mid_word);
    // The same span from the direct call.
    assert_eq!(span_at_cursor(&t, &m.text, m.cursors[0]).unwrap(), span);
}

fn rest_of_line(f: &Fixture) {
    let (src, mid_word) = f.rest_of_line;
    let m = marked(src);
    let t = tree(f.lang, &m.text);
    let span = select_span(
        &t,
        &m.text,
        &SpanRequest::Cursor {
            offset: m.cursors[0],
        },
    )
    .unwrap();
    assert_eq!(span.range, m.ranges[0], "{:?}", &m.text[span.range.clone()]);
    assert_eq!(span.kind, SpanKind::RestOfLine);
    assert!(!span.multiline);
    assert_eq!(span.mid_word, mid_word);
    // Stops before the line break, whatever it is.
    let after = &m.text[span.range.end..];
    assert!(
        after.starts_with('\n') || after.starts_with("\r\n"),
        "{after:?}"
    );
}

fn selection(f: &Fixture) {
    let m = marked(f.selection);
    let t = tree(f.lang, &m.text);
    let request = SpanRequest::Selection {
        start: m.cursors[0],
        end: m.cursors[1],
    };
    let span = select_span(&t, &m.text, &request).unwrap();
    assert_eq!(span.range, m.ranges[0], "{:?}", &m.text[span.range.clone()]);
    assert_eq!(span.kind, SpanKind::Selection);
    assert!(!span.multiline);
    // Already whole tokens: nothing moves.
    let again = SpanRequest::Selection {
        start: span.range.start,
        end: span.range.end,
    };
    assert_eq!(select_span(&t, &m.text, &again).unwrap().range, span.range);
}

fn function(f: &Fixture) {
    let m = marked(f.function);
    let (text, at) = (&m.text, m.cursors[0]);
    let t = tree(f.lang, text);
    let show = |r: &Range<usize>| text[r.clone()].to_string();
    let body = select_span(&t, text, &SpanRequest::EnclosingFunctionBody { offset: at }).unwrap();
    assert_eq!(body.range, m.ranges[0], "{:?}", show(&body.range));
    assert_eq!(body.kind, SpanKind::FunctionBody);
    assert!(body.multiline);
    let block = select_span(&t, text, &SpanRequest::EnclosingBlock { offset: at }).unwrap();
    assert_eq!(block.range, m.ranges[0], "{:?}", show(&block.range));
    assert_eq!(block.kind, SpanKind::Block);
    let statement = select_span(&t, text, &SpanRequest::EnclosingStatement { offset: at }).unwrap();
    assert_eq!(statement.range, m.ranges[1], "{:?}", show(&statement.range));
    assert_eq!(statement.kind, SpanKind::Statement);
    // The whole function starts before its body and ends after it.
    let whole = enclosing_function(&t, text, at).unwrap().unwrap();
    assert!(whole.whole.start < whole.body.start && whole.body.end <= whole.whole.end);
    assert_eq!(whole.body, m.ranges[0]);
    // At the very end of the file there is no function; past it the offset is an error.
    assert_eq!(
        select_span(
            &t,
            text,
            &SpanRequest::EnclosingFunctionBody { offset: text.len() }
        ),
        Err(GrammarError::NoEnclosing {
            what: "function",
            offset: text.len()
        })
    );
    assert!(matches!(
        select_span(
            &t,
            text,
            &SpanRequest::EnclosingBlock {
                offset: text.len() + 1
            }
        ),
        Err(GrammarError::OutOfBounds { .. })
    ));
}

fn hole_ranges(f: &Fixture) {
    let (src, kinds) = f.holes;
    let m = marked(src);
    let t = tree(f.lang, &m.text);
    for markers in [HoleMarkers::for_language(f.lang), HoleMarkers::default()] {
        let found = find_holes(&t, &m.text, 0..m.text.len(), &markers);
        let got: Vec<(Range<usize>, HoleKind)> =
            found.into_iter().map(|h| (h.range, h.kind)).collect();
        let want: Vec<(Range<usize>, HoleKind)> = m
            .ranges
            .iter()
            .cloned()
            .zip(kinds.iter().copied())
            .collect();
        assert_eq!(got, want, "{}", t.sexp());
    }
    // A range that stops one byte short of the last hole leaves it out.
    let last = m.ranges.last().unwrap();
    let some = find_holes(&t, &m.text, 0..last.end - 1, &HoleMarkers::default());
    assert_eq!(some.len(), kinds.len() - 1);
}

fn check(f: &Fixture) {
    let (src, good, bad) = f.check;
    let m = marked(src);
    let r = m.ranges[0].clone();
    let c = check_edit(f.lang, &m.text, r.clone(), good).unwrap();
    assert!(c.ok, "{c:?}");
    assert_eq!((c.errors_before, c.errors_after, c.total_after), (0, 0, 0));
    assert_eq!(
        c.new_text,
        format!("{}{good}{}", &m.text[..r.start], &m.text[r.end..])
    );
    for b in bad {
        let c = check_edit(f.lang, &m.text, r.clone(), b).unwrap();
        assert!(!c.ok, "{b:?} accepted: {c:?}");
        assert!(c.total_after > 0);
        for e in &c.error_ranges {
            assert!(e.end <= c.new_text.len() && c.new_text.is_char_boundary(e.start));
        }
    }
}

fn incremental_edit(f: &Fixture) {
    let (src, replacement) = f.edit;
    let m = marked(src);
    let r = m.ranges[0].clone();
    let mut t = tree(f.lang, &m.text);
    let new_text = t.replace(&m.text, r.clone(), replacement).unwrap();
    assert_eq!(
        new_text,
        format!("{}{replacement}{}", &m.text[..r.start], &m.text[r.end..])
    );
    let fresh = tree(f.lang, &new_text);
    assert_eq!(t.sexp(), fresh.sexp());
    assert_eq!(dump(&t), dump(&fresh));
    assert!(!t.has_errors(), "{}", t.sexp());
    // And back.
    let back = t
        .replace(
            &new_text,
            r.start..r.start + replacement.len(),
            &m.text[r.clone()],
        )
        .unwrap();
    assert_eq!(back, m.text);
    assert_eq!(dump(&t), dump(&tree(f.lang, &m.text)));
}

macro_rules! per_language {
    ($($module:ident => $fixture:expr;)*) => {$(
        mod $module {
            use super::*;
            #[test]
            fn lookup() {
                super::lookup(&$fixture)
            }
            #[test]
            fn cursor_in_an_empty_block_masks_the_block() {
                super::empty_block(&$fixture)
            }
            #[test]
            fn cursor_mid_line_masks_the_rest_of_the_line() {
                super::rest_of_line(&$fixture)
            }
            #[test]
            fn selection_widens_to_whole_tokens() {
                super::selection(&$fixture)
            }
            #[test]
            fn enclosing_function_body_block_and_statement() {
                super::function(&$fixture)
            }
            #[test]
            fn holes_with_exact_ranges() {
                super::hole_ranges(&$fixture)
            }
            #[test]
            fn edit_check_accepts_valid_and_rejects_unbalanced() {
                super::check(&$fixture)
            }
            #[test]
            fn incremental_edit_equals_a_fresh_parse() {
                super::incremental_edit(&$fixture)
            }
        }
    )*};
}

per_language! {
    rust => RUST;
    python => PYTHON;
    javascript => JAVASCRIPT;
    typescript => TYPESCRIPT;
    tsx => TSX;
    go => GO;
}

#[test]
fn every_request_refuses_offsets_outside_the_text_or_inside_a_character() {
    let text = "fn größe() {}\n";
    let t = tree(Language::Rust, text);
    let inside = text.find('ö').unwrap() + 1;
    for offset in [inside, text.len() + 1] {
        for request in [
            SpanRequest::Cursor { offset },
            SpanRequest::Selection {
                start: 0,
                end: offset,
            },
            SpanRequest::Selection {
                start: offset,
                end: text.len(),
            },
            SpanRequest::EnclosingStatement { offset },
            SpanRequest::EnclosingBlock { offset },
            SpanRequest::EnclosingFunctionBody { offset },
        ] {
            let err = select_span(&t, text, &request).unwrap_err();
            assert!(
                matches!(
                    err,
                    GrammarError::NotCharBoundary { .. } | GrammarError::OutOfBounds { .. }
                ),
                "{request:?}: {err:?}"
            );
        }
    }
    assert_eq!(
        select_span(&t, text, &SpanRequest::Selection { start: 5, end: 2 }),
        Err(GrammarError::InvertedRange { start: 5, end: 2 })
    );
    // The end of the text is a valid cursor.
    let end = select_span(&t, text, &SpanRequest::Cursor { offset: text.len() }).unwrap();
    assert_eq!(end.range, text.len()..text.len());
    assert_eq!(
        select_span(&t, text, &SpanRequest::EnclosingStatement { offset: 0 })
            .unwrap()
            .range,
        0..text.len() - 1
    );
}

#[test]
fn python_cursor_in_the_indentation_of_a_placeholder_body() {
    for body in ["pass", "..."] {
        let m = marked(&format!("def f():\n  ‸  «{body}»\n\nx = 1\n"));
        let t = tree(Language::Python, &m.text);
        let span = span_at_cursor(&t, &m.text, m.cursors[0]).unwrap();
        assert_eq!(span.range, m.ranges[0], "{body}");
        assert_eq!(span.kind, SpanKind::EmptyBlock);
    }
    // A real body is not empty: the rest of the line.
    let m = marked("def f():\n    ‸«return 1»\n");
    let t = tree(Language::Python, &m.text);
    let span = span_at_cursor(&t, &m.text, m.cursors[0]).unwrap();
    assert_eq!(
        (span.range, span.kind),
        (m.ranges[0].clone(), SpanKind::RestOfLine)
    );
}

#[test]
fn a_blank_line_after_a_block_opener_is_multiline() {
    for (lang, src) in [
        (Language::Python, "def f(xs):\n    ‸\n"),
        (
            Language::Rust,
            "fn f() {\n    let v = vec![\n        ‸\n    ];\n}\n",
        ),
    ] {
        let m = marked(src);
        let span = span_at_cursor(&tree(lang, &m.text), &m.text, m.cursors[0]).unwrap();
        assert_eq!(span.kind, SpanKind::RestOfLine, "{lang:?}");
        assert!(span.multiline, "{lang:?}");
    }
    // A blank line in the middle of a body is not.
    let m = marked("fn f() {\n    let a = 1;\n\t‸\n    a\n}\n");
    let span = span_at_cursor(&tree(Language::Rust, &m.text), &m.text, m.cursors[0]).unwrap();
    assert_eq!(span.range, m.cursors[0]..m.cursors[0]);
    assert!(!span.multiline);
}

#[test]
fn the_innermost_empty_block_wins_and_closed_braces_do_not_count() {
    let m = marked("fn f(x: bool) {\n    let y = 1;\n    if x {« ‸ »}‸\n}\n");
    let t = tree(Language::Rust, &m.text);
    let span = span_at_cursor(&t, &m.text, m.cursors[0]).unwrap();
    assert_eq!(
        (span.range, span.kind),
        (m.ranges[0].clone(), SpanKind::EmptyBlock)
    );
    // Right after the `}` the cursor is in the outer, non-empty body.
    let span = span_at_cursor(&t, &m.text, m.cursors[1]).unwrap();
    assert_eq!(span.kind, SpanKind::RestOfLine);
    assert_eq!(span.range, m.cursors[1]..m.cursors[1]);
}

#[test]
fn selections_inside_strings_and_comments_take_the_whole_token() {
    // The first `«»` starts the widened selection; the second, if any, ends it (else the
    // second cursor, which sits between tokens, stays).
    let cases = [
        (
            Language::Rust,
            "fn f() { let s = «\"gr‸öße 😀\"»;  ‸// end\n}\n",
        ),
        (Language::Python, "x = «f\"{a‸} b\"» + «'c‸'»\n"),
        (
            Language::Go,
            "package p\n\n«// a ‸comment»\nvar x = «`r‸aw`»\n",
        ),
        (
            Language::JavaScript,
            "const t = «`a${b}‸c`» + «/* n‸ote */» 1;\n",
        ),
    ];
    for (lang, src) in cases {
        let m = marked(src);
        let t = tree(lang, &m.text);
        let r =
            dllm_grammars::span::widen_selection(&t, &m.text, m.cursors[0]..m.cursors[1]).unwrap();
        let want = m.ranges[0].start..m.ranges.get(1).map_or(m.cursors[1], |r| r.end);
        assert_eq!(r, want, "{lang:?}: {:?}", &m.text[r.clone()]);
    }
}

#[test]
fn expression_bodies_and_function_literals() {
    let cases = [
        (Language::JavaScript, "const sq = (x) => «x ‸* x»;\n"),
        (Language::Rust, "fn f() {\n    let g = |x| «x ‸+ 1»;\n}\n"),
        (
            Language::Go,
            "package p\n\nvar f = func(x int) int {«\n\treturn x ‸+ 1\n»}\n",
        ),
        (
            Language::TypeScript,
            "const o = {\n  *gen() {« yield ‸1; »},\n};\n",
        ),
    ];
    for (lang, src) in cases {
        let m = marked(src);
        let t = tree(lang, &m.text);
        let f = enclosing_function(&t, &m.text, m.cursors[0]).unwrap();
        assert_eq!(f.map(|f| f.body), Some(m.ranges[0].clone()), "{lang:?}");
    }
}

#[test]
fn an_edit_is_judged_near_itself_when_the_file_was_already_broken() {
    let broken = "fn a() { let x = ; }\nfn b() -> i32 { todo!() }\n";
    let h = broken.find("todo!()").unwrap();
    let c = check_edit(Language::Rust, broken, h..h + 7, "1").unwrap();
    assert!(c.ok, "{c:?}");
    // Totals count the top-level items the edit touches: `fn b` only, which has no error.
    assert_eq!((c.total_before, c.total_after), (0, 0));
    // An error right at the edit is reported where it is, to be re-masked.
    let c = check_edit(Language::Rust, broken, h..h + 7, "(1").unwrap();
    assert!(!c.ok);
    assert!(c.errors_after > c.errors_before);
    assert!(
        c.error_ranges
            .iter()
            .all(|r| r.start >= h && r.end <= h + 3),
        "{c:?}"
    );
    // Multi-edit form: the two replacements are applied together.
    let c = check_edits(
        Language::Rust,
        broken,
        &[(h..h + 7, "2".into()), (17..17, "0".into())],
    )
    .unwrap();
    assert!(c.ok, "{c:?}");
    assert_eq!(c.total_after, 0);
    assert_eq!(c.new_text, "fn a() { let x = 0; }\nfn b() -> i32 { 2 }\n");
}

#[test]
fn identifiers_and_their_occurrences() {
    let m =
        marked("fn f(count: i32) -> i32 {\n    let größe = co‸unt * 2;\n    größe + count\n}\n");
    let t = tree(Language::Rust, &m.text);
    let id = identifier_at(&t, &m.text, m.cursors[0]).unwrap().unwrap();
    assert_eq!(&m.text[id.clone()], "count");
    let f = enclosing_function(&t, &m.text, m.cursors[0])
        .unwrap()
        .unwrap();
    let occ = occurrences(&t, &m.text, "count", f.whole.clone());
    assert_eq!(occ.len(), 3);
    assert!(occ.iter().all(|r| &m.text[r.clone()] == "count"));
    let g = occurrences(&t, &m.text, "größe", f.whole);
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].len(), "größe".len());
}

#[test]
fn successive_incremental_edits_track_a_typing_session() {
    let mut text = String::from("def f(xs):\r\n\tpass\r\n");
    let mut t = tree(Language::Python, &text);
    let p = text.find("pass").unwrap();
    text = t.replace(&text, p..p + 4, "").unwrap();
    // Type a body one character at a time, as an editor would send it.
    let mut at = p;
    for c in "total = sum(größe for größe in xs)  # 😀\r\n\treturn total".chars() {
        let mut buf = [0; 4];
        text = t.replace(&text, at..at, c.encode_utf8(&mut buf)).unwrap();
        at += c.len_utf8();
    }
    assert_eq!(dump(&t), dump(&tree(Language::Python, &text)));
    assert!(!t.has_errors(), "{}", t.sexp());
}

#[test]
fn checks_on_a_maintained_tree_agree_with_checks_from_scratch() {
    use dllm_grammars::{check_edits, check_edits_on, Language, SyntaxTree};
    let rust = "fn a() -> i32 { todo!() }\nfn b() -> i32 {\n    todo!()\n}\n";
    let tree = SyntaxTree::parse(Language::Rust, rust).unwrap();
    let holes: Vec<usize> = rust.match_indices("todo!()").map(|(i, _)| i).collect();
    for edits in [
        vec![
            (holes[1]..holes[1] + 7, "2\n    + 3".to_string()),
            (holes[0]..holes[0] + 7, "1".to_string()),
        ],
        vec![
            (holes[0]..holes[0] + 7, "1 +".to_string()),
            (holes[1]..holes[1] + 7, "größe".to_string()),
        ],
        vec![(holes[1]..holes[1] + 7, "{".to_string())],
    ] {
        let a = check_edits_on(&tree, rust, &edits).unwrap();
        let b = check_edits(Language::Rust, rust, &edits).unwrap();
        assert_eq!(a, b, "{edits:?}");
    }
    // The maintained tree itself is untouched by a check.
    assert_eq!(
        tree.sexp(),
        SyntaxTree::parse(Language::Rust, rust).unwrap().sexp()
    );
    let copy = tree.clone();
    assert_eq!(copy.sexp(), tree.sexp());
}
