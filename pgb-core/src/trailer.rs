//! pg_dump and pg_dumpall end a complete SQL script with a fixed comment
//! ("-- PostgreSQL database dump complete"); a dump cut short has none. pgb
//! checks for it while streaming, at dump time and again at verify time, so a
//! truncated dump can never pass as a backup even if every byte hashes fine.

/// The last line of a complete `pg_dump` SQL script.
pub const DATABASE_MARKER: &str = "-- PostgreSQL database dump complete";
/// The last line of a complete `pg_dumpall` script.
pub const CLUSTER_MARKER: &str = "-- PostgreSQL database cluster dump complete";

const WINDOW: usize = 1024;

/// Keeps the last bytes of a stream to look for the completion marker.
#[derive(Debug, Default, Clone)]
pub struct TrailerWindow {
    tail: Vec<u8>,
}

impl TrailerWindow {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        if bytes.len() >= WINDOW {
            self.tail.clear();
            self.tail.extend_from_slice(&bytes[bytes.len() - WINDOW..]);
        } else {
            self.tail.extend_from_slice(bytes);
            if self.tail.len() > 2 * WINDOW {
                self.tail.drain(..self.tail.len() - WINDOW);
            }
        }
    }

    /// True if `marker` is the last meaningful line: after it only comment
    /// dashes, blank lines and the `\unrestrict KEY` line that pg_dump 15.14
    /// and later print at the very end.
    pub fn is_complete(&self, marker: &str) -> bool {
        let text = String::from_utf8_lossy(&self.tail);
        let Some(at) = text.rfind(marker) else {
            return false;
        };
        let line_start = at == 0 || text[..at].ends_with('\n');
        line_start
            && text[at + marker.len()..].lines().all(|line| {
                let line = line.trim_end_matches('\r');
                line.is_empty() || line == "--" || line.starts_with("\\unrestrict ")
            })
    }

    /// A short quote of the end of the stream for error messages.
    pub fn describe_end(&self) -> String {
        let text = String::from_utf8_lossy(&self.tail);
        let trimmed = text.trim_end();
        let start = trimmed
            .char_indices()
            .rev()
            .nth(79)
            .map(|(i, _)| i)
            .unwrap_or(0);
        format!("{:?}", &trimmed[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_of(text: &str, chunk: usize) -> TrailerWindow {
        let mut w = TrailerWindow::new();
        for piece in text.as_bytes().chunks(chunk) {
            w.update(piece);
        }
        w
    }

    #[test]
    fn recognises_complete_dumps_in_any_chunking() {
        let body = "x".repeat(5000);
        let complete =
            format!("{body}\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n");
        for chunk in [1, 7, 1000, 10_000] {
            assert!(
                window_of(&complete, chunk).is_complete(DATABASE_MARKER),
                "chunk {chunk}"
            );
        }
        let old_style = "--\n-- PostgreSQL database dump complete\n--\n\n";
        assert!(window_of(old_style, 3).is_complete(DATABASE_MARKER));
    }

    #[test]
    fn rejects_truncated_or_trailing_data() {
        let truncated = "COPY public.t (a) FROM stdin;\n1\n2\n";
        assert!(!window_of(truncated, 4).is_complete(DATABASE_MARKER));
        let more_after = "-- PostgreSQL database dump complete\n--\nINSERT INTO t VALUES (1);\n";
        assert!(!window_of(more_after, 4).is_complete(DATABASE_MARKER));
        let cluster = "--\n-- PostgreSQL database cluster dump complete\n--\n\n";
        assert!(window_of(cluster, 5).is_complete(CLUSTER_MARKER));
        assert!(!window_of(cluster, 5).is_complete(DATABASE_MARKER));
    }
}
