//! The train block's learning-rate schedule and early stopping, with
//! PyTorch's (and Keras') arguments and defaults, and the checks that
//! need the whole block: a schedule that fits the epochs, a validation
//! split for what watches one.

use crate::ast::{Arg, Expr, Span};
use crate::error::{Error, TrainConflict};
use crate::ir;
use crate::signature::{self, Default, Key, Range, Signature, Word};

use super::train::choice;

const SCHEDULES: &[&str] = &[
    "step",
    "multistep",
    "exponential",
    "cosine",
    "one_cycle",
    "plateau",
];
const MONITORS: &[&str] = &["val_loss", "val_accuracy"];

impl Word for ir::Anneal {
    const WORDS: &'static [&'static str] = &["cos", "linear"];
    fn from_word(word: &str) -> Option<Self> {
        match word {
            "cos" => Some(ir::Anneal::Cos),
            "linear" => Some(ir::Anneal::Linear),
            _ => None,
        }
    }
}

impl Word for ir::ThresholdMode {
    const WORDS: &'static [&'static str] = &["rel", "abs"];
    fn from_word(word: &str) -> Option<Self> {
        match word {
            "rel" => Some(ir::ThresholdMode::Rel),
            "abs" => Some(ir::ThresholdMode::Abs),
            _ => None,
        }
    }
}

const GAMMA: Key<f64> = Key::float(
    1,
    "gamma",
    Range::Positive,
    Default::Float(0.1),
    "factor of each decay",
);

const STEP_SIZE: Key<usize> =
    Key::count(0, "step_size", Default::Required, "epochs between decays");

/// `step`, `torch.optim.lr_scheduler.StepLR`.
pub const STEP: Signature = Signature {
    name: "step",
    args: &[STEP_SIZE.spec, GAMMA.spec],
};

const MILESTONES: Key<Vec<usize>> = Key::counts(
    0,
    "milestones",
    Default::Required,
    "epochs at which to decay, increasing",
);

/// `multistep`, `MultiStepLR`.
pub const MULTISTEP: Signature = Signature {
    name: "multistep",
    args: &[MILESTONES.spec, GAMMA.spec],
};

const EXP_GAMMA: Key<f64> = Key::float(
    0,
    "gamma",
    Range::Positive,
    Default::Required,
    "factor of each epoch",
);

/// `exponential`, `ExponentialLR`.
pub const EXPONENTIAL: Signature = Signature {
    name: "exponential",
    args: &[EXP_GAMMA.spec],
};

const T_MAX: Key<usize> = Key::count(
    0,
    "t_max",
    Default::Required,
    "epochs of a half cosine period",
);
const ETA_MIN: Key<f64> = Key::float(
    1,
    "eta_min",
    Range::NonNegative,
    Default::Float(0.0),
    "lowest learning rate",
);

/// `cosine`, `CosineAnnealingLR`.
pub const COSINE: Signature = Signature {
    name: "cosine",
    args: &[T_MAX.spec, ETA_MIN.spec],
};

const MAX_LR: Key<f64> = Key::float(
    0,
    "max_lr",
    Range::Positive,
    Default::Required,
    "peak learning rate",
);
const PCT_START: Key<f64> = Key::float(
    1,
    "pct_start",
    Range::Unit,
    Default::Float(0.3),
    "fraction of the steps spent rising",
);
const ANNEAL: Key<ir::Anneal> = Key::word(2, "anneal", Default::Word("cos"), "anneal_strategy");
const DIV_FACTOR: Key<f64> = Key::float(
    3,
    "div_factor",
    Range::Positive,
    Default::Float(25.0),
    "initial lr = max_lr / div_factor",
);
const FINAL_DIV_FACTOR: Key<f64> = Key::float(
    4,
    "final_div_factor",
    Range::Positive,
    Default::Float(1e4),
    "final lr = initial lr / final_div_factor",
);
const THREE_PHASE: Key<bool> = Key::bool(
    5,
    "three_phase",
    Default::Bool(false),
    "fall back to the initial lr before the final anneal",
);

/// `one_cycle`, `OneCycleLR` (`cycle_momentum=False`).
pub const ONE_CYCLE: Signature = Signature {
    name: "one_cycle",
    args: &[
        MAX_LR.spec,
        PCT_START.spec,
        ANNEAL.spec,
        DIV_FACTOR.spec,
        FINAL_DIV_FACTOR.spec,
        THREE_PHASE.spec,
    ],
};

const FACTOR: Key<f64> = Key::float(
    0,
    "factor",
    Range::UnitOpen,
    Default::Float(0.1),
    "factor of each reduction",
);
const PLATEAU_PATIENCE: Key<usize> = Key::natural(
    1,
    "patience",
    Default::Int(10),
    "epochs without improvement before reducing",
);
const THRESHOLD: Key<f64> = Key::float(
    2,
    "threshold",
    Range::NonNegative,
    Default::Float(1e-4),
    "least change that counts as an improvement",
);
const THRESHOLD_MODE: Key<ir::ThresholdMode> = Key::word(
    3,
    "threshold_mode",
    Default::Word("rel"),
    "whether the threshold is relative or absolute",
);
const COOLDOWN: Key<usize> = Key::natural(
    4,
    "cooldown",
    Default::Int(0),
    "epochs to wait after a reduction",
);
const MIN_LR: Key<f64> = Key::float(
    5,
    "min_lr",
    Range::NonNegative,
    Default::Float(0.0),
    "lowest learning rate",
);
const PLATEAU_EPS: Key<f64> = Key::float(
    6,
    "eps",
    Range::NonNegative,
    Default::Float(1e-8),
    "smallest change of the lr worth making",
);

/// `plateau`, `ReduceLROnPlateau(mode='min')` on the validation loss.
pub const PLATEAU: Signature = Signature {
    name: "plateau",
    args: &[
        FACTOR.spec,
        PLATEAU_PATIENCE.spec,
        THRESHOLD.spec,
        THRESHOLD_MODE.spec,
        COOLDOWN.spec,
        MIN_LR.spec,
        PLATEAU_EPS.spec,
    ],
};

const STOP_PATIENCE: Key<usize> = Key::count(
    0,
    "patience",
    Default::Int(5),
    "epochs without improvement before stopping",
);
const MIN_DELTA: Key<f64> = Key::float(
    1,
    "min_delta",
    Range::NonNegative,
    Default::Float(0.0),
    "least change that counts as an improvement",
);

/// `early_stopping: val_loss(...)`.
pub const STOP_ON_VAL_LOSS: Signature = Signature {
    name: "val_loss",
    args: &[STOP_PATIENCE.spec, MIN_DELTA.spec],
};

/// `early_stopping: val_accuracy(...)`.
pub const STOP_ON_VAL_ACCURACY: Signature = Signature {
    name: "val_accuracy",
    args: &[STOP_PATIENCE.spec, MIN_DELTA.spec],
};

/// A checked `schedule:` and where its parts are written.
pub(super) struct ScheduleField {
    pub schedule: ir::Schedule,
    pub span: Span,
    /// Where the epoch it counts to is written (`step_size`, `milestones`).
    pub count_span: Span,
}

/// `schedule: cosine(t_max: 10)` and the others.
pub(super) fn schedule(value: &Expr, errors: &mut Vec<Error>) -> Option<ScheduleField> {
    let (name, args) = choice(
        value,
        "schedule",
        "a schedule such as `cosine(t_max: 10)`",
        SCHEDULES,
        errors,
    )?;
    let signature = match name {
        "step" => &STEP,
        "multistep" => &MULTISTEP,
        "exponential" => &EXPONENTIAL,
        "cosine" => &COSINE,
        "one_cycle" => &ONE_CYCLE,
        _ => &PLATEAU,
    };
    let args: Vec<&Arg> = args.iter().collect();
    let span = value.span();
    let bound = signature::bind(signature, &args, span, errors)?;
    let mut count_span = span;
    let schedule = match name {
        "step" => {
            count_span = bound.span_of(&STEP_SIZE).unwrap_or(span);
            ir::Schedule::Step {
                step_size: bound.get(&STEP_SIZE),
                gamma: bound.get(&GAMMA),
            }
        }
        "multistep" => {
            count_span = bound.span_of(&MILESTONES).unwrap_or(span);
            let milestones = bound.get(&MILESTONES);
            if let Some(pair) = milestones.windows(2).find(|pair| pair[1] <= pair[0]) {
                errors.push(Error::InvalidArgumentValue {
                    span: count_span,
                    callee: "multistep",
                    name: "milestones",
                    reason: format!(
                        "must be strictly increasing, found {} after {}",
                        pair[1], pair[0]
                    ),
                });
                return None;
            }
            ir::Schedule::MultiStep {
                milestones,
                gamma: bound.get(&GAMMA),
            }
        }
        "exponential" => ir::Schedule::Exponential {
            gamma: bound.get(&EXP_GAMMA),
        },
        "cosine" => ir::Schedule::Cosine {
            t_max: bound.get(&T_MAX),
            eta_min: bound.get(&ETA_MIN),
        },
        "one_cycle" => ir::Schedule::OneCycle {
            max_lr: bound.get(&MAX_LR),
            pct_start: bound.get(&PCT_START),
            anneal: bound.get(&ANNEAL),
            div_factor: bound.get(&DIV_FACTOR),
            final_div_factor: bound.get(&FINAL_DIV_FACTOR),
            three_phase: bound.get(&THREE_PHASE),
        },
        _ => ir::Schedule::Plateau {
            factor: bound.get(&FACTOR),
            patience: bound.get(&PLATEAU_PATIENCE),
            threshold: bound.get(&THRESHOLD),
            threshold_mode: bound.get(&THRESHOLD_MODE),
            cooldown: bound.get(&COOLDOWN),
            min_lr: bound.get(&MIN_LR),
            eps: bound.get(&PLATEAU_EPS),
        },
    };
    Some(ScheduleField {
        schedule,
        span,
        count_span,
    })
}

/// `early_stopping: val_loss(patience: 5, min_delta: 0.0)`.
pub(super) fn early_stopping(value: &Expr, errors: &mut Vec<Error>) -> Option<ir::EarlyStopping> {
    let (name, args) = choice(
        value,
        "early_stopping",
        "a monitored value such as `val_loss(patience: 5)`",
        MONITORS,
        errors,
    )?;
    let (signature, monitor) = match name {
        "val_loss" => (&STOP_ON_VAL_LOSS, ir::Monitor::ValLoss),
        _ => (&STOP_ON_VAL_ACCURACY, ir::Monitor::ValAccuracy),
    };
    let args: Vec<&Arg> = args.iter().collect();
    let bound = signature::bind(signature, &args, value.span(), errors)?;
    Some(ir::EarlyStopping {
        monitor,
        patience: bound.get(&STOP_PATIENCE),
        min_delta: bound.get(&MIN_DELTA),
    })
}

/// The settings the fit checks look at, with where they are written.
pub(super) struct Fit<'a> {
    pub schedule: Option<&'a ScheduleField>,
    pub warmup: usize,
    pub warmup_span: Option<Span>,
    pub epochs: usize,
    pub epochs_span: Option<Span>,
    pub validation: bool,
    pub early_stopping: Option<(Span, ir::Monitor)>,
}

/// Checks that need several settings: the warmup leaves epochs to train,
/// one-cycle has no warmup before it, a decay happens within the run,
/// what watches the validation split has one.
pub(super) fn check_fit(fit: &Fit, errors: &mut Vec<Error>) {
    if let Some(span) = fit.warmup_span
        && fit.warmup > 0
    {
        if fit.warmup >= fit.epochs {
            errors.push(Error::TrainConflict {
                span,
                related: fit.epochs_span,
                conflict: TrainConflict::WarmupTooLong {
                    warmup: fit.warmup,
                    epochs: fit.epochs,
                },
            });
        }
        if let Some(field) = fit.schedule
            && matches!(field.schedule, ir::Schedule::OneCycle { .. })
        {
            errors.push(Error::TrainConflict {
                span,
                related: Some(field.span),
                conflict: TrainConflict::WarmupBeforeOneCycle,
            });
        }
    }
    if let Some(field) = fit.schedule {
        if let ir::Schedule::Plateau { .. } = field.schedule
            && !fit.validation
        {
            errors.push(Error::TrainConflict {
                span: field.span,
                related: None,
                conflict: TrainConflict::NeedsValidation {
                    setting: "plateau",
                    watches: "the validation loss",
                },
            });
        }
        // Epochs the schedule itself counts (it starts after the warmup).
        let epochs = fit.epochs.saturating_sub(fit.warmup);
        let never = match &field.schedule {
            ir::Schedule::Step { step_size, .. } if *step_size >= epochs => Some((
                format!("`step`'s first decay, after {step_size} epochs,"),
                "`step_size`",
            )),
            ir::Schedule::MultiStep { milestones, .. } => milestones
                .iter()
                .find(|&&m| m >= epochs)
                .map(|m| (format!("`multistep` milestone {m}"), "every milestone")),
            _ => None,
        };
        if let Some((what, argument)) = never
            && epochs > 0
        {
            errors.push(Error::TrainConflict {
                span: field.count_span,
                related: fit.epochs_span,
                conflict: TrainConflict::NeverReached {
                    what,
                    argument,
                    epochs,
                    warmup: fit.warmup,
                },
            });
        }
    }
    if let Some((span, monitor)) = fit.early_stopping
        && !fit.validation
    {
        errors.push(Error::TrainConflict {
            span,
            related: None,
            conflict: TrainConflict::NeedsValidation {
                setting: "early_stopping",
                watches: match monitor {
                    ir::Monitor::ValLoss => "the validation loss",
                    ir::Monitor::ValAccuracy => "the validation accuracy",
                },
            },
        });
    }
}
