//! What an op's lowering sees of the model being lowered.
//!
//! The lowering driver (nnspec-codegen's `lower`) walks the IR, owns the
//! buffer layout and the gradient bookkeeping, and hands each op one of
//! these contexts: the op decides which kernel steps compute it and its
//! gradients, the driver decides where everything lives.

use nnspec_runtime::plan::{BufferId, BufferType, GradStep, ParamId, Size, Step};

/// The forward lowering of one value.
pub trait ForwardCx {
    /// The buffer holding input `i`.
    fn input(&self, i: usize) -> BufferId;
    /// The per-sample shape of input `i`.
    fn input_shape(&self, i: usize) -> &[usize];
    /// How many inputs the value has.
    fn input_count(&self) -> usize;
    /// The per-sample shape of the result.
    fn output_shape(&self) -> &[usize];
    /// The result's buffer.
    fn output(&self) -> BufferId;
    /// Makes the result a view of input 0: same storage, no step.
    fn view_input(&mut self);
    /// The layer's parameter at `position` in its declaration order.
    fn param(&self, position: usize) -> ParamId;
    /// A buffer for state the forward step saves for the backward one,
    /// named after the value (`pool.argmax`).
    fn saved(&mut self, suffix: &str, size: Size, ty: BufferType) -> BufferId;
    /// Whether the value's only consumer, a relu, is computed by this step
    /// too (for layers whose `absorbs_relu` says so).
    fn fused_relu(&self) -> bool;
}

/// The backward lowering of one value whose gradient is complete.
pub trait BackwardCx {
    /// The gradient of the result.
    fn dy(&self) -> BufferId;
    /// The result's buffer.
    fn output(&self) -> BufferId;
    /// The buffer holding input `i`.
    fn input(&self, i: usize) -> BufferId;
    /// How many elements input `i` has per sample.
    fn input_elements(&self, i: usize) -> usize;
    fn input_count(&self) -> usize;
    /// The layer's parameter at `position` in its declaration order.
    fn param(&self, position: usize) -> ParamId;
    /// The forward step that computed the value (its geometry and saved
    /// state).
    fn forward_step(&self) -> Step;
    /// Where the gradient contribution for input `i` goes, or `None` if
    /// that input needs no gradient. The second part, when present, adds it
    /// into the gradient already there; emit it after the step writing the
    /// contribution.
    fn contribution(&mut self, i: usize) -> Option<(BufferId, Option<GradStep>)>;
    /// Passes [`BackwardCx::dy`] on to input `i` unchanged (shared storage
    /// when it is the first contribution).
    fn pass_through(&mut self, i: usize);
    /// The fused relu's result when this step also applies a relu:
    /// the backward masks `dy` with it.
    fn fused_relu_output(&self) -> Option<BufferId>;
    /// Appends a backward step.
    fn emit(&mut self, step: GradStep);
}
