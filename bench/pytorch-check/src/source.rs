//! Which model text and train block a reference is computed from.
//!
//! Two things keep a model from being compared as written: dropout draws
//! masks from nnspec's random stream, which torch cannot reproduce, and a
//! model without a train block has no loss to differentiate. Dropout's
//! rate is set to 0 in the text (the checker accepts `p` in `[0, 1)`), so
//! both sides compute the same training-mode function and the emitted
//! module is generated from exactly the text the reference used; a model
//! without a train block gets a default one here, and the index says so.

use nnspec::dsl::{self, ir, ops::Op};

/// One model as the reference computes it.
pub struct Prepared {
    pub model: ir::Model,
    pub config: ir::TrainConfig,
    /// The rewritten text (dropout at 0), when the model has dropout.
    pub zero_dropout_source: Option<String>,
    /// Whether `config` was made up here rather than read from the file.
    pub added_train_block: bool,
}

/// Checks `source` and prepares model `name` of it.
pub fn prepare(source: &str, name: &str) -> Result<Prepared, String> {
    let compiled = checked(source)?;
    let model = compiled
        .model(name)
        .ok_or_else(|| format!("no model `{name}`"))?;
    let has_dropout = model.values.iter().any(|v| matches!(v.op, Op::Dropout(_)));
    let (compiled, zero_dropout_source) = if has_dropout {
        let rewritten = zero_dropout(source)?;
        (checked(&rewritten)?, Some(rewritten))
    } else {
        (compiled, None)
    };
    let model = compiled
        .model(name)
        .ok_or_else(|| format!("no model `{name}` after setting dropout to 0"))?
        .clone();
    if let Some(p) = model.values.iter().find_map(|v| match &v.op {
        Op::Dropout(d) if d.p != 0.0 => Some(d.p),
        _ => None,
    }) {
        return Err(format!("a dropout of {p} is left after the rewrite"));
    }
    let (config, added_train_block) = match compiled.train(name) {
        Some(config) => (config.clone(), false),
        None => (default_train_block(&model), true),
    };
    Ok(Prepared {
        model,
        config,
        zero_dropout_source,
        added_train_block,
    })
}

/// The names of the models in `source`, in file order.
pub fn model_names(source: &str) -> Result<Vec<String>, String> {
    Ok(checked(source)?
        .models
        .iter()
        .map(|m| m.name.clone())
        .collect())
}

fn checked(source: &str) -> Result<dsl::Compiled, String> {
    let compiled = dsl::compile(source);
    if compiled.has_errors() {
        return Err(compiled.render("model"));
    }
    Ok(compiled)
}

/// `source` with the rate of every `dropout(...)` call replaced by `0.0`
/// (its only argument is the rate, positional or `p:`). The result is
/// checked again by the caller, which also confirms no rate was missed.
fn zero_dropout(source: &str) -> Result<String, String> {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("dropout") {
        let after = &rest[at + "dropout".len()..];
        let preceded_by_word = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let args = after.trim_start();
        if preceded_by_word || !args.starts_with('(') {
            out.push_str(&rest[..at + "dropout".len()]);
            rest = after;
            continue;
        }
        let close = args
            .find(')')
            .ok_or_else(|| "a dropout call without its `)`".to_string())?;
        out.push_str(&rest[..at]);
        out.push_str("dropout(0.0)");
        rest = &args[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A train block for a model that has none: cross-entropy when its first
/// output is a dense layer's class scores, else mean squared error on it.
/// Plain SGD: the optimizer plays no part in one batch's gradients.
fn default_train_block(model: &ir::Model) -> ir::TrainConfig {
    let output = model.value(model.outputs[0].value);
    let loss = match (&output.op, output.shape.rank()) {
        (Op::Dense(_), 1) => ir::Loss::cross_entropy(),
        _ => ir::Loss::Mse,
    };
    ir::TrainConfig {
        model: model.name.clone(),
        loss,
        optimizer: ir::Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        clip: None,
        schedule: None,
        warmup: 0,
        validation: None,
        early_stopping: None,
        batch: 4,
        epochs: 1,
        seed: 0,
        span: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_rates_become_zero_and_nothing_else_changes() {
        let text = "let y = x -> dropout(0.25) -> my_dropout -> dropout (p: 0.5);";
        assert_eq!(
            zero_dropout(text).unwrap(),
            "let y = x -> dropout(0.0) -> my_dropout -> dropout(0.0);"
        );
    }
}
