//! `softplus`: `log(1 + exp(beta · x)) / beta`, linear where `beta · x >
//! threshold`, PyTorch's `nn.Softplus`.

use super::pytorch::{PytorchRule, py_float};
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite;
use super::tflite::{TfliteBinary, TfliteInput, TfliteNode, TfliteOp, TfliteRule, TfliteUnary};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxInput, OnnxNode, OnnxRule, Op,
    OpError, ParamDecl, emit, same_shape,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Default, Key, Range, Signature};

// PyTorch takes any beta, but 0 divides by zero and a negative one turns
// the function into a soft minimum: neither is a softplus.
const BETA: Key<f64> = Key::float(0, "beta", Range::Positive, Default::Float(1.0), "sharpness");
const THRESHOLD: Key<f64> = Key::float(
    1,
    "threshold",
    Range::Any,
    Default::Float(20.0),
    "beta * x above which the result is x",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "softplus",
        args: &[BETA.spec, THRESHOLD.spec],
    },
    summary: "log(1 + exp(beta * x)) / beta, x where beta * x > threshold",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Softplus {
        beta: args.get(&BETA),
        threshold: args.get(&THRESHOLD),
    };
    Ok((Op::Softplus(op), same_shape(inputs)))
}

impl LayerRules for Softplus {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("beta: {:?}, threshold: {:?}", self.beta, self.threshold)
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// ONNX's `Softplus` has neither `beta` nor `threshold`:
    /// `Where(z > threshold, x, Softplus(z) / beta)` with `z = x · beta`.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        use OnnxInput::{Float, Node, Value};
        let beta = || Float {
            suffix: "beta",
            value: self.beta as f32,
        };
        let threshold = Float {
            suffix: "threshold",
            value: self.threshold as f32,
        };
        OnnxRule::Nodes(vec![
            OnnxNode::new("Mul", vec![Value(0), beta()]),
            OnnxNode::new("Softplus", vec![Node(0)]),
            OnnxNode::new("Div", vec![Node(1), beta()]),
            OnnxNode::new("Greater", vec![Node(0), threshold]).bool_output(),
            OnnxNode::new("Where", vec![Node(3), Value(0), Node(2)]),
        ])
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!(
            "F.softplus({{0}}, beta={}, threshold={})",
            py_float(self.beta),
            py_float(self.threshold)
        ))
    }

    /// TFLite has no softplus: `(max(z, 0) + log(1 + exp(-|z|))) / beta`
    /// with `z = beta · x`, which cannot overflow, and `x` where `z >
    /// threshold`. TFLite's builtins have no comparison, so the choice is
    /// a mask: `(z - threshold)` scaled by 1e30 twice (so that the
    /// smallest positive difference, a subnormal, passes 1) and clamped to
    /// `[0, 1]` is exactly 1 where `z > threshold` and 0 elsewhere; then
    /// `mask · x + (1 - mask) · softplus` picks one of the two exactly.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        use TfliteInput::{Float, Node, Value};
        let unary = |op, a| TfliteNode::new(TfliteOp::Unary(op), vec![a]);
        let binary = |op, a, b| TfliteNode::new(TfliteOp::Binary(op), vec![a, b]);
        let beta = tflite::float(self.beta);
        let threshold = tflite::float(self.threshold);
        use TfliteBinary::{Add, Div, Maximum, Minimum, Mul, Sub};
        TfliteRule::Nodes(vec![
            // 0-8: the softplus.
            binary(Mul, Value(0), Float(beta)),
            unary(TfliteUnary::Abs, Node(0)),
            unary(TfliteUnary::Neg, Node(1)),
            unary(TfliteUnary::Exp, Node(2)),
            binary(Add, Node(3), Float(1.0)),
            unary(TfliteUnary::Log, Node(4)),
            binary(Maximum, Node(0), Float(0.0)),
            binary(Add, Node(6), Node(5)),
            binary(Div, Node(7), Float(beta)),
            // 9-13: the mask.
            binary(Sub, Node(0), Float(threshold)),
            binary(Mul, Node(9), Float(1e30)),
            binary(Mul, Node(10), Float(1e30)),
            binary(Maximum, Node(11), Float(0.0)),
            binary(Minimum, Node(12), Float(1.0)),
            // 14-17: the choice.
            binary(Mul, Node(13), Value(0)),
            binary(Sub, Float(1.0), Node(13)),
            binary(Mul, Node(15), Node(8)),
            binary(Add, Node(14), Node(16)),
        ])
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Softplus {
            x: cx.input(0),
            y: cx.output(),
            beta: self.beta as f32,
            threshold: self.threshold as f32,
        })
    }

    /// From the input, as `F.softplus`'s backward.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let step = GradStep::Softplus {
                x: cx.input(0),
                dy: cx.dy(),
                dx,
                beta: self.beta as f32,
                threshold: self.threshold as f32,
            };
            emit(cx, step, accumulate);
        }
    }
}
