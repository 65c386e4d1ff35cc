//! The checker: AST to typed IR.
//!
//! It resolves names, binds layer arguments, applies the shape rule of every
//! op, names parameters, and checks train blocks against their models. It
//! records every problem and keeps going; a value whose computation failed
//! becomes `None` and silently poisons what depends on it, so one mistake
//! is reported once, not once per later statement.

use std::collections::HashMap;

use crate::ast::{self, Item, Span};
use crate::error::Error;
use crate::ir;
use crate::suggest::did_you_mean;

mod layer;
mod model;
mod schedule;
mod train;

use model::ModelChecker;
pub use schedule::{
    COSINE, EXPONENTIAL, MULTISTEP, ONE_CYCLE, PLATEAU, STEP, STOP_ON_VAL_ACCURACY,
    STOP_ON_VAL_LOSS,
};
use train::check_train;
pub use train::{ADAM, ADAMW, CLIP_BY_VALUE, CLIP_NORM, SGD, TRAIN_SETTINGS};

/// Everything the checker produced: the models and train blocks that
/// checked clean, and the problems found.
#[derive(Debug, Default)]
pub struct Checked {
    pub models: Vec<ir::Model>,
    pub trains: Vec<ir::TrainConfig>,
    pub errors: Vec<Error>,
}

/// Checks a parsed file. `incomplete[i]` marks items that lost statements
/// to syntax errors; those models are known by name but not checked.
/// `src` is the text the spans point into (used to quote derivations).
pub fn check(file: &ast::File, incomplete: &[bool], src: &str) -> Checked {
    let mut checked = Checked::default();
    let mut model_spans: HashMap<&str, Span> = HashMap::new();
    for (index, item) in file.items.iter().enumerate() {
        let Item::Model(model) = item else { continue };
        let duplicate = model_spans.get(model.name.name.as_str()).copied();
        if let Some(first) = duplicate {
            checked.errors.push(Error::DuplicateModel {
                span: model.name.span,
                first,
                name: model.name.name.clone(),
            });
        } else {
            model_spans.insert(&model.name.name, model.name.span);
        }
        if incomplete.get(index).copied().unwrap_or(false) {
            continue;
        }
        // A duplicate's body is checked too; only the first is kept.
        if let Some(ir) = ModelChecker::new(src, &mut checked.errors).model(model)
            && duplicate.is_none()
        {
            checked.models.push(ir);
        }
    }

    let mut trained: HashMap<&str, Span> = HashMap::new();
    for (index, item) in file.items.iter().enumerate() {
        let Item::Train(train) = item else { continue };
        let name = train.model.name.as_str();
        let mut keep = true;
        if !model_spans.contains_key(name) {
            checked.errors.push(Error::UnknownModel {
                span: train.model.span,
                name: name.to_string(),
                suggestion: did_you_mean(name, model_spans.keys().copied()),
            });
        } else if let Some(&first) = trained.get(name) {
            checked.errors.push(Error::DuplicateTrain {
                span: train.model.span,
                first,
                model: name.to_string(),
            });
            keep = false;
        } else {
            trained.insert(name, train.model.span);
        }
        // A block that lost settings to syntax errors would only report them missing.
        if incomplete.get(index).copied().unwrap_or(false) {
            continue;
        }
        let model = checked.models.iter().find(|m| m.name == name);
        if let Some(config) = check_train(train, model, &mut checked.errors)
            && model.is_some()
            && keep
        {
            checked.trains.push(config);
        }
    }
    checked
}
