//! What every executor keeps of a run's output for its crash report: the last lines that were
//! not events. Remote executors also share how a line of output becomes a message.

use crate::local::Message;
use crate::protocol::parse_event;
use std::collections::VecDeque;

/// Lines kept for a crash report.
const TAIL_LINES: usize = 40;

/// The last [`TAIL_LINES`] lines of output.
#[derive(Debug, Default)]
pub(crate) struct Tail(VecDeque<String>);

impl Tail {
    pub(crate) fn push(&mut self, line: &str) {
        if self.0.len() == TAIL_LINES {
            self.0.pop_front();
        }
        self.0.push_back(line.to_string());
    }

    pub(crate) fn joined(&self) -> String {
        self.0.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// A line of a remote run's combined output (its logs): the runtime's events are its JSON
/// lines; everything else is log output, kept in the tail. Blank lines are nothing.
pub(crate) fn remote_line(line: &str, tail: &mut Tail) -> Option<Message> {
    if line.trim().is_empty() {
        return None;
    }
    if line.starts_with('{') {
        return Some(match parse_event(line) {
            Ok(event) => Message::Event(event),
            Err(e) => Message::BadLine { line: line.to_string(), error: e.to_string() },
        });
    }
    tail.push(line);
    Some(Message::Stderr(line.to_string()))
}
