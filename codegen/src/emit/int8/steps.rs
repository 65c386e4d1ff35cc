//! Each step of an int8 plan as Rust: the call of
//! `nnspec_runtime_core::quant::kernels` the int8 executor makes for it,
//! or, for a step that runs in f32, the f32 module's own printing of it
//! ([`crate::emit::steps::forward_step`]), so both kinds of step call the
//! kernels the executor calls, with the same arguments.
// Every step must be emitted: no catch-all arm (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{BufferId, ConvShape, PoolShape};
use nnspec_runtime_core::quant::plan::{QStep, QTensorId};

use super::super::lit;
use super::super::memory::Access;
use super::super::steps::{Mode, StepCode, forward_step};
use super::Int8Emitter;

/// One step as generated code, before it is placed in a block.
pub(super) struct QStepCode {
    /// The f32 buffers (roots) it reads and writes.
    pub floats: Access,
    /// The u8 tensors it reads and writes (a tensor's id as a `BufferId`).
    pub tensors: Access,
    pub kind: Kind,
}

pub(super) enum Kind {
    /// A step in f32, printed as the f32 module prints it.
    Float(StepCode),
    /// An int8 kernel call: its comment, the u8 views it binds (a read and
    /// a write of the u8 arena), and the call.
    Int8 {
        comment: String,
        views: TokenStream,
        call: TokenStream,
    },
}

fn as_buffer(t: QTensorId) -> BufferId {
    BufferId(t.0)
}

impl Int8Emitter<'_> {
    /// `step` as code.
    pub(super) fn step_code(&self, step: &QStep) -> QStepCode {
        let q = self.q;
        let plan = &q.float;
        let none = Access::default;
        let tensor_access = |reads: &[QTensorId], writes: &[QTensorId]| Access {
            reads: reads.iter().map(|&t| as_buffer(t)).collect(),
            writes: writes.iter().map(|&t| as_buffer(t)).collect(),
        };
        let name = |t: QTensorId| q.tensor(t).name.clone();
        let zp = |t: QTensorId| {
            let c = &self.tensor_consts[t.index()];
            quote!(activations::#c.zero_point)
        };
        // The views of a step that reads tensor `x` and writes tensor `y`.
        let read_write = |x: QTensorId, y: QTensorId| {
            let (xl, yl) = (self.tensor_local(x), self.tensor_local(y));
            let (xs, ys) = (self.tensor_slot(x), self.tensor_slot(y));
            quote!(let (#xl, #yl) = read_write(u8_values, at(tensor_layout::#xs), at(tensor_layout::#ys));)
        };
        match step {
            QStep::Quantize { x, y } => {
                let root = plan.root(*x);
                let (xl, yl, ys) = (
                    self.base.buffer_idents[root.index()].clone(),
                    self.tensor_local(*y),
                    self.tensor_slot(*y),
                );
                let qc = &self.tensor_consts[y.index()];
                let t = q.tensor(*y);
                QStepCode {
                    floats: Access {
                        reads: vec![root],
                        writes: vec![],
                    },
                    tensors: tensor_access(&[], &[*y]),
                    kind: Kind::Int8 {
                        comment: format!(
                            "`{}` to u8 (scale {}, zero point {})",
                            plan.buffer(root).name,
                            t.q.scale,
                            t.q.zero_point
                        ),
                        views: quote!(let #yl = &mut u8_values[at(tensor_layout::#ys)];),
                        call: quote!(int8::quantize(#xl, activations::#qc, #yl);),
                    },
                }
            }
            QStep::Dequantize { x, y } => {
                let root = plan.root(*y);
                let (xl, xs, yl) = (
                    self.tensor_local(*x),
                    self.tensor_slot(*x),
                    self.base.buffer_idents[root.index()].clone(),
                );
                let qc = &self.tensor_consts[x.index()];
                QStepCode {
                    floats: Access {
                        reads: vec![],
                        writes: vec![root],
                    },
                    tensors: tensor_access(&[*x], &[]),
                    kind: Kind::Int8 {
                        comment: format!(
                            "{} = `{}` dequantized to f32",
                            plan.buffer(root).name,
                            name(*x)
                        ),
                        views: quote!(let #xl = &u8_values[at(tensor_layout::#xs)];),
                        call: quote!(int8::dequantize(#xl, activations::#qc, #yl);),
                    },
                }
            }
            QStep::Dense { x, layer, y, relu } => {
                let l = &q.layers[*layer];
                let rows = q.tensor(*x).per_sample / l.k;
                let rows = super::super::geometry::times_batch(rows);
                let (xl, yl, lc) = (
                    self.tensor_local(*x),
                    self.tensor_local(*y),
                    &self.layer_consts[*layer],
                );
                let (xz, yz) = (zp(*x), zp(*y));
                QStepCode {
                    floats: none(),
                    tensors: tensor_access(&[*x], &[*y]),
                    kind: Kind::Int8 {
                        comment: format!(
                            "{} = {} -> dense({}){}, in int8: {} -> {}",
                            name(*y),
                            name(*x),
                            l.n,
                            if *relu { " -> relu" } else { "" },
                            l.k,
                            l.n
                        ),
                        views: read_write(*x, *y),
                        call: quote!(int8::dense(#xl, #rows, &layers::#lc, #xz, #yz, #relu, #yl, par);),
                    },
                }
            }
            QStep::Conv2d {
                x,
                layer,
                y,
                shape,
                relu,
            } => {
                let (xl, yl, lc) = (
                    self.tensor_local(*x),
                    self.tensor_local(*y),
                    &self.layer_consts[*layer],
                );
                let sc = &self.shape_consts[*layer];
                let (xz, yz) = (zp(*x), zp(*y));
                QStepCode {
                    floats: none(),
                    tensors: tensor_access(&[*x], &[*y]),
                    kind: Kind::Int8 {
                        comment: format!(
                            "{} = {} -> conv2d{}, in int8: {}",
                            name(*y),
                            name(*x),
                            if *relu { " -> relu" } else { "" },
                            conv_text(shape)
                        ),
                        views: read_write(*x, *y),
                        call: quote!(int8::conv2d(#xl, batch, &layers::#sc, &layers::#lc, #xz, #yz, #relu, #yl, u8_scratch, par);),
                    },
                }
            }
            QStep::MaxPool2d { x, y, shape } => {
                let (xl, yl) = (self.tensor_local(*x), self.tensor_local(*y));
                let g = pool_shape(shape);
                QStepCode {
                    floats: none(),
                    tensors: tensor_access(&[*x], &[*y]),
                    kind: Kind::Int8 {
                        comment: format!(
                            "{} = maxpool2d({}) on u8: [{}, {}, {}], kernel {:?}, stride {:?}, padding {:?}",
                            name(*y),
                            name(*x),
                            shape.channels,
                            shape.in_h,
                            shape.in_w,
                            shape.kernel,
                            shape.stride,
                            shape.padding
                        ),
                        views: read_write(*x, *y),
                        call: quote!(int8::maxpool2d(#xl, batch, &#g, #yl);),
                    },
                }
            }
            QStep::Float(step) => {
                let mut code = forward_step(plan, step, &self.names(), Mode::Inference);
                code.comment += ", in f32";
                QStepCode {
                    floats: code.access.clone(),
                    tensors: none(),
                    kind: Kind::Float(code),
                }
            }
        }
    }

    /// The local holding tensor `t`'s view.
    pub(super) fn tensor_local(&self, t: QTensorId) -> Ident {
        self.tensor_locals[t.index()].clone()
    }

    /// `t`'s constant in `tensor_layout` (and in `activations`).
    pub(super) fn tensor_slot(&self, t: QTensorId) -> Ident {
        self.tensor_consts[t.index()].clone()
    }
}

/// A convolution's geometry as text, for comments.
pub(super) fn conv_text(s: &ConvShape) -> String {
    format!(
        "[{}, {}, {}] -> {} channels, kernel {:?}, stride {:?}, padding {:?}, dilation {:?}",
        s.in_channels, s.in_h, s.in_w, s.out_channels, s.kernel, s.stride, s.padding, s.dilation
    )
}

/// `ConvShape { .. }` with every size a literal.
pub(super) fn conv_shape(s: &ConvShape) -> TokenStream {
    let pair = |p: [usize; 2]| {
        let (a, b) = (lit(p[0]), lit(p[1]));
        quote!([#a, #b])
    };
    let (ci, h, w, co) = (
        lit(s.in_channels),
        lit(s.in_h),
        lit(s.in_w),
        lit(s.out_channels),
    );
    let (k, st, p, d) = (
        pair(s.kernel),
        pair(s.stride),
        pair(s.padding),
        pair(s.dilation),
    );
    quote!(ConvShape {
        in_channels: #ci,
        in_h: #h,
        in_w: #w,
        out_channels: #co,
        kernel: #k,
        stride: #st,
        padding: #p,
        dilation: #d,
    })
}

/// `PoolShape { .. }` with every size a literal.
fn pool_shape(s: &PoolShape) -> TokenStream {
    let pair = |p: [usize; 2]| {
        let (a, b) = (lit(p[0]), lit(p[1]));
        quote!([#a, #b])
    };
    let (c, h, w) = (lit(s.channels), lit(s.in_h), lit(s.in_w));
    let (k, st, p) = (pair(s.kernel), pair(s.stride), pair(s.padding));
    quote!(PoolShape {
        channels: #c,
        in_h: #h,
        in_w: #w,
        kernel: #k,
        stride: #st,
        padding: #p,
    })
}
