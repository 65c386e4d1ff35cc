//! How each [`Error`] reads: its message, labels, notes and help.

use super::{Error, Operand, TrainConflict};
use crate::ast::Span;
use crate::diagnostic::Diagnostic;

fn did_you_mean(suggestion: &Option<String>) -> Option<String> {
    suggestion.as_ref().map(|s| format!("did you mean `{s}`?"))
}

pub(super) fn derivation_note(operand: &Operand) -> Option<String> {
    // A bare input or named value explains itself.
    operand
        .derivation
        .contains(" -> ")
        .then(|| format!("{} comes from {}", operand.shape, operand.derivation))
}

impl Error {
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            Error::Syntax { span, expected, found } => {
                let expected = match expected.as_slice() {
                    [] => "something else".to_string(),
                    [one] => one.clone(),
                    [init @ .., last] => format!("{} or {last}", init.join(", ")),
                };
                Diagnostic::error("E0001", format!("expected {expected}, found {found}"), *span, format!("expected {expected}"))
            }
            Error::ReservedWord { span, word } => Diagnostic::error(
                "E0001",
                format!("`{word}` is a reserved word and cannot be a name"),
                *span,
                "reserved word",
            )
            .with_help(format!(
                "the reserved words are {}; choose another name, such as `{word}_` or `net`",
                crate::parse::RESERVED_WORDS.map(|w| format!("`{w}`")).join(", ")
            )),
            Error::InvalidUtf8 { span } => Diagnostic::error("E0002", "the file is not valid UTF-8", *span, "this byte is not UTF-8")
                .with_help("model files are UTF-8 text; check the file's encoding"),
            Error::TooDeep { span, limit } => Diagnostic::error(
                "E0003",
                format!("brackets nested more than {limit} deep"),
                *span,
                format!("nesting exceeds {limit} here"),
            )
            .with_help("name intermediate values with `let` instead of nesting"),
            Error::IntTooLarge { span } => Diagnostic::error(
                "E0004",
                "integer literal too large",
                *span,
                format!("does not fit in 64 bits (the largest is {})", i64::MAX),
            ),
            Error::FloatOutOfRange { span } => Diagnostic::error(
                "E0006",
                "number literal out of range",
                *span,
                "not a finite 64-bit float",
            ),
            Error::TooManyErrors { span, limit } => Diagnostic::error(
                "E0005",
                format!("too many errors; stopped after {limit}"),
                *span,
                "stopped here",
            ),

            Error::UnknownLayer {
                span,
                name,
                suggestion,
                is_value,
            } => {
                let diagnostic = Diagnostic::error("E0101", format!("unknown layer `{name}`"), *span, "not a layer");
                if *is_value {
                    diagnostic.with_help(format!(
                        "`{name}` is a value; values start a pipeline or go in a call, e.g. `{name} -> relu` or `add({name}, y)`"
                    ))
                } else {
                    // Listed from the registry, so a new layer cannot be left out.
                    let layers = crate::ops::names().collect::<Vec<_>>().join(", ");
                    diagnostic
                        .with_help_opt(did_you_mean(suggestion))
                        .with_note_if(suggestion.is_none(), &format!("layers are: {layers}"))
                }
            }
            Error::UnknownArgument {
                span,
                callee,
                name,
                suggestion,
                valid,
            } => {
                let diagnostic = Diagnostic::error(
                    "E0102",
                    format!("`{callee}` has no argument `{name}`"),
                    *span,
                    "unknown argument",
                );
                let diagnostic = diagnostic.with_help_opt(did_you_mean(suggestion));
                if valid.is_empty() {
                    diagnostic.with_note(format!("`{callee}` takes no arguments"))
                } else {
                    diagnostic.with_note(format!("`{callee}` takes: {}", valid.join(", ")))
                }
            }
            Error::MissingArgument { span, callee, name, ty } => Diagnostic::error(
                "E0103",
                format!("`{callee}` needs the argument `{name}`"),
                *span,
                format!("missing `{name}`"),
            )
            .with_help(format!("`{name}` is {ty}")),
            Error::DuplicateArgument { span, first, name } => Diagnostic::error(
                "E0104",
                format!("argument `{name}` given more than once"),
                *span,
                "given again here",
            )
            .with_label(*first, "first given here"),
            Error::WrongArgumentType {
                span,
                callee,
                name,
                expected,
                found,
            } => Diagnostic::error(
                "E0105",
                format!("wrong type for `{name}` of `{callee}`: expected {expected}, found {found}"),
                *span,
                format!("expected {expected}"),
            ),
            Error::TooManyArguments { span, callee, max } => {
                let message = match max {
                    0 => format!("`{callee}` takes no arguments"),
                    1 => format!("`{callee}` takes at most 1 argument"),
                    n => format!("`{callee}` takes at most {n} arguments"),
                };
                Diagnostic::error("E0106", message, *span, "unexpected argument")
            }
            Error::InvalidArgumentValue {
                span,
                callee,
                name,
                reason,
            } => Diagnostic::error(
                "E0107",
                format!("invalid value for `{name}` of `{callee}`"),
                *span,
                reason.clone(),
            ),
            Error::WrongInputCount {
                span,
                layer,
                expected,
                found,
            } => Diagnostic::error(
                "E0108",
                format!("`{layer}` takes {expected}, found {found}"),
                *span,
                format!("{found} input{}", if *found == 1 { "" } else { "s" }),
            )
            .with_help(format!(
                "in call form the leading positional arguments are the inputs, as in `{}`; after `->` the input is the pipeline's value",
                match *expected {
                    "1 input" => format!("{layer}(x)"),
                    "2 inputs" => format!("{layer}(x, y)"),
                    _ => format!("{layer}(a, b)"),
                }
            )),

            Error::UndefinedName {
                span,
                name,
                suggestion,
                is_layer,
            } => {
                let diagnostic = Diagnostic::error("E0201", format!("cannot find value `{name}`"), *span, "not defined");
                if *is_layer {
                    diagnostic.with_help(format!(
                        "`{name}` is a layer; apply it with `x -> {name}` or `{name}(x)`"
                    ))
                } else {
                    diagnostic.with_help_opt(did_you_mean(suggestion))
                }
            }
            Error::Redefined { span, first, name } => {
                Diagnostic::error("E0202", format!("`{name}` is defined more than once"), *span, "defined again here")
                    .with_label(*first, "first defined here")
            }
            Error::DuplicateLayerName { span, first, name } => Diagnostic::error(
                "E0203",
                format!("two layers are named `{name}`"),
                *span,
                "second layer with this name",
            )
            .with_label(*first, "first named here")
            .with_note("layer names become parameter names (`fc1.weight`) and must be unique in a model"),
            Error::DuplicateModel { span, first, name } => {
                Diagnostic::error("E0204", format!("model `{name}` is defined more than once"), *span, "defined again here")
                    .with_label(*first, "first defined here")
            }
            Error::ExpectedValue { span, found } => Diagnostic::error(
                "E0205",
                format!("expected a value, found {found}"),
                *span,
                "not a value",
            )
            .with_note("values are inputs, names bound with `let`, or layer calls"),
            Error::UnknownDtype { span, name } => {
                Diagnostic::error("E0206", format!("unknown element type `{name}`"), *span, "expected `f32` or `i64`")
                    .with_note("`f32` for numbers, `i64` for token ids (the input of `embedding`)")
            }

            Error::ShapeMismatch {
                span,
                op,
                operands,
                axis,
            } => {
                let shapes: Vec<String> = operands.iter().map(|o| o.shape.to_string()).collect();
                let message = match axis {
                    None => format!("shapes do not match for `{op}`: {}", shapes.join(" vs ")),
                    Some(axis) => format!(
                        "shapes do not match for `{op}` (all dims but axis {axis} must agree): {}",
                        shapes.join(" vs ")
                    ),
                };
                let mut diagnostic = Diagnostic::error("E0301", message, *span, "mismatched shapes");
                for operand in operands {
                    diagnostic = diagnostic.with_label(operand.span, format!("this is {}", operand.shape));
                }
                for operand in operands {
                    if let Some(note) = derivation_note(operand) {
                        diagnostic = diagnostic.with_note(note);
                    }
                }
                diagnostic = match (*op, axis) {
                    ("+", _) => diagnostic.with_help("`+` adds values of exactly the same shape; there is no broadcasting"),
                    ("*", _) => diagnostic.with_help("`*` multiplies values of exactly the same shape; there is no broadcasting"),
                    ("concat", None) => diagnostic.with_help("`concat` joins values of the same rank"),
                    _ => diagnostic,
                };
                diagnostic
            }
            Error::RankMismatch {
                span,
                layer,
                expected,
                input,
            } => super::ranks::rank_mismatch(*span, layer, expected, input),
            Error::InvalidDim { span, value } => Diagnostic::error(
                "E0303",
                format!("dims must be positive, found {value}"),
                *span,
                if *value == 0 { "zero dim" } else { "negative dim" },
            ),
            Error::TooLarge { span, what, dims } => {
                let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
                Diagnostic::error(
                    "E0304",
                    format!("{what} of shape [{}] is too large", dims.join(", ")),
                    *span,
                    "more than 2^32 elements",
                )
            }
            Error::EmptyOutput {
                span,
                layer,
                axis,
                formula,
                input,
            } => Diagnostic::error(
                "E0305",
                format!("`{layer}` output would be empty: the window does not fit the input's {axis}"),
                *span,
                formula.clone(),
            )
            .with_label(input.span, format!("input is {}", input.shape))
            .with_note_opt(derivation_note(input)),
            Error::PoolPadding { span, padding, kernel } => Diagnostic::error(
                "E0306",
                format!("pooling padding {padding} is more than half the kernel {kernel}"),
                *span,
                format!("at most {}", kernel / 2),
            ),
            Error::ReshapeCount { span, from, to } => {
                let to: Vec<String> = to.iter().map(|d| d.to_string()).collect();
                Diagnostic::error(
                    "E0307",
                    format!("cannot reshape {from} ({} elements) to [{}]", from.elements(), to.join(", ")),
                    *span,
                    "element counts differ",
                )
            }
            Error::AxisOutOfRange { span, axis, rank } => Diagnostic::error(
                "E0308",
                format!("axis {axis} is out of range for a value of rank {rank}"),
                *span,
                format!("expected an axis in {}..{}", -(*rank as i64), rank),
            ),
            Error::HeadsDivide {
                span,
                heads,
                features,
            } => {
                let divisors: Vec<String> = (1..=*features)
                    .filter(|d| features.is_multiple_of(*d))
                    .map(|d| d.to_string())
                    .collect();
                Diagnostic::error(
                    "E0309",
                    format!("{heads} attention heads do not divide the {features} features"),
                    *span,
                    format!("{features} is not a multiple of {heads}"),
                )
                .with_note("each head takes an equal share of the features (embed_dim / num_heads)")
                .with_help(format!("heads that divide {features}: {}", divisors.join(", ")))
            }
            Error::DtypeMismatch { span, layer, expected, found, input } => {
                super::dtypes::dtype_mismatch(*span, layer, *expected, *found, input)
            }
            Error::NotDivisible {
                span,
                layer,
                what,
                value,
                arg,
                divisor,
                input,
            } => {
                let mut diagnostic = Diagnostic::error(
                    "E0311",
                    format!("`{layer}`: {what} {value} is not divisible by `{arg}` {divisor}"),
                    *span,
                    format!("does not divide {value}"),
                );
                if let Some(input) = input {
                    diagnostic = diagnostic
                        .with_label(input.span, format!("input is {}", input.shape))
                        .with_note_opt(derivation_note(input));
                }
                match *arg {
                    "groups" => diagnostic.with_help(
                        "`groups` must divide both the input channels and `out_channels`; a depthwise convolution has `groups` equal to the input channels",
                    ),
                    _ => diagnostic,
                }
            }

            Error::NoOutput { span, model } => Diagnostic::error(
                "E0401",
                format!("model `{model}` has no output"),
                *span,
                "no `output` statement",
            )
            .with_help("add one, e.g. `output y = x -> dense(10);`"),
            Error::NoInput { span, model } => Diagnostic::error(
                "E0402",
                format!("model `{model}` has no input"),
                *span,
                "no `input` statement",
            )
            .with_help("add one, e.g. `input x: f32[784];`"),

            Error::UnknownModel { span, name, suggestion } => Diagnostic::error(
                "E0501",
                format!("`train` names an unknown model `{name}`"),
                *span,
                "no model with this name in the file",
            )
            .with_help_opt(did_you_mean(suggestion)),
            Error::LossMismatch {
                span,
                loss,
                reason,
                help,
                output,
            } => {
                let diagnostic = Diagnostic::error("E0502", format!("loss `{loss}` does not fit the model: {reason}"), *span, "this loss");
                let diagnostic = match output {
                    Some(output) => diagnostic.with_label(*output, "the model's output"),
                    None => diagnostic,
                };
                diagnostic.with_help_opt(help.clone())
            }
            Error::UnknownField { span, name, suggestion } => Diagnostic::error(
                "E0503",
                format!("unknown train setting `{name}`"),
                *span,
                "unknown setting",
            )
            .with_help_opt(did_you_mean(suggestion))
            .with_note("settings are: loss, optimizer, batch, epochs, seed"),
            Error::MissingField { span, name } => Diagnostic::error(
                "E0504",
                format!("train block needs `{name}`"),
                *span,
                format!("missing `{name}`"),
            ),
            Error::DuplicateField { span, first, name } => {
                Diagnostic::error("E0505", format!("setting `{name}` given more than once"), *span, "given again here")
                    .with_label(*first, "first given here")
            }
            Error::UnknownChoice {
                span,
                what,
                name,
                suggestion,
                valid,
            } => Diagnostic::error("E0506", format!("unknown {what} `{name}`"), *span, format!("not a known {what}"))
                .with_help_opt(did_you_mean(suggestion))
                .with_note(format!("expected one of: {}", valid.join(", "))),
            Error::DuplicateTrain { span, first, model } => Diagnostic::error(
                "E0507",
                format!("model `{model}` has more than one train block"),
                *span,
                "second train block",
            )
            .with_label(*first, "first train block"),
            Error::TrainConflict { span, related, conflict } => conflict_diagnostic(*span, *related, conflict),

            Error::UnusedValue { span, name, is_input } => Diagnostic::warning(
                "W0001",
                format!("{} `{name}` is never used", if *is_input { "input" } else { "value" }),
                *span,
                "unused",
            )
            .with_help(format!("use it, or remove the `{}`", if *is_input { "input" } else { "let" })),
            Error::SoftmaxBeforeCrossEntropy { span, output } => Diagnostic::warning(
                "W0002",
                "`cross_entropy` applies log-softmax itself, and the output already ends in `softmax`",
                *span,
                "expects raw scores (logits)",
            )
            .with_label(*output, "softmax here")
            .with_help("remove the final `softmax`; keep it in a separate inference output if you need probabilities"),
        }
    }
}

pub(super) trait OptionalNote {
    fn with_note_if(self, condition: bool, note: &str) -> Self;
    fn with_note_opt(self, note: Option<String>) -> Self;
}

impl OptionalNote for Diagnostic {
    fn with_note_if(self, condition: bool, note: &str) -> Self {
        if condition {
            self.with_note(note)
        } else {
            self
        }
    }

    fn with_note_opt(self, note: Option<String>) -> Self {
        match note {
            Some(note) => self.with_note(note),
            None => self,
        }
    }
}

fn conflict_diagnostic(span: Span, related: Option<Span>, conflict: &TrainConflict) -> Diagnostic {
    let (message, label, related_label, help) = match conflict {
        TrainConflict::WarmupTooLong { warmup, epochs } => (
            format!("a warmup of {warmup} epochs leaves none of the {epochs} epochs to train after it"),
            format!("{warmup} epochs of warmup"),
            format!("the run has {epochs} epochs"),
            "make `warmup` smaller than `epochs`".to_string(),
        ),
        TrainConflict::WarmupBeforeOneCycle => (
            "`one_cycle` cannot follow a `warmup`".to_string(),
            "warmup here".to_string(),
            "`one_cycle` warms up by itself".to_string(),
            "remove `warmup`: `one_cycle` rises from `max_lr / div_factor` to `max_lr` over its first `pct_start` of the steps".to_string(),
        ),
        TrainConflict::NeedsValidation { setting, watches } => (
            format!("`{setting}` needs a validation split"),
            format!("watches {watches}"),
            String::new(),
            "add `validation: 0.1` to hold out 10% of the training data".to_string(),
        ),
        TrainConflict::NeverReached {
            what,
            argument,
            epochs,
            warmup,
        } => (
            format!("{what} is never reached"),
            format!(
                "the schedule counts epochs 0 to {}{}",
                epochs - 1,
                if *warmup > 0 { format!(", after {warmup} of warmup") } else { String::new() }
            ),
            "the run's epochs".to_string(),
            format!("make {argument} smaller than {epochs}, or raise `epochs`"),
        ),
    };
    let diagnostic = Diagnostic::error("E0508", message, span, label).with_help(help);
    match related {
        Some(related) => diagnostic.with_label(related, related_label),
        None => diagnostic,
    }
}
