//! Soak: the real server over stdio, 20 open documents, and thousands of mixed requests and edits
//! (didChange, completion, inlineCompletion, codeAction and its resolve, dllm.status,
//! didClose and reopen) on the constant fixture model. Every request must get an answer, the
//! server must stay up and exit cleanly, and its peak resident memory must stay bounded.
//!
//! `DLLM_SOAK_REQUESTS` sets the number of requests (default [`DEFAULT_REQUESTS`]); the bound on
//! memory does not grow with it, so a long run checks that nothing accumulates.

mod common;

use std::collections::VecDeque;
use std::time::Instant;

use common::{constant_model, Client};
use serde_json::{json, Value};

const DOCS: usize = 20;
/// About 4 s on two cores with the fixture model (3,000 requests take about 1 s).
const DEFAULT_REQUESTS: usize = 10_000;
/// Requests in flight at once, as an editor typing quickly would have.
const WINDOW: usize = 8;
/// Peak resident set (VmHWM) allowed. Measured on two cores: about 40 MiB after a handful
/// of requests, 66-69 MiB peak at 10,000 requests, 92-96 MiB at 100,000-400,000.
/// The resident set itself stays at 53-67 MiB however long the run (sampled every 20,000
/// requests up to 400,000), so the peak comes from bursts of concurrent work, not from
/// anything accumulating. About twice the default run's peak, and 1.5 times the longest run's.
const PEAK_RSS_LIMIT_KIB: u64 = 144 * 1024;

/// A tiny deterministic generator (xorshift64*): the same mix on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Doc {
    uri: String,
    language: &'static str,
    text: String,
    version: i64,
    /// Comment lines inserted at the top since the last reset: positions below move down.
    added_lines: u32,
    /// (line, character) of a hole and of an empty or short line, in the text as opened.
    hole: (u32, u32),
    blank: (u32, u32),
}

impl Doc {
    fn new(i: usize) -> Doc {
        let (language, ext, text, hole, blank) = if i % 2 == 1 {
            let text =
                format!("def f{i}(x):\n    y = x + 1\n    pass\n\n\ndef g{i}(x):\n    return x\n");
            ("python", "py", text, (2, 4), (1, 13))
        } else {
            let text = format!(
                "fn f{i}(x: i32) -> i32 {{\n    let y = todo!();\n    y + x\n}}\n\nfn g{i}() -> i32 {{\n    \n}}\n"
            );
            ("rust", "rs", text, (1, 12), (6, 4))
        };
        Doc {
            uri: format!("file:///tmp/soak/doc{i}.{ext}"),
            language,
            text,
            version: 0,
            added_lines: 0,
            hole,
            blank,
        }
    }

    fn position(&self, (line, character): (u32, u32)) -> Value {
        json!({"line": line + self.added_lines, "character": character})
    }

    /// Opens (again) the text as first opened, at version 1 as editors do: an action listed
    /// before the reopen must be told stale by the opening it belongs to, not by its version.
    fn open(&mut self, c: &mut Client) {
        self.version = 1;
        self.added_lines = 0;
        c.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": self.uri, "languageId": self.language, "version": self.version, "text": self.text}}),
        );
    }

    fn comment(&self) -> &'static str {
        if self.language == "rust" {
            "// soak\n"
        } else {
            "# soak\n"
        }
    }

    /// An incremental insert at the top, or now and then the whole text back as it was opened.
    fn change(&mut self, c: &mut Client, reset: bool) {
        self.version += 1;
        let change = if reset {
            self.added_lines = 0;
            json!({"text": self.text})
        } else {
            self.added_lines += 1;
            let start = json!({"line": 0, "character": 0});
            json!({"range": {"start": start, "end": start}, "text": self.comment()})
        };
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [change]}),
        );
    }
}

/// What was asked, to know what to do with the answer.
enum Asked {
    CodeAction,
    Other,
}

#[derive(Default)]
struct Tally {
    requests: usize,
    notifications: usize,
    results: usize,
    cancelled: usize,
    stale: usize,
    resolved_edits: usize,
}

struct Soak {
    c: Client,
    docs: Vec<Doc>,
    rng: Rng,
    in_flight: VecDeque<(i64, Asked, String)>,
    /// Code actions listed and not yet resolved.
    actions: Vec<Value>,
    tally: Tally,
}

impl Soak {
    fn ask(&mut self, method: &str, params: Value, asked: Asked) {
        if self.in_flight.len() >= WINDOW {
            self.settle_oldest();
        }
        let id = self.c.start_request(method, params);
        self.in_flight.push_back((id, asked, method.to_string()));
        self.tally.requests += 1;
    }

    /// Waits for the oldest request in flight; every answer is a result or an expected error.
    fn settle_oldest(&mut self) {
        let Some((id, asked, method)) = self.in_flight.pop_front() else {
            return;
        };
        let r = self.c.response(id);
        if let Some(error) = r.get("error") {
            match error["code"].as_i64() {
                Some(-32800) => self.tally.cancelled += 1,
                Some(-32801) => self.tally.stale += 1,
                _ => panic!("{method}: unexpected error {r}"),
            }
            return;
        }
        assert!(r.get("result").is_some(), "{method}: no result {r}");
        self.tally.results += 1;
        if method == "codeAction/resolve" && r["result"].get("edit").is_some() {
            self.tally.resolved_edits += 1;
        }
        if let (Asked::CodeAction, Some(list)) = (asked, r["result"].as_array()) {
            let resolvable = list.iter().filter(|a| a.get("data").is_some());
            self.actions.extend(resolvable.take(2).cloned());
            // Only the latest few: older ones would all be stale.
            let excess = self.actions.len().saturating_sub(16);
            self.actions.drain(..excess);
        }
    }

    fn notify_change(&mut self, d: usize, reset: bool) {
        self.docs[d].change(&mut self.c, reset);
        self.tally.notifications += 1;
    }

    fn reopen(&mut self, d: usize) {
        let uri = self.docs[d].uri.clone();
        self.c.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": uri}}),
        );
        self.docs[d].open(&mut self.c);
        self.tally.notifications += 2;
    }

    /// One step of the mix, on a random document.
    fn step(&mut self) {
        let d = self.rng.below(self.docs.len());
        let at_hole = self.rng.below(2) == 0;
        let kind = self.rng.below(100);
        let doc = &self.docs[d];
        let uri = json!({"uri": doc.uri});
        let at = doc.position(if at_hole { doc.hole } else { doc.blank });
        match kind {
            0..=19 => self.notify_change(d, false),
            20..=22 => self.notify_change(d, true),
            23..=24 => self.reopen(d),
            25..=44 => self.ask(
                "textDocument/inlineCompletion",
                json!({"textDocument": uri, "position": at, "context": {"triggerKind": 1}}),
                Asked::Other,
            ),
            45..=59 => self.ask(
                "textDocument/completion",
                json!({"textDocument": uri, "position": at}),
                Asked::Other,
            ),
            60..=77 => self.ask(
                "textDocument/codeAction",
                json!({"textDocument": uri, "range": {"start": at, "end": at}, "context": {"diagnostics": []}}),
                Asked::CodeAction,
            ),
            78..=89 if !self.actions.is_empty() => {
                let i = self.rng.below(self.actions.len());
                let action = self.actions.swap_remove(i);
                self.ask("codeAction/resolve", action, Asked::Other);
            }
            _ => self.ask(
                "workspace/executeCommand",
                json!({"command": "dllm.status", "arguments": []}),
                Asked::Other,
            ),
        }
    }
}

/// A field of /proc/<pid>/status, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn wanted_requests() -> usize {
    std::env::var("DLLM_SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS)
}

#[test]
fn thousands_of_mixed_requests_on_twenty_documents_all_answered_in_bounded_memory() {
    let model = constant_model("a", 256);
    let mut c = Client::spawn();
    let options = json!({"model": model.path().to_str().unwrap(), "steps": 6, "maxTokensBlock": 6, "maxTokensInline": 6});
    c.initialize(options, &["utf-16"]);
    assert_eq!(c.wait_model()["state"], "ready");
    let started = Instant::now();
    let mut soak = Soak {
        c,
        docs: (0..DOCS).map(Doc::new).collect(),
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        in_flight: VecDeque::new(),
        actions: vec![],
        tally: Tally::default(),
    };
    for d in 0..DOCS {
        soak.docs[d].open(&mut soak.c);
    }
    let wanted = wanted_requests();
    while soak.tally.requests < wanted {
        soak.step();
    }
    while !soak.in_flight.is_empty() {
        soak.settle_oldest();
    }
    let status = soak.c.wait_model();
    assert_eq!(status["state"], "ready", "{status}");
    let elapsed = started.elapsed();
    let pid = soak.c.pid();
    let peak = proc_status_kib(pid, "VmHWM");
    let now = proc_status_kib(pid, "VmRSS");
    let t = &soak.tally;
    eprintln!(
        "soak: {} requests ({} results, {} cancelled, {} stale; {} resolved edits) and {} notifications in {:.1} s; peak RSS {} KiB, RSS now {} KiB",
        t.requests, t.results, t.cancelled, t.stale, t.resolved_edits, t.notifications,
        elapsed.as_secs_f64(), peak, now
    );
    assert!(
        t.results > t.requests / 2,
        "most requests get a result, not an error"
    );
    if t.requests >= 1000 {
        assert!(t.resolved_edits > 0, "some code actions resolve to an edit");
    }
    assert!(
        peak <= PEAK_RSS_LIMIT_KIB,
        "peak RSS {peak} KiB over {PEAK_RSS_LIMIT_KIB} KiB"
    );
    soak.c.shutdown();
}
