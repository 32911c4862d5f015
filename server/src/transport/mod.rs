//! A guard in front of tower-lsp-server's stdio transport.
//!
//! tower-lsp-server stops reading for good after one frame or message it cannot decode, and
//! leaves unknown `$/` requests unanswered. This layer reads the frames itself
//! ([`frames`]), passes on only messages tower-lsp-server can decode, answers the rest
//! ([`messages`]), shows every message to the [`Lifecycle`] first, and writes whole frames to
//! stdout so its answers never interleave with the server's.

pub mod frames;
pub mod messages;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::lifecycle::{Lifecycle, Next};
use frames::{Frame, FrameReader};
use messages::{error_response, judge, Verdict, PARSE_ERROR};

/// The server's ends of the guarded pipes, and the task that writes to the real output.
pub struct Guarded {
    pub input: DuplexStream,
    pub output: DuplexStream,
    /// Ends once the server's output is closed and everything has been written.
    pub writer: JoinHandle<()>,
}

/// Connects `input`/`output` (the real stdio) to the pipe ends tower-lsp-server reads and
/// writes, filtering as described above.
pub fn guard<I, O>(input: I, output: O, lifecycle: Arc<Lifecycle>) -> Guarded
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (server_in, to_server) = tokio::io::duplex(1 << 20);
    let (from_server, server_out) = tokio::io::duplex(1 << 20);
    let (replies, replies_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(read_client(input, to_server, replies, lifecycle));
    let writer = tokio::spawn(write_client(output, from_server, replies_rx));
    Guarded {
        input: server_in,
        output: server_out,
        writer,
    }
}

async fn read_client<I: AsyncRead + Unpin>(
    input: I,
    mut to_server: DuplexStream,
    replies: mpsc::UnboundedSender<Vec<u8>>,
    lifecycle: Arc<Lifecycle>,
) {
    let mut frames = FrameReader::new(input);
    let answer = |reply: serde_json::Value| {
        let _ = replies.send(reply.to_string().into_bytes());
    };
    loop {
        let body = match frames.next().await {
            Ok(Some(Frame::Message(body))) => body,
            Ok(Some(Frame::Skipped(why))) => {
                tracing::error!("skipped input that is not an LSP frame: {why}");
                answer(error_response(
                    serde_json::Value::Null,
                    PARSE_ERROR,
                    &format!("Parse error: {why}"),
                ));
                continue;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::error!("reading the client's input failed: {e}");
                break;
            }
        };
        match judge(&body) {
            Verdict::Pass(message) => {
                if lifecycle.observe(&message) == Next::Stop {
                    return;
                }
                if write_frame(&mut to_server, &body).await.is_err() {
                    break;
                }
            }
            Verdict::Answer(reply) => {
                // Bodies are not logged: they may hold settings with secrets in them.
                tracing::error!(
                    "answered a malformed message of {} bytes: {}",
                    body.len(),
                    reply["error"]["message"]
                );
                if reply["error"]["code"] == PARSE_ERROR && frames.recover_from(&body) {
                    tracing::warn!("the malformed message held the start of another; reading it");
                }
                answer(reply);
            }
            Verdict::Drop(why) => tracing::error!("dropped {why} of {} bytes", body.len()),
        }
    }
    lifecycle.input_closed();
    // Closing the pipe lets the server finish what it has, as on a closed stdin.
    let _ = to_server.shutdown().await;
}

async fn write_client<O: AsyncWrite + Unpin>(
    mut output: O,
    from_server: DuplexStream,
    mut replies: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut frames = FrameReader::new(from_server);
    loop {
        let body = tokio::select! {
            // Answers already queued go out before the end of the server's output is noticed.
            biased;
            Some(reply) = replies.recv() => reply,
            f = frames.next() => match f {
                Ok(Some(Frame::Message(body))) => body,
                Ok(Some(Frame::Skipped(_))) => continue,
                _ => break,
            },
        };
        if write_frame(&mut output, &body).await.is_err() || output.flush().await.is_err() {
            break;
        }
    }
}

/// Writes `body` as one frame: the header, then the body itself, not a framed copy of it (a
/// body may be a whole document).
async fn write_frame<W: AsyncWrite + Unpin>(out: &mut W, body: &[u8]) -> std::io::Result<()> {
    out.write_all(frames::header(body.len()).as_bytes()).await?;
    out.write_all(body).await
}

#[cfg(test)]
mod tests;
