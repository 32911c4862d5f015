//! A guard in front of tower-lsp-server's stdio transport.
//!
//! Its decoder answers a malformed message with a JSON-RPC error, but tokio-util's `FramedRead`
//! ends the input stream after any decode error, so one bad message would stop the server. This
//! layer reads the frames itself, passes well-formed JSON-RPC messages through unchanged, answers
//! the rest with a parse error (-32700) or invalid request (-32600), and writes whole frames to
//! stdout so its answers never interleave with the server's.

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

const HEADER_END: &[u8] = b"\r\n\r\n";
/// Larger messages are refused rather than buffered (memory stays bounded).
const MAX_MESSAGE: usize = 64 << 20;

/// Reads LSP frames; `None` at end of input. A header without a usable `Content-Length` is
/// skipped with an error, and reading goes on at the next header.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

pub enum Frame {
    Message(Vec<u8>),
    BadHeader(String),
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 8192];
        let n = self.inner.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            if let Some(end) = find(&self.buf, HEADER_END) {
                let header = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let length = header.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                });
                let Some(length) = length.filter(|&n| n <= MAX_MESSAGE) else {
                    self.buf.drain(..end + HEADER_END.len());
                    return Ok(Some(Frame::BadHeader(header)));
                };
                let start = end + HEADER_END.len();
                while self.buf.len() < start + length {
                    if !self.fill().await? {
                        return Ok(None);
                    }
                }
                let body = self.buf[start..start + length].to_vec();
                self.buf.drain(..start + length);
                return Ok(Some(Frame::Message(body)));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// `Ok` for a well-formed JSON-RPC message, else the error response to send back.
pub fn validate(body: &[u8]) -> Result<(), Value> {
    let error = |id: Value, code: i64, message: &str| json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(error(Value::Null, -32700, &format!("Parse error: {e}"))),
    };
    let id = value
        .get("id")
        .cloned()
        .filter(|id| id.is_number() || id.is_string())
        .unwrap_or(Value::Null);
    let is_request = value.get("method").is_some_and(Value::is_string);
    let is_response = value.get("id").is_some()
        && (value.get("result").is_some() || value.get("error").is_some());
    let params_ok = value
        .get("params")
        .is_none_or(|p| p.is_object() || p.is_array() || p.is_null());
    if value.get("jsonrpc") != Some(&json!("2.0")) || !(is_request || is_response) || !params_ok {
        return Err(error(
            id,
            -32600,
            "Invalid request: not a JSON-RPC 2.0 message",
        ));
    }
    Ok(())
}

/// Connects `input`/`output` (the real stdio) to the two returned pipe ends that
/// tower-lsp-server reads and writes, filtering as described above.
pub fn guard<I, O>(input: I, output: O) -> (DuplexStream, DuplexStream)
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (server_in, mut to_server) = tokio::io::duplex(1 << 20);
    let (from_server, server_out) = tokio::io::duplex(1 << 20);
    let (replies, mut replies_rx) = mpsc::unbounded_channel::<Vec<u8>>();

    tokio::spawn(async move {
        let mut frames = FrameReader::new(input);
        while let Ok(Some(f)) = frames.next().await {
            let body = match f {
                Frame::BadHeader(h) => {
                    tracing::error!("dropped a message with a bad header: {h:?}");
                    let reply = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error: missing or invalid Content-Length"}});
                    let _ = replies.send(reply.to_string().into_bytes());
                    continue;
                }
                Frame::Message(body) => body,
            };
            match validate(&body) {
                Ok(()) => {
                    if to_server.write_all(&frame(&body)).await.is_err() {
                        break;
                    }
                }
                Err(reply) => {
                    tracing::error!(
                        "answered a malformed message: {}",
                        String::from_utf8_lossy(&body)
                    );
                    let _ = replies.send(reply.to_string().into_bytes());
                }
            }
        }
        // End of input: closing the pipe lets the server shut down as on a closed stdin.
        let _ = to_server.shutdown().await;
    });

    tokio::spawn(async move {
        let mut output = output;
        let mut frames = FrameReader::new(from_server);
        loop {
            let body = tokio::select! {
                f = frames.next() => match f {
                    Ok(Some(Frame::Message(body))) => body,
                    Ok(Some(Frame::BadHeader(_))) => continue,
                    _ => break,
                },
                Some(reply) = replies_rx.recv() => reply,
            };
            if output.write_all(&frame(&body)).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    (server_in, server_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_tells_parse_errors_from_invalid_requests() {
        assert!(validate(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#).is_ok());
        assert!(validate(br#"{"jsonrpc":"2.0","id":1,"result":null}"#).is_ok());
        assert_eq!(validate(b"{ nope").unwrap_err()["error"]["code"], -32700);
        let e = validate(br#"{"jsonrpc":"2.0","id":7}"#).unwrap_err();
        assert_eq!(e["error"]["code"], -32600);
        assert_eq!(e["id"], 7);
        assert_eq!(validate(br#"[1,2]"#).unwrap_err()["error"]["code"], -32600);
        assert_eq!(
            validate(br#"{"jsonrpc":"2.0","method":"x","params":3}"#).unwrap_err()["error"]["code"],
            -32600
        );
    }

    #[tokio::test]
    async fn frames_survive_garbage_headers() {
        let input: &[u8] =
            b"Content-Length: 2\r\n\r\n{}Bogus: 1\r\n\r\nContent-Length: 4\r\n\r\nnull";
        let mut r = FrameReader::new(input);
        assert!(matches!(r.next().await.unwrap(), Some(Frame::Message(b)) if b == b"{}"));
        assert!(matches!(r.next().await.unwrap(), Some(Frame::BadHeader(_))));
        assert!(matches!(r.next().await.unwrap(), Some(Frame::Message(b)) if b == b"null"));
        assert!(r.next().await.unwrap().is_none());
    }
}
