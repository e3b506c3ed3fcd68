//! Reading and writing the JSON lines stream that connects the tools. Reading
//! classifies each line without losing anything: backup records are parsed
//! (unknown fields kept), error records and records of other types are kept
//! as their original text so they pass through byte for byte, and a malformed
//! line becomes an item naming its line number while the rest still flows.

use std::io::{BufRead, Write};
use std::sync::Mutex;

use serde_json::Value;

use crate::record::{BackupRecord, ErrorRecord, PROTOCOL_VERSION};

/// One line of input, classified.
#[derive(Debug)]
pub enum InputItem {
    Backup {
        record: Box<BackupRecord>,
        line: usize,
    },
    /// An error record from an earlier tool: pass on untouched, exit non-zero.
    Error { raw: String },
    /// A record of a type this tool does not handle: pass on untouched.
    Other { raw: String },
    /// Not a pgb record; the message says why.
    Malformed { line: usize, message: String },
}

impl InputItem {
    /// Classifies one line (1-based `line` number for messages).
    pub fn parse(text: &str, line: usize) -> InputItem {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => {
                return InputItem::Malformed {
                    line,
                    message: format!("line {line}: not JSON: {e}"),
                }
            }
        };
        let Some(object) = value.as_object() else {
            return malformed(line, "not a JSON object");
        };
        match object.get("pgb").and_then(Value::as_u64) {
            Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
            Some(v) => return malformed(line, &format!("unsupported protocol version pgb={v}")),
            None => return malformed(line, "missing \"pgb\" protocol version"),
        }
        match object.get("type").and_then(Value::as_str) {
            Some(BackupRecord::TYPE) => match serde_json::from_value::<BackupRecord>(value) {
                Ok(record) => InputItem::Backup {
                    record: Box::new(record),
                    line,
                },
                Err(e) => malformed(line, &format!("invalid backup record: {e}")),
            },
            Some(ErrorRecord::TYPE) => InputItem::Error {
                raw: text.trim_end().to_string(),
            },
            Some(_) => InputItem::Other {
                raw: text.trim_end().to_string(),
            },
            None => malformed(line, "missing \"type\""),
        }
    }
}

fn malformed(line: usize, what: &str) -> InputItem {
    InputItem::Malformed {
        line,
        message: format!("line {line}: {what}"),
    }
}

/// Reads every non-blank line of `reader` as an [`InputItem`]. A read error
/// (e.g. invalid UTF-8) becomes a malformed item and reading goes on.
pub fn read_items<R: BufRead>(reader: R) -> impl Iterator<Item = InputItem> {
    let mut line_no = 0;
    let mut lines = reader.split(b'\n');
    std::iter::from_fn(move || loop {
        let bytes = match lines.next()? {
            Ok(bytes) => bytes,
            Err(e) => {
                line_no += 1;
                return Some(malformed(line_no, &format!("cannot read: {e}")));
            }
        };
        line_no += 1;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return Some(malformed(line_no, "not UTF-8")),
        };
        if text.trim().is_empty() {
            continue;
        }
        return Some(InputItem::parse(&text, line_no));
    })
}

/// What became of one input line in a tool that acts on backup records.
#[derive(Debug)]
pub enum Forwarded {
    /// A backup record for the tool to act on.
    Backup(Box<BackupRecord>),
    /// Passed on untouched (or reported); `failed` when the run must end
    /// non-zero because of it (an error record received, a malformed line).
    PassedOn { failed: bool },
}

/// The common handling of input lines: backups are handed to the tool; error
/// records and records of other types are passed on byte for byte; a
/// malformed line becomes an error record of `tool` naming its line.
pub fn forward<W: Write>(
    item: InputItem,
    sink: &RecordSink<W>,
    tool: &str,
    log: &crate::log::HumanLog,
) -> Forwarded {
    let (line, failed) = match item {
        InputItem::Backup { record, .. } => return Forwarded::Backup(record),
        InputItem::Error { raw } => {
            log.warn("passing on an error record from an earlier tool");
            (raw, true)
        }
        InputItem::Other { raw } => (raw, false),
        InputItem::Malformed { line, message } => {
            log.error(&format!("stdin {message}"));
            let mut record = ErrorRecord::new(tool, format!("malformed input: {message}"));
            record.line = Some(line);
            (record.to_json_line(), true)
        }
    };
    match sink.emit_line(&line) {
        Ok(()) => Forwarded::PassedOn { failed },
        Err(e) => {
            log.error(&format!("cannot write to stdout: {e}"));
            Forwarded::PassedOn { failed: true }
        }
    }
}

/// Reads all of `input`, forwarding what is not a backup; returns the
/// backups and whether anything forwarded means failure.
pub fn collect_backups<R: BufRead, W: Write>(
    input: R,
    sink: &RecordSink<W>,
    tool: &str,
    log: &crate::log::HumanLog,
) -> (Vec<BackupRecord>, bool) {
    let mut backups = Vec::new();
    let mut failed = false;
    for item in read_items(input) {
        match forward(item, sink, tool, log) {
            Forwarded::Backup(record) => backups.push(*record),
            Forwarded::PassedOn { failed: f } => failed |= f,
        }
    }
    (backups, failed)
}

/// stdout as a record sink: one line per record, flushed at once so the next
/// tool in the pipeline sees each backup as soon as it exists. Shared by
/// worker threads, hence the mutex.
#[derive(Debug)]
pub struct RecordSink<W: Write> {
    out: Mutex<W>,
}

impl<W: Write> RecordSink<W> {
    pub fn new(out: W) -> Self {
        RecordSink {
            out: Mutex::new(out),
        }
    }

    /// Writes one line. A failure to write stdout (closed pipe) is returned so
    /// the tool can fail loudly instead of pretending the record was seen.
    pub fn emit_line(&self, line: &str) -> std::io::Result<()> {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_name_their_number_and_do_not_stop_reading() {
        let input = "{\"pgb\":1,\"type\":\"error\",\"tool\":\"x\",\"message\":\"m\"}\nnot json\n\n{\"pgb\":1}\n{\"pgb\":1,\"type\":\"prune\",\"x\":[1]}\n";
        let items: Vec<InputItem> = read_items(input.as_bytes()).collect();
        assert_eq!(items.len(), 4);
        assert!(matches!(&items[0], InputItem::Error { raw } if raw.contains("\"message\":\"m\"")));
        assert!(
            matches!(&items[1], InputItem::Malformed { line: 2, message } if message.contains("line 2"))
        );
        assert!(matches!(&items[2], InputItem::Malformed { line: 4, .. }));
        assert!(
            matches!(&items[3], InputItem::Other { raw } if raw == "{\"pgb\":1,\"type\":\"prune\",\"x\":[1]}")
        );
    }

    #[test]
    fn an_invalid_backup_record_is_malformed_not_fatal() {
        let items: Vec<InputItem> =
            read_items("{\"pgb\":1,\"type\":\"backup\",\"id\":3}\n".as_bytes()).collect();
        assert!(
            matches!(&items[0], InputItem::Malformed { line: 1, message } if message.contains("invalid backup record"))
        );
    }

    #[test]
    fn sink_writes_one_line_per_record() {
        let sink = RecordSink::new(Vec::new());
        sink.emit_line("{\"a\":1}").unwrap();
        sink.emit_line("{\"b\":2}").unwrap();
        assert_eq!(sink.into_inner(), b"{\"a\":1}\n{\"b\":2}\n");
    }
}
