//! Server-sent events, as far as completion streams use them: `data:` lines gathered into an
//! event until a blank line. Fed bytes as they arrive, in pieces that may cut a line (or a UTF-8
//! character) anywhere. Comments (`:` lines) and the `event:`, `id:` and `retry:` fields carry
//! nothing a completion needs and are skipped.

/// Collects events from a byte stream.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The `data:` lines of the event being read, joined by `\n`.
    data: Option<String>,
    /// Whether the last byte seen was a `\r` (a `\n` right after it ends no second line).
    after_cr: bool,
}

impl SseParser {
    /// Feeds the next bytes; returns the data of every event they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.end_line(&line) {
                        events.push(event);
                    }
                }
                _ => self.line.push(b),
            }
        }
        events
    }

    /// Whether bytes of an unfinished event are pending: a stream that ends here was cut.
    pub fn is_mid_event(&self) -> bool {
        !self.line.is_empty() || self.data.is_some()
    }

    fn end_line(&mut self, line: &[u8]) -> Option<String> {
        if line.is_empty() {
            return self.data.take();
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        if field == "data" {
            let data = self.data.get_or_insert_with(String::new);
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut SseParser, pieces: &[&[u8]]) -> Vec<String> {
        pieces.iter().flat_map(|p| parser.feed(p)).collect()
    }

    #[test]
    fn events_end_at_blank_lines_whatever_the_pieces() {
        let stream = b": keep-alive\n\ndata: {\"a\":1}\n\nevent: x\ndata: two\ndata: lines\r\n\r\ndata:[DONE]\n\n";
        let want = vec!["{\"a\":1}", "two\nlines", "[DONE]"];
        // Whole, byte by byte, and cut at every place.
        assert_eq!(all(&mut SseParser::default(), &[stream]), want);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(all(&mut SseParser::default(), &bytes), want);
        for cut in 0..stream.len() {
            let mut p = SseParser::default();
            assert_eq!(all(&mut p, &[&stream[..cut], &stream[cut..]]), want, "{cut}");
            assert!(!p.is_mid_event());
        }
    }

    #[test]
    fn a_character_cut_between_pieces_survives_and_a_cut_event_is_seen() {
        let text = "data: é\n\n".as_bytes();
        let at = text.iter().position(|&b| b >= 0x80).unwrap() + 1;
        let mut p = SseParser::default();
        assert_eq!(all(&mut p, &[&text[..at], &text[at..]]), vec!["é"]);
        let mut p = SseParser::default();
        assert!(p.feed(b"data: {\"choices\": [").is_empty());
        assert!(p.is_mid_event());
        let mut p = SseParser::default();
        assert!(p.feed(b"data: {}\n").is_empty());
        assert!(p.is_mid_event(), "an event without its blank line is unfinished");
    }
}
