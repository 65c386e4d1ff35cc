//! `embedding`: a lookup table of `num` vectors of `dim` floats, PyTorch's
//! `nn.Embedding`, indexed by token ids (an i64 value of any shape).

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxInput, OnnxNode, OnnxRule, Op,
    OpError, ParamDecl,
};
use crate::ir::{ParamRole, Shape};
use crate::shape::{ShapeError, checked_shape};
use crate::signature::{Bound, Default, Key, Signature};

const NUM_EMBEDDINGS: Key<usize> = Key::count(
    0,
    "num_embeddings",
    Default::Required,
    "number of token ids (rows of the table)",
);
const EMBEDDING_DIM: Key<usize> =
    Key::count(1, "embedding_dim", Default::Required, "size of each vector");

/// Token ids travel through the f32 arena as exact integers, and f32
/// holds every integer up to 2^24 exactly (docs/architecture.md).
pub const MAX_NUM_EMBEDDINGS: usize = 1 << 24;

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "embedding",
        args: &[NUM_EMBEDDINGS.spec, EMBEDDING_DIM.spec],
    },
    summary: "lookup table (nn.Embedding): i64 token ids [..] to [.., embedding_dim]",
    build,
};

/// Weight `[num_embeddings, embedding_dim]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    pub num_embeddings: usize,
    pub embedding_dim: usize,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Embedding {
        num_embeddings: args.get(&NUM_EMBEDDINGS),
        embedding_dim: args.get(&EMBEDDING_DIM),
    };
    if op.num_embeddings > MAX_NUM_EMBEDDINGS {
        return Err(OpError::Argument {
            name: NUM_EMBEDDINGS.spec.name,
            reason: format!("at most {MAX_NUM_EMBEDDINGS} (2^24) token ids"),
        });
    }
    let dims: Vec<u128> = inputs[0]
        .0
        .iter()
        .chain([&op.embedding_dim])
        .map(|&d| d as u128)
        .collect();
    let shape = checked_shape("output", &dims)?;
    Ok((Op::Embedding(op), shape))
}

impl LayerRules for Embedding {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!(
            "num_embeddings: {}, embedding_dim: {}",
            self.num_embeddings, self.embedding_dim
        )
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        let weight = checked_shape(
            "weight",
            &[self.num_embeddings as u128, self.embedding_dim as u128],
        )?;
        Ok(vec![ParamDecl::f32("weight", weight, ParamRole::Embedding)])
    }

    /// `Gather(weight, ids)`: the rows the (int64) ids pick, the ids'
    /// shape with `embedding_dim` appended.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let node = OnnxNode::new("Gather", vec![OnnxInput::Param(0), OnnxInput::Value(0)]);
        OnnxRule::Node(node)
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::module(format!(
            "nn.Embedding({}, {})",
            self.num_embeddings, self.embedding_dim
        ))
    }

    /// `GATHER` of the weight's rows.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::Embedding, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Embedding {
            ids: cx.input(0),
            weight: cx.param(0),
            y: cx.output(),
            ids_per_sample: cx.input_shape(0).iter().product(),
            num: self.num_embeddings,
            dim: self.embedding_dim,
        })
    }

    /// The table's gradient only: token ids have none.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let step = GradStep::Embedding {
            ids: cx.input(0),
            dy: cx.dy(),
            weight: cx.param(0),
            ids_per_sample: cx.input_elements(0),
            num: self.num_embeddings,
            dim: self.embedding_dim,
        };
        cx.emit(step);
    }
}
