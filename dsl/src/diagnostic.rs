//! Diagnostics: what the front end tells the user, and how it is rendered.
//!
//! Passes report structured [`crate::error::Error`] values; each one turns
//! itself into a [`Diagnostic`] (the wording lives in `error.rs`), and
//! [`render`] prints diagnostics the way rustc does:
//!
//! ```text
//! error[E0301]: shapes do not match for `+`
//!   ┌─ model.nn:4:22
//!   │
//! 4 │     output y = relu(h + x);
//!   │                     ^^^^^ ...
//! ```

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFile;
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
/// diagnostic can never make rendering fail.
pub fn render(diagnostics: &[Diagnostic], file_name: &str, source: &str) -> String {
    let file = SimpleFile::new(file_name, source);
    let config = term::Config::default();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let converted = to_codespan(diagnostic, source);
        match term::emit_into_string(&config, &file, &converted) {
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
    out
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

fn to_codespan(diagnostic: &Diagnostic, source: &str) -> cs::Diagnostic<()> {
    let range = |span: Span| {
        let start = clamp(source, span.start);
        let end = clamp(source, span.end).max(start);
        start..end
    };
    let mut labels = vec![
        cs::Label::primary((), range(diagnostic.primary.span))
            .with_message(&diagnostic.primary.message),
    ];
    labels.extend(
        diagnostic
            .secondary
            .iter()
            .map(|label| cs::Label::secondary((), range(label.span)).with_message(&label.message)),
    );
    let mut notes: Vec<String> = diagnostic
        .notes
        .iter()
        .map(|note| format!("note: {note}"))
        .collect();
    if let Some(help) = &diagnostic.help {
        notes.push(format!("help: {help}"));
    }
    let base = match diagnostic.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    };
    base.with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_labels(labels)
        .with_notes(notes)
}

/// The nearest char boundary at or below `offset`, within the text.
fn clamp(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
