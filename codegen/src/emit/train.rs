//! The generated `training` module: `train_step` (forward in training
//! mode, loss, backward, optimizer update) over a caller-provided arena
//! and [`TrainState`](nnspec_runtime::training::TrainState), allocating
//! nothing, so a device can fine-tune in place.
//!
//! The training plan's buffers are placed like inference's, by liveness,
//! over the whole step: an activation the backward pass reads stays alive
//! until then, a gradient only while it is used. BatchNorm's per-channel
//! statistics (a fixed size, whatever the batch) and max pooling's argmax
//! indices (u32s) sit after the values, each packed without reuse; the
//! steps' scratch comes last.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{
    BufferId, BufferType, Clip, GradStep, LossKind, Optimizer, ParamKind, Plan, Size,
};

use super::grad_steps::backward_step;
use super::memory::{self, Access};
use super::steps::{Mode, Names, StepCode, forward_step};
use super::{Emitter, Training, ident, lit};

/// Where each buffer of a training step lives.
struct TrainLayout {
    values: memory::ArenaLayout,
    /// Offsets of the fixed-size buffers, after the values.
    fixed: Vec<Option<usize>>,
    fixed_len: usize,
    /// Per-sample offsets of the u32 index buffers.
    indices: Vec<Option<usize>>,
    indices_per_sample: usize,
}

impl Emitter<'_> {
    /// `pub mod training` for the training plan this emitter prints;
    /// `inputs` are the inference module's per-sample length constants.
    pub(super) fn training_module(
        &self,
        rt: &syn::Path,
        training: &Training<'_>,
        inputs: &[Ident],
        weights_len: usize,
    ) -> TokenStream {
        let plan = self.plan;
        let loss = plan.loss.as_ref().expect("a training plan has a loss");
        let mut code: Vec<StepCode> = plan
            .forward
            .iter()
            .map(|s| forward_step(plan, s, self, Mode::Training))
            .collect();
        let forward_count = code.len();
        code.push(StepCode {
            comment: String::new(),
            access: Access {
                reads: vec![plan.root(loss.output)],
                writes: vec![plan.root(loss.grad)],
            },
            call: quote!(),
            scratch: Some(quote!(training::loss_scratch_len(LOSS, batch))),
        });
        code.extend(plan.backward.iter().map(|s| backward_step(plan, s, self)));
        let input_roots: Vec<BufferId> = plan.inputs.iter().map(|&b| plan.root(b)).collect();
        let layout = train_layout(plan, &code, &input_roots);

        let range = |b: BufferId| -> Option<TokenStream> {
            let slot = &self.slot_idents[b.index()];
            if layout.values.offset[b.index()].is_some() {
                Some(quote!(at(layout::#slot)))
            } else if layout.fixed[b.index()].is_some() {
                Some(quote!(fixed(layout::#slot)))
            } else {
                None
            }
        };
        let mut blocks = self.step_blocks(&code[..forward_count], &range);
        blocks.push(self.loss_block(&code[forward_count], loss.kind, &range));
        blocks.extend(self.step_blocks(&code[forward_count + 1..], &range));

        let layout_module = self.train_layout_module(&layout);
        let counters_module = self.counters_module();
        let trained = self.trained_table();
        let step_scratch: Vec<&TokenStream> =
            code.iter().filter_map(|c| c.scratch.as_ref()).collect();
        let (first_scratch, other_scratch) = step_scratch
            .split_first()
            .expect("the loss's scratch is always listed");
        let optimizer = optimizer_tokens(plan.optimizer.expect("a training plan has an optimizer"));
        let loss_kind = loss_tokens(loss.kind);
        let clip = match plan.clip {
            None => quote!(None),
            Some(Clip::Norm { max_norm }) => {
                let m = proc_macro2::Literal::f32_unsuffixed(max_norm);
                quote!(Some(Clip::Norm { max_norm: #m }))
            }
            Some(Clip::Value { clip_value }) => {
                let v = proc_macro2::Literal::f32_unsuffixed(clip_value);
                quote!(Some(Clip::Value { clip_value: #v }))
            }
        };
        let param_count = lit(plan.params.len());
        let counter_count = lit(plan
            .params
            .iter()
            .filter(|p| p.kind == ParamKind::Counter)
            .count());
        let (batch, epochs, seed) = (
            lit(training.batch),
            lit(training.epochs),
            proc_macro2::Literal::u64_unsuffixed(training.seed),
        );
        let ty = &self.type_name;
        let input_args: Vec<Ident> = input_roots.iter().map(|&b| self.buffer(b)).collect();
        let batch_checks = input_args.iter().zip(inputs).map(|(a, c)| {
            let msg = format!("{a}: `labels.len()` samples");
            quote!(assert_eq!(#a.len(), batch * #c, #msg);)
        });
        let uses = |used: bool, name: &str| {
            let name = ident(name);
            if used {
                quote!()
            } else {
                quote!(let _ = &#name;)
            }
        };
        let uses_counters = plan.params.iter().any(|p| p.kind == ParamKind::Counter);
        let uses_dropout = plan
            .forward
            .iter()
            .any(|s| matches!(s, nnspec_runtime::plan::Step::Dropout { .. }));
        let uses_indices = layout.indices_per_sample > 0;
        let uses_fixed = layout.fixed_len > 0;
        let uses_at = layout.values.per_sample > 0 || uses_indices;
        let unused = [
            uses(uses_counters, "counters"),
            uses(uses_dropout, "dropout"),
            uses(uses_indices, "indices"),
            uses(uses_fixed, "fixed"),
            uses(uses_at, "at"),
        ];
        let weights = lit(weights_len);
        let model = &plan.model;
        let module_doc = format!(
            " Training `{model}`: [`{ty}::train_step`] and what it works in. The \
             settings are the model's `train` block's."
        );
        let samples_doc = format!(
            " Floats of working memory [`{ty}::train_step`] needs for `batch` samples on \
             `threads` threads: the values, the fixed-size statistics, the indices, then the \
             steps' scratch."
        );
        let step_doc = [
            " One training step on a batch: forward (dropout and BatchNorm in training mode), \
             the loss against `labels`, backward, and the optimizer's update of the weights. \
             `arena` holds at least [`arena_len`]`(labels.len(), par.threads())` floats; \
             nothing is allocated (on the x86 tiers, and in `no_std` builds; the portable \
             tier of a `std` build multiplies matrices with the `gemm` crate, which allocates \
             its workspace). The same numbers as `dslc train`'s step, bit for bit.",
            "",
            " # Panics",
            "",
            " If an input is not `labels.len()` samples long, `arena` is too small, or a label \
             is not below the number of classes (cross-entropy) or outputs (`mse`).",
        ];
        quote! {
            #[doc = #module_doc]
            pub mod training {
                use core::ops::Range;
                use #rt::kernels;
                use #rt::plan::{Clip, LossKind, Optimizer};
                use #rt::threads::Threads;
                use #rt::training::{self, StepParts};
                pub use #rt::training::StepStats;
                use #rt::views::{self, views};

                use super::{params, #ty, WEIGHTS_LEN, #(#inputs),*};

                /// Samples per step.
                pub const BATCH: usize = #batch;
                /// Passes over the training data.
                pub const EPOCHS: usize = #epochs;
                /// The seed of the weights, the shuffling and the dropout masks.
                pub const SEED: u64 = #seed;
                /// The optimizer and its hyperparameters (PyTorch's semantics).
                pub const OPTIMIZER: Optimizer = #optimizer;
                /// The loss on the model's output.
                pub const LOSS: LossKind = #loss_kind;
                /// Gradient clipping before each update (PyTorch's
                /// `clip_grad_norm_` or `clip_grad_value_`), if any.
                pub const CLIP: Option<Clip> = #clip;
                /// Floats of a [`TrainState`]'s memory: the gradients, then the
                /// optimizer's moments, each laid out like the weights.
                pub const STATE_LEN: usize = training::state_len(&OPTIMIZER, WEIGHTS_LEN);

                /// Gradients, optimizer state, counters and the dropout stream,
                /// in memory `S` of [`STATE_LEN`] floats.
                pub type TrainState<S> = training::TrainState<S, #param_count, #counter_count>;

                /// A fresh [`TrainState`] whose dropout stream starts from
                /// `seed`, as `dslc train --seed` starts.
                pub fn state(seed: u64) -> TrainState<#rt::Vec<f32>> {
                    let mut memory = #rt::Vec::with_capacity(STATE_LEN);
                    memory.resize(STATE_LEN, 0.0);
                    TrainState::new(OPTIMIZER, WEIGHTS_LEN, memory, seed).expect("STATE_LEN floats")
                }

                const _: () = assert!(WEIGHTS_LEN == #weights);

                #layout_module
                #counters_module

                /// The parameters the optimizer updates: number, place in the weights.
                const TRAINED: #trained

                #[doc = #samples_doc]
                pub fn arena_len(batch: usize, threads: usize) -> usize {
                    (layout::PER_SAMPLE + layout::INDICES_PER_SAMPLE) * batch
                        + layout::FIXED
                        + scratch_len(batch, threads.max(1))
                }

                fn scratch_len(batch: usize, threads: usize) -> usize {
                    let _ = (batch, threads);
                    #first_scratch #(.max(#other_scratch))*
                }

                impl<W: AsRef<[f32]> + AsMut<[f32]>> #ty<W> {
                    #(#[doc = #step_doc])*
                    pub fn train_step<S: AsRef<[f32]> + AsMut<[f32]>>(
                        &mut self,
                        #(#input_args: &[f32],)*
                        labels: &[u32],
                        state: &mut TrainState<S>,
                        arena: &mut [f32],
                        par: &dyn Threads,
                    ) -> StepStats {
                        let batch = labels.len();
                        #(#batch_checks)*
                        let need = arena_len(batch, par.threads());
                        assert!(arena.len() >= need, "an arena of {} floats, {} needed", arena.len(), need);
                        let (values, rest) = arena.split_at_mut(layout::PER_SAMPLE * batch + layout::FIXED);
                        let (indices, scratch) = rest.split_at_mut(layout::INDICES_PER_SAMPLE * batch);
                        let indices = views::as_u32(indices);
                        let at = |r: Range<usize>| r.start * batch..r.end * batch;
                        let base = layout::PER_SAMPLE * batch;
                        let fixed = |r: Range<usize>| base + r.start..base + r.end;
                        let StepParts { grads, counters, dropout } = state.parts();
                        #(#unused)*
                        let w = self.weights.as_mut();
                        #(#blocks)*
                        if let Some(clip) = CLIP {
                            training::clip_gradients(clip, grads, &TRAINED);
                        }
                        state.update(w, &TRAINED, par);
                        stats
                    }
                }
            }
        }
    }

    /// The loss: `let stats = ...`, its gradient written for backward.
    fn loss_block(
        &self,
        code: &StepCode,
        kind: LossKind,
        range: &dyn Fn(BufferId) -> Option<TokenStream>,
    ) -> TokenStream {
        let (output, grad) = (code.access.reads[0], code.access.writes[0]);
        let (oi, gi) = (self.buffer(output), self.buffer(grad));
        let (or, gr) = (
            range(output).expect("the output is in the arena"),
            range(grad).expect("its gradient is in the arena"),
        );
        let text = match kind {
            LossKind::CrossEntropy {
                classes,
                label_smoothing,
            } if label_smoothing != 0.0 => {
                format!("cross-entropy over {classes} classes, label smoothing {label_smoothing}")
            }
            LossKind::CrossEntropy { classes, .. } => {
                format!("cross-entropy over {classes} classes")
            }
            LossKind::Mse { len } => format!("mean squared error against one-hot targets of {len}"),
            LossKind::L1 { .. } | LossKind::SmoothL1 { .. } | LossKind::BceWithLogits { .. } => {
                unreachable!("refused by unsupported_loss")
            }
        };
        let comment = self.comment(&format!(
            "The loss ({text}) of `{}`, and its gradient `{}`",
            self.plan.buffer(output).name,
            self.plan.buffer(grad).name
        ));
        quote! {
            #comment
            let stats = {
                let ([#oi], [#gi]) = views(values, [#or], [#gr]);
                training::loss(LOSS, #oi, labels, Some(#gi), scratch)
            };
        }
    }

    /// `mod layout` of the training step.
    fn train_layout_module(&self, layout: &TrainLayout) -> TokenStream {
        let plan = self.plan;
        let len = |b: usize| match plan.buffers[b].size {
            Size::PerSample(n) | Size::Fixed(n) => n,
        };
        let item = |b: usize, off: usize, what: &str| {
            let c = &self.slot_idents[b];
            let (start, end) = (lit(off), lit(off + len(b)));
            let doc = format!(" `{}`, {what}.", plan.buffers[b].name);
            quote!(#[doc = #doc] pub const #c: Range<usize> = #start..#end;)
        };
        let mut items = Vec::new();
        for b in 0..plan.buffers.len() {
            if let Some(off) = layout.values.offset[b] {
                items.push(item(b, off, "per sample"));
            } else if let Some(off) = layout.fixed[b] {
                items.push(item(b, off, "whatever the batch"));
            } else if let Some(off) = layout.indices[b] {
                items.push(item(b, off, "u32s per sample, in the indices"));
            }
        }
        let (per_sample, fixed, indices) = (
            lit(layout.values.per_sample),
            lit(layout.fixed_len),
            lit(layout.indices_per_sample),
        );
        quote! {
            /// Where each value and gradient of a training step sits in the
            /// arena: per sample (a batch of `n` multiplies both ends by `n`),
            /// shared by values never alive at the same time; then the
            /// fixed-size statistics; then the u32 indices, per sample.
            mod layout {
                use core::ops::Range;
                /// Floats per sample of the values and gradients.
                pub const PER_SAMPLE: usize = #per_sample;
                /// Floats of the statistics, whatever the batch.
                pub const FIXED: usize = #fixed;
                /// u32s per sample of the indices.
                pub const INDICES_PER_SAMPLE: usize = #indices;
                #(#items)*
            }
        }
    }

    /// `mod counters`: each counter's place in the state's counters.
    fn counters_module(&self) -> TokenStream {
        let items: Vec<TokenStream> = self
            .plan
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind == ParamKind::Counter)
            .enumerate()
            .map(|(at, (i, p))| {
                let c = &self.param_idents[i];
                let at = lit(at);
                let doc = format!(" `{}`.", p.name);
                quote!(#[doc = #doc] pub const #c: usize = #at;)
            })
            .collect();
        if items.is_empty() {
            return quote!();
        }
        quote! {
            /// Where each counter sits in the state's counters.
            mod counters {
                #(#items)*
            }
        }
    }

    /// `[(usize, Range<usize>); N] = [...];` of the trained parameters.
    fn trained_table(&self) -> TokenStream {
        let plan = self.plan;
        let mut has_grad = vec![false; plan.params.len()];
        for p in plan.backward.iter().flat_map(GradStep::param_grads) {
            has_grad[p.index()] = true;
        }
        let rows: Vec<TokenStream> = plan
            .params
            .iter()
            .enumerate()
            .filter(|(i, p)| p.kind == ParamKind::Trainable && has_grad[*i])
            .map(|(i, _)| {
                let c = &self.param_idents[i];
                let i = lit(i);
                quote!((#i, params::#c))
            })
            .collect();
        let count = lit(rows.len());
        quote!([(usize, Range<usize>); #count] = [#(#rows),*];)
    }
}

/// Places the buffers of a training step's `code`; `inputs` are the
/// caller's slices.
fn train_layout(plan: &Plan, code: &[StepCode], inputs: &[BufferId]) -> TrainLayout {
    let accesses: Vec<Access> = code.iter().map(|c| c.access.clone()).collect();
    let values = memory::layout(plan, &accesses, inputs);
    let (fixed, fixed_len) = memory::packed(plan, &accesses, |b| {
        b.ty == BufferType::F32 && matches!(b.size, Size::Fixed(_))
    });
    let (indices, indices_per_sample) =
        memory::packed(plan, &accesses, |b| b.ty == BufferType::U32);
    TrainLayout {
        values,
        fixed,
        fixed_len,
        indices,
        indices_per_sample,
    }
}

fn optimizer_tokens(optimizer: Optimizer) -> TokenStream {
    let f = proc_macro2::Literal::f32_unsuffixed;
    match optimizer {
        Optimizer::Sgd {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
        } => {
            let (lr, m, d, wd) = (f(lr), f(momentum), f(dampening), f(weight_decay));
            quote!(Optimizer::Sgd { lr: #lr, momentum: #m, dampening: #d, nesterov: #nesterov, weight_decay: #wd })
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let (lr, b1, b2, e, wd) = (f(lr), f(beta1), f(beta2), f(eps), f(weight_decay));
            quote!(Optimizer::Adam { lr: #lr, beta1: #b1, beta2: #b2, eps: #e, weight_decay: #wd })
        }
        Optimizer::AdamW {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let (lr, b1, b2, e, wd) = (f(lr), f(beta1), f(beta2), f(eps), f(weight_decay));
            quote!(Optimizer::AdamW { lr: #lr, beta1: #b1, beta2: #b2, eps: #e, weight_decay: #wd })
        }
    }
}

/// Refuses the losses the generated `train_step` cannot train: it takes
/// class labels, and its loss is a constant without class weights.
pub(super) fn check_loss(training: Option<&Training<'_>>) -> Result<(), super::EmitError> {
    match training
        .and_then(|t| t.plan.loss.as_ref())
        .and_then(unsupported_loss)
    {
        Some(loss) => Err(super::EmitError::UnsupportedTrainingLoss { loss }),
        None => Ok(()),
    }
}

/// The name of a loss `check_loss` refuses.
fn unsupported_loss(loss: &nnspec_runtime::plan::Loss) -> Option<String> {
    match loss.kind {
        LossKind::CrossEntropy { .. } if loss.weight.is_some() => {
            Some("cross_entropy with class weights".into())
        }
        LossKind::CrossEntropy { .. } | LossKind::Mse { .. } => None,
        LossKind::L1 { .. } => Some("l1".into()),
        LossKind::SmoothL1 { .. } => Some("smooth_l1".into()),
        LossKind::BceWithLogits { .. } => Some("bce_with_logits".into()),
    }
}

fn loss_tokens(kind: LossKind) -> TokenStream {
    match kind {
        LossKind::CrossEntropy {
            classes,
            label_smoothing,
        } => {
            let c = lit(classes);
            let s = proc_macro2::Literal::f32_unsuffixed(label_smoothing);
            quote!(LossKind::CrossEntropy { classes: #c, label_smoothing: #s })
        }
        LossKind::Mse { len } => {
            let l = lit(len);
            quote!(LossKind::Mse { len: #l })
        }
        LossKind::L1 { .. } | LossKind::SmoothL1 { .. } | LossKind::BceWithLogits { .. } => {
            unreachable!("refused by unsupported_loss")
        }
    }
}
