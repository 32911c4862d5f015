//! A real HTTP/1.1 server on loopback for the remote engine's tests: each request is recorded
//! and answered by the test's responder (a status, headers, and a whole body or a stream of
//! server-sent events, possibly slow or cut off). It runs on its own thread and runtime, so
//! blocking and async tests alike can use it. Test support only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub enum Body {
    /// A whole body.
    Whole(String),
    /// `data:` events, `pause` apart; `cut`: the connection closes after them, with no end.
    Events {
        events: Vec<String>,
        pause: Duration,
        cut: bool,
    },
    /// Nothing for this long, then close.
    Silence(Duration),
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Whole(body.to_string()),
        }
    }

    /// A stream of the events' data, then `data: [DONE]`.
    pub fn events<S: Into<String>>(events: impl IntoIterator<Item = S>) -> Self {
        let mut events: Vec<String> = events.into_iter().map(Into::into).collect();
        events.push("[DONE]".into());
        Reply::stream(events, Duration::ZERO, false)
    }

    pub fn stream(events: Vec<String>, pause: Duration, cut: bool) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: Body::Events { events, pause, cut },
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Responder = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// The running server; it stops with the process.
pub struct TestServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Streams the client closed before their end.
    dropped: Arc<AtomicUsize>,
}

impl TestServer {
    /// Starts a server answering each request (and its index, from 0) with `respond`.
    pub fn start(respond: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let dropped = Arc::new(AtomicUsize::new(0));
        let respond: Arc<Responder> = Arc::new(respond);
        let (r, d) = (requests.clone(), dropped.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, respond.clone(), r.clone(), d.clone()));
                }
            });
        });
        TestServer {
            addr,
            requests,
            dropped,
        }
    }

    /// The base URL, with `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// How many streams the client closed before their end.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: TcpStream,
    respond: Arc<Responder>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    dropped: Arc<AtomicUsize>,
) {
    // One request a connection: every answer closes it.
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let index = {
        let mut all = requests.lock().unwrap();
        all.push(request.clone());
        all.len() - 1
    };
    let reply = respond(&request, index);
    let mut head = format!("HTTP/1.1 {} X\r\nconnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match reply.body {
        Body::Whole(body) => {
            head.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
            let _ = stream.write_all(head.as_bytes()).await;
        }
        Body::Events { events, pause, cut } => {
            head.push_str("\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for event in &events {
                // The timer's millisecond ticks would pace even a zero pause.
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                let frame = format!("data: {event}\n\n");
                if stream.write_all(frame.as_bytes()).await.is_err()
                    || stream.flush().await.is_err()
                {
                    dropped.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
            if cut {
                let _ = stream.write_all(b"data: {\"choices\": [{\"te").await;
            }
        }
        Body::Silence(time) => tokio::time::sleep(time).await,
    }
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&buf[..n]);
        // A TLS handshake (its record type is 0x16): answered in plain HTTP, as a plain server
        // does, so the client's TLS fails at once.
        if bytes.first() == Some(&0x16) {
            let _ = stream.write_all(b"HTTP/1.1 400 X\r\nconnection: close\r\n\r\n").await;
            return None;
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while bytes.len() < head_end + length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&bytes[head_end..head_end + length]).into_owned(),
    })
}
