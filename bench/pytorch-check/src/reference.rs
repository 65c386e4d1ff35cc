//! The executor's answers on one batch, as one safetensors file: the
//! `state_dict` the emitted module must load with `strict=True`, the batch
//! (`input`, `target`), the inference outputs (`output.<name>`), the
//! training-mode outputs (`train_output.<name>`, to tell a forward
//! difference from a backward one), the training loss (`loss`) and the
//! gradient of every trainable parameter (`grad.<name>`).

use nnspec::codegen;
use nnspec::dsl::ir::{self, ParamRole};
use nnspec::runtime::checkpoint::{load_state_dict, state_dict};
use nnspec::runtime::exec::Executor;
use nnspec::runtime::plan::{LossKind, ParamId, ParamKind};
use nnspec::runtime::rng::Rng;
use nnspec::runtime::safetensors_file::Checkpoint;

/// The batch: inputs and targets.
struct Batch {
    /// f32 values, or token ids (exact integers) for a token input.
    input: Vec<f32>,
    tokens: bool,
    /// Class indices for cross-entropy.
    labels: Vec<u32>,
    /// Float targets (the output's shape) for a regression loss.
    values: Option<Vec<f32>>,
}

/// Computes the reference of `model` trained by `config` on `batch` samples.
pub fn compute(
    model: &ir::Model,
    config: &ir::TrainConfig,
    batch: usize,
) -> Result<Checkpoint, String> {
    if model.inputs.len() != 1 {
        return Err(format!(
            "{} inputs; the check feeds one",
            model.inputs.len()
        ));
    }
    let plan = codegen::lower_training(model, config);
    let loss_kind = plan.loss.as_ref().expect("a training plan has a loss").kind;
    // Cross-entropy takes class indices; every other loss float targets of
    // the output's shape (the contract's, and what `dslc train` reads).
    let float_targets = !matches!(loss_kind, LossKind::CrossEntropy { .. });
    let mut train = Executor::new(plan, batch, 1).map_err(|e| e.to_string())?;
    train.init_params(1);
    perturb(&mut train, model);
    let weights = state_dict(&train);

    let data = make_batch(&train, loss_kind, float_targets, batch);
    let mut out = Checkpoint::new();
    copy_tensors(&weights, &mut out);
    let per_sample = train.plan().input_shapes[0].clone();
    let input_shape = with_batch(batch, &per_sample);
    if data.tokens {
        let ids: Vec<i64> = data.input.iter().map(|&v| v as i64).collect();
        insert_i64(&mut out, "input", &input_shape, &ids);
    } else {
        insert_f32(&mut out, "input", &input_shape, &data.input);
    }
    match &data.values {
        Some(values) => {
            let first_output = &train.plan().outputs[0].2;
            insert_f32(&mut out, "target", &with_batch(batch, first_output), values);
        }
        None => {
            let labels: Vec<i64> = data.labels.iter().map(|&l| l as i64).collect();
            insert_i64(&mut out, "target", &[batch], &labels);
        }
    }

    // Inference: the plan `dslc predict` and `eval` run, with the same weights.
    let mut infer =
        Executor::new(codegen::lower_inference(model), batch, 1).map_err(|e| e.to_string())?;
    load_state_dict(&mut infer, &weights).map_err(|e| e.to_string())?;
    infer.input_mut(batch).copy_from_slice(&data.input);
    infer.forward(batch, false);
    for (index, (name, _, shape)) in infer.plan().outputs.iter().enumerate() {
        let values = infer.output(index, batch);
        insert_f32(
            &mut out,
            &format!("output.{name}"),
            &with_batch(batch, shape),
            values,
        );
    }

    // Training: forward in training mode (batch statistics), loss, backward.
    let (input, labels) = train.batch_slots(batch);
    input.copy_from_slice(&data.input);
    labels.copy_from_slice(&data.labels);
    if let Some(values) = &data.values {
        train
            .target_slots(batch, loss_kind.width())
            .copy_from_slice(values);
    }
    train.seed_dropout(3);
    train.forward(batch, true);
    let loss = train.loss(batch, true).expect("a training plan").loss;
    train.backward(batch);
    for (index, (name, _, shape)) in train.plan().outputs.iter().enumerate() {
        let values = train.output(index, batch);
        let name = format!("train_output.{name}");
        insert_f32(&mut out, &name, &with_batch(batch, shape), values);
    }
    insert_f32(&mut out, "loss", &[], &[loss as f32]);
    for (i, param) in train.plan().params.iter().enumerate() {
        if param.kind == ParamKind::Trainable {
            let grad = train.grad(ParamId(i as u32));
            insert_f32(
                &mut out,
                &format!("grad.{}", param.name),
                &param.shape,
                grad,
            );
        }
    }
    out.set_metadata("model", model.name.clone());
    out.set_metadata("loss_value_f64", format!("{loss:e}"));
    Ok(out)
}

/// Moves the parameters that start at a constant (norm scales at one,
/// shifts and attention biases at zero, BatchNorm's running statistics at
/// zero and one) to varied values, so the comparison sees each of them
/// used, and used the right way round. Weights keep nnspec's draws.
fn perturb(exec: &mut Executor, model: &ir::Model) {
    let mut rng = Rng::new(17);
    // Lowering keeps the IR's parameter order: plan param i is IR param i.
    for (i, param) in model.params.iter().enumerate() {
        let id = ParamId(i as u32);
        let (low, high, scale) = match param.role {
            ParamRole::Scale | ParamRole::RunningVar => (0.5, 1.5, true),
            ParamRole::Shift | ParamRole::RunningMean => (-0.2, 0.2, false),
            ParamRole::Weight { .. }
            | ParamRole::Bias { .. }
            | ParamRole::Xavier { .. }
            | ParamRole::Embedding
            | ParamRole::NumBatchesTracked => continue,
        };
        for v in exec.param_mut(id) {
            let r = rng.uniform(low, high);
            *v = if scale { *v * r } else { *v + r };
        }
    }
}

/// Inputs in `[-1, 1)` (token ids below the table size for a token input),
/// and class labels below the output's width, or float targets: 0 or 1 for
/// binary cross-entropy, in `[0, 1)` for a regression loss.
fn make_batch(exec: &Executor, loss: LossKind, float_targets: bool, batch: usize) -> Batch {
    let width = loss.width();
    let plan = exec.plan();
    let per_sample: usize = plan.input_shapes[0].iter().product();
    let tokens = plan.token_bound(0);
    let mut rng = Rng::new(5);
    let input = (0..batch * per_sample)
        .map(|_| match tokens {
            Some(num) => rng.below(num) as f32,
            None => rng.uniform(-1.0, 1.0),
        })
        .collect();
    let labels = if float_targets {
        vec![0; batch]
    } else {
        (0..batch).map(|_| rng.below(width) as u32).collect()
    };
    let mut target = || match loss {
        LossKind::BceWithLogits { .. } => rng.below(2) as f32,
        _ => rng.uniform(0.0, 1.0),
    };
    let values = float_targets.then(|| (0..batch * width).map(|_| target()).collect());
    Batch {
        input,
        tokens: tokens.is_some(),
        labels,
        values,
    }
}

fn with_batch(batch: usize, per_sample: &[usize]) -> Vec<usize> {
    let mut shape = vec![batch];
    shape.extend_from_slice(per_sample);
    shape
}

fn copy_tensors(from: &Checkpoint, to: &mut Checkpoint) {
    for (name, tensor) in from.iter() {
        to.insert(name, tensor.clone())
            .expect("a state_dict's tensors are valid");
    }
}

fn insert_f32(out: &mut Checkpoint, name: &str, shape: &[usize], data: &[f32]) {
    out.insert_f32(name, shape, data)
        .expect("shapes are the plan's, sized by the batch");
}

fn insert_i64(out: &mut Checkpoint, name: &str, shape: &[usize], data: &[i64]) {
    out.insert_i64(name, shape, data)
        .expect("shapes are the plan's, sized by the batch");
}
