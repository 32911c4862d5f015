//! A Hugging Face hub on loopback for download tests: serves checkpoint directories in the hub's
//! URL layout, `/{repo}/resolve/{revision}/{file}`, with the headers huggingface_hub's
//! `file_download.py` reads (`X-Repo-Commit`, `ETag`, for LFS files `X-Linked-Etag` and
//! `X-Linked-Size`, `Accept-Ranges` and 206 answers to `Range`), errors with the hub's
//! `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`), and records
//! every request. It can cut a file's download off after some bytes, as a dropped connection does.
#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Repo {
    pub commit: String,
    pub files: BTreeMap<String, Vec<u8>>,
    /// `Some(token)`: gated, only requests bearing this token get in.
    pub token: Option<String>,
}

impl Repo {
    /// A repository holding every file of a checkpoint directory.
    pub fn from_dir(dir: &Path, commit: &str) -> Repo {
        let files = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                let name = e.file_name().into_string().unwrap();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect();
        Repo {
            commit: commit.to_string(),
            files,
            token: None,
        }
    }
}

/// A download to cut off: the next `times` GETs of `file` end after `after` bytes of body.
struct Cut {
    file: String,
    after: usize,
    times: usize,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<String, Repo>,
    seen: Vec<Seen>,
    cut: Option<Cut>,
}

#[derive(Clone)]
pub struct FakeHub {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FakeHub {
    pub fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        FakeHub { endpoint, state }
    }

    pub fn add(&self, id: &str, repo: Repo) {
        self.state
            .lock()
            .unwrap()
            .repos
            .insert(id.to_string(), repo);
    }

    pub fn cut(&self, file: &str, after: usize, times: usize) {
        self.state.lock().unwrap().cut = Some(Cut {
            file: file.to_string(),
            after,
            times,
        });
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The etag the hub gives a file of a repository (the blob's name in the cache).
    pub fn etag(&self, id: &str, file: &str) -> String {
        etag_of(&self.state.lock().unwrap().repos[id].files[file])
    }
}

fn etag_of(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{:016x}{:016x}", h.finish(), bytes.len())
}

fn is_lfs(file: &str) -> bool {
    file.ends_with(".safetensors")
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let seen = Seen {
        method,
        path,
        headers,
    };
    let answer = {
        let mut state = state.lock().unwrap();
        state.seen.push(seen.clone());
        answer(&mut state, &seen)
    };
    let mut stream = stream;
    let _ = stream.write_all(&answer);
    let _ = stream.flush();
}

fn error(status: &str, code: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nX-Error-Code: {code}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The bytes of the whole answer (headers, then the body, or part of it for a cut).
fn answer(state: &mut State, seen: &Seen) -> Vec<u8> {
    let Some((id, rest)) = seen.path.trim_start_matches('/').split_once("/resolve/") else {
        return error("404 Not Found", "RepoNotFound");
    };
    let Some(repo) = state.repos.get(id) else {
        return error("404 Not Found", "RepoNotFound");
    };
    if let Some(token) = &repo.token {
        if seen.header("authorization") != Some(&format!("Bearer {token}")) {
            return error("401 Unauthorized", "GatedRepo");
        }
    }
    let (revision, file) = rest.split_once('/').unwrap_or((rest, ""));
    if revision != "main" && revision != repo.commit {
        return error("404 Not Found", "RevisionNotFound");
    }
    let Some(content) = repo.files.get(file) else {
        return error("404 Not Found", "EntryNotFound");
    };
    let etag = etag_of(content);
    let start: usize = seen
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
        .min(content.len());
    let body = &content[start..];
    let mut head = if seen.header("range").is_some() {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\n",
            content.len().saturating_sub(1),
            content.len()
        )
    } else {
        "HTTP/1.1 200 OK\r\n".to_string()
    };
    head += &format!(
        "X-Repo-Commit: {}\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\nConnection: close\r\n",
        repo.commit,
        body.len()
    );
    if is_lfs(file) {
        // The hub's ETag here is the git pointer's; the file's own is the linked one.
        head += &format!(
            "ETag: \"pointer-{etag}\"\r\nX-Linked-Etag: \"{etag}\"\r\nX-Linked-Size: {}\r\n",
            content.len()
        );
    } else {
        head += &format!("ETag: \"{etag}\"\r\n");
    }
    head += "\r\n";
    let mut out = head.into_bytes();
    if seen.method == "GET" {
        let mut body = body.to_vec();
        if let Some(cut) = state.cut.as_mut().filter(|c| c.file == file && c.times > 0) {
            cut.times -= 1;
            body.truncate(cut.after);
        }
        out.extend_from_slice(&body);
    }
    out
}
