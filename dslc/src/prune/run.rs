//! Running the model for `dslc prune`: test accuracy as `dslc eval`
//! measures it, inference speed, and fine-tuning (with the mask that keeps
//! pruned weights at zero).

use nnspec_dsl::ir;
use nnspec_runtime::checkpoint;
use nnspec_runtime::data::Dataset;
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::prune::{Mask, MaskedTrainee};
use nnspec_runtime::safetensors_file::Checkpoint;
use nnspec_runtime::train::{self, FitOptions, Silent};

use crate::outln;
use crate::session;

/// Test accuracy of a model's weights, evaluated as `dslc eval` does.
pub struct Measured {
    pub accuracy: f64,
}

pub fn measure(
    plan: nnspec_runtime::plan::Plan,
    weights: &Checkpoint,
    test: &Dataset,
    batch: usize,
    threads: usize,
) -> Result<Measured, String> {
    let capacity = batch.min(test.len()).max(1);
    let mut exec = session::restore(plan, weights, capacity, threads)?;
    train::check_fits(&exec, test).map_err(|e| e.to_string())?;
    let evaluation = train::evaluate(&mut exec, test);
    Ok(Measured {
        accuracy: evaluation.accuracy,
    })
}

/// Samples per second of inference over the test inputs in batches of
/// [`SPEED_BATCH`], repeated for at least [`SPEED_SECONDS`] (the best pass
/// counts: other work on the machine only ever slows a pass down).
pub fn inference_speed(
    plan: nnspec_runtime::plan::Plan,
    weights: &Checkpoint,
    test: &Dataset,
    threads: usize,
) -> Result<f64, String> {
    let batch = SPEED_BATCH.min(test.len()).max(1);
    let mut exec = session::restore(plan, weights, batch, threads)?;
    let per_sample = test.sample_len();
    let started = std::time::Instant::now();
    let mut best = 0.0f64;
    while started.elapsed().as_secs_f64() < SPEED_SECONDS || best == 0.0 {
        let pass = std::time::Instant::now();
        for chunk in test.features.chunks(batch * per_sample) {
            let n = chunk.len() / per_sample.max(1);
            exec.input_mut(n).copy_from_slice(chunk);
            exec.forward(n, false);
        }
        best = best.max(test.len() as f64 / pass.elapsed().as_secs_f64().max(1e-9));
    }
    Ok(best)
}

/// The batch and the least time of [`inference_speed`].
const SPEED_BATCH: usize = 1000;
const SPEED_SECONDS: f64 = 0.3;

/// `epochs` of the train block's optimizer from `weights`; with a mask,
/// the masked weights are zeroed after every step.
pub fn finetune(
    plan: nnspec_runtime::plan::Plan,
    weights: &Checkpoint,
    train_set: &Dataset,
    (config, epochs, start_epoch): (&ir::TrainConfig, usize, usize),
    mask: Option<&[(String, Vec<bool>)]>,
    threads: usize,
) -> Result<(Checkpoint, Vec<EpochRecord>), String> {
    let capacity = config.batch.min(train_set.len()).max(1);
    let mut exec = session::restore(plan, weights, capacity, threads)?;
    let options = FitOptions {
        epochs,
        batch: config.batch,
        seed: config.seed,
        start_epoch,
        ..FitOptions::default()
    };
    let fitted = match mask {
        Some(pruned) => {
            let mask = Mask::new(&exec, pruned)?;
            let mut trainee = MaskedTrainee {
                exec: &mut exec,
                mask: &mask,
            };
            train::fit_trainee(&mut trainee, train_set, None, &options, &mut Silent)
        }
        None => train::fit(&mut exec, train_set, None, &options, &mut Silent),
    }
    .map_err(|e| format!("fine-tuning: {e}"))?;
    for record in &fitted.records {
        outln!(
            "fine-tune epoch {} of {epochs}: loss {:.4}, train accuracy {:.2}%, {} samples/s",
            record.epoch - start_epoch,
            record.train_loss,
            record.train_accuracy * 100.0,
            crate::progress::thousands(record.samples_per_s)
        );
    }
    Ok((checkpoint::state_dict(&exec), fitted.records))
}
