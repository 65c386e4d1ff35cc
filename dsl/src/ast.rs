//! The syntax tree of a `.nn` file, as written: every node carries its span.
//!
//! The pest parser produces this tree from text (the `model!` macro, not
//! built yet, will produce it from Rust tokens), and the checker consumes it. Nothing
//! here is resolved or typed yet: a layer name is just an identifier.

/// A byte range in the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole source file: models and train blocks in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Model(Model),
    Train(Train),
}

/// `model Name { statements }`
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: Ident,
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `input x: f32[1, 28, 28];`
    Input(Input),
    /// `let h = expr;`
    Let(Binding),
    /// `output y = expr;`
    Output(Binding),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: Ident,
    pub dtype: Ident,
    pub dims: Vec<IntLit>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `train Model { field: value, ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    pub model: Ident,
    pub fields: Vec<Field>,
    pub span: Span,
}

/// `loss: cross_entropy` or `optimizer: sgd(lr: 0.01)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A value bound by `input` or `let` (or, in a train block, a bare word such as `cross_entropy`).
    Name(Ident),
    /// `layer(args) as name`: in value position the leading positional
    /// arguments are the layer's inputs (see the checker).
    Call(Call),
    /// `head -> stage -> stage`
    Pipeline(Pipeline),
    /// `a + b + c`
    Sum(Sum),
    /// `a * b * c`, elementwise
    Product(Product),
    /// `(expr)`, kept so that formatting reproduces the user's grouping.
    Paren(Box<Expr>, Span),
    Int(IntLit),
    Float(FloatLit),
    Bool(bool, Span),
    /// `[a, b]`
    List(Vec<Expr>, Span),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Name(ident) => ident.span,
            Expr::Call(call) => call.span,
            Expr::Pipeline(pipeline) => pipeline.span,
            Expr::Sum(sum) => sum.span,
            Expr::Product(product) => product.span,
            Expr::Paren(_, span) | Expr::Bool(_, span) | Expr::List(_, span) => *span,
            Expr::Int(int) => int.span,
            Expr::Float(float) => float.span,
        }
    }

    /// What the expression is, for messages: "integer literal", "list", ...
    pub fn describe(&self) -> &'static str {
        match self {
            Expr::Name(_) => "name",
            Expr::Call(_) => "layer call",
            Expr::Pipeline(_) => "pipeline",
            Expr::Sum(_) => "sum",
            Expr::Product(_) => "product",
            Expr::Paren(inner, _) => inner.describe(),
            Expr::Int(_) => "integer literal",
            Expr::Float(_) => "float literal",
            Expr::Bool(..) => "boolean literal",
            Expr::List(..) => "list",
        }
    }
}

/// A layer applied in call form, `relu(h + x)`, or used as an argument value, `sgd(lr: 0.1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub callee: Ident,
    pub args: Vec<Arg>,
    pub alias: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub head: Box<Expr>,
    pub stages: Vec<Stage>,
    pub span: Span,
}

/// One step of a pipeline: `dense(128) as fc1`, or a bare `relu`.
/// `args` is `None` when no parentheses were written.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub layer: Ident,
    pub args: Option<Vec<Arg>>,
    pub alias: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sum {
    pub terms: Vec<Expr>,
    pub span: Span,
}

/// Factors of an elementwise product; none is a [`Sum`] unless
/// parenthesized (`*` binds tighter than `+`).
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub factors: Vec<Expr>,
    pub span: Span,
}

/// `name: value` or a positional `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IntLit {
    pub value: i64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FloatLit {
    pub value: f64,
    pub span: Span,
}

/// Spans set to zero everywhere, for comparing trees that came from
/// different texts (the formatter round trip).
pub fn without_spans(file: &File) -> File {
    let mut file = file.clone();
    for item in &mut file.items {
        match item {
            Item::Model(model) => {
                model.span = Span::default();
                model.name.span = Span::default();
                for stmt in &mut model.stmts {
                    match stmt {
                        Stmt::Input(input) => {
                            input.span = Span::default();
                            input.name.span = Span::default();
                            input.dtype.span = Span::default();
                            for dim in &mut input.dims {
                                dim.span = Span::default();
                            }
                        }
                        Stmt::Let(binding) | Stmt::Output(binding) => {
                            binding.span = Span::default();
                            binding.name.span = Span::default();
                            clear_expr(&mut binding.value);
                        }
                    }
                }
            }
            Item::Train(train) => {
                train.span = Span::default();
                train.model.span = Span::default();
                for field in &mut train.fields {
                    field.span = Span::default();
                    field.name.span = Span::default();
                    clear_expr(&mut field.value);
                }
            }
        }
    }
    file
}

fn clear_expr(expr: &mut Expr) {
    let clear_args = |args: &mut Vec<Arg>| {
        for arg in args {
            arg.span = Span::default();
            if let Some(name) = &mut arg.name {
                name.span = Span::default();
            }
            clear_expr(&mut arg.value);
        }
    };
    match expr {
        Expr::Name(ident) => ident.span = Span::default(),
        Expr::Call(call) => {
            call.span = Span::default();
            call.callee.span = Span::default();
            if let Some(alias) = &mut call.alias {
                alias.span = Span::default();
            }
            clear_args(&mut call.args);
        }
        Expr::Pipeline(pipeline) => {
            pipeline.span = Span::default();
            clear_expr(&mut pipeline.head);
            for stage in &mut pipeline.stages {
                stage.span = Span::default();
                stage.layer.span = Span::default();
                if let Some(alias) = &mut stage.alias {
                    alias.span = Span::default();
                }
                if let Some(args) = &mut stage.args {
                    clear_args(args);
                }
            }
        }
        Expr::Sum(sum) => {
            sum.span = Span::default();
            sum.terms.iter_mut().for_each(clear_expr);
        }
        Expr::Product(product) => {
            product.span = Span::default();
            product.factors.iter_mut().for_each(clear_expr);
        }
        Expr::Paren(inner, span) => {
            *span = Span::default();
            clear_expr(inner);
        }
        Expr::Int(int) => int.span = Span::default(),
        Expr::Float(float) => float.span = Span::default(),
        Expr::Bool(_, span) => *span = Span::default(),
        Expr::List(items, span) => {
            *span = Span::default();
            items.iter_mut().for_each(clear_expr);
        }
    }
}
