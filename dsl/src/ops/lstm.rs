//! `lstm(hidden, layers: 1)`: PyTorch's `nn.LSTM(features, hidden,
//! num_layers=layers, batch_first=True)` on `[len, features]`, from a zero
//! state, giving the top layer's output at every step: `[len, hidden]`.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{BufferType, GradStep, LstmShape, Size, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxInput, OnnxNode, OnnxRule,
    Op, OpError, ParamDecl, emit, onnx,
};
use crate::ir::{ParamRole, Shape};
use crate::shape::{ShapeError, checked_shape, expect_rank};
use crate::signature::{Bound, Default, Key, Signature};

const HIDDEN: Key<usize> = Key::count(0, "hidden", Default::Required, "hidden state size");
const LAYERS: Key<usize> = Key::count(1, "layers", Default::Int(1), "stacked LSTM layers");

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "lstm",
        args: &[HIDDEN.spec, LAYERS.spec],
    },
    summary: "LSTM (nn.LSTM, batch_first) on [len, features], every step's output",
    build,
};

/// Per layer `k`: `weight_ih_l{k} [4·hidden, in]`, `weight_hh_l{k} [4·hidden,
/// hidden]`, `bias_ih_l{k}`, `bias_hh_l{k} [4·hidden]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lstm {
    pub hidden: usize,
    pub layers: usize,
}

/// What the sequence layers say of a value that is not `[len, features]`.
pub(crate) const SEQUENCE: &str = "[len, features]";

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Lstm {
        hidden: args.get(&HIDDEN),
        layers: args.get(&LAYERS),
    };
    expect_rank(inputs[0], 2, SEQUENCE)?;
    // Every layer's gates, cells and states are kept for the backward pass.
    let saved = 6 * op.hidden as u128 * op.layers as u128;
    checked_shape("saved state", &[inputs[0].0[0] as u128, saved])?;
    let shape = checked_shape("output", &[inputs[0].0[0] as u128, op.hidden as u128])?;
    Ok((Op::Lstm(op), shape))
}

/// The ONNX gate blocks in PyTorch's order: ONNX's `i, o, f, c` are
/// PyTorch's blocks 0, 3, 1, 2 (`i, f, g, o`).
const ONNX_GATES: [usize; 4] = [0, 3, 1, 2];

impl Lstm {
    fn shape(&self, input: &[usize]) -> LstmShape {
        LstmShape {
            len: input[0],
            input: input[1],
            hidden: self.hidden,
            layers: self.layers,
        }
    }

    /// The gate blocks of a `[4·hidden, width]` parameter in ONNX's order.
    fn onnx_runs(&self, position: usize, width: usize) -> Vec<(usize, std::ops::Range<usize>)> {
        let block = self.hidden * width;
        ONNX_GATES
            .iter()
            .map(|&gate| (position, gate * block..(gate + 1) * block))
            .collect()
    }
}

impl LayerRules for Lstm {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("hidden: {}, layers: {}", self.hidden, self.layers)
    }

    /// PyTorch's names and shapes; all uniform in `±1/sqrt(hidden)`.
    fn params(&self, inputs: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        let (h, features) = (self.hidden, inputs[0].0[1]);
        let mut params = Vec::with_capacity(4 * self.layers);
        for k in 0..self.layers {
            let width = if k == 0 { features } else { h };
            let role = ParamRole::Weight { fan_in: h };
            let gates = 4 * h as u128;
            params.extend([
                ParamDecl::f32(
                    format!("weight_ih_l{k}"),
                    checked_shape("weight_ih", &[gates, width as u128])?,
                    role,
                ),
                ParamDecl::f32(
                    format!("weight_hh_l{k}"),
                    checked_shape("weight_hh", &[gates, h as u128])?,
                    role,
                ),
                ParamDecl::f32(format!("bias_ih_l{k}"), Shape(vec![4 * h]), role),
                ParamDecl::f32(format!("bias_hh_l{k}"), Shape(vec![4 * h]), role),
            ]);
        }
        Ok(params)
    }

    /// ONNX's `LSTM` per layer, time-major (onnxruntime runs no `layout:
    /// 1`): `Transpose`, then each layer's `LSTM` (its `Y [len, 1, batch,
    /// hidden]` squeezed), then `Transpose` back. Weights get the
    /// direction axis and ONNX's gate order, `B` both biases.
    fn onnx(&self, inputs: &[&Shape], _: &Shape) -> OnnxRule {
        use OnnxInput::{Gathered, Ints, Node, Value};
        let (len, features) = (inputs[0].0[0], inputs[0].0[1]);
        let h = self.hidden;
        let swap = || OnnxAttr::Ints(vec![1, 0, 2]);
        let mut nodes = vec![
            OnnxNode::new("Transpose", vec![Value(0)])
                .attribute("perm", swap())
                .shaped(1, vec![len, features]),
        ];
        for k in 0..self.layers {
            let width = if k == 0 { features } else { h };
            let first = 4 * k;
            let gathered = |name: &str, dims: Vec<usize>, runs| Gathered {
                name: format!("{name}_l{k}"),
                dims,
                runs,
            };
            let w = gathered("W", vec![1, 4 * h, width], self.onnx_runs(first, width));
            let r = gathered("R", vec![1, 4 * h, h], self.onnx_runs(first + 1, h));
            let mut bias = self.onnx_runs(first + 2, 1);
            bias.extend(self.onnx_runs(first + 3, 1));
            let b = gathered("B", vec![1, 8 * h], bias);
            let previous = Node(nodes.len() - 1);
            nodes.push(
                OnnxNode::new("LSTM", vec![previous, w, r, b])
                    .attribute("hidden_size", OnnxAttr::Int(onnx::int(h)))
                    .shaped(2, vec![len, 1, h]),
            );
            let axes = Ints {
                suffix: "axes",
                values: vec![1],
            };
            let squeeze = OnnxNode::new("Squeeze", vec![Node(nodes.len() - 1), axes]);
            nodes.push(squeeze.shaped(1, vec![len, h]));
        }
        let top = Node(nodes.len() - 1);
        nodes.push(OnnxNode::new("Transpose", vec![top]).attribute("perm", swap()));
        OnnxRule::Nodes(nodes)
    }

    fn pytorch(&self, inputs: &[&Shape], _: &Shape) -> PytorchRule {
        let layers = match self.layers {
            1 => String::new(),
            n => format!(", num_layers={n}"),
        };
        PytorchRule {
            module: Some(format!(
                "nn.LSTM({}, {}{layers}, batch_first=True)",
                inputs[0].0[1], self.hidden
            )),
            // The output at every step; the final states are not a value.
            call: "{m}({0})[0]".into(),
        }
    }

    /// Unrolled over the sequence in `FULLY_CONNECTED`, `STRIDED_SLICE`,
    /// `LOGISTIC`, `TANH`, `MUL` and `ADD` (the export spells it out).
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Lstm {
            hidden: self.hidden,
            layers: self.layers,
        };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let shape = self.shape(cx.input_shape(0));
        let (len, h, layers) = (shape.len, shape.hidden, shape.layers);
        let mut saved =
            |suffix, per_sample| cx.saved(suffix, Size::PerSample(per_sample), BufferType::F32);
        let saved = [
            saved("input", len * shape.input),
            saved("gates", layers * len * 4 * h),
            saved("cells", layers * len * h),
            saved("hidden", layers * len * h),
        ];
        Some(Step::Lstm {
            x: cx.input(0),
            y: cx.output(),
            params: (0..4 * self.layers).map(|i| cx.param(i)).collect(),
            saved,
            shape,
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::Lstm {
            params,
            saved,
            shape,
            ..
        } = cx.forward_step()
        else {
            unreachable!("lstm lowers to an lstm step")
        };
        let (dx, accumulate) = cx.contribution(0).unzip();
        let step = GradStep::Lstm {
            dy: cx.dy(),
            dx,
            params,
            saved,
            shape,
        };
        emit(cx, step, accumulate.flatten());
    }
}
