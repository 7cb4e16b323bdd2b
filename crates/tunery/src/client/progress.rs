//! Progress of a transfer on standard error: bytes done of the total, the rate of this run and
//! a detail (the part). On a terminal one line is redrawn in place (`\r`); otherwise each
//! step is a line of its own, so logs stay readable.

use super::output;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a terminal line is redrawn at most between steps.
const REDRAW: Duration = Duration::from_millis(100);

pub struct Progress {
    verb: &'static str,
    total: u64,
    done: u64,
    /// Bytes moved by this run (the rate's numerator; a resumed upload starts with `done` > 0).
    moved: u64,
    started: Instant,
    tty: bool,
    drawn_at: Option<Instant>,
    /// Width of the line on screen, to blank what a shorter line leaves.
    width: usize,
}

impl Progress {
    /// Starts at `done` bytes of `total` (more than zero when resuming).
    pub fn new(verb: &'static str, total: u64, done: u64) -> Progress {
        Progress { verb, total, done, moved: 0, started: Instant::now(), tty: std::io::stderr().is_terminal(), drawn_at: None, width: 0 }
    }

    /// Whether standard error is a terminal (lines are redrawn in place).
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    pub fn done(&self) -> u64 {
        self.done
    }

    pub fn advance(&mut self, n: u64) {
        self.done += n;
        self.moved += n;
    }

    /// MiB per second moved by this run.
    pub fn rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.moved as f64 / (1024.0 * 1024.0) / secs
    }

    /// `sent 3.0 MiB / 10.0 MiB (30%), 12.5 MiB/s, part 3/10`
    pub fn line(&self, detail: &str) -> String {
        let percent = self.done.saturating_mul(100).checked_div(self.total).unwrap_or(100);
        let mut line =
            format!("{} {} / {} ({percent}%), {:.1} MiB/s", self.verb, output::bytes(self.done), output::bytes(self.total), self.rate());
        if !detail.is_empty() {
            line.push_str(", ");
            line.push_str(detail);
        }
        line
    }

    /// Between steps: redraws the terminal line now and then; nothing otherwise.
    pub fn tick(&mut self, detail: &str) {
        if self.tty && self.drawn_at.is_none_or(|t| t.elapsed() >= REDRAW) {
            self.draw(&self.line(detail));
        }
    }

    /// A step (a part sent): redrawn in place on a terminal, a line of its own otherwise.
    pub fn step(&mut self, detail: &str) {
        let line = self.line(detail);
        if self.tty {
            self.draw(&line);
        } else {
            eprintln!("{line}");
        }
    }

    /// A message on a line of its own, below the progress line.
    pub fn note(&mut self, message: &str) {
        self.finish();
        eprintln!("{message}");
    }

    /// Ends the progress line on a terminal, so what follows starts on a fresh line.
    pub fn finish(&mut self) {
        if self.tty && self.drawn_at.take().is_some() {
            eprintln!();
            self.width = 0;
        }
    }

    fn draw(&mut self, line: &str) {
        let width = line.chars().count();
        let pad = self.width.saturating_sub(width);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}{}", " ".repeat(pad));
        let _ = err.flush();
        self.width = width;
        self.drawn_at = Some(Instant::now());
    }
}
