//! Which output units of a model can be removed, and which tensors each
//! removal cuts: read off the checked IR.
//!
//! A dense layer's neurons or a convolution's channels (the *source*) can
//! go when every path from its output reaches, through layers that act on
//! each unit separately (activations, dropout, BatchNorm, pooling,
//! flatten), only dense or ungrouped convolution layers, which then lose
//! the matching input columns (a column block per channel after a
//! flatten). Anything else on a path (a residual add, concat, product,
//! attention, LSTM, layer norm, softmax, reshape, a grouped convolution, a
//! model output) makes the source unprunable: the units are shared with
//! something that cannot be cut the same way, or are what the model
//! returns.

use nnspec_dsl::ir::{Model, Op, Value, ValueId};
use nnspec_runtime::prune::structured::Cut;

/// A prunable layer: its units, and every tensor indexed by them.
#[derive(Clone, Debug)]
pub struct Group {
    pub source: ValueId,
    pub layer: String,
    pub units: usize,
    /// `(parameter name, how to cut it)`; the source's own weight first.
    pub cuts: Vec<(String, Cut)>,
}

/// A layer with units that stay, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Kept {
    pub layer: String,
    pub reason: String,
}

/// What flows along a path from a source.
#[derive(Clone, Copy)]
enum Units {
    /// A dense layer's features, on the last axis.
    Features,
    /// A convolution's channels, on the first axis (`block` values per
    /// channel once flattened).
    Channels { block: usize },
}

/// Every dense and conv2d layer of `model`: prunable, or kept with a reason.
pub fn analyse(model: &Model) -> (Vec<Group>, Vec<Kept>) {
    let mut consumers: Vec<Vec<ValueId>> = vec![Vec::new(); model.values.len()];
    for (i, value) in model.values.iter().enumerate() {
        for input in &value.inputs {
            consumers[input.index()].push(ValueId(i as u32));
        }
    }
    let (mut groups, mut kept) = (Vec::new(), Vec::new());
    for (i, value) in model.values.iter().enumerate() {
        let (units, start) = match &value.op {
            Op::Dense(dense) => (dense.out_features, Units::Features),
            Op::Conv2d(conv) if conv.groups == 1 => {
                (conv.out_channels, Units::Channels { block: 1 })
            }
            Op::Conv2d(conv) => {
                kept.push(Kept {
                    layer: value.layer.clone(),
                    reason: format!("a grouped convolution (groups: {})", conv.groups),
                });
                continue;
            }
            Op::Conv1d(_) => {
                kept.push(Kept {
                    layer: value.layer.clone(),
                    reason: "conv1d layers are not pruned structurally (yet)".into(),
                });
                continue;
            }
            _ => continue,
        };
        let source = ValueId(i as u32);
        let mut cuts: Vec<(String, Cut)> = own_params(model, value)
            .filter(|name| name.ends_with(".weight") || name.ends_with(".bias"))
            .map(|name| (name, Cut { axis: 0, block: 1 }))
            .collect();
        let mut walker = Walker {
            model,
            consumers: &consumers,
            units,
            cuts: &mut cuts,
        };
        match walker.follow(source, start) {
            Ok(()) => groups.push(Group {
                source,
                layer: value.layer.clone(),
                units,
                cuts,
            }),
            Err(reason) => kept.push(Kept {
                layer: value.layer.clone(),
                reason,
            }),
        }
    }
    (groups, kept)
}

/// Names of the parameters a value's layer owns.
fn own_params<'a>(model: &'a Model, value: &'a Value) -> impl Iterator<Item = String> + 'a {
    value.params.iter().map(|p| model.param(*p).name.clone())
}

struct Walker<'a> {
    model: &'a Model,
    consumers: &'a [Vec<ValueId>],
    units: usize,
    cuts: &'a mut Vec<(String, Cut)>,
}

impl Walker<'_> {
    /// Follows every consumer of `from`, collecting cuts; an error says
    /// what stops the units from being removed.
    fn follow(&mut self, from: ValueId, units: Units) -> Result<(), String> {
        let model = self.model;
        if let Some(output) = model.outputs.iter().find(|o| o.value == from) {
            return Err(format!(
                "its units reach the model's output `{}`",
                output.name
            ));
        }
        for &next in &self.consumers[from.index()] {
            let value = model.value(next);
            let what = || format!("`{}` ({}) reads its output", value.layer, value.op.name());
            if value.inputs.len() != 1 {
                return Err(format!("{} with other values", what()));
            }
            let rank = model.value(from).shape.rank();
            match (&value.op, units) {
                (
                    Op::Relu(_)
                    | Op::LeakyRelu(_)
                    | Op::Sigmoid(_)
                    | Op::Tanh(_)
                    | Op::Gelu(_)
                    | Op::Silu(_)
                    | Op::Hardswish(_)
                    | Op::Elu(_)
                    | Op::Softplus(_)
                    | Op::Dropout(_),
                    _,
                ) => self.follow(next, units)?,
                (Op::BatchNorm(_), Units::Channels { block: 1 }) => {
                    self.through_norm(value, next, units)?
                }
                (Op::BatchNorm(_), Units::Features) if rank == 1 => {
                    self.through_norm(value, next, units)?
                }
                (
                    Op::MaxPool2d(_)
                    | Op::AvgPool2d(_)
                    | Op::AdaptiveAvgPool2d(_)
                    | Op::GlobalAvgPool2d(_),
                    Units::Channels { block: 1 },
                ) => self.follow(next, units)?,
                (Op::Flatten(_), Units::Channels { block: 1 }) => {
                    let block = model.value(from).shape.elements() / self.units.max(1);
                    self.follow(next, Units::Channels { block })?;
                }
                (Op::Dense(_), Units::Features) if rank <= 2 => self.cut_input(value, 1),
                (Op::Dense(_), Units::Channels { block }) if rank == 1 => {
                    self.cut_input(value, block)
                }
                (Op::Conv2d(conv), Units::Channels { block: 1 }) if conv.groups == 1 => {
                    self.cut_input(value, 1)
                }
                _ => return Err(what()),
            }
        }
        Ok(())
    }

    /// A BatchNorm's per-unit parameters and statistics are cut too.
    fn through_norm(&mut self, norm: &Value, at: ValueId, units: Units) -> Result<(), String> {
        for name in own_params(self.model, norm) {
            if !name.ends_with(".num_batches_tracked") {
                self.cuts.push((name, Cut { axis: 0, block: 1 }));
            }
        }
        self.follow(at, units)
    }

    /// A consumer's weight loses the input columns (axis 1) of the units.
    fn cut_input(&mut self, value: &Value, block: usize) {
        for name in own_params(self.model, value) {
            if name.ends_with(".weight") {
                self.cuts.push((name, Cut { axis: 1, block }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysed(file: &str, model: &str) -> (Vec<Group>, Vec<Kept>) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
        let source = std::fs::read_to_string(format!("{path}{file}")).unwrap();
        analyse(nnspec_dsl::compile(&source).model(model).unwrap())
    }

    fn layers(groups: &[Group]) -> Vec<&str> {
        groups.iter().map(|g| g.layer.as_str()).collect()
    }

    fn reason<'a>(kept: &'a [Kept], layer: &str) -> &'a str {
        &kept.iter().find(|k| k.layer == layer).unwrap().reason
    }

    #[test]
    fn residual_adds_keep_their_operands_whole() {
        let (groups, kept) = analysed("residual.nn", "DigitsResNet");
        // The first dense of each block feeds only the second.
        assert_eq!(layers(&groups), ["dense_1", "dense_3"]);
        assert!(reason(&kept, "stem").contains("(add) reads its output"));
        assert!(reason(&kept, "dense_2").contains("(add)"));
        assert!(reason(&kept, "head").contains("model's output `logits`"));
    }

    #[test]
    fn grouped_convolutions_and_concat_are_boundaries() {
        let (groups, kept) = analysed("mobilenet.nn", "MobileNet");
        // Each pointwise conv feeds the next depthwise one; the last feeds
        // the head through pooling and flatten, one column per channel.
        assert_eq!(layers(&groups), ["pw3"]);
        assert_eq!(
            groups[0].cuts.last().unwrap(),
            &("fc.weight".to_string(), Cut { axis: 1, block: 1 })
        );
        assert!(reason(&kept, "dw1").contains("grouped convolution (groups: 16)"));
        assert!(reason(&kept, "pw1").contains("`dw2` (conv2d) reads its output"));
        let (groups, kept) = analysed("inception.nn", "MiniInception");
        // The stem feeds three convolutions (one through average pooling);
        // the branches meet in a concat; the head's BatchNorm is cut too.
        assert_eq!(layers(&groups), ["conv2d_1", "dense_1"]);
        let stem: Vec<&str> = groups[0].cuts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            stem,
            [
                "conv2d_1.weight",
                "conv2d_1.bias",
                "batchnorm_1.weight",
                "batchnorm_1.bias",
                "batchnorm_1.running_mean",
                "batchnorm_1.running_var",
                "conv2d_2.weight",
                "conv2d_3.weight",
                "conv2d_4.weight",
            ]
        );
        assert!(reason(&kept, "conv2d_2").contains("(concat)"));
        let head = &groups[1].cuts;
        assert!(head.contains(&(
            "batchnorm_4.running_var".to_string(),
            Cut { axis: 0, block: 1 }
        )));
        assert!(head.contains(&("dense_2.weight".to_string(), Cut { axis: 1, block: 1 })));
    }
}
