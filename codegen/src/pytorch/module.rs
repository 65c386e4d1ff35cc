//! The model as a `torch.nn.Module` class: its submodules named as the
//! `.nn` file's layers, nnspec's initialization written out, and
//! `forward` with one line per value of the checked model.

use std::fmt::Write;

use nnspec_dsl::ir::{Dtype, Model, ParamRole, Shape, Value, ValueId};
use nnspec_dsl::ops::PytorchRule;

use super::PytorchError;
use super::layout::{commented, wrap};
use super::names::{Locals, attribute_problem, is_keyword};

/// The class text, ending with a newline.
pub fn class(model: &Model) -> Result<String, PytorchError> {
    if is_keyword(&model.name) {
        return Err(PytorchError::ClassName(model.name.clone()));
    }
    let rules = layer_rules(model)?;
    let mut out = String::new();
    let _ = writeln!(out, "class {}(nn.Module):", model.name);
    let _ = writeln!(out, "    \"\"\"{}\"\"\"\n", signature(model));
    class_attributes(model, &mut out);
    init(model, &rules, &mut out);
    reset_parameters(model, &mut out);
    forward(model, &rules, &mut out);
    Ok(out)
}

/// `input x: f32[64] -> output logits: f32[10]`, the docstring.
fn signature(model: &Model) -> String {
    let typed = |id: ValueId| {
        let value = model.value(id);
        format!("{}{}", value.dtype, value.shape)
    };
    let inputs: Vec<String> = model
        .inputs
        .iter()
        .map(|&id| format!("input {}: {}", name_of(model.value(id)), typed(id)))
        .collect();
    let outputs: Vec<String> = model
        .outputs
        .iter()
        .map(|o| format!("output {}: {}", o.name, typed(o.value)))
        .collect();
    format!("{} -> {}", inputs.join(", "), outputs.join(", "))
}

fn class_attributes(model: &Model, out: &mut String) {
    let _ = writeln!(
        out,
        "    # The inputs in order: name -> (per-sample shape, dtype)."
    );
    let inputs: Vec<String> = model
        .inputs
        .iter()
        .map(|&id| {
            let value = model.value(id);
            format!(
                "\"{}\": ({}, {})",
                name_of(value),
                py_tuple(&value.shape),
                py_dtype(value.dtype)
            )
        })
        .collect();
    let _ = writeln!(out, "    INPUTS: ClassVar = {{{}}}", inputs.join(", "));
    if let Some(tokens) = crate::lower_inference(model).token_bound(0) {
        let _ = writeln!(
            out,
            "    # Token ids are 0..TOKENS-1 (the embedding's table)."
        );
        let _ = writeln!(out, "    TOKENS = {tokens}");
    }
    let names: Vec<String> = model
        .outputs
        .iter()
        .map(|o| format!("\"{}\"", o.name))
        .collect();
    let trailing = if names.len() == 1 { "," } else { "" };
    let _ = writeln!(
        out,
        "    # forward returns these, in order (a tuple when more than one)."
    );
    let _ = writeln!(out, "    OUTPUTS = ({}{trailing})\n", names.join(", "));
}

/// Each value's rule (`None` for the model's inputs).
fn layer_rules(model: &Model) -> Result<Vec<Option<PytorchRule>>, PytorchError> {
    model
        .values
        .iter()
        .map(|value| {
            let Some(rules) = value.op.rules() else {
                return Ok(None);
            };
            let inputs: Vec<&Shape> = value
                .inputs
                .iter()
                .map(|&id| &model.value(id).shape)
                .collect();
            let rule = rules.pytorch(&inputs, &value.shape);
            if rule.module.is_some()
                && let Some(problem) = attribute_problem(&value.layer)
            {
                return Err(PytorchError::LayerName {
                    layer: value.layer.clone(),
                    problem,
                });
            }
            Ok(Some(rule))
        })
        .collect()
}

fn init(model: &Model, rules: &[Option<PytorchRule>], out: &mut String) {
    let _ = writeln!(out, "    def __init__(self):");
    let _ = writeln!(out, "        super().__init__()");
    for (value, rule) in model.values.iter().zip(rules) {
        if let Some(module) = rule.as_ref().and_then(|r| r.module.as_ref()) {
            let prefix = format!("self.{} = ", value.layer);
            let _ = writeln!(out, "        {prefix}{}", wrap(&prefix, module, 8));
        }
    }
    let _ = writeln!(out, "        self.reset_parameters()\n");
}

/// nnspec's rule for each parameter and buffer. The distributions are
/// PyTorch's defaults; writing them out keeps them nnspec's whatever a
/// future PyTorch chooses. The draws are torch's, not nnspec's.
fn reset_parameters(model: &Model, out: &mut String) {
    let _ = writeln!(out, "    def reset_parameters(self):");
    let _ = writeln!(
        out,
        "        \"\"\"nnspec's initialization: the same distributions, drawn by torch.\"\"\""
    );
    if model.params.is_empty() {
        let _ = writeln!(out, "        pass\n");
        return;
    }
    let _ = writeln!(out, "        with torch.no_grad():");
    // The uniform bound, written once for the lines that share it.
    let mut bound_now = String::new();
    for param in &model.params {
        let tensor = format!("self.{}", param.name);
        let (bound, line) = match param.role {
            ParamRole::Weight { fan_in } | ParamRole::Bias { fan_in } => (
                Some(format!("1 / math.sqrt({fan_in})")),
                format!("nn.init.uniform_({tensor}, -bound, bound)"),
            ),
            ParamRole::Xavier { fan_in, fan_out } => (
                Some(format!("math.sqrt(6 / ({fan_in} + {fan_out}))")),
                format!("nn.init.uniform_({tensor}, -bound, bound)"),
            ),
            ParamRole::Scale | ParamRole::RunningVar => (None, format!("nn.init.ones_({tensor})")),
            ParamRole::Shift | ParamRole::RunningMean => {
                (None, format!("nn.init.zeros_({tensor})"))
            }
            ParamRole::NumBatchesTracked => (None, format!("{tensor}.zero_()")),
            ParamRole::Embedding => (None, format!("nn.init.normal_({tensor})")),
        };
        if let Some(bound) = bound
            && bound != bound_now
        {
            let _ = writeln!(out, "            bound = {bound}");
            bound_now = bound;
        }
        let _ = writeln!(out, "            {line}");
    }
    out.push('\n');
}

fn forward(model: &Model, rules: &[Option<PytorchRule>], out: &mut String) {
    let mut locals = Locals::default();
    let mut variables: Vec<String> = Vec::with_capacity(model.values.len());
    for value in &model.values {
        variables.push(locals.claim(name_of(value)));
    }
    let arguments: Vec<&str> = model
        .inputs
        .iter()
        .map(|id| variables[id.index()].as_str())
        .collect();
    let _ = writeln!(out, "    def forward(self, {}):", arguments.join(", "));
    for ((value, rule), variable) in model.values.iter().zip(rules).zip(&variables) {
        let Some(rule) = rule else { continue };
        let inputs: Vec<&str> = value
            .inputs
            .iter()
            .map(|id| variables[id.index()].as_str())
            .collect();
        let expr = fill(&rule.call, &format!("self.{}", value.layer), &inputs);
        let comment = format!("# [batch, {}]", dims(&value.shape));
        out.push_str(&commented(8, &format!("{variable} = {expr}"), &comment));
    }
    let results: Vec<&str> = model
        .outputs
        .iter()
        .map(|o| variables[o.value.index()].as_str())
        .collect();
    let _ = writeln!(out, "        return {}", results.join(", "));
}

/// A rule's call with its submodule and inputs filled in.
fn fill(call: &str, module: &str, inputs: &[&str]) -> String {
    let mut text = call
        .replace("{m}", module)
        .replace("{*}", &inputs.join(", "));
    for (i, input) in inputs.iter().enumerate() {
        text = text.replace(&format!("{{{i}}}"), input);
    }
    text
}

/// The name a value is known by: its binding, else its layer's.
fn name_of(value: &Value) -> &str {
    value.binding.as_deref().unwrap_or(&value.layer)
}

fn dims(shape: &Shape) -> String {
    let dims: Vec<String> = shape.0.iter().map(usize::to_string).collect();
    dims.join(", ")
}

fn py_tuple(shape: &Shape) -> String {
    match shape.0.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims(shape)),
    }
}

fn py_dtype(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "torch.float32",
        Dtype::I64 => "torch.int64",
    }
}
