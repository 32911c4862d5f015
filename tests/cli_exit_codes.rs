//! The command line's documented exit codes (README, "Command line"): 0 done, 1 nothing usable
//! to offer, 2 bad usage or input, 3 the model failed to load. Every refusal is one line on
//! stderr and nothing on stdout; `--batch` answers every line it cannot use with `{"error"}`.
//!
//! The model is the constant fixture (`common::constant_model`): it answers "a" everywhere and
//! loads in milliseconds, so a refusal that wrongly got as far as the model still ends fast.

mod common;
#[path = "cli_exit_codes/hub.rs"]
mod hub;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::constant_model;
use serde_json::Value;

const EXIT_NOTHING: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_MODEL: i32 = 3;

const RUST: &str = "fn f() -> i32 {\n    \n}\n";
const HOLE: &str = "fn f(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}\n";

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `dllm-ls ARGS` with `stdin`, logs off so stderr holds only what the CLI itself says.
fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    run_logging(args, stdin, Some("off"))
}

/// Runs `dllm-ls ARGS` with `DLLM_LOG` set to `log`, or unset for `None`.
fn run_logging(args: &[&str], stdin: &[u8], log: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dllm-ls-e2e"));
    match log {
        Some(filter) => command.env("DLLM_LOG", filter),
        None => command.env_remove("DLLM_LOG"),
    };
    let mut child = command
        .args(args)
        .env_remove("DLLM_LOG_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dllm-ls");
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    // A writer thread: the CLI may refuse before it reads, closing the pipe.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("dllm-ls runs");
    writer.join().unwrap();
    Output {
        code: out.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, b"")
}

/// A fixture model and a scratch folder for source files.
struct Setup {
    model: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Setup {
            model: constant_model("a", 256),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn model(&self) -> &str {
        self.model.path().to_str().unwrap()
    }

    /// `infill FILE` with the fixture model, small budgets, and `extra` flags.
    fn infill(&self, file: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["infill", file.to_str().unwrap(), "--model", self.model()];
        for default in [["--steps", "8"], ["--max-tokens", "6"]] {
            if !extra.iter().any(|a| a.starts_with(default[0])) {
                args.extend(default);
            }
        }
        args.extend(extra);
        run(&args)
    }
}

/// Refused with `code`: one line on stderr that mentions `needle`, nothing on stdout.
#[track_caller]
fn assert_refused(out: &Output, code: i32, needle: &str) {
    assert_eq!(
        out.code, code,
        "exit code; stdout {:?}, stderr {:?}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {:?}", out.stderr);
    assert!(lines[0].starts_with("dllm-ls: "), "{:?}", out.stderr);
    assert!(
        lines[0].contains(needle),
        "{needle:?} not in {:?}",
        out.stderr
    );
}

/// Refused by the argument parser (clap): the same one line on stderr as any other refusal.
#[track_caller]
fn assert_refused_by_parser(out: &Output, needle: &str) {
    assert_refused(out, EXIT_USAGE, needle);
}

// ---- 0: done -------------------------------------------------------------------------------

#[test]
fn exit_0_prints_the_completion_and_nothing_on_stderr() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    let out = s.infill(&file, &["--at", "2:5"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{:?}", out.stderr);
    let text = out.stdout.trim_end_matches('\n');
    assert!(
        !text.is_empty() && text.chars().all(|c| c == 'a'),
        "{:?}",
        out.stdout
    );
}

#[test]
fn the_cli_logs_only_warnings_unless_dllm_log_asks_for_more() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    let args = [
        "infill",
        file.to_str().unwrap(),
        "--at",
        "2:5",
        "--model",
        s.model(),
        "--steps",
        "8",
        "--max-tokens",
        "6",
    ];
    let quiet = run_logging(&args, b"", None);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(quiet.stderr.is_empty(), "{:?}", quiet.stderr);
    let chatty = run_logging(&args, b"", Some("info"));
    assert_eq!(chatty.code, 0, "{}", chatty.stderr);
    assert!(chatty.stderr.contains("model: "), "{:?}", chatty.stderr);
    assert_eq!(quiet.stdout, chatty.stdout);
}

#[test]
fn exit_0_json_gives_the_edits_with_byte_ranges() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    let out = s.infill(&file, &["--at", "2:5", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    // The empty block is the span: its inside, in bytes, becomes --max-tokens of "a".
    let edit = &v["edits"][0];
    assert_eq!(edit["start"], RUST.find('{').unwrap() + 1, "{v}");
    assert_eq!(edit["end"], RUST.rfind('}').unwrap(), "{v}");
    assert_eq!(edit["text"], "aaaaaa", "{v}");
    assert!(v["steps"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn exit_0_fill_holes_prints_a_diff() {
    let s = Setup::new();
    let file = s.file("lib.rs", HOLE.as_bytes());
    let path = file.to_str().unwrap();
    let out = run(&[
        "fill-holes",
        path,
        "--model",
        s.model(),
        "--steps",
        "8",
        "--max-tokens",
        "6",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("+    let y = aaaaaa;"),
        "{}",
        out.stdout
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), HOLE, "not written");
}

// ---- 1: nothing usable to offer ------------------------------------------------------------

#[test]
fn exit_1_when_the_cursor_is_inside_a_word() {
    let s = Setup::new();
    let file = s.file("lib.rs", b"fn foo() -> i32 {\n    \n}\n");
    assert_refused(
        &s.infill(&file, &["--at", "1:5"]),
        EXIT_NOTHING,
        "inside a word",
    );
}

#[test]
fn exit_1_when_a_file_has_no_holes() {
    let s = Setup::new();
    let file = s.file("lib.rs", b"fn f() -> i32 {\n    1\n}\n");
    let path = file.to_str().unwrap();
    assert_refused(
        &run(&["fill-holes", path, "--model", s.model()]),
        EXIT_NOTHING,
        "no holes",
    );
}

// ---- 2: bad usage or input -----------------------------------------------------------------

#[test]
fn exit_2_for_an_unknown_extension() {
    let s = Setup::new();
    let file = s.file("notes.txt", b"some text\n");
    assert_refused(
        &s.infill(&file, &["--at", "1:5"]),
        EXIT_USAGE,
        "unknown language",
    );
    let path = file.to_str().unwrap();
    assert_refused(
        &run(&["fill-holes", path, "--model", s.model()]),
        EXIT_USAGE,
        "unknown language",
    );
    let bare = s.file("Makefile", b"all:\n");
    assert_refused(
        &s.infill(&bare, &["--at", "1:1"]),
        EXIT_USAGE,
        "unknown language",
    );
}

#[test]
fn exit_2_for_a_missing_file() {
    let s = Setup::new();
    let missing = s.dir.path().join("gone.rs");
    assert_refused(
        &s.infill(&missing, &["--at", "1:1"]),
        EXIT_USAGE,
        "cannot read",
    );
    let path = missing.to_str().unwrap();
    assert_refused(
        &run(&["fill-holes", path, "--model", s.model()]),
        EXIT_USAGE,
        "cannot read",
    );
}

#[test]
fn exit_2_for_a_directory_given_as_the_file() {
    let s = Setup::new();
    let dir = s.dir.path().join("src.rs");
    std::fs::create_dir(&dir).unwrap();
    assert_refused(&s.infill(&dir, &["--at", "1:1"]), EXIT_USAGE, "cannot read");
}

#[test]
fn exit_2_for_a_file_that_is_not_utf8() {
    let s = Setup::new();
    let file = s.file("latin1.py", b"x = '\xe9t\xe9'\n");
    assert_refused(&s.infill(&file, &["--at", "1:1"]), EXIT_USAGE, "not UTF-8");
}

#[test]
fn exit_2_for_malformed_positions() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    for spec in [
        "", "x", "2", "2:", ":5", "a:b", "-1:1", "2:-1", "1.5:1", "2:5:1",
    ] {
        let at = format!("--at={spec}");
        assert_refused(&s.infill(&file, &[&at]), EXIT_USAGE, "--at");
    }
}

#[test]
fn exit_2_for_zero_based_positions() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    for spec in ["0:1", "1:0"] {
        assert_refused(&s.infill(&file, &["--at", spec]), EXIT_USAGE, "start at 1");
    }
}

#[test]
fn exit_2_for_a_line_past_the_end() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    assert_refused(
        &s.infill(&file, &["--at", "9:1"]),
        EXIT_USAGE,
        "past the end of the file",
    );
    assert_refused(
        &s.infill(&file, &["--at", "99999999999999999999:1"]),
        EXIT_USAGE,
        "bad line",
    );
}

#[test]
fn exit_2_for_a_column_past_the_end_of_its_line() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    assert_refused(
        &s.infill(&file, &["--at", "2:6"]),
        EXIT_USAGE,
        "past the end of line 2",
    );
}

#[test]
fn exit_2_for_malformed_selections() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    for spec in ["1:1", "1:1-", "-1:3", "1:1-x", "1:1-9:1"] {
        let select = format!("--select={spec}");
        assert_refused(&s.infill(&file, &[&select]), EXIT_USAGE, "--select");
    }
}

#[test]
fn exit_2_for_a_selection_that_ends_before_it_starts() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    assert_refused(
        &s.infill(&file, &["--select", "3:1-1:1"]),
        EXIT_USAGE,
        "ends before it starts",
    );
}

#[test]
fn exit_2_for_an_empty_selection() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    assert_refused(
        &s.infill(&file, &["--select", "1:3-1:3"]),
        EXIT_USAGE,
        "empty",
    );
}

#[test]
fn exit_2_for_at_together_with_select() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    assert_refused(
        &s.infill(&file, &["--at", "2:5", "--select", "1:1-2:1"]),
        EXIT_USAGE,
        "cannot be used together",
    );
}

#[test]
fn exit_2_for_batch_together_with_a_file_or_position() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    assert_refused(&s.infill(&file, &["--batch"]), EXIT_USAGE, "--batch");
    assert_refused(
        &run(&["infill", "--batch", "--at", "1:1", "--model", s.model()]),
        EXIT_USAGE,
        "--batch",
    );
}

#[test]
fn exit_2_without_a_file_or_a_position() {
    let s = Setup::new();
    assert_refused(
        &run(&["infill", "--model", s.model()]),
        EXIT_USAGE,
        "needs a FILE",
    );
    let file = s.file("lib.rs", RUST.as_bytes());
    assert_refused(&s.infill(&file, &[]), EXIT_USAGE, "needs --at");
}

#[test]
fn exit_2_for_nan_and_infinite_numbers() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    for flag in ["--threshold", "--temperature"] {
        for value in ["nan", "NaN", "inf", "-inf", "infinity"] {
            let arg = format!("{flag}={value}");
            assert_refused(
                &s.infill(&file, &["--at", "2:5", &arg]),
                EXIT_USAGE,
                "expected a finite number",
            );
        }
    }
}

#[test]
fn exit_2_for_numbers_out_of_range() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    let cases = [
        (&["--threshold", "-0.5"][..], "from 0 to 1"),
        (&["--threshold", "1.5"], "from 0 to 1"),
        (&["--temperature", "-1"], "from 0 to 10"),
        (&["--temperature", "1e300"], "from 0 to 10"),
        (&["--steps", "0"], "from 1 to"),
        (&["--steps", "100000"], "from 1 to"),
        (&["--max-tokens", "0"], "from 1 to"),
        (&["--max-tokens", "1000000"], "from 1 to"),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["--at", "2:5"];
        args.extend(flags);
        let out = s.infill(&file, &args);
        assert_refused(&out, EXIT_USAGE, needle);
        assert!(
            out.stderr.contains(flags[0]),
            "names the flag: {:?}",
            out.stderr
        );
    }
}

#[test]
fn exit_2_for_negative_and_non_numeric_integers() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    for flag in ["--steps", "--max-tokens", "--seed"] {
        for value in ["-1", "abc", "1.5", "18446744073709551616"] {
            let out = s.infill(&file, &["--at", "2:5", flag, value]);
            assert_refused_by_parser(&out, flag);
        }
    }
}

#[test]
fn exit_2_for_bad_names_of_dtype_and_strategy() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    assert_refused(
        &s.infill(&file, &["--at", "2:5", "--dtype", "f16"]),
        EXIT_USAGE,
        "--dtype",
    );
    assert_refused(
        &s.infill(&file, &["--at", "2:5", "--strategy", "fastest"]),
        EXIT_USAGE,
        "--strategy",
    );
    let out = s.infill(&file, &["--at", "2:5", "--bf16-products", "maybe"]);
    assert_refused_by_parser(&out, "--bf16-products");
}

#[test]
fn exit_2_for_unknown_flags_and_commands() {
    assert_refused_by_parser(&run(&["infill", "--bogus"]), "--bogus");
    assert_refused_by_parser(&run(&["fill-holes"]), "required");
    assert_refused_by_parser(&run(&["complete"]), "complete");
}

// ---- 3: the model failed to load -----------------------------------------------------------

#[test]
fn exit_3_for_a_model_dir_that_does_not_exist() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    let gone = s.dir.path().join("no-such-model");
    let out = run(&[
        "infill",
        file.to_str().unwrap(),
        "--at",
        "2:5",
        "--model",
        gone.to_str().unwrap(),
    ]);
    assert_refused(&out, EXIT_MODEL, "cannot load the model");
}

#[test]
fn exit_3_for_a_corrupt_model_dir() {
    let s = Setup::new();
    let file = s.file("lib.rs", RUST.as_bytes());
    let broken = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(s.model.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), broken.path().join(entry.file_name())).unwrap();
    }
    std::fs::write(broken.path().join("config.json"), "{ not json").unwrap();
    let args = |model: &Path| {
        let model = model.to_str().unwrap().to_string();
        vec![
            "infill".to_string(),
            file.to_str().unwrap().into(),
            "--at".into(),
            "2:5".into(),
            "--model".into(),
            model,
        ]
    };
    let out = run(&args(broken.path())
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert_refused(&out, EXIT_MODEL, "config.json");
    // Truncated weights.
    std::fs::copy(
        s.model.path().join("config.json"),
        broken.path().join("config.json"),
    )
    .unwrap();
    std::fs::write(
        broken.path().join("model.safetensors"),
        b"\x08\0\0\0\0\0\0\0{}",
    )
    .unwrap();
    let out = run(&args(broken.path())
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert_refused(&out, EXIT_MODEL, "cannot load the model");
}

#[test]
fn exit_3_for_batch_with_a_model_that_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_stdin(
        &["infill", "--batch", "--model", dir.path().to_str().unwrap()],
        b"{\"prefix\": \"a\", \"suffix\": \"b\"}\n",
    );
    assert_refused(&out, EXIT_MODEL, "cannot load the model");
}

// ---- --batch -------------------------------------------------------------------------------

/// Runs `--batch` on `lines`; returns the exit code and one JSON value per output line.
fn batch(s: &Setup, lines: &[&[u8]]) -> (i32, Vec<Value>, String) {
    let input: Vec<u8> = lines.iter().flat_map(|l| [*l, b"\n"].concat()).collect();
    let out = run_with_stdin(
        &[
            "infill",
            "--batch",
            "--model",
            s.model(),
            "--steps",
            "4",
            "--max-tokens",
            "3",
        ],
        &input,
    );
    let replies = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    (out.code, replies, out.stderr)
}

#[track_caller]
fn assert_error(reply: &Value, line: usize, needle: &str) {
    let e = reply["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error for line {line}: {reply}"));
    assert!(e.starts_with(&format!("line {line}: ")), "{e}");
    assert!(e.contains(needle), "{needle:?} not in {e:?}");
    assert_eq!(
        reply.as_object().unwrap().len(),
        1,
        "only the error: {reply}"
    );
}

#[test]
fn batch_answers_good_lines_and_skips_blank_ones() {
    let s = Setup::new();
    let (code, replies, stderr) = batch(
        &s,
        &[
            br#"{"prefix": "fn f() {", "suffix": "}"}"#,
            b"",
            br#"{"prefix": "x = ", "suffix": "\n", "max_tokens": 2}"#,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0]["middle"], "aaa", "{}", replies[0]);
    assert_eq!(replies[0]["tokens"], 3);
    assert_eq!(replies[1]["middle"], "aa", "{}", replies[1]);
    assert!(replies[1]["steps"].as_u64().unwrap() > 0);
}

#[test]
fn batch_answers_invalid_json_with_an_error_and_goes_on() {
    let s = Setup::new();
    let (code, replies, _) = batch(
        &s,
        &[b"{not json", br#"{"prefix": "a", "suffix": "b"}"#, b"[1, 2"],
    );
    assert_eq!(code, 0);
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_error(&replies[0], 1, "invalid JSON");
    assert_eq!(replies[1]["middle"], "aaa");
    assert_error(&replies[2], 3, "invalid JSON");
}

#[test]
fn batch_refuses_wrong_types() {
    let s = Setup::new();
    let lines: [&[u8]; 5] = [
        br#"{"prefix": 1, "suffix": null}"#,
        br#"{"prefix": "a", "suffix": null}"#,
        br#"{"prefix": ["a"], "suffix": "b"}"#,
        br#"{"prefix": "a", "suffix": "b", "max_tokens": "3"}"#,
        br#"{"prefix": "a", "suffix": "b", "max_tokens": 2.5}"#,
    ];
    let (code, replies, _) = batch(&s, &lines);
    assert_eq!(code, 0);
    assert_eq!(replies.len(), lines.len(), "{replies:?}");
    for (i, reply) in replies.iter().enumerate() {
        assert_error(reply, i + 1, "invalid type");
    }
}

#[test]
fn batch_refuses_lines_that_are_not_objects() {
    let s = Setup::new();
    // serde alone would read a struct from an array.
    let lines: [&[u8]; 4] = [br#"["a", "b", 3]"#, br#""a""#, b"3", b"null"];
    let (code, replies, _) = batch(&s, &lines);
    assert_eq!(code, 0);
    assert_eq!(replies.len(), lines.len(), "{replies:?}");
    for (i, reply) in replies.iter().enumerate() {
        assert_error(reply, i + 1, "expected an object");
    }
}

#[test]
fn batch_refuses_missing_fields() {
    let s = Setup::new();
    let (code, replies, _) = batch(&s, &[br#"{"prefix": "a"}"#, br#"{"suffix": "b"}"#, b"{}"]);
    assert_eq!(code, 0);
    assert_error(&replies[0], 1, "missing field `suffix`");
    assert_error(&replies[1], 2, "missing field `prefix`");
    assert_error(&replies[2], 3, "missing field");
}

#[test]
fn batch_refuses_unknown_fields() {
    let s = Setup::new();
    let (code, replies, _) = batch(&s, &[br#"{"prefix": "a", "suffix": "b", "max_token": 3}"#]);
    assert_eq!(code, 0);
    assert_error(&replies[0], 1, "unknown field `max_token`");
}

#[test]
fn batch_refuses_max_tokens_out_of_range() {
    let s = Setup::new();
    let (code, replies, _) = batch(
        &s,
        &[
            br#"{"prefix": "a", "suffix": "b", "max_tokens": -1}"#,
            br#"{"prefix": "a", "suffix": "b", "max_tokens": 0}"#,
            br#"{"prefix": "a", "suffix": "b", "max_tokens": 100000}"#,
            br#"{"prefix": "a", "suffix": "b", "max_tokens": 1e30}"#,
            br#"{"prefix": "a", "suffix": "b", "max_tokens": 1}"#,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(replies.len(), 5, "{replies:?}");
    assert_error(&replies[0], 1, "-1");
    assert_error(&replies[1], 2, "from 1 to 2048");
    assert_error(&replies[2], 3, "from 1 to 2048");
    assert_error(&replies[3], 4, "invalid type");
    assert_eq!(replies[4]["middle"], "a", "{}", replies[4]);
}

#[test]
fn batch_answers_a_line_that_is_not_utf8_and_goes_on() {
    let s = Setup::new();
    let (code, replies, _) = batch(
        &s,
        &[
            b"{\"prefix\": \"\xff\", \"suffix\": \"\"}",
            br#"{"prefix": "a", "suffix": "b"}"#,
        ],
    );
    assert_eq!(code, 0);
    assert_error(&replies[0], 1, "not UTF-8");
    assert_eq!(replies[1]["middle"], "aaa");
}

#[test]
fn batch_refuses_bad_flags_before_reading() {
    let s = Setup::new();
    let out = run_with_stdin(
        &[
            "infill",
            "--batch",
            "--model",
            s.model(),
            "--threshold",
            "nan",
        ],
        br#"{"prefix": "a", "suffix": "b"}"#,
    );
    assert_refused(&out, EXIT_USAGE, "--threshold");
}
