//! `batchnorm`: batch normalization, PyTorch's `nn.BatchNorm1d` on
//! `[features]` or `[channels, length]` and `nn.BatchNorm2d` on
//! `[channels, height, width]`: batch statistics in training (updating the
//! running ones), running statistics in evaluation.

use super::pytorch::{PytorchRule, py_float};
use nnspec_runtime::plan::{BufferType, GradStep, Size, Step};

use super::tflite;
use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit,
};
use crate::ir::{Dtype, ParamRole, Shape};
use crate::shape::ShapeError;
use crate::signature::{Bound, Default, Key, Range, Signature};

const EPS: Key<f64> = Key::float(
    0,
    "eps",
    Range::Positive,
    Default::Float(1e-5),
    "added to the variance",
);
const MOMENTUM: Key<f64> = Key::float(
    1,
    "momentum",
    Range::Unit,
    Default::Float(0.1),
    "weight of the new batch in the running statistics",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "batchnorm",
        args: &[EPS.spec, MOMENTUM.spec],
    },
    summary: "batch normalization (nn.BatchNorm1d on [features], nn.BatchNorm2d on [C, H, W])",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub eps: f64,
    pub momentum: f64,
}

/// The shape is unchanged; statistics are per channel (the first dim).
fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let input = inputs[0];
    if !(1..=3).contains(&input.rank()) {
        return Err(OpError::Shape(ShapeError::Rank {
            expected: "[features], [channels, length] or [channels, height, width]",
            found: input.clone(),
        }));
    }
    let op = BatchNorm {
        eps: args.get(&EPS),
        momentum: args.get(&MOMENTUM),
    };
    Ok((Op::BatchNorm(op), input.clone()))
}

impl LayerRules for BatchNorm {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("eps: {:?}, momentum: {:?}", self.eps, self.momentum)
    }

    /// PyTorch's `state_dict` order; the last three are buffers the step
    /// updates itself, not the optimizer.
    fn params(&self, inputs: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        let channels = Shape(vec![inputs[0].0[0]]);
        Ok(vec![
            ParamDecl::f32("weight", channels.clone(), ParamRole::Scale),
            ParamDecl::f32("bias", channels.clone(), ParamRole::Shift),
            ParamDecl::f32("running_mean", channels.clone(), ParamRole::RunningMean),
            ParamDecl::f32("running_var", channels, ParamRole::RunningVar),
            ParamDecl {
                suffix: "num_batches_tracked".into(),
                shape: Shape(vec![]),
                role: ParamRole::NumBatchesTracked,
                dtype: Dtype::I64,
            },
        ])
    }

    /// `BatchNormalization` in inference mode, over the running
    /// statistics; `num_batches_tracked` has no part in it. ONNX's
    /// momentum weighs the old statistics, PyTorch's the new batch.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let node = OnnxNode::over_inputs("BatchNormalization", 1)
            .params(0..4)
            .attribute("epsilon", OnnxAttr::Float(self.eps as f32))
            .attribute("momentum", OnnxAttr::Float((1.0 - self.momentum) as f32));
        OnnxRule::Node(node)
    }

    fn pytorch(&self, inputs: &[&Shape], _: &Shape) -> PytorchRule {
        // Statistics per channel: BatchNorm1d on [batch, features] and
        // [batch, channels, len], BatchNorm2d on images.
        let kind = if inputs[0].rank() == 3 {
            "BatchNorm2d"
        } else {
            "BatchNorm1d"
        };
        PytorchRule::module(format!(
            "nn.{kind}({}, eps={}, momentum={})",
            inputs[0].0[0],
            py_float(self.eps),
            py_float(self.momentum)
        ))
    }

    /// From the running statistics: folded into the convolution or dense
    /// layer before it, or a per-channel `MUL` and `ADD`.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let eps = tflite::float(self.eps);
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::BatchNorm { eps }, 1))
    }

    /// The step saves the batch mean and `1/sqrt(var + eps)` per channel.
    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let input = cx.input_shape(0);
        let channels = input[0];
        let spatial = input[1..].iter().product();
        let save_mean = cx.saved("mean", Size::Fixed(channels), BufferType::F32);
        let save_invstd = cx.saved("invstd", Size::Fixed(channels), BufferType::F32);
        Some(Step::BatchNorm {
            x: cx.input(0),
            y: cx.output(),
            weight: cx.param(0),
            bias: cx.param(1),
            running_mean: cx.param(2),
            running_var: cx.param(3),
            num_batches_tracked: cx.param(4),
            save_mean,
            save_invstd,
            channels,
            spatial,
            eps: self.eps as f32,
            momentum: self.momentum as f32,
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::BatchNorm {
            weight,
            bias,
            save_mean,
            save_invstd,
            channels,
            spatial,
            ..
        } = cx.forward_step()
        else {
            unreachable!("batchnorm values have a batchnorm step")
        };
        let (dx, accumulate) = cx.contribution(0).unzip();
        let step = GradStep::BatchNorm {
            x: cx.input(0),
            dy: cx.dy(),
            dx,
            weight,
            bias,
            save_mean,
            save_invstd,
            channels,
            spatial,
        };
        emit(cx, step, accumulate.flatten());
    }
}
