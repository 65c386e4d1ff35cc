//! `gelu`: `x · Φ(x)`, PyTorch's `nn.GELU`, exact (erf) or with
//! `approximate: tanh`.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GeluApproximate, GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule, TfliteUnary};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxInput, OnnxNode, OnnxRule, Op,
    OpError, ParamDecl, emit, same_shape,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Default, Key, Signature, Word};

const APPROXIMATE: Key<GeluApproximate> = Key::word(
    0,
    "approximate",
    Default::Word("none"),
    "none (erf) or tanh",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "gelu",
        args: &[APPROXIMATE.spec],
    },
    summary: "x * Phi(x), the Gaussian error linear unit",
    build,
};

impl Word for GeluApproximate {
    // PyTorch's spellings of `approximate`.
    const WORDS: &'static [&'static str] = &["none", "tanh"];
    fn from_word(word: &str) -> Option<Self> {
        match word {
            "none" => Some(GeluApproximate::None),
            "tanh" => Some(GeluApproximate::Tanh),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Gelu {
    pub approximate: GeluApproximate,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Gelu {
        approximate: args.get(&APPROXIMATE),
    };
    Ok((Op::Gelu(op), same_shape(inputs)))
}

impl LayerRules for Gelu {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        match self.approximate {
            GeluApproximate::None => String::new(),
            GeluApproximate::Tanh => "approximate: tanh".to_string(),
        }
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// Opset 17 has no `Gelu` (it came in 20): the kernel's formula in
    /// primitives, with its constants.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        use OnnxInput::{Float, Node, Value};
        let x = || Value(0);
        let one = || Float {
            suffix: "one",
            value: 1.0,
        };
        let half = || Float {
            suffix: "half",
            value: 0.5,
        };
        let mul = |a, b| OnnxNode::new("Mul", vec![a, b]);
        let add = |a, b| OnnxNode::new("Add", vec![a, b]);
        let unary = |op, a| OnnxNode::new(op, vec![a]);
        OnnxRule::Nodes(match self.approximate {
            // x · 0.5 · (1 + erf(x / √2))
            GeluApproximate::None => vec![
                mul(
                    x(),
                    Float {
                        suffix: "sqrt1_2",
                        value: core::f32::consts::FRAC_1_SQRT_2,
                    },
                ),
                unary("Erf", Node(0)),
                add(Node(1), one()),
                mul(x(), half()),
                mul(Node(3), Node(2)),
            ],
            // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
            GeluApproximate::Tanh => vec![
                mul(x(), x()),
                mul(Node(0), x()),
                mul(
                    Node(1),
                    Float {
                        suffix: "kappa",
                        value: 0.044715,
                    },
                ),
                add(x(), Node(2)),
                mul(
                    Node(3),
                    Float {
                        suffix: "beta",
                        value: (2.0 / core::f64::consts::PI).sqrt() as f32,
                    },
                ),
                unary("Tanh", Node(4)),
                add(Node(5), one()),
                mul(x(), half()),
                mul(Node(7), Node(6)),
            ],
        })
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(match self.approximate {
            GeluApproximate::None => "F.gelu({0})",
            GeluApproximate::Tanh => "F.gelu({0}, approximate=\"tanh\")",
        })
    }

    /// `GELU`, exact (erf) or with its tanh approximation.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let approximate = match self.approximate {
            GeluApproximate::None => false,
            GeluApproximate::Tanh => true,
        };
        let op = TfliteOp::Unary(TfliteUnary::Gelu { approximate });
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Gelu {
            x: cx.input(0),
            y: cx.output(),
            approximate: self.approximate,
        })
    }

    /// From the input: the derivative is no function of `y`.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let step = GradStep::Gelu {
                x: cx.input(0),
                dy: cx.dy(),
                dx,
                approximate: self.approximate,
            };
            emit(cx, step, accumulate);
        }
    }
}
