//! `dense`: a fully connected layer, PyTorch's `nn.Linear`, on
//! `[in_features]`, or at every position of `[len, in_features]` (the same
//! weights for each, as `nn.Linear` on a 3-D tensor): each position is one
//! more row of the kernels' matrix products.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxInput, OnnxNode, OnnxRule,
    Op, OpError, ParamDecl, emit,
};
use crate::ir::{ParamRole, Shape};
use crate::shape::{ShapeError, checked_shape, expect_rank};
use crate::signature::{Bound, Default, Key, Signature};

const OUT_FEATURES: Key<usize> = Key::count(0, "out_features", Default::Required, "output size");
const BIAS: Key<bool> = Key::bool(
    1,
    "bias",
    Default::Bool(true),
    "whether to add a learned bias",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "dense",
        args: &[OUT_FEATURES.spec, BIAS.spec],
    },
    summary: "fully connected layer (nn.Linear) on [in_features] or [len, in_features]",
    build,
};

/// Weight `[out, in]`, bias `[out]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    pub out_features: usize,
    pub bias: bool,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Dense {
        out_features: args.get(&OUT_FEATURES),
        bias: args.get(&BIAS),
    };
    let shape = output_shape(inputs[0], op.out_features)?;
    Ok((Op::Dense(op), shape))
}

/// `[in] -> [out]`, `[len, in] -> [len, out]`.
pub(crate) fn output_shape(input: &Shape, out_features: usize) -> Result<Shape, ShapeError> {
    if input.rank() == 2 {
        return checked_shape("output", &[input.0[0] as u128, out_features as u128]);
    }
    expect_rank(input, 1, "[in_features] or [len, in_features]")?;
    checked_shape("output", &[out_features as u128])
}

/// The features of each row: the last dim.
fn in_features(input: &[usize]) -> usize {
    input.last().copied().unwrap_or(1)
}

impl LayerRules for Dense {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn absorbs_relu(&self) -> bool {
        true
    }

    fn attributes(&self) -> String {
        format!("out_features: {}, bias: {}", self.out_features, self.bias)
    }

    fn params(&self, inputs: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        let fan_in = in_features(&inputs[0].0);
        let weight = checked_shape("weight", &[self.out_features as u128, fan_in as u128])?;
        let mut params = vec![ParamDecl::f32(
            "weight",
            weight,
            ParamRole::Weight { fan_in },
        )];
        if self.bias {
            let bias = Shape(vec![self.out_features]);
            params.push(ParamDecl::f32("bias", bias, ParamRole::Bias { fan_in }));
        }
        Ok(params)
    }

    /// `Gemm(x, weight, bias)` with `transB`: the weight is `[out, in]`,
    /// PyTorch's layout, and the batched input `[batch, in]`. Gemm takes
    /// matrices only, so on `[batch, len, in]`: `MatMul` by the weight
    /// transposed, then `Add` the bias.
    fn onnx(&self, inputs: &[&Shape], _: &Shape) -> OnnxRule {
        if inputs[0].rank() == 2 {
            use OnnxInput::{Node, Param, Value};
            let in_features = in_features(&inputs[0].0);
            let transposed = OnnxNode::new("Transpose", vec![Param(0)])
                .attribute("perm", OnnxAttr::Ints(vec![1, 0]))
                .fixed(&[in_features, self.out_features]);
            let mut nodes = vec![transposed, OnnxNode::new("MatMul", vec![Value(0), Node(0)])];
            if self.bias {
                nodes.push(OnnxNode::new("Add", vec![Node(1), Param(1)]));
            }
            return OnnxRule::Nodes(nodes);
        }
        let params = if self.bias { 0..2 } else { 0..1 };
        let node = OnnxNode::over_inputs("Gemm", 1)
            .params(params)
            .attribute("transB", OnnxAttr::Int(1));
        OnnxRule::Node(node)
    }

    fn pytorch(&self, inputs: &[&Shape], _: &Shape) -> PytorchRule {
        let bias = if self.bias { "" } else { ", bias=False" };
        let features = inputs[0].0.last().copied().unwrap_or(1);
        PytorchRule::module(format!(
            "nn.Linear({features}, {}{bias})",
            self.out_features
        ))
    }

    /// `FULLY_CONNECTED`: the weight is `[out, in]` in both.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Dense { bias: self.bias };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Dense {
            x: cx.input(0),
            weight: cx.param(0),
            bias: self.bias.then(|| cx.param(1)),
            y: cx.output(),
            in_features: in_features(cx.input_shape(0)),
            out_features: self.out_features,
            relu: cx.fused_relu(),
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::Dense { in_features, .. } = cx.forward_step() else {
            unreachable!("dense values have a dense step")
        };
        let (dx, accumulate) = cx.contribution(0).unzip();
        let step = GradStep::Dense {
            x: cx.input(0),
            weight: cx.param(0),
            bias: self.bias.then(|| cx.param(1)),
            dy: cx.dy(),
            dx,
            relu_y: cx.fused_relu_output(),
            in_features,
            out_features: self.out_features,
        };
        emit(cx, step, accumulate.flatten());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_outputs_are_errors_not_overflows() {
        assert!(matches!(
            output_shape(&Shape(vec![1]), usize::MAX),
            Err(ShapeError::TooLarge { .. })
        ));
    }
}
