//! Every problem the front end can report, as data.
//!
//! Passes push [`Error`] values and keep going; [`Error::to_diagnostic`]
//! (in `error/wording.rs`, which leaves two families to `error/dtypes.rs`
//! and `error/ranks.rs`) is the only place that decides how a problem
//! reads. Each kind has a stable code (listed in docs/language.md and
//! explained at length by `dslc explain`): E00xx syntax, E01xx arguments,
//! E02xx names, E03xx shapes, E04xx models, E05xx training, W00xx warnings.

mod dtypes;
mod ranks;
mod wording;

use crate::ast::Span;
use crate::ir::{Dtype, Shape};

/// Every diagnostic code, in order: the one list (docs/language.md, the
/// UI tests and `dslc explain` are all checked against it).
pub const CODES: &[&str] = &[
    "E0001", "E0002", "E0003", "E0004", "E0005", "E0006", "E0101", "E0102", "E0103", "E0104",
    "E0105", "E0106", "E0107", "E0108", "E0201", "E0202", "E0203", "E0204", "E0205", "E0206",
    "E0301", "E0302", "E0303", "E0304", "E0305", "E0306", "E0307", "E0308", "E0309", "E0310",
    "E0311", "E0401", "E0402", "E0501", "E0502", "E0503", "E0504", "E0505", "E0506", "E0507",
    "E0508", "W0001", "W0002",
];

/// One operand of a shape complaint: where it is, its shape, how it got it.
#[derive(Clone, Debug, PartialEq)]
pub struct Operand {
    pub span: Span,
    pub shape: Shape,
    /// `x [64] -> dense(64) [64] -> relu [64]`
    pub derivation: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    // ---- E00xx: text and syntax ----
    Syntax {
        span: Span,
        expected: Vec<String>,
        found: String,
    },
    /// A reserved word where a name goes (`let model = ...`).
    ReservedWord {
        span: Span,
        word: &'static str,
    },
    InvalidUtf8 {
        span: Span,
    },
    TooDeep {
        span: Span,
        limit: usize,
    },
    IntTooLarge {
        span: Span,
    },
    FloatOutOfRange {
        span: Span,
    },
    TooManyErrors {
        span: Span,
        limit: usize,
    },

    // ---- E01xx: layers and arguments ----
    UnknownLayer {
        span: Span,
        name: String,
        suggestion: Option<String>,
        /// The name is bound to a value in this model (a likely mix-up).
        is_value: bool,
    },
    UnknownArgument {
        span: Span,
        callee: &'static str,
        name: String,
        suggestion: Option<String>,
        valid: Vec<String>,
    },
    MissingArgument {
        span: Span,
        callee: &'static str,
        name: &'static str,
        ty: String,
    },
    DuplicateArgument {
        span: Span,
        first: Span,
        name: &'static str,
    },
    WrongArgumentType {
        span: Span,
        callee: &'static str,
        name: &'static str,
        expected: String,
        found: &'static str,
    },
    TooManyArguments {
        span: Span,
        callee: &'static str,
        max: usize,
    },
    InvalidArgumentValue {
        span: Span,
        callee: &'static str,
        name: &'static str,
        reason: String,
    },
    WrongInputCount {
        span: Span,
        layer: &'static str,
        expected: &'static str,
        found: usize,
    },

    // ---- E02xx: names ----
    UndefinedName {
        span: Span,
        name: String,
        suggestion: Option<String>,
        /// The name is a layer (a likely mix-up: `relu` used as a value).
        is_layer: bool,
    },
    Redefined {
        span: Span,
        first: Span,
        name: String,
    },
    DuplicateLayerName {
        span: Span,
        first: Span,
        name: String,
    },
    DuplicateModel {
        span: Span,
        first: Span,
        name: String,
    },
    ExpectedValue {
        span: Span,
        found: &'static str,
    },
    UnknownDtype {
        span: Span,
        name: String,
    },

    // ---- E03xx: shapes ----
    ShapeMismatch {
        span: Span,
        op: &'static str,
        operands: Vec<Operand>,
        axis: Option<usize>,
    },
    RankMismatch {
        span: Span,
        layer: &'static str,
        expected: &'static str,
        input: Operand,
    },
    InvalidDim {
        span: Span,
        value: i64,
    },
    TooLarge {
        span: Span,
        what: &'static str,
        dims: Vec<u128>,
    },
    EmptyOutput {
        span: Span,
        layer: &'static str,
        axis: &'static str,
        formula: String,
        input: Operand,
    },
    PoolPadding {
        span: Span,
        padding: usize,
        kernel: usize,
    },
    ReshapeCount {
        span: Span,
        from: Shape,
        to: Vec<i64>,
    },
    AxisOutOfRange {
        span: Span,
        axis: i64,
        rank: usize,
    },
    HeadsDivide {
        span: Span,
        heads: usize,
        features: usize,
    },
    /// A value of the wrong element type for a layer (E0310): f32 values
    /// into `embedding`, or token ids (i64) into a layer that computes
    /// with floats.
    DtypeMismatch {
        span: Span,
        layer: &'static str,
        expected: Dtype,
        found: Dtype,
        input: Operand,
    },
    /// A layer's argument `arg` does not divide a count it must (`groups`
    /// and a convolution's channels); `input` when the count is the input's.
    NotDivisible {
        span: Span,
        layer: &'static str,
        what: &'static str,
        value: usize,
        arg: &'static str,
        divisor: usize,
        input: Option<Operand>,
    },

    // ---- E04xx: models ----
    NoOutput {
        span: Span,
        model: String,
    },
    NoInput {
        span: Span,
        model: String,
    },

    // ---- E05xx: train blocks ----
    UnknownModel {
        span: Span,
        name: String,
        suggestion: Option<String>,
    },
    LossMismatch {
        span: Span,
        loss: &'static str,
        reason: String,
        help: Option<String>,
        output: Option<Span>,
    },
    UnknownField {
        span: Span,
        name: String,
        suggestion: Option<String>,
    },
    MissingField {
        span: Span,
        name: &'static str,
    },
    DuplicateField {
        span: Span,
        first: Span,
        name: String,
    },
    UnknownChoice {
        span: Span,
        what: &'static str,
        name: String,
        suggestion: Option<String>,
        valid: Vec<&'static str>,
    },
    DuplicateTrain {
        span: Span,
        first: Span,
        model: String,
    },
    /// Settings of a train block that cannot go together (E0508).
    TrainConflict {
        span: Span,
        /// The other setting involved, where it is written.
        related: Option<Span>,
        conflict: TrainConflict,
    },

    // ---- W00xx: warnings ----
    UnusedValue {
        span: Span,
        name: String,
        is_input: bool,
    },
    SoftmaxBeforeCrossEntropy {
        span: Span,
        output: Span,
    },
}

/// How a train block's settings conflict.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainConflict {
    /// `warmup` as long as the run or longer.
    WarmupTooLong { warmup: usize, epochs: usize },
    /// `warmup` before `one_cycle`, which warms up by itself.
    WarmupBeforeOneCycle,
    /// `plateau` or `early_stopping` without `validation`.
    NeedsValidation {
        setting: &'static str,
        watches: &'static str,
    },
    /// A decay the schedule never reaches: `what` is
    /// "`multistep` milestone 40", `epochs` the schedule's epochs (the
    /// run's after the warmup).
    NeverReached {
        what: String,
        /// What to change: "every milestone", "`step_size`".
        argument: &'static str,
        epochs: usize,
        warmup: usize,
    },
}

impl Error {
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            Error::UnusedValue { .. } | Error::SoftmaxBeforeCrossEntropy { .. }
        )
    }
}
