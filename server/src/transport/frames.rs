//! LSP base-protocol framing: `Content-Length` header blocks followed by bodies.
//!
//! The reader never gives up on its input. Anything that is not a well-formed header block
//! (garbage bytes, a header without a usable `Content-Length`, an over-long header) is skipped up
//! to the next `Content-Length` header, so one damaged frame costs that frame and no more. Header
//! lines may end in CRLF (the spec) or a bare LF (what some hand-written clients send).
//!
//! The one case that cannot be repaired at once: a `Content-Length` larger than its body takes
//! the start of the next message as its own, and the reader waits until that many bytes have
//! come. [`FrameReader::recover_from`] then hands back whatever headers the swallowed bytes held,
//! so the messages after it are still served; the damaged message itself is lost.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Larger messages are refused rather than buffered (memory stays bounded).
pub const MAX_MESSAGE: usize = 64 << 20;
/// A header block longer than this is garbage, not a header.
const MAX_HEADER: usize = 8 << 10;
const CONTENT_LENGTH: &[u8] = b"content-length";

pub enum Frame {
    /// A body whose length its header gave; not yet known to be JSON.
    Message(Vec<u8>),
    /// Bytes that were not a usable frame and were skipped; the text says what was wrong.
    Skipped(String),
}

/// Reads frames; `None` at end of input.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Set while skipping one run of garbage, so the run is reported once.
    skipping: bool,
}

/// What the start of the buffer holds.
enum Head {
    /// A complete header block of `len` bytes announcing a body of `body` bytes.
    Frame { len: usize, body: usize },
    /// A complete header block of `len` bytes that is unusable, and why.
    Bad { len: usize, why: String },
    /// Not a header block at all.
    Garbage,
    /// Could still become a header block once more bytes arrive.
    Incomplete,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
            skipping: false,
        }
    }

    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 << 10];
        let n = self.inner.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Bytes read but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            // Blank lines between frames are harmless: drop them without a word.
            let blank = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.buf.drain(..blank);
            match parse_head(&self.buf) {
                Head::Frame { len, body } => {
                    self.skipping = false;
                    while self.buf.len() < len + body {
                        if !self.fill().await? {
                            return Ok(None);
                        }
                    }
                    let message = self.buf[len..len + body].to_vec();
                    self.buf.drain(..len + body);
                    return Ok(Some(Frame::Message(message)));
                }
                Head::Bad { len, why } => {
                    // Whatever body followed is garbage too, skipped without a second report.
                    self.buf.drain(..len);
                    self.skipping = true;
                    return Ok(Some(Frame::Skipped(why)));
                }
                Head::Garbage => {
                    let skipped = self.skip_garbage();
                    if !self.skipping {
                        self.skipping = true;
                        return Ok(Some(Frame::Skipped(format!(
                            "{skipped} bytes that are not an LSP header"
                        ))));
                    }
                }
                Head::Incomplete => {
                    if !self.fill().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Drops bytes up to the next `Content-Length` after the first byte (or all but a tail
    /// that might be the start of one); returns how many were dropped.
    fn skip_garbage(&mut self) -> usize {
        let from = 1.min(self.buf.len());
        let cut = match find_ignore_case(&self.buf[from..], CONTENT_LENGTH) {
            Some(i) => from + i,
            None => self
                .buf
                .len()
                .saturating_sub(CONTENT_LENGTH.len() - 1)
                .max(from),
        };
        self.buf.drain(..cut);
        cut
    }

    /// After a body turned out not to be a message: if it holds a `Content-Length` header
    /// (the start of a message it swallowed), put that part back to be read again.
    pub fn recover_from(&mut self, body: &[u8]) -> bool {
        // The swallowed header may have been cut anywhere, even inside its name: look for it
        // across the body's end. Progress is certain even from offset 0, as the header that
        // announced `body` is gone.
        let mut joined = body.to_vec();
        joined.extend_from_slice(&self.buf[..self.buf.len().min(CONTENT_LENGTH.len() - 1)]);
        let Some(at) = find_ignore_case(&joined, CONTENT_LENGTH).filter(|&at| at < body.len())
        else {
            return false;
        };
        let mut restored = body[at..].to_vec();
        restored.extend_from_slice(&self.buf);
        self.buf = restored;
        true
    }
}

/// Parses the header block at the start of `buf`.
fn parse_head(buf: &[u8]) -> Head {
    let mut at = 0;
    let mut lengths = Vec::new();
    loop {
        let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') else {
            let partial = &buf[at..];
            return if at + partial.len() > MAX_HEADER || !could_start_field(partial) {
                Head::Garbage
            } else {
                Head::Incomplete
            };
        };
        let line = &buf[at..at + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += nl + 1;
        if at > MAX_HEADER {
            return Head::Garbage;
        }
        if line.is_empty() {
            return content_length(&lengths, at);
        }
        let Some((name, value)) = field(line) else {
            return Head::Garbage;
        };
        if name.eq_ignore_ascii_case("content-length") {
            lengths.push(value.to_string());
        }
    }
}

fn content_length(values: &[String], len: usize) -> Head {
    let bad = |why: String| Head::Bad { len, why };
    let Some(first) = values.first() else {
        return bad("a header without Content-Length".into());
    };
    if values.iter().any(|v| v != first) {
        return bad(format!("conflicting Content-Length headers: {values:?}"));
    }
    let digits = !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit());
    match first.parse::<usize>() {
        Ok(body) if digits && body <= MAX_MESSAGE => Head::Frame { len, body },
        Ok(_) if digits => bad(format!(
            "Content-Length {first} is over the limit of {MAX_MESSAGE} bytes"
        )),
        _ => bad(format!("Content-Length {first:?} is not a byte count")),
    }
}

/// `name: value` with `name` an HTTP token.
fn field(line: &[u8]) -> Option<(&str, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let (name, value) = line.split_once(':')?;
    is_token(name).then(|| (name, value.trim()))
}

fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether an unfinished line could still become a header field.
fn could_start_field(partial: &[u8]) -> bool {
    let name_end = partial
        .iter()
        .position(|&b| b == b':')
        .unwrap_or(partial.len());
    let name = &partial[..name_end];
    let name_ok = name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    let value_ok = partial[name_end..].iter().all(|&b| b != 0);
    name_ok && value_ok && !(name.is_empty() && name_end < partial.len())
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// The header block that announces a body of `len` bytes.
pub fn header(len: usize) -> String {
    format!("Content-Length: {len}\r\n\r\n")
}

/// `body` with its header, as one buffer.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = header(body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}
