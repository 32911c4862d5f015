use super::*;
use frames::frame;

const STATUS: &str = r#"{"jsonrpc":"2.0","id":9,"method":"workspace/executeCommand","params":{"command":"dllm.status"}}"#;

/// What a reader makes of `input`, the way the guard reads it: a body that is not JSON is
/// searched for a swallowed message.
async fn read_all(input: &[u8]) -> Vec<Result<String, String>> {
    let mut reader = FrameReader::new(input);
    let mut out = vec![];
    while let Some(frame) = reader.next().await.unwrap() {
        match frame {
            Frame::Message(body) => {
                if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
                    out.push(Ok(String::from_utf8(body).unwrap()));
                } else {
                    reader.recover_from(&body);
                    out.push(Err("not JSON".into()));
                }
            }
            Frame::Skipped(why) => out.push(Err(why)),
        }
        assert!(reader.buffered() <= frames::MAX_MESSAGE);
    }
    out
}

fn framed(body: &str) -> Vec<u8> {
    frame(body.as_bytes())
}

/// Each damaged prefix costs its own frame, and the status request after it is still read.
async fn recovers_after(damage: &[u8]) -> Vec<Result<String, String>> {
    let mut input = damage.to_vec();
    input.extend(framed(STATUS));
    let out = read_all(&input).await;
    assert_eq!(
        out.last(),
        Some(&Ok(STATUS.to_string())),
        "after {:?}: {out:?}",
        String::from_utf8_lossy(&damage[..damage.len().min(80)])
    );
    out
}

#[tokio::test]
async fn a_header_without_content_length_costs_one_frame() {
    let damage = format!("Content-Type: x\r\n\r\n{STATUS}");
    let out = recovers_after(damage.as_bytes()).await;
    assert_eq!(out.len(), 2, "{out:?}");
    // And the reader keeps its footing for the messages after that.
    let mut input = damage.into_bytes();
    for _ in 0..3 {
        input.extend(framed(STATUS));
    }
    let out = read_all(&input).await;
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 3, "{out:?}");
}

#[tokio::test]
async fn bad_content_lengths_cost_one_frame() {
    for value in ["abc", "-5", "18446744073709551616", "", "99999999999"] {
        let damage = format!("Content-Length: {value}\r\n\r\n{STATUS}");
        recovers_after(damage.as_bytes()).await;
    }
    let damage = format!("Content-Length: 5\r\nContent-Length: 6\r\n\r\n{STATUS}");
    recovers_after(damage.as_bytes()).await;
}

#[tokio::test]
async fn two_equal_content_lengths_and_lf_only_headers_are_accepted() {
    let n = STATUS.len();
    let input = format!("Content-Length: {n}\r\ncontent-length: {n}\r\n\r\n{STATUS}Content-Length: {n}\n\n{STATUS}\r\n");
    let out = read_all(input.as_bytes()).await;
    assert_eq!(out, vec![Ok(STATUS.to_string()), Ok(STATUS.to_string())]);
}

#[tokio::test]
async fn a_content_length_too_small_costs_one_frame() {
    let damage = format!("Content-Length: 10\r\n\r\n{STATUS}");
    recovers_after(damage.as_bytes()).await;
}

#[tokio::test]
async fn a_content_length_too_large_gives_back_the_message_it_swallowed() {
    // The first body claims 40 bytes more than it has: the status request's header and the
    // start of its body are read as part of it, then handed back.
    let damage = format!("Content-Length: {}\r\n\r\n{{\"jsonrpc\":\"2.0\"}}", 17 + 40);
    let out = recovers_after(damage.as_bytes()).await;
    assert_eq!(out.len(), 2, "{out:?}");
}

#[tokio::test]
async fn megabytes_of_nul_bytes_are_skipped_in_one_report() {
    let damage = vec![0u8; 10 << 20];
    let out = recovers_after(&damage).await;
    assert_eq!(out.len(), 2, "{out:?}");
}

#[tokio::test]
async fn garbage_between_frames_is_skipped() {
    let mut damage = framed(STATUS);
    damage.extend_from_slice(b"Bogus: 1\r\n\r\n{}\r\n\r\nhello world");
    let out = recovers_after(&damage).await;
    assert_eq!(out[0], Ok(STATUS.to_string()));
}

#[tokio::test]
async fn an_endless_header_is_garbage() {
    let mut damage = b"X-Long: ".to_vec();
    damage.extend(std::iter::repeat_n(b'a', 100 << 10));
    damage.extend_from_slice(b"\r\n\r\n");
    recovers_after(&damage).await;
}

/// The guard end to end: what the server is handed and what the client is answered.
#[tokio::test]
async fn the_guard_answers_bad_ids_and_dollar_requests_and_passes_the_rest() {
    use tokio::io::AsyncReadExt;
    let mut input = framed(
        r#"{"jsonrpc":"2.0","id":1.5,"method":"workspace/executeCommand","params":{"command":"dllm.status"}}"#,
    );
    input.extend(framed(r#"{"jsonrpc":"2.0","id":4,"method":"$/fooBar"}"#));
    input.extend(framed(STATUS));
    let (client_out, mut client_in) = tokio::io::duplex(1 << 16);
    let lifecycle = Lifecycle::new();
    let guarded = guard(std::io::Cursor::new(input), client_out, lifecycle.clone());
    let mut passed = FrameReader::new(guarded.input);
    match passed.next().await.unwrap() {
        Some(Frame::Message(body)) => assert_eq!(body, STATUS.as_bytes()),
        _ => panic!("the status request was not passed on"),
    }
    assert!(
        passed.next().await.unwrap().is_none(),
        "closed input closes the server's"
    );
    assert_eq!(
        lifecycle.ended().await,
        crate::lifecycle::Ending::InputClosed
    );
    drop(guarded.output);
    guarded.writer.await.unwrap();
    let mut answers = vec![];
    client_in.read_to_end(&mut answers).await.unwrap();
    let mut reader = FrameReader::new(&answers[..]);
    let mut codes = vec![];
    while let Some(Frame::Message(body)) = reader.next().await.unwrap() {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        codes.push((v["id"].clone(), v["error"]["code"].as_i64().unwrap()));
    }
    assert_eq!(
        codes,
        vec![
            (serde_json::Value::Null, -32600),
            (serde_json::json!(4), -32601)
        ]
    );
}
