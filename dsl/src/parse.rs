//! Text to AST: the pest grammar, driven one statement at a time.
//!
//! The driver walks the file item by item and statement by statement,
//! handing each piece to pest. A syntax error is recorded and parsing
//! resumes at the next statement (or item), so one run reports every
//! syntax error in the file. Before pest sees a statement, the scanner
//! refuses nesting deeper than [`scan::MAX_NESTING`]; pipelines and sums
//! are repetitions in the grammar and flat vectors in the AST, so neither a
//! 200 000-layer chain nor a 200 000-term sum recurses.
//!
//! This file is the driver (where each piece starts and ends, and what a
//! syntax error says); `parse/tree.rs` turns each parsed piece into the AST.

mod tree;

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};

use crate::ast::*;
use crate::error::Error;
use crate::scan;
use tree::{Located, build_field, build_stmt, ident};

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct Grammar;

/// At most this many errors are reported for one file.
pub const MAX_ERRORS: usize = 100;

/// The words the grammar reserves (`keyword` in grammar.pest).
pub const RESERVED_WORDS: [&str; 8] = [
    "model", "train", "input", "let", "output", "as", "true", "false",
];

/// The result of parsing: the tree of everything that parsed, and the errors.
#[derive(Debug, Default)]
pub struct Parsed {
    pub file: File,
    pub errors: Vec<Error>,
    /// For each item of `file`, whether a syntax error dropped part of it.
    /// The checker skips incomplete models rather than report cascades.
    pub incomplete: Vec<bool>,
}

/// Parses a whole `.nn` file.
pub fn parse(src: &str) -> Parsed {
    let mut parser = Driver {
        src,
        parsed: Parsed::default(),
        misused_words: Vec::new(),
    };
    parser.file();
    parser.parsed
}

struct Driver<'a> {
    src: &'a str,
    parsed: Parsed,
    /// Reserved words already reported as names: using the same word again
    /// is the same mistake, reported once.
    misused_words: Vec<&'static str>,
}

impl<'a> Driver<'a> {
    fn too_many_errors(&self) -> bool {
        self.parsed.errors.len() >= MAX_ERRORS
    }

    fn error(&mut self, error: Error) {
        // Two syntax errors at one position are one mistake seen twice
        // (a statement cut off by the end of the file, then its item).
        if let (Error::Syntax { span, .. }, Some(Error::Syntax { span: last, .. })) =
            (&error, self.parsed.errors.last())
            && span.start == last.start
        {
            return;
        }
        if self.parsed.errors.len() < MAX_ERRORS {
            let span = error_span(&error);
            self.parsed.errors.push(error);
            if self.parsed.errors.len() == MAX_ERRORS {
                self.parsed.errors.push(Error::TooManyErrors {
                    span,
                    limit: MAX_ERRORS,
                });
            }
        }
    }

    /// Skips trivia; an unterminated comment is an error and ends the file.
    fn skip(&mut self, pos: usize) -> usize {
        match scan::skip_trivia(self.src, pos) {
            Ok(pos) => pos,
            Err(span) => {
                self.error(Error::Syntax {
                    span,
                    expected: vec!["`*/` to close the comment".into()],
                    found: "end of file".into(),
                });
                self.src.len()
            }
        }
    }

    fn file(&mut self) {
        let mut pos = self.skip(0);
        while pos < self.src.len() && !self.too_many_errors() {
            if scan::keyword_at(self.src, pos, "model") {
                pos = self.model(pos);
            } else if scan::keyword_at(self.src, pos, "train") {
                pos = self.train(pos);
            } else {
                self.error(Error::Syntax {
                    span: self.token_span(pos),
                    expected: vec!["`model`".into(), "`train`".into()],
                    found: scan::describe_token(self.src, pos),
                });
                pos = scan::next_item(self.src, pos + 1);
            }
            pos = self.skip(pos);
        }
    }

    /// `model Name {` statements `}`; returns where the next item may start.
    fn model(&mut self, start: usize) -> usize {
        let Some((name, body)) = self.head(Rule::model_head, start) else {
            return scan::next_item(self.src, start + 1);
        };
        let (stmts, end, complete) = self.body(body, |driver, pos| {
            let rule = if scan::keyword_at(driver.src, pos, "input") {
                Rule::input_stmt
            } else if scan::keyword_at(driver.src, pos, "let") {
                Rule::let_stmt
            } else if scan::keyword_at(driver.src, pos, "output") {
                Rule::output_stmt
            } else {
                driver.error(Error::Syntax {
                    span: driver.token_span(pos),
                    expected: ["`input`", "`let`", "`output`", "`}`"]
                        .map(String::from)
                        .to_vec(),
                    found: scan::describe_token(driver.src, pos),
                });
                return Err(
                    scan::scan_statement(driver.src, pos, b';', STATEMENT_WORDS, pos + 1).resume,
                );
            };
            let (pair, next) = driver.piece(rule, pos, b';', STATEMENT_WORDS)?;
            Ok((build_stmt(pair), next))
        });
        self.parsed.file.items.push(Item::Model(Model {
            name,
            stmts,
            span: Span::new(start, end),
        }));
        self.parsed.incomplete.push(!complete);
        end
    }

    /// `train Name {` fields `}`; returns where the next item may start.
    fn train(&mut self, start: usize) -> usize {
        let Some((model, body)) = self.head(Rule::train_head, start) else {
            return scan::next_item(self.src, start + 1);
        };
        let (fields, end, complete) = self.body(body, |driver, pos| {
            let (pair, next) = driver.piece(Rule::train_field, pos, b',', &["model", "train"])?;
            Ok((build_field(pair), next))
        });
        self.parsed.file.items.push(Item::Train(Train {
            model,
            fields,
            span: Span::new(start, end),
        }));
        self.parsed.incomplete.push(!complete);
        end
    }

    /// The pieces of an item body up to its `}`, each parsed by `one`
    /// (which gives the piece, or its error, and where the next starts; or
    /// where to resume after a syntax error it reported). Returns the
    /// pieces, where the item ends, and whether nothing was lost.
    #[allow(clippy::type_complexity)]
    fn body<T>(
        &mut self,
        body_start: usize,
        mut one: impl FnMut(&mut Self, usize) -> Result<(Result<T, Box<Error>>, usize), usize>,
    ) -> (Vec<T>, usize, bool) {
        let mut pieces = Vec::new();
        let mut complete = true;
        let errors_before = self.parsed.errors.len();
        let mut pos = body_start;
        let end = loop {
            pos = self.skip(pos);
            if pos >= self.src.len() || self.too_many_errors() {
                // An item already broken (say by an open comment) is not
                // also reported unclosed.
                if complete && self.parsed.errors.len() == errors_before {
                    self.error(Error::Syntax {
                        span: Span::new(self.src.len(), self.src.len()),
                        expected: vec!["`}`".into()],
                        found: "end of file".into(),
                    });
                }
                complete = false;
                break self.src.len();
            }
            if self.src.as_bytes()[pos] == b'}' {
                break pos + 1;
            }
            if scan::keyword_at(self.src, pos, "model") || scan::keyword_at(self.src, pos, "train")
            {
                self.error(Error::Syntax {
                    span: self.token_span(pos),
                    expected: vec!["`}`".into()],
                    found: scan::describe_token(self.src, pos),
                });
                complete = false;
                break pos;
            }
            match one(self, pos) {
                Ok((Ok(piece), next)) => {
                    pieces.push(piece);
                    pos = next;
                }
                Ok((Err(error), next)) => {
                    self.error(*error);
                    complete = false;
                    pos = next;
                }
                Err(next) => {
                    complete = false;
                    pos = next.max(pos + 1);
                }
            }
        };
        (pieces, end, complete)
    }

    /// Parses an item head (`model Name {`), returning the name and where the body starts.
    fn head(&mut self, rule: Rule, start: usize) -> Option<(Ident, usize)> {
        // Up to the first `{` is all a head can use (see `piece` for why it is cut).
        let end = self.src[start..]
            .find('{')
            .map_or(self.src.len(), |i| start + i + 1);
        match Grammar::parse(rule, &self.src[start..end]) {
            Ok(mut pairs) => {
                let head = pairs.next()?;
                let end = start + head.as_span().end();
                let name = head.into_inner().find(|p| p.as_rule() == Rule::ident)?;
                Some((ident(name, start), end))
            }
            Err(error) => {
                let error = self.syntax_error(error, start);
                self.error(error);
                None
            }
        }
    }

    /// Parses one statement or field starting at `pos` with `rule`.
    ///
    /// Ok: the pair (spans relative to `pos`) and where the next piece starts.
    /// Err: the error is recorded; where to resume.
    fn piece(
        &mut self,
        rule: Rule,
        pos: usize,
        terminator: u8,
        stop_words: &[&str],
    ) -> Result<(Located<'a>, usize), usize> {
        let scan = scan::scan_statement(self.src, pos, terminator, stop_words, usize::MAX);
        if let Some(span) = scan.too_deep {
            self.error(Error::TooDeep {
                span,
                limit: scan::MAX_NESTING,
            });
            return Err(scan.resume);
        }
        // pest sees the statement alone: its errors quote the whole line of
        // the input they are given, which must not be a megabyte-long line.
        // A train field may end at the `}` it looks ahead to.
        let end = match self.src.as_bytes().get(scan.resume) {
            Some(b'}') => scan.resume + 1,
            _ => scan.resume,
        };
        match Grammar::parse(rule, &self.src[pos..end]) {
            Ok(mut pairs) => match pairs.next() {
                Some(pair) => {
                    let next = pos + pair.as_span().end();
                    Ok((Located { pair, offset: pos }, next))
                }
                None => Err(scan.resume),
            },
            Err(error) => {
                let error = self.syntax_error(error, pos);
                if let Error::ReservedWord { word, .. } = error {
                    // The statement is lost, not the item: resume at its
                    // end, not at the reserved word (which may start an item).
                    if !self.misused_words.contains(&word) {
                        self.misused_words.push(word);
                        self.error(error);
                    }
                    return Err(scan.resume);
                }
                let error_pos = match &error {
                    Error::Syntax { span, .. } => span.start,
                    _ => pos,
                };
                self.error(error);
                // Resume at the statement's end, or earlier at a statement
                // keyword after the error (a forgotten `;`).
                Err(scan::scan_statement(
                    self.src,
                    pos,
                    terminator,
                    stop_words,
                    error_pos.max(pos + 1),
                )
                .resume)
            }
        }
    }

    fn syntax_error(&self, error: pest::error::Error<Rule>, offset: usize) -> Error {
        let at = offset
            + match error.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((s, _)) => s,
            };
        let mut expected: Vec<String> = match &error.variant {
            ErrorVariant::ParsingError { positives, .. } => positives
                .iter()
                .filter_map(|r| rule_name(*r))
                .map(String::from)
                .collect(),
            ErrorVariant::CustomError { message } => vec![message.clone()],
        };
        expected.sort();
        expected.dedup();
        let wants_name = expected
            .iter()
            .any(|e| e == "an identifier" || e == "an expression");
        let reserved = RESERVED_WORDS
            .into_iter()
            .find(|word| scan::keyword_at(self.src, at, word));
        if let (true, Some(word)) = (wants_name, reserved) {
            return Error::ReservedWord {
                span: self.token_span(at),
                word,
            };
        }
        if self.src[at.min(self.src.len())..].starts_with("/*")
            && scan::skip_trivia(self.src, at).is_err()
        {
            // A comment opened inside a statement and never closed.
            return Error::Syntax {
                span: Span::new(at, at + 2),
                expected: vec!["`*/` to close the comment".into()],
                found: "end of file".into(),
            };
        }
        Error::Syntax {
            span: self.token_span(at),
            expected,
            found: scan::describe_token(self.src, at),
        }
    }

    /// The span of the token at `pos` (at least one character, within the text).
    fn token_span(&self, pos: usize) -> Span {
        let pos = pos.min(self.src.len());
        Span::new(pos, pos + scan::token_len(&self.src[pos..]))
    }
}

/// The span an error is reported at.
fn error_span(error: &Error) -> Span {
    match error {
        Error::Syntax { span, .. }
        | Error::ReservedWord { span, .. }
        | Error::InvalidUtf8 { span }
        | Error::TooDeep { span, .. }
        | Error::IntTooLarge { span }
        | Error::FloatOutOfRange { span } => *span,
        other => other.to_diagnostic().primary.span,
    }
}

const STATEMENT_WORDS: &[&str] = &["input", "let", "output", "model", "train"];

/// How a grammar rule reads in "expected ..." (None: too internal to mention).
fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident | Rule::name => "an identifier",
        Rule::int | Rule::dim => "an integer",
        Rule::float => "a number",
        Rule::arrow => "`->`",
        Rule::plus => "`+`",
        Rule::star => "`*`",
        Rule::colon => "`:`",
        Rule::semi => "`;`",
        Rule::comma => "`,`",
        Rule::eq => "`=`",
        Rule::lbrace => "`{`",
        Rule::rbrace | Rule::item_end => "`}`",
        Rule::lparen | Rule::args => "`(`",
        Rule::rparen => "`)`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::kw_model => "`model`",
        Rule::kw_train => "`train`",
        Rule::kw_input => "`input`",
        Rule::kw_let => "`let`",
        Rule::kw_output => "`output`",
        Rule::kw_as | Rule::alias => "`as`",
        Rule::kw_true | Rule::kw_false | Rule::bool => "`true` or `false`",
        Rule::expr | Rule::product | Rule::pipeline | Rule::call | Rule::paren | Rule::list => {
            "an expression"
        }
        Rule::stage => "a layer",
        Rule::arg | Rule::arg_name => "an argument",
        Rule::train_field => "a setting",
        Rule::dim_list => "an integer",
        Rule::keyword
        | Rule::WHITESPACE
        | Rule::COMMENT
        | Rule::line_comment
        | Rule::block_comment
        | Rule::ident_char
        | Rule::model_head
        | Rule::train_head
        | Rule::input_stmt
        | Rule::let_stmt
        | Rule::output_stmt
        | Rule::statement
        | Rule::primary
        | Rule::float_or_int => return None,
    })
}
