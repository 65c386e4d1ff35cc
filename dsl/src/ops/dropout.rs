//! `dropout`: inverted dropout in training, the identity in evaluation,
//! PyTorch's `nn.Dropout`.

use super::pytorch::{PytorchRule, py_float};
use nnspec_runtime::plan::{BufferType, GradStep, Size, Step};

use super::tflite::TfliteRule;
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxRule, Op, OpError, ParamDecl, emit,
    same_shape,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Default, Key, Range, Signature};

const P: Key<f64> = Key::float(
    0,
    "p",
    Range::UnitHalfOpen,
    Default::Float(0.5),
    "probability of zeroing an element in training",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "dropout",
        args: &[P.spec],
    },
    summary: "inverted dropout in training, identity in evaluation",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    pub p: f64,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    Ok((Op::Dropout(Dropout { p: args.get(&P) }), same_shape(inputs)))
}

impl LayerRules for Dropout {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("p: {:?}", self.p)
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// Nothing: in inference dropout is the identity, and a graph for
    /// inference leaves it out rather than carrying a no-op node.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        OnnxRule::Identity
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!(
            "F.dropout({{0}}, p={}, training=self.training)",
            py_float(self.p)
        ))
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        TfliteRule::Identity
    }

    /// The step saves its mask (0 or `1/(1-p)` per element) for the backward.
    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let elements = cx.output_shape().iter().product();
        let mask = cx.saved("mask", Size::PerSample(elements), BufferType::F32);
        Some(Step::Dropout {
            x: cx.input(0),
            y: cx.output(),
            mask,
            p: self.p as f32,
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::Dropout { mask, .. } = cx.forward_step() else {
            unreachable!("dropout values have a dropout step")
        };
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let dy = cx.dy();
            emit(cx, GradStep::Dropout { mask, dy, dx }, accumulate);
        }
    }
}
