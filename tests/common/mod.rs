//! A small LSP client for end-to-end tests: spawns the real `dllm-ls`, frames JSON-RPC over its
//! stdio, answers the server's own requests (progress, applyEdit) and keeps its notifications.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    next_id: i64,
    pub notifications: Vec<Value>,
    pub applied_edits: Vec<Value>,
    /// Every request the server sent.
    pub server_requests: Vec<Value>,
    /// When false, the server's requests get no answer (a client that hangs).
    pub answer_server_requests: bool,
    pending: HashMap<i64, Value>,
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Client {
    pub fn spawn() -> Self {
        Self::spawn_with_env(&[])
    }

    pub fn spawn_with_env(env: &[(&str, &std::path::Path)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dllm-ls-e2e"));
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("DLLM_LOG", "debug");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn dllm-ls");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            while let Some(msg) = read_message(&mut stdout) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            incoming,
            next_id: 1,
            notifications: vec![],
            applied_edits: vec![],
            server_requests: vec![],
            answer_server_requests: true,
            pending: HashMap::new(),
        }
    }

    pub fn send_raw(&mut self, body: &str) {
        write!(self.stdin, "Content-Length: {}\r\n\r\n{}", body.len(), body).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Writes bytes as they are, framing and all.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads whatever arrives within `wait`, handling it as [`Client::response`] does.
    pub fn pump_for(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while self.pump(deadline) {}
    }

    /// The process's exit code, if it exits within `wait`; its stdin is left as it is.
    pub fn exit_code_within(&mut self, wait: Duration) -> Option<i32> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Closes the server's stdin, as a client that goes away without a word.
    pub fn close_stdin(&mut self) {
        // A stand-in stdin to keep in its place: the other end of a socket pair nobody reads.
        let (_, sink) = std::os::unix::net::UnixStream::pair().unwrap();
        let sink = ChildStdin::from(std::os::fd::OwnedFd::from(sink));
        drop(std::mem::replace(&mut self.stdin, sink));
    }

    pub fn send(&mut self, msg: Value) {
        self.send_raw(&msg.to_string());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its id without waiting.
    pub fn start_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Handles one incoming message; returns false on timeout.
    fn pump(&mut self, deadline: Instant) -> bool {
        let wait = deadline.saturating_duration_since(Instant::now());
        let msg = match self.incoming.recv_timeout(wait) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => panic!("dllm-ls exited"),
        };
        if msg.get("method").is_some() && msg.get("id").is_some() {
            // A request from the server.
            self.server_requests.push(msg.clone());
            if !self.answer_server_requests {
                return true;
            }
            let result = match msg["method"].as_str() {
                Some("workspace/applyEdit") => {
                    self.applied_edits.push(msg["params"]["edit"].clone());
                    json!({"applied": true})
                }
                _ => Value::Null,
            };
            self.send(json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}));
        } else if msg.get("method").is_some() {
            self.notifications.push(msg);
        } else if let Some(id) = msg["id"].as_i64() {
            self.pending.insert(id, msg);
        }
        true
    }

    /// Waits for the response to `id` (the whole message: `result` or `error`).
    pub fn response(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(msg) = self.pending.remove(&id) {
                return msg;
            }
            assert!(
                self.pump(deadline),
                "no response to request {id} within {TIMEOUT:?}"
            );
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.start_request(method, params);
        self.response(id)
    }

    /// Waits until a notification matches `pred`.
    pub fn wait_notification(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(n) = self.notifications.iter().find(|n| pred(n)) {
                return n.clone();
            }
            assert!(
                self.pump(deadline),
                "no matching notification within {TIMEOUT:?}: {:?}",
                self.notifications
            );
        }
    }

    pub fn initialize(&mut self, options: Value, encodings: &[&str]) -> Value {
        let r = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": null,
                "capabilities": {
                    "general": {"positionEncodings": encodings},
                    "window": {"workDoneProgress": true},
                    "textDocument": {"codeAction": {"dataSupport": true, "resolveSupport": {"properties": ["edit"]}}}
                },
                "initializationOptions": options
            }),
        );
        self.notify("initialized", json!({}));
        r
    }

    /// Polls `dllm.status` until the model is ready or failed.
    pub fn wait_model(&mut self) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let s = self.request(
                "workspace/executeCommand",
                json!({"command": "dllm.status", "arguments": []}),
            );
            let state = s["result"]["state"].as_str().unwrap_or("").to_string();
            if state == "ready" || state == "failed" {
                return s["result"].clone();
            }
            assert!(Instant::now() < deadline, "model never became ready: {s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn open(&mut self, uri: &str, language: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}),
        );
    }

    pub fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "{r}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "dllm-ls exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("dllm-ls did not exit after `exit`");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A Dream-layout checkpoint that predicts `token` everywhere (see `dllm_ls::testing`): its
/// answers are known in advance, so tests can assert on what the server does with them.
pub fn constant_model(token: &str, max_positions: usize) -> tempfile::TempDir {
    constant_model_with_chat(token, max_positions, None)
}

/// [`constant_model`], with a chat template in `tokenizer_config.json` (an "instruct" checkpoint).
pub fn constant_model_with_chat(
    token: &str,
    max_positions: usize,
    chat_template: Option<&str>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    dllm_ls::testing::write_constant_model(
        &dllm_ls::testing::fixture_dir(),
        dir.path(),
        token,
        max_positions,
        chat_template,
    )
    .unwrap();
    dir
}

/// [`constant_model`] that gives its token only about `probability` at every masked position:
/// the same answers, with a confidence the test chooses (for the `minConfidence` gate).
pub fn doubtful_model(token: &str, max_positions: usize, probability: f32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    dllm_ls::testing::write_doubtful_model(
        &dllm_ls::testing::fixture_dir(),
        dir.path(),
        token,
        max_positions,
        probability,
    )
    .unwrap();
    dir
}
