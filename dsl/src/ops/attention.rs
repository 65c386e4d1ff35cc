//! `attention`: multi-head self-attention on a sequence `[len, dim]`,
//! PyTorch's `nn.MultiheadAttention(dim, heads, batch_first=True)` called
//! with query = key = value (no dropout), optionally with the causal mask.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{AttentionShape, BufferType, GradStep, Size, Step};

use super::onnx::int;
use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxInput, OnnxNode, OnnxRule,
    Op, OpError, ParamDecl, emit, same_shape,
};
use crate::ir::{ParamRole, Shape};
use crate::shape::{ShapeError, checked_shape, expect_rank};
use crate::signature::{Bound, Default, Key, Signature};

const HEADS: Key<usize> = Key::count(
    0,
    "heads",
    Default::Required,
    "number of heads (num_heads); must divide the features",
);
const CAUSAL: Key<bool> = Key::bool(
    1,
    "causal",
    Default::Bool(false),
    "whether each position attends only to itself and earlier ones",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "attention",
        args: &[HEADS.spec, CAUSAL.spec],
    },
    summary: "multi-head self-attention (nn.MultiheadAttention) on [len, features]",
    build,
};

/// Parameters `in_proj_weight [3·dim, dim]`, `in_proj_bias [3·dim]`,
/// `out_proj.weight [dim, dim]`, `out_proj.bias [dim]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Attention {
    pub heads: usize,
    pub causal: bool,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Attention {
        heads: args.get(&HEADS),
        causal: args.get(&CAUSAL),
    };
    let input = inputs[0];
    expect_rank(input, 2, "[len, features]")?;
    let dim = input.0[1];
    if !dim.is_multiple_of(op.heads) {
        return Err(OpError::Shape(ShapeError::HeadsDivide {
            heads: op.heads,
            features: dim,
        }));
    }
    // The saved probabilities are `[heads, len, len]` per sample.
    let len = input.0[0] as u128;
    checked_shape("attention probabilities", &[op.heads as u128, len, len])?;
    Ok((Op::Attention(op), same_shape(inputs)))
}

impl Attention {
    fn shape(&self, input: &[usize]) -> AttentionShape {
        AttentionShape {
            len: input[0],
            dim: input[1],
            heads: self.heads,
            causal: self.causal,
        }
    }
}

impl LayerRules for Attention {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("heads: {}, causal: {}", self.heads, self.causal)
    }

    /// PyTorch's `_reset_parameters`: `xavier_uniform_` on the joint
    /// projection, zero biases; `out_proj` is an `nn.Linear` whose weight
    /// keeps its default (kaiming) initialization.
    fn params(&self, inputs: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        let dim = inputs[0].0[1];
        let d = dim as u128;
        let in_weight = checked_shape("in_proj_weight", &[3 * d, d])?;
        let out_weight = checked_shape("out_proj.weight", &[d, d])?;
        Ok(vec![
            ParamDecl::f32(
                "in_proj_weight",
                in_weight,
                ParamRole::Xavier {
                    fan_in: dim,
                    fan_out: 3 * dim,
                },
            ),
            ParamDecl::f32("in_proj_bias", Shape(vec![3 * dim]), ParamRole::Shift),
            ParamDecl::f32(
                "out_proj.weight",
                out_weight,
                ParamRole::Weight { fan_in: dim },
            ),
            ParamDecl::f32("out_proj.bias", Shape(vec![dim]), ParamRole::Shift),
        ])
    }

    /// Opset 17 has no attention operator: the computation in primitives,
    /// on `[batch, len, dim]`.
    fn onnx(&self, inputs: &[&Shape], _: &Shape) -> OnnxRule {
        onnx_chain(self.shape(&inputs[0].0))
    }

    fn pytorch(&self, inputs: &[&Shape], _: &Shape) -> PytorchRule {
        let [len, dim] = [inputs[0].0[0], inputs[0].0[1]];
        let mask = if self.causal {
            // True above the diagonal: a position may not attend to later ones.
            format!(
                ", attn_mask=torch.ones({len}, {len}, dtype=torch.bool, device={{0}}.device).triu(1)"
            )
        } else {
            String::new()
        };
        PytorchRule {
            module: Some(format!(
                "nn.MultiheadAttention({dim}, {}, batch_first=True)",
                self.heads
            )),
            call: format!("{{m}}({{0}}, {{0}}, {{0}}, need_weights=False{mask})[0]"),
        }
    }

    /// The computation in TFLite's builtins (the export spells it out).
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Attention {
            heads: self.heads,
            causal: self.causal,
        };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let shape = self.shape(cx.input_shape(0));
        let (len, dim) = (shape.len, shape.dim);
        let heads = cx.saved("qkv", Size::PerSample(3 * len * dim), BufferType::F32);
        let probs = cx.saved(
            "probs",
            Size::PerSample(self.heads * len * len),
            BufferType::F32,
        );
        let ctx = cx.saved("ctx", Size::PerSample(len * dim), BufferType::F32);
        Some(Step::Attention {
            x: cx.input(0),
            params: [cx.param(0), cx.param(1), cx.param(2), cx.param(3)],
            heads,
            probs,
            ctx,
            y: cx.output(),
            shape,
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::Attention {
            x,
            params,
            heads,
            probs,
            ctx,
            shape,
            ..
        } = cx.forward_step()
        else {
            unreachable!("attention lowers to Step::Attention")
        };
        let (dx, accumulate) = cx.contribution(0).unzip();
        let step = GradStep::Attention {
            x,
            params,
            heads,
            probs,
            ctx,
            dy: cx.dy(),
            dx,
            shape,
        };
        emit(cx, step, accumulate.flatten());
    }
}

/// The ONNX nodes: `x·Wᵀ + b`, q, k and v sliced out and split into
/// heads (`Reshape` with 0 keeping the batch, `Transpose`), the scaled
/// scores (plus the `-inf` mask when causal), `Softmax`, the weighted sum,
/// the heads joined again and the output projection.
fn onnx_chain(s: AttentionShape) -> OnnxRule {
    use OnnxInput::{Node, Param, Value};
    let (len, dim, heads) = (s.len, s.dim, s.heads);
    let hd = dim / heads;
    let ints = |suffix, values: &[usize]| OnnxInput::Ints {
        suffix,
        values: values.iter().map(|&v| int(v)).collect(),
    };
    let perm = |p: &[i64]| OnnxAttr::Ints(p.to_vec());
    let transpose =
        |input, p: &[i64]| OnnxNode::new("Transpose", vec![input]).attribute("perm", perm(p));
    let slice = |from: &'static str, to: &'static str, part: usize| {
        OnnxNode::new(
            "Slice",
            vec![
                Node(2),
                ints(from, &[part * dim]),
                ints(to, &[(part + 1) * dim]),
                ints("last_axis", &[2]),
            ],
        )
        .batched(&[len, dim])
    };
    let split_heads = |input| {
        OnnxNode::new(
            "Reshape",
            vec![input, ints("head_shape", &[0, len, heads, hd])],
        )
        .batched(&[len, heads, hd])
    };
    let mut nodes = vec![
        // 0-2: the joint projection.
        transpose(Param(0), &[1, 0]).fixed(&[dim, 3 * dim]),
        OnnxNode::new("MatMul", vec![Value(0), Node(0)]).batched(&[len, 3 * dim]),
        OnnxNode::new("Add", vec![Node(1), Param(1)]).batched(&[len, 3 * dim]),
        // 3-5: q, k, v.
        slice("q_start", "q_end", 0),
        slice("k_start", "k_end", 1),
        slice("v_start", "v_end", 2),
        // 6-8: [batch, len, heads, hd].
        split_heads(Node(3)),
        split_heads(Node(4)),
        split_heads(Node(5)),
        // 9-11: q and v as [batch, heads, len, hd], k as [batch, heads, hd, len].
        transpose(Node(6), &[0, 2, 1, 3]).batched(&[heads, len, hd]),
        transpose(Node(7), &[0, 2, 3, 1]).batched(&[heads, hd, len]),
        transpose(Node(8), &[0, 2, 1, 3]).batched(&[heads, len, hd]),
        // 12-13: the scaled scores.
        OnnxNode::new("MatMul", vec![Node(9), Node(10)]).batched(&[heads, len, len]),
        OnnxNode::new(
            "Mul",
            vec![
                Node(12),
                OnnxInput::Float {
                    suffix: "scale",
                    value: 1.0 / (hd as f32).sqrt(),
                },
            ],
        )
        .batched(&[heads, len, len]),
    ];
    if s.causal {
        let mask = (0..len * len)
            .map(|i| {
                if i % len > i / len {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let masked = OnnxNode::new(
            "Add",
            vec![
                Node(13),
                OnnxInput::Floats {
                    suffix: "causal_mask",
                    dims: vec![len, len],
                    values: mask,
                },
            ],
        );
        nodes.push(masked.batched(&[heads, len, len]));
    }
    let scores = nodes.len() - 1;
    let tail = [
        OnnxNode::new("Softmax", vec![Node(scores)])
            .attribute("axis", OnnxAttr::Int(3))
            .batched(&[heads, len, len]),
        OnnxNode::new("MatMul", vec![Node(scores + 1), Node(11)]).batched(&[heads, len, hd]),
        transpose(Node(scores + 2), &[0, 2, 1, 3]).batched(&[len, heads, hd]),
        OnnxNode::new(
            "Reshape",
            vec![Node(scores + 3), ints("joined_shape", &[0, len, dim])],
        )
        .batched(&[len, dim]),
        transpose(Param(2), &[1, 0]).fixed(&[dim, dim]),
        OnnxNode::new("MatMul", vec![Node(scores + 4), Node(scores + 5)]).batched(&[len, dim]),
        OnnxNode::new("Add", vec![Node(scores + 6), Param(3)]),
    ];
    nodes.extend(tail);
    OnnxRule::Nodes(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(causal: bool) -> Vec<OnnxNode> {
        let shape = AttentionShape {
            len: 3,
            dim: 8,
            heads: 2,
            causal,
        };
        let OnnxRule::Nodes(nodes) = onnx_chain(shape) else {
            panic!("attention is a chain")
        };
        nodes
    }

    #[test]
    fn the_chain_reads_only_earlier_nodes_and_ends_in_the_output_projection() {
        for causal in [false, true] {
            let nodes = chain(causal);
            assert_eq!(nodes.len(), if causal { 22 } else { 21 });
            for (k, node) in nodes.iter().enumerate() {
                for input in &node.inputs {
                    if let OnnxInput::Node(j) = input {
                        assert!(*j < k, "node {k} reads node {j}");
                    }
                }
            }
            let last = nodes.last().unwrap();
            assert_eq!(last.op_type, "Add");
            assert_eq!(last.inputs[1], OnnxInput::Param(3));
        }
    }

    #[test]
    fn the_causal_mask_hides_the_future() {
        let nodes = chain(true);
        let mask = nodes
            .iter()
            .flat_map(|n| &n.inputs)
            .find_map(|input| {
                let OnnxInput::Floats { dims, values, .. } = input else {
                    return None;
                };
                Some((dims.clone(), values.clone()))
            })
            .expect("a mask");
        let inf = f32::NEG_INFINITY;
        let want = vec![0.0, inf, inf, 0.0, 0.0, inf, 0.0, 0.0, 0.0];
        assert_eq!(mask, (vec![3, 3], want));
        assert!(chain(false).iter().all(|n| {
            n.inputs
                .iter()
                .all(|i| !matches!(i, OnnxInput::Floats { .. }))
        }));
    }
}
