//! What a layer is in the emitted PyTorch module, as text: each layer's
//! `LayerRules::pytorch` answers with a [`PytorchRule`], and
//! nnspec-codegen's `pytorch` module writes the `nn.Module` around the
//! answers. The rule stays in the op's own file, beside its ONNX and
//! TFLite rules, so one op's meaning is written down in one place.
//!
//! A rule speaks PyTorch: tensors carry the batch axis first, so a
//! per-sample axis `a` of nnspec is dimension `a + 1` there.

/// How a layer appears in a `torch.nn.Module`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PytorchRule {
    /// The submodule holding the layer's parameters (`nn.Linear(64, 10)`),
    /// assigned in `__init__` to the attribute named as the layer, so its
    /// `state_dict` names are nnspec's checkpoint names; none for a layer
    /// without parameters.
    pub module: Option<String>,
    /// The expression computing the layer in `forward`: `{m}` stands for
    /// the submodule (`self.fc1`), `{0}`, `{1}`, ... for the inputs, and
    /// `{*}` for all of them separated by commas.
    pub call: String,
}

impl PytorchRule {
    /// A layer computed by calling its submodule on its one input.
    pub fn module(constructor: String) -> Self {
        PytorchRule {
            module: Some(constructor),
            call: "{m}({0})".into(),
        }
    }

    /// A layer without parameters: an expression over its inputs.
    pub fn expr(call: impl Into<String>) -> Self {
        PytorchRule {
            module: None,
            call: call.into(),
        }
    }
}

/// An f64 as a Python float literal (`0.1`, `1e-05`, `1.0`): the shortest
/// text that reads back as the same value.
pub fn py_float(value: f64) -> String {
    let text = format!("{value:?}");
    if text.contains(['.', 'e', 'i', 'N']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// A Python bool literal.
pub fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// A `[h, w]` pair as PyTorch takes it: `3` when both are equal, `(3, 5)`
/// otherwise.
pub fn py_pair(pair: [usize; 2]) -> String {
    if pair[0] == pair[1] {
        pair[0].to_string()
    } else {
        format!("({}, {})", pair[0], pair[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_back_in_python_syntax() {
        assert_eq!(py_float(0.1), "0.1");
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(1e-5), "1e-5");
        assert_eq!(py_float(-2.0), "-2.0");
        assert_eq!(py_float(20.0), "20.0");
    }

    #[test]
    fn pairs_collapse_when_square() {
        assert_eq!(py_pair([2, 2]), "2");
        assert_eq!(py_pair([1, 3]), "(1, 3)");
    }
}
