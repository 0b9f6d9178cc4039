//! How output looks: colors (off with NO_COLOR or when not a terminal), live progress
//! bars on a terminal that become plain lines otherwise, and JSON for scripts.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressDrawTarget};
use owo_colors::OwoColorize;

use crate::cli::OutputFormat;

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub format: OutputFormat,
    /// stderr is a terminal: live bars instead of plain lines.
    pub live: bool,
    pub color: bool,
}

impl Ui {
    pub fn detect(format: OutputFormat) -> Self {
        let live = std::io::stderr().is_terminal() && format == OutputFormat::Text;
        // https://no-color.org: any non-empty value turns colors off.
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = live && !no_color;
        Ui {
            format,
            live,
            color,
        }
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Progress bars drawn on stderr only when live; hidden otherwise, so callers print
    /// plain lines instead.
    pub fn progress(&self) -> MultiProgress {
        if self.live {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        }
    }

    pub fn ok(&self, text: &str) -> String {
        self.paint(text, |t| t.green().to_string())
    }

    pub fn bad(&self, text: &str) -> String {
        self.paint(text, |t| t.red().bold().to_string())
    }

    pub fn warn(&self, text: &str) -> String {
        self.paint(text, |t| t.yellow().to_string())
    }

    /// Something in progress (the live tree's spinner).
    pub fn live_mark(&self, text: &str) -> String {
        self.paint(text, |t| t.cyan().to_string())
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(text, |t| t.dimmed().to_string())
    }

    fn paint(&self, text: &str, style: impl Fn(&str) -> String) -> String {
        if self.color {
            style(text)
        } else {
            text.to_string()
        }
    }
}
