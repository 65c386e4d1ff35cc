//! A model's checkpoint: the `state_dict` (parameters and BatchNorm
//! buffers, PyTorch names and layouts) and the optimizer state that lets a
//! run resume exactly, taken from and restored into an [`Executor`].
//!
//! What goes into a checkpoint is decided here; how named tensors are
//! stored on disk is the safetensors format's, in
//! [`crate::safetensors_file`].

use crate::exec::Executor;
use crate::plan::{ParamId, ParamKind};
use crate::safetensors_file::{Checkpoint, CheckpointError};

/// Why a checkpoint does not fit a model.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("checkpoint {file}: tensor {name:?} holds a non-finite value at element {index}")]
    NotFinite {
        file: String,
        name: String,
        index: usize,
    },
    #[error("checkpoint {file}: {problem}")]
    Invalid { file: String, problem: String },
    #[error("checkpoint {file} is for model `{saved}`, the file's model is `{model}`")]
    OtherModel {
        file: String,
        saved: String,
        model: String,
    },
}

/// Checks that `checkpoint` was saved from the model named `model` (its
/// `model` metadata entry); a checkpoint without one (made by another
/// tool) passes, and is checked by its names and shapes alone.
pub fn check_model(checkpoint: &Checkpoint, model: &str) -> Result<(), StateError> {
    match checkpoint.metadata().get("model") {
        Some(saved) if saved != model => Err(StateError::OtherModel {
            file: checkpoint.origin().to_string(),
            saved: saved.clone(),
            model: model.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Everything a run needs to resume, in one file so that it is saved in
/// one atomic step: the `state_dict` ([`state_dict`]), the optimizer
/// state ([`optimizer_dict`], whose names are the parameters' with a
/// suffix, so the two never collide) and `epochs` in the metadata.
pub fn training_state(exec: &Executor, epochs: usize) -> Checkpoint {
    let mut checkpoint = optimizer_dict(exec, epochs);
    let params = state_dict(exec);
    for (name, tensor) in params.iter() {
        checkpoint
            .insert(name, tensor.clone())
            .expect("parameter and optimizer names are distinct");
    }
    checkpoint
}

/// Restores a [`training_state`]: the parameters and buffers, then the
/// optimizer state; returns the epochs done. Nothing changes unless the
/// parameters all fit.
pub fn load_training_state(
    exec: &mut Executor,
    checkpoint: &Checkpoint,
) -> Result<usize, StateError> {
    check_model(checkpoint, &exec.plan().model.clone())?;
    let params = exec.plan().params.clone();
    let check = checkpoint.check_names(params.iter().map(|p| p.name.as_str()));
    if !check.missing.is_empty() {
        return Err(CheckpointError::Names {
            file: checkpoint.origin().to_string(),
            missing: check.missing,
            unexpected: Vec::new(),
        }
        .into());
    }
    load_params(exec, checkpoint, &params)?;
    load_optimizer_dict(exec, checkpoint)
}

/// The model's parameters and buffers, as PyTorch's `model.state_dict()`.
pub fn state_dict(exec: &Executor) -> Checkpoint {
    let mut checkpoint = Checkpoint::new();
    for (i, param) in exec.plan().params.iter().enumerate() {
        let id = ParamId(i as u32);
        let result = match param.kind {
            ParamKind::Counter => {
                checkpoint.insert_i64(&param.name, &param.shape, exec.counter(id))
            }
            ParamKind::Trainable | ParamKind::State => {
                checkpoint.insert_f32(&param.name, &param.shape, exec.param(id))
            }
        };
        // Names are unique and shapes match their data by construction.
        result.expect("a plan's parameters form a valid checkpoint");
    }
    checkpoint.set_metadata("format", "pt");
    checkpoint.set_metadata("model", exec.plan().model.clone());
    checkpoint
}

/// Loads parameters and buffers, strictly: every name the model has must
/// be present with its shape and dtype, and no other (PyTorch's
/// `load_state_dict(strict=True)`). Nothing changes unless all of it fits.
pub fn load_state_dict(exec: &mut Executor, checkpoint: &Checkpoint) -> Result<(), StateError> {
    let params = exec.plan().params.clone();
    checkpoint.require_names(params.iter().map(|p| p.name.as_str()))?;
    load_params(exec, checkpoint, &params)
}

/// Loads `params` from `checkpoint` (names already checked): all or nothing.
fn load_params(
    exec: &mut Executor,
    checkpoint: &Checkpoint,
    params: &[crate::plan::Param],
) -> Result<(), StateError> {
    for param in params {
        match param.kind {
            ParamKind::Counter => {
                checkpoint.i64(&param.name, &param.shape)?;
            }
            ParamKind::Trainable | ParamKind::State => {
                let values = checkpoint.f32(&param.name, &param.shape)?;
                if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
                    return Err(StateError::NotFinite {
                        file: checkpoint.origin().to_string(),
                        name: param.name.clone(),
                        index: bad,
                    });
                }
            }
        }
    }
    for (i, param) in params.iter().enumerate() {
        let id = ParamId(i as u32);
        match param.kind {
            ParamKind::Counter => exec
                .counter_mut(id)
                .copy_from_slice(checkpoint.i64(&param.name, &param.shape)?),
            ParamKind::Trainable | ParamKind::State => exec
                .param_mut(id)
                .copy_from_slice(checkpoint.f32(&param.name, &param.shape)?),
        }
    }
    Ok(())
}

/// The optimizer's state, named after the parameters like PyTorch's
/// `optimizer.state_dict()` entries: `fc1.weight.momentum_buffer`,
/// `fc1.weight.exp_avg`, `fc1.weight.exp_avg_sq`, `fc1.weight.step`.
/// `epochs` (done so far) goes in the metadata.
pub fn optimizer_dict(exec: &Executor, epochs: usize) -> Checkpoint {
    let mut checkpoint = Checkpoint::new();
    checkpoint.set_metadata("model", exec.plan().model.clone());
    checkpoint.set_metadata("epochs", epochs.to_string());
    let Some(state) = exec.optimizer_state() else {
        return checkpoint;
    };
    let (first, second) = state.buffers();
    let (first_name, second_name) = match state.optimizer() {
        crate::plan::Optimizer::Sgd { .. } => ("momentum_buffer", ""),
        _ => ("exp_avg", "exp_avg_sq"),
    };
    for (i, param) in exec.plan().params.iter().enumerate() {
        if param.kind != ParamKind::Trainable {
            continue;
        }
        let range = exec.param_offsets()[i]..exec.param_offsets()[i] + param.len();
        let insert = |c: &mut Checkpoint, suffix: &str, data: &[f32]| {
            if !data.is_empty() {
                c.insert_f32(
                    format!("{}.{suffix}", param.name),
                    &param.shape,
                    &data[range.clone()],
                )
                .expect("unique names");
            }
        };
        insert(&mut checkpoint, first_name, first);
        insert(&mut checkpoint, second_name, second);
        checkpoint
            .insert_i64(
                format!("{}.step", param.name),
                &[],
                &[state.steps(i) as i64],
            )
            .expect("unique names");
    }
    checkpoint
}

/// Restores optimizer state saved by [`optimizer_dict`]; returns the
/// number of epochs it records.
pub fn load_optimizer_dict(
    exec: &mut Executor,
    checkpoint: &Checkpoint,
) -> Result<usize, StateError> {
    let epochs = checkpoint
        .metadata()
        .get("epochs")
        .and_then(|e| e.parse::<usize>().ok())
        .ok_or_else(|| StateError::Invalid {
            file: checkpoint.origin().to_string(),
            problem: "no \"epochs\" entry in the metadata; is this an optimizer checkpoint?".into(),
        })?;
    let params = exec.plan().params.clone();
    let offsets = exec.param_offsets().to_vec();
    let Some(state) = exec.optimizer_state() else {
        return Ok(epochs);
    };
    let (first, second) = state.buffers();
    let (mut first, mut second) = (first.to_vec(), second.to_vec());
    let mut steps = vec![0u64; params.len()];
    let (first_name, second_name) = match state.optimizer() {
        crate::plan::Optimizer::Sgd { .. } => ("momentum_buffer", ""),
        _ => ("exp_avg", "exp_avg_sq"),
    };
    for (i, param) in params.iter().enumerate() {
        if param.kind != ParamKind::Trainable {
            continue;
        }
        let range = offsets[i]..offsets[i] + param.len();
        if !first.is_empty() {
            first[range.clone()].copy_from_slice(
                checkpoint.f32(&format!("{}.{first_name}", param.name), &param.shape)?,
            );
        }
        if !second.is_empty() {
            second[range].copy_from_slice(
                checkpoint.f32(&format!("{}.{second_name}", param.name), &param.shape)?,
            );
        }
        let step = checkpoint.i64(&format!("{}.step", param.name), &[])?[0];
        steps[i] = step.max(0) as u64;
    }
    let state = exec.optimizer_state_mut().expect("checked above");
    state
        .restore(&first, &second, &steps)
        .map_err(|problem| StateError::Invalid {
            file: checkpoint.origin().to_string(),
            problem,
        })?;
    Ok(epochs)
}
