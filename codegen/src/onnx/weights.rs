//! The weights of an export made without a checkpoint: the model's
//! initialization for a seed, exactly as the executor (and a generated
//! model's `new(seed)`) draws it.

use nnspec_dsl::ir;
use nnspec_runtime::checkpoint::state_dict;
use nnspec_runtime::exec::{ExecError, Executor};
use nnspec_runtime::safetensors_file::Checkpoint;

/// `model`'s `state_dict` after initialization with `seed`.
pub fn initial_weights(model: &ir::Model, seed: u64) -> Result<Checkpoint, ExecError> {
    let plan = crate::lower_inference(model);
    // One sample of buffers: only the parameters are wanted.
    let mut exec = Executor::new(plan, 1, 1)?;
    exec.init_params(seed);
    Ok(state_dict(&exec))
}
