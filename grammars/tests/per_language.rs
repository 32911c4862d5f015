//! Span selection, holes and syntax checks per language, with byte offsets checked exactly.
#![allow(clippy::reversed_empty_ranges)]

use dllm_grammars::span::{
    enclosing_block, enclosing_function, enclosing_statement, identifier_at, occurrences,
    span_at_cursor, widen_selection,
};
use dllm_grammars::{check_edits, find_holes, HoleKind, HoleMarkers, Language, SyntaxTree};

/// Offset of the `n`th `|` marker, with all markers removed from the text.
fn marked(src: &str) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut marks = Vec::new();
    for c in src.chars() {
        if c == '|' {
            marks.push(text.len());
        } else {
            text.push(c);
        }
    }
    (text, marks)
}

fn tree(lang: Language, text: &str) -> SyntaxTree {
    SyntaxTree::parse(lang, text).unwrap()
}

#[test]
fn cursor_in_an_empty_block_masks_the_block_in_every_brace_language() {
    for (lang, src) in [
        (
            Language::Rust,
            "fn add(a: i32, b: i32) -> i32 {\n    |\n}\n",
        ),
        (Language::JavaScript, "function add(a, b) {|}\n"),
        (
            Language::TypeScript,
            "function add(a: number, b: number): number {\n  |\n}\n",
        ),
        (Language::Tsx, "const App = () => {\n  |\n};\n"),
        (
            Language::Go,
            "package main\n\nfunc add(a int, b int) int {\n\t|\n}\n",
        ),
    ] {
        let (text, m) = marked(src);
        let t = tree(lang, &text);
        let span = span_at_cursor(&t, &text, m[0]).unwrap();
        assert!(span.multiline, "{lang:?}");
        assert_eq!(
            &text[span.range.start - 1..span.range.start],
            "{",
            "{lang:?}"
        );
        assert_eq!(&text[span.range.end..span.range.end + 1], "}", "{lang:?}");
    }
}

#[test]
fn python_pass_body_is_an_empty_block() {
    let (text, m) = marked("def add(a, b):\n    pa|ss\n");
    let span = span_at_cursor(&tree(Language::Python, &text), &text, m[0]).unwrap();
    assert!(span.multiline);
    assert_eq!(&text[span.range.clone()], "pass");
}

#[test]
fn cursor_mid_line_masks_the_rest_of_the_line_before_crlf() {
    let (text, m) = marked("def f(xs):\r\n    total = |sum(xs)\r\n    return total\r\n");
    let span = span_at_cursor(&tree(Language::Python, &text), &text, m[0]).unwrap();
    assert!(!span.multiline);
    assert!(span.mid_word);
    assert_eq!(&text[span.range.clone()], "sum(xs)");
    let (text, m) = marked("fn main() {\n\tlet größe = 1;|\n\tprintln!(\"{größe} 😀\");\n}\n");
    let span = span_at_cursor(&tree(Language::Rust, &text), &text, m[0]).unwrap();
    assert_eq!(span.range, m[0]..m[0]);
    assert!(!span.mid_word);
}

#[test]
fn a_fresh_line_after_a_block_opener_is_multiline() {
    let (text, m) = marked("def f(xs):\n    |\n");
    let span = span_at_cursor(&tree(Language::Python, &text), &text, m[0]).unwrap();
    assert!(span.multiline);
}

#[test]
fn selection_widens_to_whole_tokens() {
    let (text, m) = marked("let total_count = fi|rst + sec|ond;\n");
    let t = tree(Language::Rust, &format!("fn f() {{ {text} }}"));
    let shift = "fn f() { ".len();
    let full = format!("fn f() {{ {text} }}");
    let r = widen_selection(&t, &full, m[0] + shift..m[1] + shift).unwrap();
    assert_eq!(&full[r], "first + second");
    assert!(widen_selection(&t, &full, 5..2).is_err());
    // A non-ASCII identifier: an offset inside a character is an error, not a panic.
    let text = "x = größe + 1\n";
    let t = tree(Language::Python, text);
    assert!(widen_selection(&t, text, 6..7).is_err());
    let r = widen_selection(&t, text, 5..8).unwrap();
    assert_eq!(&text[r], "größe");
}

#[test]
fn enclosing_function_body_statement_and_block() {
    let cases = [
        (
            Language::Rust,
            "fn f(x: i32) -> i32 {\n    let y = x |+ 1;\n    y\n}\n",
            "let y = x + 1;",
        ),
        (
            Language::Python,
            "def f(x):\n    y = x |+ 1\n    return y\n",
            "y = x + 1",
        ),
        (
            Language::JavaScript,
            "function f(x) {\n  const y = x |+ 1;\n  return y;\n}\n",
            "const y = x + 1;",
        ),
        (
            Language::TypeScript,
            "class A {\n  m(x: number) {\n    return x |* 2;\n  }\n}\n",
            "return x * 2;",
        ),
        (
            Language::Go,
            "package p\n\nfunc f(x int) int {\n\ty := x |+ 1\n\treturn y\n}\n",
            "y := x + 1",
        ),
    ];
    for (lang, src, statement) in cases {
        let (text, m) = marked(src);
        let t = tree(lang, &text);
        let f = enclosing_function(&t, &text, m[0])
            .unwrap()
            .expect("function");
        let body = &text[f.body.clone()];
        assert!(body.contains(statement), "{lang:?}: body {body:?}");
        assert!(
            !body.trim_start().starts_with('{'),
            "{lang:?}: body is the inside"
        );
        let s = enclosing_statement(&t, &text, m[0]).unwrap().unwrap();
        assert_eq!(&text[s], statement, "{lang:?}");
        let b = enclosing_block(&t, &text, m[0]).unwrap().unwrap();
        assert!(text[b].contains(statement));
    }
    let text = "x = 1\n";
    assert_eq!(
        enclosing_function(&tree(Language::Python, text), text, 2).unwrap(),
        None
    );
    assert!(enclosing_function(&tree(Language::Python, text), text, 99).is_err());
}

#[test]
fn holes_per_language() {
    let m = HoleMarkers::default();
    let rust = "fn f(a: i32) -> i32 {\n    // TODO: validate\n    let b = todo!();\n    unimplemented!(\"later\")\n}\n";
    let holes = find_holes(&tree(Language::Rust, rust), rust, 0..rust.len(), &m);
    let got: Vec<(&str, HoleKind)> = holes
        .iter()
        .map(|h| (&rust[h.range.clone()], h.kind))
        .collect();
    assert_eq!(
        got,
        vec![
            ("// TODO: validate", HoleKind::Comment),
            ("todo!()", HoleKind::Macro),
            ("unimplemented!(\"later\")", HoleKind::Macro)
        ]
    );

    let py = "def f(xs):\n    pass\n\ndef g():\n    ...\n\ndef h():\n    raise NotImplementedError()\n\n# FIXME later\n";
    let holes = find_holes(&tree(Language::Python, py), py, 0..py.len(), &m);
    let got: Vec<&str> = holes.iter().map(|h| &py[h.range.clone()]).collect();
    assert_eq!(
        got,
        vec![
            "pass",
            "...",
            "raise NotImplementedError()",
            "# FIXME later"
        ]
    );

    let go = "package p\n\nfunc f() int {\n\tpanic(\"not implemented\")\n}\n";
    let holes = find_holes(&tree(Language::Go, go), go, 0..go.len(), &m);
    assert_eq!(holes.len(), 1);
    assert_eq!(&go[holes[0].range.clone()], "panic(\"not implemented\")");

    let ts = "function f(): number {\n  throw new Error(\"Not implemented\");\n}\n/* TODOS are not TODO-less */\n";
    let holes = find_holes(&tree(Language::TypeScript, ts), ts, 0..ts.len(), &m);
    assert_eq!(holes.len(), 2, "{holes:?}");
    assert_eq!(
        &ts[holes[0].range.clone()],
        "throw new Error(\"Not implemented\");"
    );

    // `todo!();` as a statement is replaced with its semicolon; holes outside `within` are skipped.
    let rust = "fn a() { todo!(); }\nfn b() { todo!() }\n";
    let t = tree(Language::Rust, rust);
    let holes = find_holes(&t, rust, 0..20, &m);
    assert_eq!(holes.len(), 1);
    assert_eq!(&rust[holes[0].range.clone()], "todo!();");
    // Markers are configurable.
    let custom = HoleMarkers::default().with_extra(&["fill_me!".to_string(), "XXX".to_string()]);
    let rust = "fn a() { fill_me!() } // XXX\n";
    assert_eq!(
        find_holes(&tree(Language::Rust, rust), rust, 0..rust.len(), &custom).len(),
        2
    );
    assert_eq!(
        find_holes(&tree(Language::Rust, rust), rust, 0..rust.len(), &m).len(),
        0
    );
}

#[test]
fn edit_checks_accept_valid_code_and_reject_new_errors() {
    let rust = "fn add(a: i32, b: i32) -> i32 {\n    todo!()\n}\n";
    let hole = rust.find("todo!()").unwrap();
    let range = hole..hole + "todo!()".len();
    let good = check_edits(Language::Rust, rust, &[(range.clone(), "a + b".into())]).unwrap();
    assert!(good.ok, "{good:?}");
    assert_eq!(
        good.new_text,
        "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
    );
    // An extra brace surfaces as an error at the end of the file, far from the edit.
    let bad = check_edits(Language::Rust, rust, &[(range.clone(), "a + b }".into())]).unwrap();
    assert!(!bad.ok);
    assert!(bad.total_after > bad.total_before);
    let bad = check_edits(Language::Rust, rust, &[(range.clone(), "(a + b".into())]).unwrap();
    assert!(!bad.ok);
    assert!(!bad.error_ranges.is_empty(), "{bad:?}");
    assert!(bad
        .error_ranges
        .iter()
        .all(|r| r.start >= hole && r.end <= hole + "(a + b".len() + 1));

    let py = "def f(xs):\n    pass\n";
    let p = py.find("pass").unwrap();
    assert!(
        check_edits(Language::Python, py, &[(p..p + 4, "return sum(xs)".into())])
            .unwrap()
            .ok
    );
    assert!(
        !check_edits(
            Language::Python,
            py,
            &[(p..p + 4, "return (sum(xs)".into())]
        )
        .unwrap()
        .ok
    );

    let js = "function f() {\n  \n}\n";
    assert!(
        !check_edits(Language::JavaScript, js, &[(15..17, "if (x {".into())])
            .unwrap()
            .ok
    );
    let go = "package p\n\nfunc f() int {\n\treturn 1\n}\n";
    let r = go.find("1").unwrap();
    assert!(
        check_edits(Language::Go, go, &[(r..r + 1, "len(\"größe 😀\")".into())])
            .unwrap()
            .ok
    );
    // An edit in a file that was already broken elsewhere is judged only near itself.
    let broken = "fn a() { let x = ; }\nfn b() -> i32 { todo!() }\n";
    let h = broken.find("todo!()").unwrap();
    assert!(
        check_edits(Language::Rust, broken, &[(h..h + 7, "1".into())])
            .unwrap()
            .ok
    );
    assert!(check_edits(Language::Rust, broken, &[(3..1, String::new())]).is_err());
}

#[test]
fn identifiers_and_their_occurrences() {
    let (text, m) =
        marked("fn f(count: i32) -> i32 {\n    let total = co|unt * 2;\n    total + count\n}\n");
    let t = tree(Language::Rust, &text);
    let id = identifier_at(&t, &text, m[0]).unwrap().unwrap();
    assert_eq!(&text[id.clone()], "count");
    let f = enclosing_function(&t, &text, m[0]).unwrap().unwrap();
    let occ = occurrences(&t, &text, "count", f.whole);
    assert_eq!(occ.len(), 3);
    assert!(occ.iter().all(|r| &text[r.clone()] == "count"));
}
