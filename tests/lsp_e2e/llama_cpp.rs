//! The remote backend against a real llama.cpp server (`scripts/llama-server.sh serve`: llama.cpp's
//! own server code from the `xllamacpp` wheel, on the project's default model as a GGUF), through
//! the command line and an LSP session, with the `completions` and `llama-infill` APIs: the HTTP,
//! the tokenization and the errors are llama.cpp's. Answers are greedy and deterministic but not
//! good code (a 6M-parameter model run causally), so the tests check what the client did with
//! them, not their quality.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{pos, URI};
use crate::common::{constant_model, Client};

const INSTALL: &str =
    "install it with `bash scripts/llama-server.sh install` (Python 3.11+ with venv and \
                       pip, and PyPI reachable; see tests/remote/README.md)";

/// The llama.cpp server, stopped when dropped (a failed assertion included).
struct LlamaServer {
    child: Child,
    port: u16,
}

impl LlamaServer {
    /// Starts the server; fails with how to install it if it cannot start.
    fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new("bash")
            .arg(root.join("scripts/llama-server.sh"))
            .args(["serve", "--ctx-per-slot", "4096"])
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run bash scripts/llama-server.sh: {e}; {INSTALL}"));
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            let mut why = String::new();
            let _ = std::fs::File::open(stderr.path()).and_then(|mut f| f.read_to_string(&mut why));
            panic!("llama.cpp's server did not start ({why:?}); {INSTALL}");
        };
        LlamaServer { child, port }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A counter from `GET /metrics` (Prometheus text).
    fn metric(&self, name: &str) -> f64 {
        let text = self.http("GET", "/metrics", "");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics: {text}"))
    }

    /// The JSON answer to `POST path` with `body`, asked directly (not streamed).
    fn post(&self, path: &str, body: Value) -> Value {
        let text = self.http("POST", path, &body.to_string());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    /// The body of one plain HTTP/1.1 exchange.
    fn http(&self, method: &str, path: &str, body: &str) -> String {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
        body.to_string()
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cli(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_dllm-ls-e2e"))
        .args(args)
        .env("DLLM_LOG", "off")
        .env_remove("DLLM_LOG_FILE")
        .stdin(Stdio::null())
        .output()
        .expect("dllm-ls runs");
    Output {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write_source(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("sample.py");
    std::fs::write(&file, text).unwrap();
    file
}

const PYTHON: &str = "def add(a, b):\n    return \n\nprint(add(1, 2))\n";

/// `dllm-ls infill --batch` with `args`, one line in, its one answer out.
fn batch(args: &[&str], line: &Value) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dllm-ls-e2e"))
        .args(["infill", "--batch"])
        .args(args)
        .env("DLLM_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dllm-ls runs");
    writeln!(child.stdin.take().unwrap(), "{line}").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_command_line_gets_llama_cpps_own_answer_with_both_apis() {
    let server = LlamaServer::start();
    let (prefix, suffix) = ("for i in range(10):\n    print(", "\n");
    let line = json!({"prefix": prefix, "suffix": suffix, "max_tokens": 8});
    let base = server.base();
    let v1 = format!("{base}/v1");

    // The batch's middle is what llama.cpp answers the same request asked directly (greedy).
    let got = batch(&["--endpoint", &base, "--api", "llama-infill"], &line);
    let direct = server.post(
        "/infill",
        json!({"input_prefix": prefix, "input_suffix": suffix, "n_predict": 8}),
    );
    assert_eq!(got["middle"], direct["content"], "{got}");
    assert!(!direct["content"].as_str().unwrap().is_empty());
    let got = batch(&["--endpoint", &v1, "--api", "completions"], &line);
    let direct = server.post(
        "/v1/completions",
        json!({"prompt": prefix, "max_tokens": 8}),
    );
    assert_eq!(got["middle"], direct["choices"][0]["text"], "{got}");

    // A file and a position: the answer goes through the syntax check (this model's rarely
    // passes: exit 1, nothing usable), never a remote failure.
    let dir = tempfile::tempdir().unwrap();
    let file = write_source(dir.path(), PYTHON);
    let file = file.to_str().unwrap();
    for (endpoint, api) in [(&base, "llama-infill"), (&v1, "completions")] {
        let tokens = server.metric("llamacpp:tokens_predicted_total");
        let out = cli(&[
            "infill",
            file,
            "--at",
            "2:12",
            "--endpoint",
            endpoint,
            "--api",
            api,
        ]);
        assert!(
            out.code == 0 || out.code == 1,
            "{api}: exit {}: {}",
            out.code,
            out.stderr
        );
        assert!(!out.stderr.contains("127.0.0.1"), "{api}: {}", out.stderr);
        assert!(
            server.metric("llamacpp:tokens_predicted_total") > tokens,
            "{api}: no tokens"
        );
    }
    // llama.cpp has no FIM route under /v1: its own 404, reported by name, exit 3.
    let out = cli(&[
        "infill",
        file,
        "--at",
        "2:12",
        "--endpoint",
        &v1,
        "--api",
        "fim",
    ]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("404"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

fn llama_client(endpoint: &str, api: &str) -> Client {
    let model = constant_model("a", 256);
    let mut c = Client::spawn();
    c.initialize(
        json!({"model": model.path().to_str().unwrap(), "backend": "remote", "endpoint": endpoint,
               "api": api, "maxTokensInline": 512,
               "requestTimeoutMs": 60000}),
        &["utf-16"],
    );
    assert_eq!(c.wait_model()["state"], "ready");
    c
}

#[test]
fn an_lsp_session_completes_through_llama_cpp_and_a_cancel_stops_its_decoding() {
    let server = LlamaServer::start();
    let mut c = llama_client(&server.base(), "llama-infill");
    c.open(URI, "python", PYTHON);
    let tokens = server.metric("llamacpp:tokens_predicted_total");
    let r = c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": URI}, "position": pos(1, 11), "context": {"triggerKind": 1}}),
    );
    assert!(r.get("error").is_none(), "{r}");
    assert!(r["result"].is_array(), "{r}");
    assert!(server.metric("llamacpp:tokens_predicted_total") > tokens);
    let s = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.status", "arguments": []}),
    );
    assert_eq!(s["result"]["backend"], "remote", "{s}");
    assert!(s["result"]["lastLatencyMs"].is_number(), "{s}");
    assert!(s["result"].get("lastError").is_none(), "{s}");

    // A long line (512 tokens of `=`, about 2 s of decoding here), cancelled midway.
    let long = "file:///tmp/e2e/long.py";
    c.open(long, "python", "x = [\n");
    let tokens = server.metric("llamacpp:tokens_predicted_total");
    let id = c.start_request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": long}, "position": pos(0, 5), "context": {"triggerKind": 1}}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.metric("llamacpp:requests_processing") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the request never reached llama.cpp"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    c.notify("$/cancelRequest", json!({"id": id}));
    let r = c.response(id);
    let empty = r["result"].is_null() || r["result"] == json!([]);
    assert!(r.get("error").is_some() || empty, "{r}");
    let cancelled = Instant::now();
    while server.metric("llamacpp:requests_processing") > 0.0 {
        assert!(
            cancelled.elapsed() < Duration::from_secs(5),
            "llama.cpp kept decoding after the cancel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let predicted = server.metric("llamacpp:tokens_predicted_total") - tokens;
    assert!(
        predicted < 512.0,
        "the whole line was decoded: {predicted} tokens"
    );
    c.shutdown();
}
