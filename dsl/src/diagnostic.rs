//! Diagnostics: what the front end tells the user, and how it is rendered.
//!
//! Passes report structured [`crate::error::Error`] values; each one turns
//! itself into a [`Diagnostic`] (the wording lives in `error/wording.rs`),
//! and [`render`] prints diagnostics the way rustc does, ending, as rustc
//! does, with where to read more (`dslc explain`, from [`crate::explain`]):
//!
//! ```text
//! error[E0301]: shapes do not match for `+`
//!   ┌─ model.nn:4:22
//!   │
//! 4 │     output y = relu(h + x);
//!   │                     ^^^^^ ...
//!
//! For more information about this error, try `dslc explain E0301`.
//! ```

use std::collections::HashMap;
use std::ops::Range;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{self, Files};
use codespan_reporting::term;

use crate::ast::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, `E0301` or `W0001`; documented in docs/language.md.
    pub code: &'static str,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Label {
                span,
                message: label.into(),
            },
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span, label)
        }
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Renders diagnostics for one file, rustc style, without colour.
///
/// Spans are clamped to the text and to character boundaries, so a
/// diagnostic can never make rendering fail. A source line longer than
/// [`MAX_SHOWN_LINE`] is shown only around the labels, so a megabyte-long
/// line does not make a megabyte of output per diagnostic.
pub fn render(diagnostics: &[Diagnostic], file_name: &str, source: &str) -> String {
    let line_starts: Vec<usize> = codespan_reporting::files::line_starts(source).collect();
    let config = term::Config::default();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let (converted, windows) = to_codespan(diagnostic, source, &line_starts);
        let view = View {
            name: file_name,
            source,
            line_starts: &line_starts,
            windows,
        };
        match term::emit_into_string(&config, &view, &converted) {
            Ok(text) => out.push_str(&text),
            // Unreachable with clamped spans; still never panic on a report.
            Err(err) => out.push_str(&format!(
                "{}[{}]: {} ({err})\n",
                severity_word(diagnostic),
                diagnostic.code,
                diagnostic.message
            )),
        }
    }
    if let Some(note) = explain_note(diagnostics) {
        out.push_str(&note);
    }
    out
}

/// rustc's closing pointer to the long explanations of the errors shown
/// (`For more information about this error, try ...`), in its wording.
/// Warnings are explained too, but, as in rustc, only errors ask for it.
pub fn explain_note(diagnostics: &[Diagnostic]) -> Option<String> {
    let mut codes: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.is_error() && crate::explain::get(d.code).is_some())
        .map(|d| d.code)
        .collect();
    codes.sort_unstable();
    codes.dedup();
    match codes.as_slice() {
        [] => None,
        [one] => Some(format!(
            "For more information about this error, try `dslc explain {one}`.\n"
        )),
        [first, ..] => Some(format!(
            "Some errors have detailed explanations: {}.\n\
             For more information about an error, try `dslc explain {first}`.\n",
            codes.join(", ")
        )),
    }
}

/// Lines longer than this many bytes are shown clipped around the labels.
pub const MAX_SHOWN_LINE: usize = 240;
const CONTEXT: usize = 60;

/// The file as codespan sees it for one diagnostic: true line and column
/// numbers, but long lines narrowed to a window.
struct View<'a> {
    name: &'a str,
    source: &'a str,
    line_starts: &'a [usize],
    windows: HashMap<usize, Range<usize>>,
}

impl View<'_> {
    fn full_line(&self, line: usize) -> Range<usize> {
        line_range(self.source, self.line_starts, line)
    }
}

fn line_range(source: &str, line_starts: &[usize], line: usize) -> Range<usize> {
    let start = line_starts.get(line).copied().unwrap_or(source.len());
    let end = line_starts.get(line + 1).copied().unwrap_or(source.len());
    start..end
}

fn line_index(line_starts: &[usize], offset: usize) -> usize {
    line_starts
        .binary_search(&offset)
        .unwrap_or_else(|next| next - 1)
}

impl<'a> Files<'a> for View<'a> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(self.source)
    }

    fn line_index(&'a self, (): (), byte_index: usize) -> Result<usize, files::Error> {
        Ok(line_index(self.line_starts, byte_index))
    }

    fn line_range(&'a self, (): (), line: usize) -> Result<Range<usize>, files::Error> {
        Ok(self
            .windows
            .get(&line)
            .cloned()
            .unwrap_or_else(|| self.full_line(line)))
    }

    /// Columns count from the real start of the line, window or not.
    fn location(&'a self, (): (), byte_index: usize) -> Result<files::Location, files::Error> {
        let line = line_index(self.line_starts, byte_index);
        let start = self.full_line(line).start;
        Ok(files::Location {
            line_number: line + 1,
            column_number: self.source[start..byte_index.max(start)].chars().count() + 1,
        })
    }
}

/// `file:line:col` (1-based, columns in characters) of a span's start.
pub fn location(source: &str, span: Span) -> (usize, usize) {
    let start = clamp(source, span.start);
    let before = &source[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..start].chars().count() + 1;
    (line, col)
}

fn severity_word(diagnostic: &Diagnostic) -> &'static str {
    match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The codespan form of a diagnostic, and the windows of any long lines it
/// shows. Secondary labels outside the primary label's window are dropped.
fn to_codespan(
    diagnostic: &Diagnostic,
    source: &str,
    line_starts: &[usize],
) -> (cs::Diagnostic<()>, HashMap<usize, Range<usize>>) {
    let range = |span: Span| {
        let start = clamp(source, span.start);
        let end = clamp(source, span.end).max(start);
        start..end
    };
    let mut primary = range(diagnostic.primary.span);
    let mut secondary: Vec<(Range<usize>, &str)> = diagnostic
        .secondary
        .iter()
        .map(|label| (range(label.span), label.message.as_str()))
        .collect();
    let mut notes: Vec<String> = diagnostic
        .notes
        .iter()
        .map(|note| format!("note: {note}"))
        .collect();

    let mut windows = HashMap::new();
    let mut lines: Vec<usize> = std::iter::once(&primary)
        .chain(secondary.iter().map(|(r, _)| r))
        .map(|r| line_index(line_starts, r.start))
        .collect();
    lines.sort_unstable();
    lines.dedup();
    for line in lines {
        let full = line_range(source, line_starts, line);
        if full.len() <= MAX_SHOWN_LINE {
            continue;
        }
        let on_line = |r: &Range<usize>| full.contains(&r.start) || r.start == full.end;
        let mut ranges: Vec<Range<usize>> = Vec::new();
        if on_line(&primary) {
            ranges.push(primary.clone());
        }
        ranges.extend(
            secondary
                .iter()
                .map(|(r, _)| r.clone())
                .filter(|r| on_line(r)),
        );
        let low = ranges.iter().map(|r| r.start).min().unwrap_or(full.start);
        let high = ranges.iter().map(|r| r.end).max().unwrap_or(full.start);
        let (mut low, mut high) = (low, high.min(full.end));
        if high - low > MAX_SHOWN_LINE && on_line(&primary) {
            low = primary.start;
            high = primary
                .end
                .min(primary.start + MAX_SHOWN_LINE)
                .min(full.end);
        }
        let window = clamp(source, low.saturating_sub(CONTEXT).max(full.start))
            ..clamp(source, (high + CONTEXT).min(full.end)).max(high);
        // Keep every label inside what is shown.
        if on_line(&primary) {
            primary = primary.start.max(window.start)
                ..primary
                    .end
                    .min(window.end)
                    .max(primary.start.max(window.start));
        }
        secondary
            .retain(|(r, _)| !on_line(r) || (window.contains(&r.start) && r.end <= window.end));
        notes.push(format!(
            "note: line {} is {} bytes long; showing bytes {} to {} of it",
            line + 1,
            full.len(),
            window.start - full.start + 1,
            window.end - full.start
        ));
        windows.insert(line, window);
    }

    let mut labels =
        vec![cs::Label::primary((), primary).with_message(&diagnostic.primary.message)];
    labels.extend(
        secondary
            .into_iter()
            .map(|(r, message)| cs::Label::secondary((), r).with_message(message)),
    );
    if let Some(help) = &diagnostic.help {
        notes.push(format!("help: {help}"));
    }
    let base = match diagnostic.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    };
    (
        base.with_code(diagnostic.code)
            .with_message(&diagnostic.message)
            .with_labels(labels)
            .with_notes(notes),
        windows,
    )
}

/// The nearest char boundary at or below `offset`, within the text.
fn clamp(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
