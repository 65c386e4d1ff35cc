//! Rust tokens as the parser sees them: a flat list, each token with the
//! byte range it occupies in a text rendering of the macro input.
//!
//! The checker reports problems as byte ranges into a source text, so the
//! macro gives it one: the tokens written out with single spaces (none
//! after a joint punctuation, so `->` stays one arrow and `-1` one number).
//! Each token remembers its Rust span, so a range the checker reports
//! maps back to the tokens the user wrote.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Ident(String),
    /// A punctuation character; `joint` when the next one is glued to it.
    Punct(char, bool),
    /// A literal as written (`784`, `0.01`, `"x"`).
    Literal(String),
    /// The opening or closing delimiter of a group.
    Open(Delimiter),
    Close(Delimiter),
}

#[derive(Clone, Debug)]
pub struct Token {
    pub kind: Kind,
    /// Where the token sits in [`Tokens::text`].
    pub start: usize,
    pub end: usize,
    /// Where the user wrote it.
    pub span: Span,
}

/// The macro input, flattened.
#[derive(Debug, Default)]
pub struct Tokens {
    pub list: Vec<Token>,
    pub text: String,
}

impl Tokens {
    pub fn new(input: TokenStream) -> Tokens {
        let mut tokens = Tokens::default();
        tokens.push_stream(input, false);
        tokens
    }

    fn push_stream(&mut self, input: TokenStream, mut glued: bool) {
        for tree in input {
            glued = self.push_tree(tree, glued);
        }
    }

    /// Appends `tree`; whether the next token follows without a space.
    fn push_tree(&mut self, tree: TokenTree, glued: bool) -> bool {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                if group.delimiter() == Delimiter::None {
                    // An invisible group (from another macro): its contents.
                    self.push_stream(group.stream(), glued);
                    return false;
                }
                self.push(
                    Kind::Open(group.delimiter()),
                    open,
                    group.span_open(),
                    glued,
                );
                self.push_stream(group.stream(), false);
                self.push(
                    Kind::Close(group.delimiter()),
                    close,
                    group.span_close(),
                    false,
                );
                false
            }
            TokenTree::Ident(ident) => {
                let name = ident.to_string();
                self.push(Kind::Ident(name.clone()), &name, ident.span(), glued);
                false
            }
            TokenTree::Punct(punct) => {
                let c = punct.as_char();
                let joint = punct.spacing() == proc_macro2::Spacing::Joint;
                self.push(Kind::Punct(c, joint), &c.to_string(), punct.span(), glued);
                // `-` before a number is the number's sign, written glued.
                joint || c == '-'
            }
            TokenTree::Literal(literal) => {
                let text = literal.to_string();
                self.push(Kind::Literal(text.clone()), &text, literal.span(), glued);
                false
            }
        }
    }

    fn push(&mut self, kind: Kind, text: &str, span: Span, glued: bool) {
        // Spaced as the formatter writes `.nn` text: `dense(8) as fc`,
        // `f32[1, 28, 28];`, `x -> (a + b)`.
        let previous = self.list.last().map(|t| &t.kind);
        let tight = matches!(
            (previous, &kind),
            (None, _)
                | (Some(Kind::Open(_)), _)
                | (_, Kind::Close(_))
                | (_, Kind::Punct(',' | ';' | ':', _))
                | (
                    Some(Kind::Ident(_)),
                    Kind::Open(Delimiter::Parenthesis | Delimiter::Bracket)
                )
        );
        if !glued && !tight {
            self.text.push(' ');
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.list.push(Token {
            kind,
            start,
            end: self.text.len(),
            span,
        });
    }

    /// The Rust spans of the first and last tokens inside byte range
    /// `start..end` of the text (the nearest token when none is inside).
    pub fn spans_of(&self, start: usize, end: usize) -> (Span, Span) {
        let inside: Vec<&Token> = self
            .list
            .iter()
            .filter(|t| t.start < end.max(start + 1) && start < t.end)
            .collect();
        match (inside.first(), inside.last()) {
            (Some(first), Some(last)) => (first.span, last.span),
            _ => {
                let nearest = self
                    .list
                    .iter()
                    .rev()
                    .find(|t| t.start <= start)
                    .or(self.list.first())
                    .map_or_else(Span::call_site, |t| t.span);
                (nearest, nearest)
            }
        }
    }
}
