//! `reshape`: the same elements with a new per-sample shape. A view: no
//! step, no copy, and its gradient passes through unchanged.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::Step;

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxInput, OnnxNode, OnnxRule, Op,
    OpError, ParamDecl, onnx,
};
use crate::ir::Shape;
use crate::shape::{ShapeError, checked_shape};
use crate::signature::{Bound, Default, Key, Signature};

const SHAPE: Key<Vec<i64>> = Key::shape(
    0,
    "shape",
    Default::Required,
    "new per-sample shape; one dim may be -1",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "reshape",
        args: &[SHAPE.spec],
    },
    summary: "same elements, new per-sample shape",
    build,
};

/// The new shape is the value's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Reshape;

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let shape = output_shape(inputs[0], &args.get(&SHAPE))?;
    Ok((Op::Reshape(Reshape), shape))
}

/// A new per-sample shape with the same element count; one dim may be -1.
fn output_shape(input: &Shape, target: &[i64]) -> Result<Shape, ShapeError> {
    let count_error = || ShapeError::ReshapeCount {
        from: input.clone(),
        to: target.to_vec(),
    };
    let known: u128 = target
        .iter()
        .filter(|&&d| d > 0)
        .fold(1u128, |acc, &d| acc.saturating_mul(d as u128));
    let elements = input.elements() as u128;
    let dims: Vec<u128> = if target.contains(&-1) {
        if known == 0 || !elements.is_multiple_of(known) {
            return Err(count_error());
        }
        target
            .iter()
            .map(|&d| if d == -1 { elements / known } else { d as u128 })
            .collect()
    } else {
        if known != elements {
            return Err(count_error());
        }
        target.iter().map(|&d| d as u128).collect()
    };
    checked_shape("output", &dims)
}

impl LayerRules for Reshape {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        String::new()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `Reshape(x, [0, d1, ...])`: the 0 copies the input's batch size
    /// (ONNX's `allowzero` is off), the rest is the checked result shape,
    /// so no `-1` is left for a consumer to infer.
    fn onnx(&self, _: &[&Shape], output: &Shape) -> OnnxRule {
        let mut values = vec![0];
        values.extend(output.dims().iter().map(|&d| onnx::int(d)));
        let mut node = OnnxNode::over_inputs("Reshape", 1);
        node.inputs.push(OnnxInput::Ints {
            suffix: "shape",
            values,
        });
        OnnxRule::Node(node)
    }

    fn pytorch(&self, _: &[&Shape], output: &Shape) -> PytorchRule {
        let dims: Vec<String> = output.0.iter().map(usize::to_string).collect();
        PytorchRule::expr(format!("{{0}}.reshape(-1, {})", dims.join(", ")))
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::Reshape, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        cx.view_input();
        None
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        cx.pass_through(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_one_dim() {
        let input = Shape(vec![784]);
        assert_eq!(
            output_shape(&input, &[1, 28, -1]),
            Ok(Shape(vec![1, 28, 28]))
        );
        assert!(output_shape(&input, &[5, -1]).is_err());
        assert!(output_shape(&input, &[2, 2]).is_err());
    }
}
