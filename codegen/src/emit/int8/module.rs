//! The int8 module's items: sizes, tables, the arena layouts, and the
//! `forward`, `forward_u8` and `forward_batch` of the model's type.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{Buffer, BufferId, BufferType, Plan, Size};
use nnspec_runtime_core::quant::kernels::conv2d_scratch_len;
use nnspec_runtime_core::quant::plan::{QStep, QTensorId};

use super::super::memory::{self, Access, ArenaLayout};
use super::super::steps::Names;
use super::super::{ident, lit};
use super::Int8Emitter;
use super::steps::{Kind, QStepCode};

impl Int8Emitter<'_> {
    pub(super) fn module(&self, rt: &syn::Path) -> TokenStream {
        let q = self.q;
        let plan = &q.float;
        let ty = &self.base.type_name;
        let code: Vec<QStepCode> = q.steps.iter().map(|s| self.step_code(s)).collect();
        let used: Vec<_> = self.used_params.borrow().iter().copied().collect();
        let (float_params, float_params_len) = self.float_params_items(&used);

        // The f32 values: inputs are the caller's, and so are outputs that
        // are neither an input nor another output.
        let inputs: Vec<BufferId> = plan.inputs.iter().map(|&b| plan.root(b)).collect();
        let direct: Vec<bool> = plan
            .outputs
            .iter()
            .enumerate()
            .map(|(i, (_, id, _))| {
                let r = plan.root(*id);
                !inputs.contains(&r) && plan.outputs[..i].iter().all(|(_, o, _)| plan.root(*o) != r)
            })
            .collect();
        let mut external = inputs.clone();
        for ((_, id, _), &d) in plan.outputs.iter().zip(&direct) {
            if d {
                external.push(plan.root(*id));
            }
        }
        let float_accesses: Vec<Access> = code.iter().map(|c| c.floats.clone()).collect();
        let float_layout = memory::layout(plan, &float_accesses, &external);

        // The u8 tensors: output tensors stay alive to the end, so that
        // `<output>_u8` can read them after `forward_batch`.
        let outputs_u8 = self.output_tensors();
        let mut tensor_accesses: Vec<Access> = code.iter().map(|c| c.tensors.clone()).collect();
        tensor_accesses.push(Access {
            reads: outputs_u8.iter().flatten().map(|t| BufferId(t.0)).collect(),
            writes: vec![],
        });
        let tensor_layout = memory::layout(&self.tensor_plan(), &tensor_accesses, &[]);

        // Sizes.
        let float_scratch_one = q
            .steps
            .iter()
            .filter_map(|s| match s {
                QStep::Float(step) => Some(nnspec_runtime::forward::scratch_len(step, 1, 1)),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let conv_scratch = self
            .conv_shapes
            .iter()
            .flatten()
            .map(conv2d_scratch_len)
            .max()
            .unwrap_or(0);
        let arena_u8 = lit(tensor_layout.per_sample + conv_scratch);
        let arena_f32 = lit(float_layout.per_sample + float_scratch_one);
        let weights_bytes: usize = q
            .layers
            .iter()
            .map(|l| {
                l.packed.len() + 4 * (l.weight_sums.len() + l.bias.len()) + 8 * l.requant.len()
            })
            .sum::<usize>()
            + 4 * float_params_len;
        let weights_bytes = lit(weights_bytes);

        let input_consts: Vec<Ident> = plan
            .inputs
            .iter()
            .map(|&b| ident(&format!("{}_LEN", self.base.slot_idents[b.index()])))
            .collect();
        let output_consts: Vec<Ident> = plan
            .outputs
            .iter()
            .map(|(_, b, _)| ident(&format!("{}_LEN", self.base.slot_idents[b.index()])))
            .collect();
        let len_items = plan
            .inputs
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let shape = &plan.input_shapes[i];
                let doc = format!(
                    " Floats of one sample of input `{}`: shape {shape:?}.",
                    plan.buffer(b).name
                );
                (doc, shape.iter().product::<usize>())
            })
            .chain(plan.outputs.iter().map(|(name, _, shape)| {
                (
                    format!(" Floats of one sample of output `{name}`: shape {shape:?}."),
                    shape.iter().product(),
                )
            }))
            .zip(input_consts.iter().chain(&output_consts))
            .map(|((doc, len), c)| {
                let len = lit(len);
                quote!(#[doc = #doc] pub const #c: usize = #len;)
            });

        let activations = self.activations_module();
        let layers = self.layers_module();
        let tensor_layout_module = self.tensor_layout_module(&tensor_layout);
        let float_layout_module = if float_layout.per_sample > 0 {
            self.base.layout_module(&float_layout)
        } else {
            quote! {
                /// Where each f32 value sits in the float arena: every step runs in int8.
                mod layout {
                    /// Floats per sample of every value.
                    pub const PER_SAMPLE: usize = 0;
                }
            }
        };

        // The body of forward_batch.
        let float_range = |b: BufferId| {
            float_layout.offset[b.index()].map(|_| {
                let slot = &self.base.slot_idents[b.index()];
                quote!(at(layout::#slot))
            })
        };
        let body: Vec<TokenStream> = code.iter().map(|c| self.block(c, &float_range)).collect();
        let copies = self.base.output_copies(&direct, &float_layout);

        let uses = |pred: &dyn Fn(&QStep) -> bool| q.steps.iter().any(pred);
        let has_float = uses(&|s| matches!(s, QStep::Float(_)));
        let has_conv = uses(&|s| matches!(s, QStep::Conv2d { .. }));
        let has_pool = uses(&|s| matches!(s, QStep::MaxPool2d { .. }));
        let has_read_write = has_conv || has_pool || uses(&|s| matches!(s, QStep::Dense { .. }));
        let uses_views = float_layout.per_sample > 0;
        let use_kernels = if has_float {
            quote!(use #rt::kernels;)
        } else {
            quote!()
        };
        let use_views = if uses_views {
            quote!(use #rt::views::views;)
        } else {
            quote!()
        };
        let use_shapes = match (has_conv, has_pool) {
            (true, true) => quote!(use #rt::plan::{ConvShape, PoolShape};),
            (true, false) => quote!(use #rt::plan::ConvShape;),
            (false, true) => quote!(use #rt::plan::PoolShape;),
            (false, false) => quote!(),
        };
        let unused = |used: bool, name: &str| {
            let name = ident(name);
            if used {
                quote!()
            } else {
                quote!(let _ = &#name;)
            }
        };
        let unused_u8_scratch = unused(has_conv, "u8_scratch");
        let unused_values = unused(uses_views, "values");
        let step_scratch: Vec<&TokenStream> = code
            .iter()
            .filter_map(|c| match &c.kind {
                Kind::Float(s) => s.scratch.as_ref(),
                Kind::Int8 { .. } => None,
            })
            .collect();
        let unused_scratch = unused(!step_scratch.is_empty(), "scratch");
        let scratch_fn = match step_scratch.split_first() {
            None => quote!(0),
            Some((first, rest)) => quote!(#first #(.max(#rest))*),
        };
        let weights_local = if used.is_empty() {
            quote!()
        } else {
            quote!(let w: &[f32] = &FLOAT_PARAMS;)
        };
        let conv_scratch_fn = {
            let shapes = self
                .conv_shapes
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_some())
                .map(|(i, _)| {
                    let c = &self.shape_consts[i];
                    quote!(int8::conv2d_scratch_len(&layers::#c))
                });
            let shapes: Vec<TokenStream> = shapes.collect();
            match shapes.split_first() {
                None => quote!(0),
                Some((first, rest)) => quote!(#first #(.max(#rest))*),
            }
        };
        let read_write_fn = if has_read_write {
            quote! {
                /// Tensor `x` to read and tensor `y` to write: two disjoint
                /// ranges of the u8 arena (the layout never overlaps them).
                fn read_write(arena: &mut [u8], x: Range<usize>, y: Range<usize>) -> (&[u8], &mut [u8]) {
                    if x.end <= y.start {
                        let (head, tail) = arena.split_at_mut(y.start);
                        (&head[x], &mut tail[..y.end - y.start])
                    } else {
                        assert!(y.end <= x.start, "tensors {x:?} and {y:?} overlap");
                        let (head, tail) = arena.split_at_mut(x.start);
                        (&tail[..x.end - x.start], &mut head[y])
                    }
                }
            }
        } else {
            quote!()
        };

        let super::api::Api {
            methods,
            items: output_items,
            batch_params,
            batch_checks,
            first_input,
            first_const,
        } = self.api(&input_consts, &output_consts, &direct, &outputs_u8);
        let arena_doc =
            format!(" Bytes of the u8 arena [`{ty}::forward_batch`] needs for `batch` samples.");
        let float_arena_doc = format!(
            " Floats of the f32 arena [`{ty}::forward_batch`] needs for `batch` samples on `threads` threads."
        );
        let type_doc = format!(
            " `{}` in int8: dense layers and convolutions on `u8` activations and `i8` weights, its weights in this module's statics.",
            plan.model
        );
        quote! {
            use core::ops::Range;
            #use_kernels
            #use_shapes
            use #rt::quant::kernels::{self as int8, PackedLayer};
            use #rt::quant::{QuantParams, Requant};
            use #rt::threads::{Serial, Threads};
            #use_views

            #(#len_items)*
            /// Bytes of u8 working memory for one sample: the activations, then
            /// the convolutions' scratch (what [`arena_len`]`(1)` returns).
            pub const ARENA_U8_LEN: usize = #arena_u8;
            /// Floats of f32 working memory for one sample on one thread: the
            /// values of the steps that run in f32 (what [`float_arena_len`]`(1, 1)` returns).
            pub const ARENA_F32_LEN: usize = #arena_f32;
            /// Bytes of all working memory for one sample on one thread.
            pub const ARENA_BYTES: usize = ARENA_U8_LEN + 4 * ARENA_F32_LEN;
            /// Bytes of the static data: packed weights, weight sums, biases,
            /// requantization constants, and the f32 steps' parameters.
            pub const WEIGHTS_BYTES: usize = #weights_bytes;

            #activations

            #layers

            #float_params

            #tensor_layout_module

            #float_layout_module

            #[doc = #arena_doc]
            pub fn arena_len(batch: usize) -> usize {
                tensor_layout::PER_SAMPLE * batch + conv_scratch_len()
            }

            #[doc = #float_arena_doc]
            pub fn float_arena_len(batch: usize, threads: usize) -> usize {
                layout::PER_SAMPLE * batch + scratch_len(batch, threads.max(1))
            }

            /// Scratch bytes of the convolutions (one image at a time).
            fn conv_scratch_len() -> usize {
                #conv_scratch_fn
            }

            /// Scratch floats of the steps that run in f32.
            fn scratch_len(batch: usize, threads: usize) -> usize {
                let _ = (batch, threads);
                #scratch_fn
            }

            #read_write_fn

            #output_items

            #[doc = #type_doc]
            #[derive(Clone, Copy, Debug, Default)]
            pub struct #ty;

            impl #ty {
                #methods

                /// Runs a batch (`batch` samples per slice, row after row).
                /// `arena` holds at least [`arena_len`]`(batch)` bytes and
                /// `float_arena` [`float_arena_len`]`(batch, par.threads())`
                /// floats; nothing is allocated. The u8 outputs stay in `arena`.
                pub fn forward_batch(
                    &self,
                    #(#batch_params,)*
                    arena: &mut [u8],
                    float_arena: &mut [f32],
                    par: &dyn Threads,
                ) {
                    let batch = #first_input.len() / #first_const;
                    #(#batch_checks)*
                    let need = arena_len(batch);
                    assert!(arena.len() >= need, "a u8 arena of {} bytes, {} needed", arena.len(), need);
                    let need = float_arena_len(batch, par.threads());
                    assert!(float_arena.len() >= need, "an f32 arena of {} floats, {} needed", float_arena.len(), need);
                    let (u8_values, u8_scratch) = arena.split_at_mut(tensor_layout::PER_SAMPLE * batch);
                    #unused_u8_scratch
                    let (values, scratch) = float_arena.split_at_mut(layout::PER_SAMPLE * batch);
                    #unused_values
                    #unused_scratch
                    let at = |r: Range<usize>| r.start * batch..r.end * batch;
                    #weights_local
                    #(#body)*
                    #(#copies)*
                }
            }
        }
    }

    /// A plan whose buffers are the u8 tensors, for the liveness planner.
    fn tensor_plan(&self) -> Plan {
        let buffers = self
            .q
            .tensors
            .iter()
            .map(|t| Buffer {
                name: t.name.clone(),
                size: Size::PerSample(t.per_sample),
                ty: BufferType::F32,
                alias_of: None,
            })
            .collect();
        Plan {
            model: self.q.float.model.clone(),
            buffers,
            params: vec![],
            inputs: vec![],
            input_shapes: vec![],
            outputs: vec![],
            forward: vec![],
            loss: None,
            backward: vec![],
            optimizer: None,
            clip: None,
        }
    }

    /// Per output, the u8 tensor holding its integers: the last step's
    /// that dequantizes into it or quantizes it (an output computed in f32
    /// is quantized too, so that every output has integers), as the int8
    /// executor's `quant::run::output_tensor` finds it.
    pub(super) fn output_tensors(&self) -> Vec<Option<QTensorId>> {
        let plan = &self.q.float;
        plan.outputs
            .iter()
            .map(|(_, id, _)| {
                let out = plan.root(*id);
                self.q.steps.iter().rev().find_map(|s| match s {
                    QStep::Dequantize { x, y } if plan.root(*y) == out => Some(*x),
                    QStep::Quantize { x, y } if plan.root(*x) == out => Some(*y),
                    QStep::Quantize { .. }
                    | QStep::Dequantize { .. }
                    | QStep::Dense { .. }
                    | QStep::Conv2d { .. }
                    | QStep::MaxPool2d { .. }
                    | QStep::Float(_) => None,
                })
            })
            .collect()
    }

    /// `mod tensor_layout`: each u8 tensor's per-sample range in the arena.
    fn tensor_layout_module(&self, layout: &ArenaLayout) -> TokenStream {
        let per_sample = lit(layout.per_sample);
        let items = layout.offset.iter().enumerate().filter_map(|(t, off)| {
            let off = (*off)?;
            let tensor = &self.q.tensors[t];
            let c = &self.tensor_consts[t];
            let (start, end) = (lit(off), lit(off + tensor.per_sample));
            let doc = format!(" `{}`, per sample.", tensor.name);
            Some(quote!(#[doc = #doc] pub const #c: Range<usize> = #start..#end;))
        });
        quote! {
            /// Where each u8 tensor sits in the u8 arena, per sample (a batch
            /// of `n` multiplies both ends by `n`). Tensors never alive at the
            /// same time share memory.
            mod tensor_layout {
                use core::ops::Range;
                /// Bytes per sample of every tensor.
                pub const PER_SAMPLE: usize = #per_sample;
                #(#items)*
            }
        }
    }

    /// One step's block, its comment above it.
    fn block(
        &self,
        code: &QStepCode,
        float_range: &dyn Fn(BufferId) -> Option<TokenStream>,
    ) -> TokenStream {
        match &code.kind {
            Kind::Float(step) => self
                .base
                .step_blocks(std::slice::from_ref(step), float_range)
                .remove(0),
            Kind::Int8 {
                comment,
                views,
                call,
            } => {
                let bind = |ids: &[BufferId]| -> (Vec<Ident>, Vec<TokenStream>) {
                    ids.iter()
                        .filter_map(|&b| float_range(b).map(|at| (self.base.buffer(b), at)))
                        .unzip()
                };
                let (read_names, read_ranges) = bind(&code.floats.reads);
                let (write_names, write_ranges) = bind(&code.floats.writes);
                let float_views = if read_names.is_empty() && write_names.is_empty() {
                    quote!()
                } else {
                    quote!(let ([#(#read_names),*], [#(#write_names),*]) = views(values, [#(#read_ranges),*], [#(#write_ranges),*]);)
                };
                let comment = self.base.comment(comment);
                quote! {
                    #comment
                    {
                        #float_views
                        #views
                        #call
                    }
                }
            }
        }
    }
}
