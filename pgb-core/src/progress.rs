//! Progress bars on stderr, drawn only when stderr is a terminal (never in
//! cron mail or CI logs) and never with `--quiet`.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bars for a run; hidden unless stderr is a TTY.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let enabled = !quiet && std::io::stderr().is_terminal();
        Progress {
            multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A bar counting bytes with rate and elapsed time. `total` gives a
    /// percentage when known (e.g. the size of a file being read).
    pub fn bytes(&self, label: &str, total: Option<u64>) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::no_length(),
        };
        let template = if total.is_some() {
            "{prefix:.bold} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec})"
        } else {
            "{prefix:.bold} [{elapsed_precise}] {spinner} {bytes} ({bytes_per_sec})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_string());
        multi.add(bar)
    }
}
