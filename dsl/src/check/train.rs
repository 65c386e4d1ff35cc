//! Train blocks: the loss, the optimizer with PyTorch's arguments and
//! defaults, the scalar settings, and whether the loss fits the model
//! (schedules and early stopping are in `schedule.rs`).

use std::collections::HashMap;

use crate::ast::{self, Arg, Expr, Span};
use crate::error::Error;
use crate::ir;
use crate::ops::{self, LossProblem};
use crate::signature::{self, Default, Key, Range, Signature};
use crate::suggest::did_you_mean;

use super::schedule;

// ---- train blocks ----

const TRAIN_FIELDS: &[&str] = &[
    "loss",
    "optimizer",
    "clip",
    "schedule",
    "warmup",
    "validation",
    "early_stopping",
    "batch",
    "epochs",
    "seed",
];
const CLIPS: &[&str] = &["norm", "value"];
const OPTIMIZERS: &[&str] = &["sgd", "adam", "adamw"];

const LR: Key<f64> = Key::float(
    0,
    "lr",
    Range::Positive,
    Default::Float(0.001),
    "learning rate",
);

const SGD_MOMENTUM: Key<f64> = Key::float(
    1,
    "momentum",
    Range::NonNegative,
    Default::Float(0.0),
    "momentum factor",
);
const SGD_DAMPENING: Key<f64> = Key::float(
    2,
    "dampening",
    Range::Unit,
    Default::Float(0.0),
    "dampening for momentum",
);
const SGD_NESTEROV: Key<bool> = Key::bool(3, "nesterov", Default::Bool(false), "Nesterov momentum");
const SGD_WEIGHT_DECAY: Key<f64> = Key::float(
    4,
    "weight_decay",
    Range::NonNegative,
    Default::Float(0.0),
    "L2 penalty",
);

/// `sgd`, exactly `torch.optim.SGD`'s arguments and defaults.
pub const SGD: Signature = Signature {
    name: "sgd",
    args: &[
        LR.spec,
        SGD_MOMENTUM.spec,
        SGD_DAMPENING.spec,
        SGD_NESTEROV.spec,
        SGD_WEIGHT_DECAY.spec,
    ],
};

const BETAS: Key<[f64; 2]> = Key::float_pair(
    1,
    "betas",
    Range::UnitHalfOpen,
    Default::Floats(0.9, 0.999),
    "moment decay rates",
);
const EPS: Key<f64> = Key::float(
    2,
    "eps",
    Range::Positive,
    Default::Float(1e-8),
    "added to the denominator",
);
const ADAM_WEIGHT_DECAY: Key<f64> = Key::float(
    3,
    "weight_decay",
    Range::NonNegative,
    Default::Float(0.0),
    "L2 penalty (added to the gradient)",
);
const ADAMW_WEIGHT_DECAY: Key<f64> = Key::float(
    3,
    "weight_decay",
    Range::NonNegative,
    Default::Float(0.01),
    "decoupled weight decay",
);

/// `adam`, exactly `torch.optim.Adam`'s arguments and defaults.
pub const ADAM: Signature = Signature {
    name: "adam",
    args: &[LR.spec, BETAS.spec, EPS.spec, ADAM_WEIGHT_DECAY.spec],
};

/// `adamw`, exactly `torch.optim.AdamW`'s arguments and defaults.
pub const ADAMW: Signature = Signature {
    name: "adamw",
    args: &[LR.spec, BETAS.spec, EPS.spec, ADAMW_WEIGHT_DECAY.spec],
};

const MAX_NORM: Key<f64> = Key::float(
    0,
    "max_norm",
    Range::Positive,
    Default::Required,
    "largest L2 norm of all gradients together",
);
const CLIP_VALUE: Key<f64> = Key::float(
    0,
    "clip_value",
    Range::Positive,
    Default::Required,
    "largest magnitude of a gradient element",
);

/// `clip: norm(max_norm)`, `torch.nn.utils.clip_grad_norm_` (L2 norm).
pub const CLIP_NORM: Signature = Signature {
    name: "norm",
    args: &[MAX_NORM.spec],
};

/// `clip: value(clip_value)`, `torch.nn.utils.clip_grad_value_`.
pub const CLIP_BY_VALUE: Signature = Signature {
    name: "value",
    args: &[CLIP_VALUE.spec],
};

const BATCH: Key<usize> = Key::count(0, "batch", Default::Int(32), "samples per step");
const EPOCHS: Key<usize> = Key::count(1, "epochs", Default::Int(1), "passes over the training set");
const SEED: Key<usize> = Key::natural(
    2,
    "seed",
    Default::Int(0),
    "seed for initialization, shuffling and dropout",
);

const WARMUP: Key<usize> = Key::natural(
    3,
    "warmup",
    Default::Int(0),
    "epochs of linear warmup before the schedule",
);
// Optional: the default is never read, a validation split exists only
// where the field is written (`Bound::span_of`).
const VALIDATION: Key<f64> = Key::float(
    4,
    "validation",
    Range::UnitOpen,
    Default::Float(0.0),
    "fraction of the training data held out",
);

/// The train block's scalar settings.
pub const TRAIN_SETTINGS: Signature = Signature {
    name: "train",
    args: &[
        BATCH.spec,
        EPOCHS.spec,
        SEED.spec,
        WARMUP.spec,
        VALIDATION.spec,
    ],
};

pub(super) fn check_train(
    train: &ast::Train,
    model: Option<&ir::Model>,
    errors: &mut Vec<Error>,
) -> Option<ir::TrainConfig> {
    let before = errors.len();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut loss_field = None;
    let mut optimizer_field = None;
    let mut clip_field = None;
    let mut schedule_field = None;
    let mut early_stopping_field = None;
    let mut settings: Vec<Arg> = Vec::new();
    for field in &train.fields {
        let name = field.name.name.as_str();
        if !TRAIN_FIELDS.contains(&name) {
            errors.push(Error::UnknownField {
                span: field.name.span,
                name: name.to_string(),
                suggestion: did_you_mean(name, TRAIN_FIELDS.iter().copied()),
            });
            continue;
        }
        if let Some(&first) = seen.get(name) {
            errors.push(Error::DuplicateField {
                span: field.name.span,
                first,
                name: name.to_string(),
            });
            continue;
        }
        seen.insert(name, field.name.span);
        match name {
            "loss" => loss_field = Some(field),
            "optimizer" => optimizer_field = Some(field),
            "clip" => clip_field = Some(field),
            "schedule" => schedule_field = Some(field),
            "early_stopping" => early_stopping_field = Some(field),
            _ => settings.push(Arg {
                name: Some(field.name.clone()),
                value: field.value.clone(),
                span: field.span,
            }),
        }
    }
    for (name, present) in [
        ("loss", loss_field.is_some()),
        ("optimizer", optimizer_field.is_some()),
    ] {
        if !present {
            errors.push(Error::MissingField {
                span: train.model.span,
                name,
            });
        }
    }
    let loss = loss_field.and_then(|field| loss(&field.value, errors));
    let optimizer = optimizer_field.and_then(|field| optimizer(&field.value, errors));
    let clip = clip_field.map(|field| clip(&field.value, errors));
    let schedule = schedule_field.map(|field| schedule::schedule(&field.value, errors));
    let early_stopping =
        early_stopping_field.map(|field| schedule::early_stopping(&field.value, errors));
    let settings_refs: Vec<&Arg> = settings.iter().collect();
    let bound = signature::bind(&TRAIN_SETTINGS, &settings_refs, train.model.span, errors);
    if let Some(bound) = &bound {
        let fit = schedule::Fit {
            schedule: schedule.as_ref().and_then(Option::as_ref),
            warmup: bound.get(&WARMUP),
            warmup_span: bound.span_of(&WARMUP),
            epochs: bound.get(&EPOCHS),
            epochs_span: bound.span_of(&EPOCHS),
            validation: bound.span_of(&VALIDATION).is_some(),
            early_stopping: early_stopping
                .flatten()
                .zip(early_stopping_field)
                .map(|(stop, field)| (field.value.span(), stop.monitor)),
        };
        schedule::check_fit(&fit, errors);
    }

    if let (Some(loss), Some(model), Some(field)) = (&loss, model, loss_field) {
        check_loss_fits(loss, model, field.value.span(), errors);
    }
    let failed = errors[before..].iter().any(|e| !e.is_warning());
    if failed {
        return None;
    }
    let bound = bound?;
    Some(ir::TrainConfig {
        model: train.model.name.clone(),
        loss: loss?,
        optimizer: optimizer?,
        clip: clip.flatten(),
        schedule: schedule.flatten().map(|field| field.schedule),
        warmup: bound.get(&WARMUP),
        validation: bound.span_of(&VALIDATION).map(|_| bound.get(&VALIDATION)),
        early_stopping: early_stopping.flatten(),
        batch: bound.get(&BATCH),
        epochs: bound.get(&EPOCHS),
        seed: bound.get(&SEED) as u64,
        span: train.span,
    })
}

/// A name from a fixed list (`cross_entropy`, `sgd`), possibly called with
/// arguments (`sgd(lr: 0.1)`). Returns the name and the call's arguments.
pub(super) fn choice<'e>(
    value: &'e Expr,
    what: &'static str,
    expected: &'static str,
    valid: &'static [&'static str],
    errors: &mut Vec<Error>,
) -> Option<(&'static str, &'e [Arg])> {
    let (ident, args): (&ast::Ident, &[Arg]) = match value {
        Expr::Name(ident) => (ident, &[]),
        Expr::Call(call) if call.alias.is_none() => (&call.callee, &call.args),
        other => {
            errors.push(Error::WrongArgumentType {
                span: other.span(),
                callee: "train",
                name: what,
                expected: expected.to_string(),
                found: match other {
                    Expr::Call(_) => "a call with an `as` name",
                    _ => other.describe(),
                },
            });
            return None;
        }
    };
    match valid.iter().find(|v| **v == ident.name) {
        Some(name) => Some((name, args)),
        None => {
            errors.push(Error::UnknownChoice {
                span: ident.span,
                what,
                name: ident.name.clone(),
                suggestion: did_you_mean(&ident.name, valid.iter().copied()),
                valid: valid.to_vec(),
            });
            None
        }
    }
}

/// A loss with its arguments (`cross_entropy(label_smoothing: 0.1)`);
/// every loss's reduction is the mean.
fn loss(value: &Expr, errors: &mut Vec<Error>) -> Option<ir::Loss> {
    let (name, args) = choice(
        value,
        "loss",
        "a loss such as `cross_entropy`",
        &ops::LOSS_NAMES,
        errors,
    )?;
    let rules = ops::rules_named(name)?;
    let args: Vec<&Arg> = args.iter().collect();
    let bound = signature::bind(rules.signature(), &args, value.span(), errors)?;
    Some(rules.with_arguments(&bound))
}

fn optimizer(value: &Expr, errors: &mut Vec<Error>) -> Option<ir::Optimizer> {
    let (name, args) = choice(
        value,
        "optimizer",
        "an optimizer such as `sgd(lr: 0.01)`",
        OPTIMIZERS,
        errors,
    )?;
    let signature = match name {
        "sgd" => &SGD,
        "adam" => &ADAM,
        _ => &ADAMW,
    };
    let args: Vec<&Arg> = args.iter().collect();
    let bound = signature::bind(signature, &args, value.span(), errors)?;
    Some(match name {
        "sgd" => {
            let (momentum, dampening, nesterov) = (
                bound.get(&SGD_MOMENTUM),
                bound.get(&SGD_DAMPENING),
                bound.get(&SGD_NESTEROV),
            );
            if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                errors.push(Error::InvalidArgumentValue {
                    span: bound.span_of(&SGD_NESTEROV).unwrap_or(value.span()),
                    callee: "sgd",
                    name: "nesterov",
                    reason: "Nesterov momentum needs momentum > 0 and dampening 0 (as in PyTorch)"
                        .into(),
                });
                return None;
            }
            ir::Optimizer::Sgd {
                lr: bound.get(&LR),
                momentum,
                dampening,
                nesterov,
                weight_decay: bound.get(&SGD_WEIGHT_DECAY),
            }
        }
        "adam" => ir::Optimizer::Adam {
            lr: bound.get(&LR),
            betas: bound.get(&BETAS),
            eps: bound.get(&EPS),
            weight_decay: bound.get(&ADAM_WEIGHT_DECAY),
        },
        _ => ir::Optimizer::AdamW {
            lr: bound.get(&LR),
            betas: bound.get(&BETAS),
            eps: bound.get(&EPS),
            weight_decay: bound.get(&ADAMW_WEIGHT_DECAY),
        },
    })
}

fn check_loss_fits(loss: &ir::Loss, model: &ir::Model, span: Span, errors: &mut Vec<Error>) {
    let [output] = model.outputs.as_slice() else {
        errors.push(Error::LossMismatch {
            span,
            loss: loss.name(),
            reason: format!(
                "the model has {} outputs and training needs exactly one",
                model.outputs.len()
            ),
            help: Some(
                "train a model with a single output; keep extra outputs in a separate model".into(),
            ),
            output: None,
        });
        return;
    };
    let value = model.value(output.value);
    match loss.rules().check_output(loss, value) {
        Ok(()) => {}
        Err(LossProblem::Mismatch { reason, help }) => errors.push(Error::LossMismatch {
            span,
            loss: loss.name(),
            reason,
            help,
            output: Some(value.span),
        }),
        Err(LossProblem::SoftmaxBefore) => errors.push(Error::SoftmaxBeforeCrossEntropy {
            span,
            output: value.span,
        }),
    }
}

/// `clip: norm(max_norm: 1.0)` or `clip: value(0.5)`.
fn clip(value: &Expr, errors: &mut Vec<Error>) -> Option<ir::Clip> {
    let (name, args) = choice(
        value,
        "clip",
        "a clipping such as `norm(max_norm: 1.0)`",
        CLIPS,
        errors,
    )?;
    let signature = match name {
        "norm" => &CLIP_NORM,
        _ => &CLIP_BY_VALUE,
    };
    let args: Vec<&Arg> = args.iter().collect();
    let bound = signature::bind(signature, &args, value.span(), errors)?;
    Some(match name {
        "norm" => ir::Clip::Norm {
            max_norm: bound.get(&MAX_NORM),
        },
        _ => ir::Clip::Value {
            clip_value: bound.get(&CLIP_VALUE),
        },
    })
}
