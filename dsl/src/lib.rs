//! The `.nn` language front end: text in, a checked, typed IR out.
//!
//! The passes, in order:
//!
//! 1. [`parse`]: text to the [`ast`] (pest grammar in `grammar.pest`),
//!    statement by statement so every syntax error is reported;
//! 2. [`check`]: AST to the typed [`ir`], applying the [`layers`]'
//!    [`signature`]s and [`shape`] rules, and checking train blocks;
//! 3. [`diagnostic`]: every [`error`] rendered the way rustc does.
//!
//! Around them: [`fmt`] prints the canonical text, [`summary`] the
//! per-model table. [`compile`] runs the passes for a whole file.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod error;
pub mod explain;
pub mod fmt;
pub mod ir;
pub mod ops;
pub mod parse;
mod scan;
pub mod shape;
pub mod signature;
mod suggest;
pub mod summary;

use ast::Span;
use diagnostic::Diagnostic;
use error::Error;

/// The result of compiling one file.
#[derive(Debug)]
pub struct Compiled {
    /// The text the spans point into (lossy if the input was not UTF-8).
    pub source: String,
    pub file: ast::File,
    /// Models that checked clean, in file order.
    pub models: Vec<ir::Model>,
    /// Train blocks that checked clean.
    pub trains: Vec<ir::TrainConfig>,
    /// Every error and warning, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// All diagnostics, rendered for a file called `file_name`.
    pub fn render(&self, file_name: &str) -> String {
        diagnostic::render(&self.diagnostics, file_name, &self.source)
    }

    pub fn model(&self, name: &str) -> Option<&ir::Model> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn train(&self, model: &str) -> Option<&ir::TrainConfig> {
        self.trains.iter().find(|t| t.model == model)
    }
}

/// Parses and checks a whole file.
pub fn compile(source: &str) -> Compiled {
    let parsed = parse::parse(source);
    let checked = check::check(&parsed.file, &parsed.incomplete, source);
    let mut errors = parsed.errors;
    errors.extend(checked.errors);
    let errors = capped(errors);
    Compiled {
        source: source.to_string(),
        file: parsed.file,
        models: checked.models,
        trains: checked.trains,
        diagnostics: sorted_diagnostics(errors),
    }
}

/// Checks a syntax tree parsed elsewhere (the `model!` macro builds it
/// from Rust tokens); `source` is the text its spans point into.
pub fn compile_tree(file: ast::File, source: String) -> Compiled {
    let incomplete = vec![false; file.items.len()];
    let checked = check::check(&file, &incomplete, &source);
    let errors = capped(checked.errors);
    Compiled {
        source,
        file,
        models: checked.models,
        trains: checked.trains,
        diagnostics: sorted_diagnostics(errors),
    }
}

/// Compiles raw file contents: bytes that are not UTF-8 are reported at
/// the first bad byte and nothing else is checked.
pub fn compile_bytes(bytes: &[u8]) -> Compiled {
    match std::str::from_utf8(bytes) {
        Ok(source) => compile(source),
        Err(error) => {
            let at = error.valid_up_to();
            let bad = error.error_len().unwrap_or(1);
            // Lossy text keeps every byte before `at` in place, so the span is right.
            let source = String::from_utf8_lossy(bytes).into_owned();
            let span = Span::new(at, at + '\u{FFFD}'.len_utf8().min(bad.max(1) * 3));
            Compiled {
                source,
                file: ast::File::default(),
                models: Vec::new(),
                trains: Vec::new(),
                diagnostics: vec![Error::InvalidUtf8 { span }.to_diagnostic()],
            }
        }
    }
}

/// Formats a file canonically; `Err` holds the syntax errors if it does not parse.
pub fn format(source: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = parse::parse(source);
    if parsed.errors.is_empty() {
        Ok(fmt::format(&parsed.file, source))
    } else {
        Err(sorted_diagnostics(parsed.errors))
    }
}

/// At most [`parse::MAX_ERRORS`] errors in source order (with the warnings
/// among them), then one "too many errors" (E0005). The parser stops itself
/// at the limit; the checker's errors (150 undefined names) count too.
fn capped(errors: Vec<Error>) -> Vec<Error> {
    let parser_stopped = errors
        .iter()
        .any(|e| matches!(e, Error::TooManyErrors { .. }));
    let mut errors: Vec<(usize, Error)> = errors
        .into_iter()
        .filter(|e| !matches!(e, Error::TooManyErrors { .. }))
        .map(|e| (e.to_diagnostic().primary.span.start, e))
        .collect();
    let error_count = errors.iter().filter(|(_, e)| !e.is_warning()).count();
    if !parser_stopped && error_count <= parse::MAX_ERRORS {
        return errors.into_iter().map(|(_, e)| e).collect();
    }
    errors.sort_by_key(|(start, _)| *start);
    let mut kept = Vec::new();
    let mut count = 0;
    for (_, error) in errors {
        count += usize::from(!error.is_warning());
        kept.push(error);
        if count == parse::MAX_ERRORS {
            break;
        }
    }
    let span = kept
        .iter()
        .rev()
        .find(|e| !e.is_warning())
        .map_or(Span::default(), |e| e.to_diagnostic().primary.span);
    kept.push(Error::TooManyErrors {
        span,
        limit: parse::MAX_ERRORS,
    });
    kept
}

fn sorted_diagnostics(errors: Vec<Error>) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = errors.iter().map(Error::to_diagnostic).collect();
    // Stable: errors at one position keep the order passes found them in.
    diagnostics.sort_by_key(|d| d.primary.span.start);
    diagnostics
}
