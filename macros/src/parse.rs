//! Rust tokens to the `.nn` syntax tree, the same tree the pest parser
//! builds from text (`nnspec_dsl::parse`), by recursive descent over the
//! flattened tokens ([`crate::tokens`]). Spans are byte ranges of the
//! tokens' text rendering, so the checker's errors map back to tokens.
//!
//! The grammar is the one of `dsl/src/grammar.pest`: items `model Name {
//! statements }` and `train Name { fields }`; statements `input x: f32[..];`,
//! `let x = expr;`, `output y = expr;`; expressions `pipeline (+
//! pipeline)*`, pipelines `primary (-> stage)*`.

use nnspec_dsl::ast::*;
use proc_macro2::Delimiter;

use crate::tokens::{Kind, Token};

/// A syntax error: a message and the tokens it is about (indices).
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub first: usize,
    pub last: usize,
}

const KEYWORDS: [&str; 8] = [
    "model", "train", "input", "let", "output", "as", "true", "false",
];

/// Parses every item; on the first syntax error, the error.
pub fn parse(tokens: &[Token]) -> Result<File, SyntaxError> {
    let mut p = Parser { tokens, at: 0 };
    let mut items = Vec::new();
    while !p.done() {
        items.push(p.item()?);
    }
    Ok(File { items })
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
}

type Parsed<T> = Result<T, SyntaxError>;

impl Parser<'_> {
    fn done(&self) -> bool {
        self.at >= self.tokens.len()
    }

    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.at).map(|t| &t.kind)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Kind> {
        self.tokens.get(self.at + ahead).map(|t| &t.kind)
    }

    /// The span of tokens `first..=last`.
    fn span(&self, first: usize, last: usize) -> Span {
        let last = last.max(first).min(self.tokens.len() - 1);
        Span::new(self.tokens[first].start, self.tokens[last].end)
    }

    /// The span from token `first` to the last one consumed.
    fn since(&self, first: usize) -> Span {
        self.span(first, self.at.saturating_sub(1))
    }

    fn error<T>(&self, expected: &str) -> Parsed<T> {
        let found = match self.tokens.get(self.at) {
            Some(t) => format!("found {}", describe(&t.kind)),
            None => "found the end of the macro input".to_string(),
        };
        let at = self.at.min(self.tokens.len().saturating_sub(1));
        Err(SyntaxError {
            message: format!("expected {expected}, {found}"),
            first: at,
            last: at,
        })
    }

    fn is_punct(&self, c: char) -> bool {
        matches!(self.peek(), Some(Kind::Punct(p, _)) if *p == c)
    }

    fn punct(&mut self, c: char) -> Parsed<()> {
        if self.is_punct(c) {
            self.at += 1;
            Ok(())
        } else {
            self.error(&format!("`{c}`"))
        }
    }

    fn is_arrow(&self) -> bool {
        matches!(self.peek(), Some(Kind::Punct('-', true)))
            && matches!(self.peek_at(1), Some(Kind::Punct('>', _)))
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Kind::Ident(name)) if name == word)
    }

    fn open(&mut self, d: Delimiter) -> Parsed<()> {
        if self.peek() == Some(&Kind::Open(d)) {
            self.at += 1;
            Ok(())
        } else {
            self.error(delimiter_text(d, true))
        }
    }

    fn is_close(&self, d: Delimiter) -> bool {
        self.peek() == Some(&Kind::Close(d))
    }

    fn close(&mut self, d: Delimiter) -> Parsed<()> {
        if self.is_close(d) {
            self.at += 1;
            Ok(())
        } else {
            self.error(delimiter_text(d, false))
        }
    }

    /// An identifier that is not a keyword of the language.
    fn ident(&mut self, what: &str) -> Parsed<Ident> {
        match self.peek() {
            Some(Kind::Ident(name)) if !KEYWORDS.contains(&name.as_str()) => {
                let ident = Ident {
                    name: name.strip_prefix("r#").unwrap_or(name).to_string(),
                    span: self.span(self.at, self.at),
                };
                self.at += 1;
                Ok(ident)
            }
            _ => self.error(what),
        }
    }

    fn item(&mut self) -> Parsed<Item> {
        let first = self.at;
        if self.is_keyword("model") {
            self.at += 1;
            let name = self.ident("a model name")?;
            self.open(Delimiter::Brace)?;
            let mut stmts = Vec::new();
            while !self.is_close(Delimiter::Brace) {
                if self.done() {
                    return self.error("`}`");
                }
                stmts.push(self.statement()?);
            }
            self.close(Delimiter::Brace)?;
            Ok(Item::Model(Model {
                name,
                stmts,
                span: self.since(first),
            }))
        } else if self.is_keyword("train") {
            self.at += 1;
            let model = self.ident("a model name")?;
            self.open(Delimiter::Brace)?;
            let mut fields = Vec::new();
            while !self.is_close(Delimiter::Brace) {
                let name = self.ident("a train setting (`loss`, `optimizer`, ...)")?;
                self.punct(':')?;
                let value = self.expr()?;
                let span = name.span.to(value.span());
                fields.push(Field { name, value, span });
                if self.is_punct(',') {
                    self.at += 1;
                } else if !self.is_close(Delimiter::Brace) {
                    return self.error("`,` or `}`");
                }
            }
            self.close(Delimiter::Brace)?;
            Ok(Item::Train(Train {
                model,
                fields,
                span: self.since(first),
            }))
        } else {
            self.error("`model` or `train`")
        }
    }

    fn statement(&mut self) -> Parsed<Stmt> {
        let first = self.at;
        if self.is_keyword("input") {
            self.at += 1;
            let name = self.ident("an input name")?;
            self.punct(':')?;
            let dtype = self.ident("an element type (`f32`)")?;
            self.open(Delimiter::Bracket)?;
            let mut dims = vec![self.int("a dimension")?];
            while self.is_punct(',') {
                self.at += 1;
                if self.is_close(Delimiter::Bracket) {
                    break;
                }
                dims.push(self.int("a dimension")?);
            }
            self.close(Delimiter::Bracket)?;
            self.punct(';')?;
            return Ok(Stmt::Input(Input {
                name,
                dtype,
                dims,
                span: self.since(first),
            }));
        }
        let output = if self.is_keyword("let") {
            false
        } else if self.is_keyword("output") {
            true
        } else {
            return self.error("`input`, `let` or `output`");
        };
        self.at += 1;
        let name = self.ident("a name")?;
        self.punct('=')?;
        let value = self.expr()?;
        self.punct(';')?;
        let binding = Binding {
            name,
            value,
            span: self.since(first),
        };
        Ok(if output {
            Stmt::Output(binding)
        } else {
            Stmt::Let(binding)
        })
    }

    /// `product (+ product)*`; one product is itself.
    fn expr(&mut self) -> Parsed<Expr> {
        let first = self.at;
        let mut terms = vec![self.product()?];
        while self.is_punct('+') {
            self.at += 1;
            terms.push(self.product()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::Sum(Sum {
                terms,
                span: self.since(first),
            })
        })
    }

    /// `pipeline (* pipeline)*`; one pipeline is itself.
    fn product(&mut self) -> Parsed<Expr> {
        let first = self.at;
        let mut factors = vec![self.pipeline()?];
        while self.is_punct('*') {
            self.at += 1;
            factors.push(self.pipeline()?);
        }
        Ok(if factors.len() == 1 {
            factors.pop().expect("one factor")
        } else {
            Expr::Product(Product {
                factors,
                span: self.since(first),
            })
        })
    }

    /// `primary (-> stage)*`; no stage is the primary itself.
    fn pipeline(&mut self) -> Parsed<Expr> {
        let first = self.at;
        let head = self.primary()?;
        let mut stages = Vec::new();
        while self.is_arrow() {
            self.at += 2;
            let start = self.at;
            let layer = self.ident("a layer")?;
            let args = if self.peek() == Some(&Kind::Open(Delimiter::Parenthesis)) {
                Some(self.args()?)
            } else {
                None
            };
            let alias = self.alias()?;
            stages.push(Stage {
                layer,
                args,
                alias,
                span: self.since(start),
            });
        }
        Ok(if stages.is_empty() {
            head
        } else {
            Expr::Pipeline(Pipeline {
                head: Box::new(head),
                stages,
                span: self.since(first),
            })
        })
    }

    fn alias(&mut self) -> Parsed<Option<Ident>> {
        if self.is_keyword("as") {
            self.at += 1;
            Ok(Some(self.ident("a name after `as`")?))
        } else {
            Ok(None)
        }
    }

    fn primary(&mut self) -> Parsed<Expr> {
        let first = self.at;
        match self.peek() {
            Some(Kind::Ident(name)) if name == "true" || name == "false" => {
                let value = name == "true";
                self.at += 1;
                Ok(Expr::Bool(value, self.since(first)))
            }
            Some(Kind::Ident(_)) => {
                let callee = self.ident("a name or a layer")?;
                if self.peek() == Some(&Kind::Open(Delimiter::Parenthesis)) {
                    let args = self.args()?;
                    let alias = self.alias()?;
                    Ok(Expr::Call(Call {
                        callee,
                        args,
                        alias,
                        span: self.since(first),
                    }))
                } else {
                    Ok(Expr::Name(callee))
                }
            }
            Some(Kind::Open(Delimiter::Parenthesis)) => {
                self.at += 1;
                let inner = self.expr()?;
                self.close(Delimiter::Parenthesis)?;
                Ok(Expr::Paren(Box::new(inner), self.since(first)))
            }
            Some(Kind::Open(Delimiter::Bracket)) => {
                self.at += 1;
                let mut items = Vec::new();
                while !self.is_close(Delimiter::Bracket) {
                    items.push(self.expr()?);
                    if self.is_punct(',') {
                        self.at += 1;
                    } else if !self.is_close(Delimiter::Bracket) {
                        return self.error("`,` or `]`");
                    }
                }
                self.close(Delimiter::Bracket)?;
                Ok(Expr::List(items, self.since(first)))
            }
            Some(Kind::Literal(_)) | Some(Kind::Punct('-', _)) => self.number(),
            _ => self.error("a value (a name, a layer, a number, `true`, `false`, a list)"),
        }
    }

    /// `(arg, ...)`, where an argument is `name: value` or a value.
    fn args(&mut self) -> Parsed<Vec<Arg>> {
        self.open(Delimiter::Parenthesis)?;
        let mut args = Vec::new();
        while !self.is_close(Delimiter::Parenthesis) {
            let first = self.at;
            let named = matches!(self.peek(), Some(Kind::Ident(n)) if !KEYWORDS.contains(&n.as_str()))
                && matches!(self.peek_at(1), Some(Kind::Punct(':', false)));
            let name = if named {
                let name = self.ident("an argument name")?;
                self.at += 1;
                Some(name)
            } else {
                None
            };
            let value = self.expr()?;
            args.push(Arg {
                name,
                value,
                span: self.since(first),
            });
            if self.is_punct(',') {
                self.at += 1;
            } else if !self.is_close(Delimiter::Parenthesis) {
                return self.error("`,` or `)`");
            }
        }
        self.close(Delimiter::Parenthesis)?;
        Ok(args)
    }

    fn int(&mut self, what: &str) -> Parsed<IntLit> {
        match self.number()? {
            Expr::Int(int) => Ok(int),
            _ => {
                self.at -= 1;
                self.error(what)
            }
        }
    }

    /// An integer or float literal, with an optional `-`.
    fn number(&mut self) -> Parsed<Expr> {
        let first = self.at;
        let negative = self.is_punct('-');
        if negative {
            self.at += 1;
        }
        let Some(Kind::Literal(text)) = self.peek() else {
            return self.error("a number");
        };
        let text = text.clone();
        let is_float = text.contains(['.', 'e', 'E']);
        if !text.starts_with(|c: char| c.is_ascii_digit())
            || !text
                .chars()
                .all(|c| c.is_ascii_digit() || ".eE+-".contains(c))
        {
            return self.error("a number (without a type suffix)");
        }
        self.at += 1;
        let span = self.since(first);
        let signed = if negative { format!("-{text}") } else { text };
        if is_float {
            match signed.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(Expr::Float(FloatLit { value, span })),
                _ => Err(SyntaxError {
                    message: format!("float literal `{signed}` is out of range"),
                    first,
                    last: self.at - 1,
                }),
            }
        } else {
            signed
                .parse::<i64>()
                .map(|value| Expr::Int(IntLit { value, span }))
                .map_err(|_| SyntaxError {
                    message: format!("integer literal `{signed}` does not fit in 64 bits"),
                    first,
                    last: self.at - 1,
                })
        }
    }
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Ident(name) if KEYWORDS.contains(&name.as_str()) => format!("keyword `{name}`"),
        Kind::Ident(name) => format!("`{name}`"),
        Kind::Punct(c, _) => format!("`{c}`"),
        Kind::Literal(text) => format!("`{text}`"),
        Kind::Open(d) => delimiter_text(*d, true).to_string(),
        Kind::Close(d) => delimiter_text(*d, false).to_string(),
    }
}

fn delimiter_text(d: Delimiter, open: bool) -> &'static str {
    match (d, open) {
        (Delimiter::Parenthesis, true) => "`(`",
        (Delimiter::Parenthesis, false) => "`)`",
        (Delimiter::Brace, true) => "`{`",
        (Delimiter::Brace, false) => "`}`",
        (Delimiter::Bracket, true) => "`[`",
        (Delimiter::Bracket, false) => "`]`",
        (Delimiter::None, _) => "a group",
    }
}

#[cfg(test)]
mod tests;
