//! The canonical text of a file (`dslc fmt`).
//!
//! Four-space indents, one statement or setting per line, a blank line
//! between items, settings with trailing commas, single spaces around `->`,
//! `+`, `=` and after `:` and `,`. A statement longer than [`WIDTH`] columns
//! whose value is a pipeline breaks before `->`, filling lines up to [`FILL`]
//! columns, continuation lines aligned under the first arrow.
//! Parentheses are kept as written. Comments survive: a comment on its own
//! line stays before the statement that follows it, a comment after a
//! statement on the same line stays there, and a comment inside a statement
//! moves to the line above it.

use crate::ast::*;

/// Statements longer than this are wrapped...
pub const WIDTH: usize = 100;
/// ...into lines of at most this many columns (where stages allow).
pub const FILL: usize = 80;

/// Formats a parsed file. `src` is the text it was parsed from (for comments).
pub fn format(file: &File, src: &str) -> String {
    let mut printer = Printer {
        src,
        out: String::new(),
        comments: crate::scan::comments(src),
        next_comment: 0,
    };
    for (i, item) in file.items.iter().enumerate() {
        if i > 0 {
            printer.out.push('\n');
        }
        match item {
            Item::Model(model) => printer.model(model),
            Item::Train(train) => printer.train(train),
        }
    }
    printer.remaining_comments("");
    printer.out
}

struct Printer<'a> {
    src: &'a str,
    out: String,
    comments: Vec<Span>,
    next_comment: usize,
}

impl Printer<'_> {
    /// Emits, one per line, every comment that starts before `before`.
    fn leading_comments(&mut self, before: usize, indent: &str) {
        while let Some(&comment) = self.comments.get(self.next_comment) {
            if comment.start >= before {
                break;
            }
            self.out.push_str(indent);
            self.out
                .push_str(self.src[comment.start..comment.end].trim_end());
            self.out.push('\n');
            self.next_comment += 1;
        }
    }

    /// Appends a comment that follows `end` on the same source line with
    /// nothing but spaces and separators between.
    fn trailing_comment(&mut self, end: usize) {
        if let Some(&comment) = self.comments.get(self.next_comment) {
            let between = &self.src[end.min(comment.start)..comment.start];
            let only_separators = between
                .chars()
                .all(|c| matches!(c, ' ' | '\t' | ',' | ';' | '{'));
            if comment.start >= end
                && only_separators
                && !self.src[comment.start..comment.end].contains('\n')
            {
                self.out.push(' ');
                self.out
                    .push_str(self.src[comment.start..comment.end].trim_end());
                self.next_comment += 1;
            }
        }
    }

    fn remaining_comments(&mut self, indent: &str) {
        self.leading_comments(usize::MAX, indent);
    }

    /// A node printed on its own line(s), with its comments.
    fn line(&mut self, span: Span, indent: &str, text: &str) {
        self.leading_comments(span.end, indent);
        self.out.push_str(indent);
        self.out.push_str(text);
        self.trailing_comment(span.end);
        self.out.push('\n');
    }

    fn model(&mut self, model: &Model) {
        let head = Span::new(model.span.start, model.name.span.end);
        self.line(head, "", &format!("model {} {{", model.name.name));
        for stmt in &model.stmts {
            let (span, text) = match stmt {
                Stmt::Input(input) => (input.span, input_text(input)),
                Stmt::Let(binding) => (binding.span, binding_text("let", binding)),
                Stmt::Output(binding) => (binding.span, binding_text("output", binding)),
            };
            self.line(span, "    ", &text);
        }
        self.leading_comments(model.span.end.saturating_sub(1), "    ");
        self.line(Span::new(model.span.end, model.span.end), "", "}");
    }

    fn train(&mut self, train: &Train) {
        let head = Span::new(train.span.start, train.model.span.end);
        self.line(head, "", &format!("train {} {{", train.model.name));
        for field in &train.fields {
            // The field's span stops before its comma; a trailing comment follows the comma.
            let end = self.src[field.span.end..]
                .find(',')
                .map_or(field.span.end, |i| {
                    let comma = field.span.end + i;
                    if self.src[field.span.end..comma].trim().is_empty() {
                        comma + 1
                    } else {
                        field.span.end
                    }
                });
            let text = format!("{}: {},", field.name.name, expr(&field.value));
            self.line(Span::new(field.span.start, end), "    ", &text);
        }
        self.leading_comments(train.span.end.saturating_sub(1), "    ");
        self.line(Span::new(train.span.end, train.span.end), "", "}");
    }
}

fn input_text(input: &Input) -> String {
    let dims: Vec<String> = input.dims.iter().map(|d| d.value.to_string()).collect();
    format!(
        "input {}: {}[{}];",
        input.name.name,
        input.dtype.name,
        dims.join(", ")
    )
}

fn binding_text(keyword: &str, binding: &Binding) -> String {
    let prefix = format!("{keyword} {} = ", binding.name.name);
    let flat = format!("{prefix}{};", expr(&binding.value));
    if flat.len() + 4 <= WIDTH {
        return flat;
    }
    let value_column = 4 + prefix.len();
    let value = match &binding.value {
        Expr::Pipeline(pipeline) => pipeline_text(pipeline, value_column, true),
        // A long sum: one term per line, each continuation led by `+`
        // under the `=`'s value, as rustfmt breaks a long binary expression.
        Expr::Sum(sum) if value_column >= 2 => {
            let mut text = String::new();
            for (i, term) in sum.terms.iter().enumerate() {
                let last = i + 1 == sum.terms.len();
                if i > 0 {
                    text.push('\n');
                    text.push_str(&" ".repeat(value_column - 2));
                    text.push_str("+ ");
                }
                text.push_str(&match term {
                    Expr::Pipeline(pipeline) => pipeline_text(pipeline, value_column, last),
                    other => expr(other),
                });
            }
            text
        }
        _ => return flat,
    };
    format!("{prefix}{value};")
}

/// A pipeline starting at `column`, broken before `->` where a line would
/// pass [`FILL`], continuation lines starting under the first arrow.
/// `ends_statement`: a `;` follows the last stage.
fn pipeline_text(pipeline: &Pipeline, column: usize, ends_statement: bool) -> String {
    let head = expr(&pipeline.head);
    let arrow_column = column + head.len() + 1;
    let mut text = head;
    let mut line_len = column + text.len();
    for (i, stage) in pipeline.stages.iter().enumerate() {
        let piece = format!(" -> {}", stage_text(stage));
        let last = i + 1 == pipeline.stages.len();
        let needed = piece.len() + usize::from(last && ends_statement);
        if line_len + needed > FILL && line_len > arrow_column {
            text.push('\n');
            text.push_str(&" ".repeat(arrow_column));
            text.push_str(piece.trim_start());
            line_len = arrow_column + piece.len() - 1;
        } else {
            text.push_str(&piece);
            line_len += piece.len();
        }
    }
    text
}

/// The canonical text of an expression, on one line.
pub fn expr(e: &Expr) -> String {
    match e {
        Expr::Name(ident) => ident.name.clone(),
        Expr::Call(call) => {
            let mut text = format!("{}({})", call.callee.name, args(&call.args));
            if let Some(alias) = &call.alias {
                text.push_str(&format!(" as {}", alias.name));
            }
            text
        }
        Expr::Pipeline(pipeline) => {
            let mut text = expr(&pipeline.head);
            for stage in &pipeline.stages {
                text.push_str(" -> ");
                text.push_str(&stage_text(stage));
            }
            text
        }
        Expr::Sum(sum) => sum.terms.iter().map(expr).collect::<Vec<_>>().join(" + "),
        Expr::Product(product) => product
            .factors
            .iter()
            .map(expr)
            .collect::<Vec<_>>()
            .join(" * "),
        Expr::Paren(inner, _) => format!("({})", expr(inner)),
        Expr::Int(int) => int.value.to_string(),
        Expr::Float(float) => float_text(float.value),
        Expr::Bool(value, _) => value.to_string(),
        Expr::List(items, _) => format!(
            "[{}]",
            items.iter().map(expr).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Shortest text that reads back as the same f64, always with a `.` or an
/// exponent so it stays a float literal: `0.01`, `1e-8`, `2.0`.
fn float_text(value: f64) -> String {
    let text = format!("{value:?}");
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        format!("{text}.0")
    }
}

fn stage_text(stage: &Stage) -> String {
    let mut text = stage.layer.name.clone();
    if let Some(stage_args) = &stage.args {
        text.push_str(&format!("({})", args(stage_args)));
    }
    if let Some(alias) = &stage.alias {
        text.push_str(&format!(" as {}", alias.name));
    }
    text
}

fn args(args: &[Arg]) -> String {
    args.iter()
        .map(|arg| match &arg.name {
            Some(name) => format!("{}: {}", name.name, expr(&arg.value)),
            None => expr(&arg.value),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
