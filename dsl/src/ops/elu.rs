//! `elu`: `x` if `x > 0` else `alpha · (exp(x) - 1)`, PyTorch's `nn.ELU`.

use super::pytorch::{PytorchRule, py_float};
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite;
use super::tflite::{TfliteBinary, TfliteInput, TfliteNode, TfliteOp, TfliteRule, TfliteUnary};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit, same_shape,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Default, Key, Range, Signature};

// Any alpha, as `nn.ELU` (only its in-place form refuses a negative one).
const ALPHA: Key<f64> = Key::float(
    0,
    "alpha",
    Range::Any,
    Default::Float(1.0),
    "scale of the negative part",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "elu",
        args: &[ALPHA.spec],
    },
    summary: "x if x > 0 else alpha * (exp(x) - 1)",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Elu {
    pub alpha: f64,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Elu {
        alpha: args.get(&ALPHA),
    };
    Ok((Op::Elu(op), same_shape(inputs)))
}

impl LayerRules for Elu {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("alpha: {:?}", self.alpha)
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `Elu` with the kernel's `alpha` (as f32).
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let alpha = OnnxAttr::Float(self.alpha as f32);
        OnnxRule::Node(OnnxNode::over_inputs("Elu", 1).attribute("alpha", alpha))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!("F.elu({{0}}, alpha={})", py_float(self.alpha)))
    }

    /// `ELU` has no alpha: with another one, `relu(x) + alpha ·
    /// min(elu(x), 0)`.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let elu = TfliteNode::over_inputs(TfliteOp::Unary(TfliteUnary::Elu), 1);
        if self.alpha == 1.0 {
            return TfliteRule::Node(elu);
        }
        use TfliteInput::{Float, Node, Value};
        let binary = |op, a, b| TfliteNode::new(TfliteOp::Binary(op), vec![a, b]);
        let relu = TfliteNode::new(TfliteOp::Unary(TfliteUnary::Relu), vec![Value(0)]);
        TfliteRule::Nodes(vec![
            elu,
            binary(TfliteBinary::Minimum, Node(0), Float(0.0)),
            binary(TfliteBinary::Mul, Node(1), Float(tflite::float(self.alpha))),
            relu,
            binary(TfliteBinary::Add, Node(3), Node(2)),
        ])
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Elu {
            x: cx.input(0),
            y: cx.output(),
            alpha: self.alpha as f32,
        })
    }

    /// From the input, as `F.elu`'s backward (the output loses `x` where
    /// `alpha` is 0).
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let step = GradStep::Elu {
                x: cx.input(0),
                dy: cx.dy(),
                dx,
                alpha: self.alpha as f32,
            };
            emit(cx, step, accumulate);
        }
    }
}
