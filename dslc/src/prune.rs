//! `dslc prune FILE --weights CKPT --sparsity S [--structured] [--finetune N] [--fp16]`:
//! magnitude pruning of a trained model, optionally fine-tuned, optionally
//! stored in half precision. See docs/compression.md.
//!
//! Unstructured pruning zeroes the share `S` of each dense and convolution
//! weight with the smallest magnitudes (`--global`: of all of them ranked
//! together); shapes stay, so the model file is unchanged. Structured
//! pruning removes the share `S` of each prunable layer's neurons or
//! channels (ranked by the L2 norm of their weights) and writes a smaller
//! dense model: a new `.nn` file with the new widths and its checkpoint.
//! Both write into `-o DIR`: the model file, `model.safetensors` (the
//! original's metadata, so `dslc eval` finds the same test split), with
//! `--fp16` also `model.fp16.safetensors`, and `prune.json`.

mod graph;
mod report;
mod run;
mod source;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nnspec_dsl::ir;
use nnspec_runtime::checkpoint;
use nnspec_runtime::data::Split;
use nnspec_runtime::prune::{self, structured};
use nnspec_runtime::safetensors_file::{Checkpoint, Tensor, TensorData};

use crate::run_info::{self, Saved};
use crate::session::{self, DataSource, Scaling};
use crate::{errln, outln};
use run::{finetune, inference_speed, measure};

#[derive(clap::Args)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// The trained checkpoint (model.safetensors)
    #[arg(long)]
    weights: PathBuf,
    /// Share to prune, from 0 to 1: of each weight's entries (unstructured), or of each
    /// prunable layer's neurons and channels (--structured)
    #[arg(long, value_name = "S", value_parser = sparsity, allow_negative_numbers = true)]
    sparsity: f64,
    /// Remove whole neurons and channels and write a smaller model
    #[arg(long)]
    structured: bool,
    /// Unstructured: rank all weights of the model together instead of each layer's
    #[arg(long, conflicts_with = "structured")]
    global: bool,
    /// Fine-tune for this many epochs with the train block's optimizer, learning rate and
    /// batch (pruned weights stay zero)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    finetune: Option<u64>,
    /// Also write the weights in half precision (F16): model.fp16.safetensors
    #[arg(long)]
    fp16: bool,
    /// Where to write the model file, checkpoints and prune.json (default: a `pruned` folder
    /// beside the weights)
    #[arg(short = 'o', long)]
    out: Option<PathBuf>,
    /// Data to evaluate and fine-tune on (default: the data the checkpoint was trained on)
    #[arg(long)]
    data: Option<DataSource>,
    /// Which model of the file (default: the only one, or the only one with a train block)
    #[arg(long)]
    model: Option<String>,
    /// Threads (default: every core)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
}

/// A share from 0 to 1 (`--sparsity`); NaN and the rest are refused.
fn sparsity(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!("must be a number from 0 to 1, not {x}")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// The weight checkpoint name, and the half-precision one.
const MODEL: &str = "model.safetensors";
const MODEL_FP16: &str = "model.fp16.safetensors";

pub fn run(args: &Args) -> Result<ExitCode, String> {
    if args.structured && args.sparsity == 1.0 {
        return Err(
            "--sparsity 1 --structured would remove every neuron of a layer, and a layer \
             needs at least one; give a share below 1"
                .into(),
        );
    }
    let out = args.out.clone().unwrap_or_else(|| {
        args.weights
            .parent()
            .map_or_else(|| PathBuf::from("pruned"), |dir| dir.join("pruned"))
    });
    refuse_overwriting_inputs(args, &out)?;
    let bytes = crate::source::read(&args.file)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let compiled = nnspec_dsl::compile(&text);
    let job = session::load_job(&args.file, args.model.as_deref(), "nothing to prune")?;
    let original = session::read_checkpoint(&args.weights)?;
    checkpoint::check_model(&original, &job.config.model).map_err(|e| e.to_string())?;
    let saved = Saved::read(&original);
    let seed = saved.seed.unwrap_or(job.config.seed);
    let mut config = job.config.clone();
    config.seed = seed;
    let threads = session::threads(args.threads.map(|t| t as usize));
    let plan = nnspec_codegen::lower_training(&job.model, &config);
    let (data, scaling, split) = load_split(args, (&job.model, &plan), &saved, seed)?;
    // `dslc eval`'s batch, so its numbers and these agree to the bit.
    let eval_batch = saved.batch.unwrap_or(256);
    let plan_before = plan.clone();
    let before = measure(plan, &original, &split.test, eval_batch, threads)?;

    let mut kept = Vec::new();
    let (mut pruned, model_text, model, mask) = if args.structured {
        let (pruned, text, model);
        (pruned, text, model, kept) = prune_structured(args, &compiled, &job.model, &original)?;
        (pruned, text, model, None)
    } else {
        let (pruned, mask) = prune_unstructured(args, &job.model, &original)?;
        (pruned, text.clone(), job.model.clone(), Some(mask))
    };
    let plan = nnspec_codegen::lower_training(&model, &config);
    let pruned_eval = measure(plan.clone(), &pruned, &split.test, eval_batch, threads)?;

    let mut records = Vec::new();
    if let Some(epochs) = args.finetune.filter(|&n| n > 0) {
        let start = epochs_done(&original);
        let tuned;
        (tuned, records) = finetune(
            plan.clone(),
            &pruned,
            &split.train,
            (&config, epochs as usize, start),
            mask.as_deref(),
            threads,
        )?;
        pruned = tuned;
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let stem = args
        .file
        .file_name()
        .map_or_else(|| "model.nn".into(), |n| n.to_owned());
    let model_path = out.join(stem);
    nnspec_runtime::atomic_write::write_atomically(&model_path, |w| {
        w.write_all(model_text.as_bytes())
    })
    .map_err(|e| format!("cannot write {}: {e}", model_path.display()))?;
    let mut written = pruned.clone();
    // An fp16 input is widened on reading; the main output is f32.
    written.set_half_floats(false);
    for (key, value) in original.metadata() {
        written.set_metadata(key.clone(), value.clone());
    }
    written.set_metadata(
        "epochs",
        (epochs_done(&original) + records.len()).to_string(),
    );
    written.set_metadata("pruned", describe(args));
    if args.data.is_some() {
        // The data this command evaluated (and fine-tuned) on, so that
        // `dslc eval` of the result tests on the same split.
        written.set_metadata("data", data.to_string());
        written.set_metadata("data_fingerprint", run_info::fingerprint(&data)?);
        written.set_metadata("normalize", scaling.to_string());
    }
    let ckpt_path = out.join(MODEL);
    written.save(&ckpt_path).map_err(|e| e.to_string())?;
    // Measured from the file, as `dslc eval` reads it.
    let reread = session::read_checkpoint(&ckpt_path)?;
    let after = measure(plan.clone(), &reread, &split.test, eval_batch, threads)?;
    let plan_after = plan.clone();
    let fp16 = if args.fp16 {
        let path = out.join(MODEL_FP16);
        write_half(&written, &path)?;
        let half = session::read_checkpoint(&path)?;
        Some((
            path,
            measure(plan, &half, &split.test, eval_batch, threads)?,
        ))
    } else {
        None
    };

    let rows = report::layer_rows(&original, &written, &job.model);
    let summary = report::Summary {
        model: &config.model,
        data: data.to_string(),
        mode: describe(args),
        rows,
        params_before: report::parameter_count(&original),
        params_after: report::parameter_count(&written),
        bytes_before: file_size(&args.weights),
        bytes_after: file_size(&ckpt_path),
        accuracy_before: before.accuracy,
        accuracy_pruned: pruned_eval.accuracy,
        accuracy_after: after.accuracy,
        inference_before: inference_speed(plan_before, &original, &split.test, threads)?,
        inference_after: inference_speed(plan_after, &written, &split.test, threads)?,
        tier: nnspec_runtime::cpu::tier().name(),
        threads,
        finetune: records,
        fp16: fp16.as_ref().map(|(path, m)| report::Half {
            bytes: file_size(path),
            accuracy: m.accuracy,
        }),
        test_samples: split.test.len(),
        kept_whole: kept,
    };
    report::print(&summary);
    let json = out.join("prune.json");
    report::write_json(&summary, &json)?;
    outln!("wrote:");
    let mut paths = vec![model_path, ckpt_path];
    paths.extend(fp16.map(|(path, _)| path));
    paths.push(json);
    for path in paths {
        outln!("  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an `-o` that would write over the model file or the weights
/// being pruned (`-o` the training run's own directory, say).
fn refuse_overwriting_inputs(args: &Args, out: &Path) -> Result<(), String> {
    let Ok(out) = out.canonicalize() else {
        return Ok(()); // not there yet: nothing in it to overwrite
    };
    let name = args.file.file_name().unwrap_or_default();
    let outputs = [out.join(name), out.join(MODEL), out.join(MODEL_FP16)];
    for input in [&args.file, &args.weights] {
        if let Ok(input) = input.canonicalize()
            && outputs.contains(&input)
        {
            return Err(format!(
                "-o {} would overwrite {}, an input of this command; choose another directory",
                out.display(),
                input.display()
            ));
        }
    }
    Ok(())
}

/// What was done, for the checkpoint's metadata and the report.
fn describe(args: &Args) -> String {
    let kind = if args.structured {
        "structured (L2 norm of neurons and channels)"
    } else if args.global {
        "unstructured, global magnitude"
    } else {
        "unstructured, per-layer magnitude"
    };
    let tuned = args
        .finetune
        .filter(|&n| n > 0)
        .map(|n| format!(", fine-tuned {n} epoch{}", crate::check::plural(n as usize)))
        .unwrap_or_default();
    format!("sparsity {} {kind}{tuned}", args.sparsity)
}

/// The epochs the checkpoint records (0 when it does not say).
fn epochs_done(checkpoint: &Checkpoint) -> usize {
    checkpoint
        .metadata()
        .get("epochs")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The data the checkpoint was trained on (or `--data`), split as
/// training split it: the same test samples as `dslc eval`'s.
fn load_split(
    args: &Args,
    (model, plan): (&ir::Model, &nnspec_runtime::plan::Plan),
    saved: &Saved,
    seed: u64,
) -> Result<(DataSource, Scaling, Split), String> {
    let data = match (&args.data, &saved.data) {
        (Some(data), _) => run_info::resolve(data),
        (None, Some(text)) => run_info::saved_data(text, &args.weights)?,
        (None, None) => DataSource::Digits,
    };
    let tokens = session::token_bound(model, plan);
    let scaling = session::input_scaling(saved.normalize, tokens, || Scaling::default_for(&data))?;
    let split = session::load_data(
        &data,
        seed,
        (&plan.input_shapes[0].clone(), tokens),
        scaling,
        saved.target.as_ref(),
    )?;
    Ok((data, scaling, split))
}

/// The weights of dense and convolution layers (the tensors magnitude
/// pruning acts on; biases and normalization stay).
fn prunable_weights(model: &ir::Model) -> Vec<String> {
    model
        .values
        .iter()
        .filter(|v| {
            matches!(
                v.op,
                ir::Op::Dense(_) | ir::Op::Conv2d(_) | ir::Op::Conv1d(_)
            )
        })
        .map(|v| format!("{}.weight", v.layer))
        .filter(|name| model.params.iter().any(|p| &p.name == name))
        .collect()
}

/// Which entries of which tensors were pruned (`true`: forced to zero).
type PrunedEntries = Vec<(String, Vec<bool>)>;

/// Per-layer (or global) magnitude pruning; the mask of what was zeroed.
fn prune_unstructured(
    args: &Args,
    model: &ir::Model,
    original: &Checkpoint,
) -> Result<(Checkpoint, PrunedEntries), String> {
    if args.sparsity == 1.0 {
        errln!(
            "warning: --sparsity 1 zeroes every weight of every dense and convolution layer; \
             the outputs become the biases alone"
        );
    }
    let names = prunable_weights(model);
    let mut values: Vec<Vec<f32>> = Vec::new();
    for name in &names {
        values.push(f32_data(original, name)?.to_vec());
    }
    let masks = if args.global {
        let mut slices: Vec<&mut [f32]> = values.iter_mut().map(|v| v.as_mut_slice()).collect();
        prune::prune_smallest_global(&mut slices, args.sparsity)
    } else {
        values
            .iter_mut()
            .map(|v| prune::prune_smallest(v, args.sparsity))
            .collect()
    };
    let mut pruned = original.clone();
    for (name, data) in names.iter().zip(values) {
        let shape = original.get(name).expect("read above").shape.clone();
        pruned
            .insert(
                name.clone(),
                Tensor {
                    shape,
                    data: TensorData::F32(data),
                },
            )
            .map_err(|e| e.to_string())?;
    }
    Ok((pruned, names.into_iter().zip(masks).collect()))
}

/// The data of f32 tensor `name`, or an error naming the file.
fn f32_data<'a>(checkpoint: &'a Checkpoint, name: &str) -> Result<&'a [f32], String> {
    match checkpoint.get(name).map(|t| &t.data) {
        Some(TensorData::F32(data)) => Ok(data),
        Some(TensorData::I64(_) | TensorData::I8(_) | TensorData::U8(_) | TensorData::I32(_)) => {
            Err(format!("{}: `{name}` is not f32", checkpoint.origin()))
        }
        None => Err(format!("{}: no tensor `{name}`", checkpoint.origin())),
    }
}

/// Structured pruning: the smaller checkpoint, the new source text, and
/// its checked model (which the checkpoint is verified to fit).
fn prune_structured(
    args: &Args,
    compiled: &nnspec_dsl::Compiled,
    model: &ir::Model,
    original: &Checkpoint,
) -> Result<(Checkpoint, String, ir::Model, Vec<graph::Kept>), String> {
    let (groups, kept) = graph::analyse(model);
    for kept in &kept {
        outln!("kept whole: `{}`: {}", kept.layer, kept.reason);
    }
    if groups.is_empty() {
        errln!(
            "warning: no layer of `{}` can lose neurons or channels; the model is unchanged",
            model.name
        );
    }
    let mut pruned = original.clone();
    let mut resizes = Vec::new();
    // Every layer's units are ranked on the original weights, before any cut.
    let mut plans = Vec::new();
    for group in &groups {
        let weight = f32_data(original, &group.cuts[0].0)?;
        let remove = prune::pruned_count(group.units, args.sparsity).min(group.units - 1);
        let keep = structured::strongest(
            &structured::unit_norms(weight, group.units),
            group.units - remove,
        );
        plans.push(keep);
    }
    for (group, keep) in groups.iter().zip(&plans) {
        for (name, cut) in &group.cuts {
            let data = f32_data(&pruned, name)?;
            let shape = pruned.get(name).expect("read above").shape.clone();
            let (data, shape) = structured::select(data, &shape, *cut, keep).ok_or_else(|| {
                format!(
                    "{}: `{name}` cannot be cut along axis {}",
                    original.origin(),
                    cut.axis
                )
            })?;
            pruned
                .insert(
                    name.clone(),
                    Tensor {
                        shape,
                        data: TensorData::F32(data),
                    },
                )
                .map_err(|e| e.to_string())?;
        }
        let value = model.value(group.source);
        resizes.push(source::Resize {
            span: value.span,
            layer: &group.layer,
            argument: match value.op {
                ir::Op::Conv2d(_) => "out_channels",
                _ => "out_features",
            },
            width: keep.len(),
        });
    }
    let text = source::rewrite(&compiled.source, &compiled.file, &model.name, &resizes)?;
    let recompiled = nnspec_dsl::compile(&text);
    let smaller = recompiled
        .model(&model.name)
        .filter(|_| !recompiled.has_errors())
        .ok_or_else(|| {
            format!(
                "the pruned model does not check (a bug in dslc prune):\n{}",
                recompiled.render("pruned.nn")
            )
        })?
        .clone();
    let names = smaller.params.iter().map(|p| p.name.as_str());
    pruned.require_names(names).map_err(|e| e.to_string())?;
    for param in &smaller.params {
        let found = pruned.get(&param.name).map(|t| t.shape.clone());
        if found.as_deref() != Some(param.shape.dims()) {
            return Err(format!(
                "the pruned `{}` has shape {found:?}, the new model wants {} (a bug in dslc prune)",
                param.name, param.shape
            ));
        }
    }
    Ok((pruned, text, smaller, kept))
}

/// Saves `weights` with every f32 tensor as F16, refusing a value F16
/// cannot hold.
fn write_half(weights: &Checkpoint, path: &Path) -> Result<(), String> {
    if let Some((name, index, value)) = prune::half_range(weights) {
        return Err(format!(
            "--fp16: tensor `{name}` holds {value} at element {index}, beyond half precision's \
             range (±{}); keep this model in f32",
            prune::HALF_MAX
        ));
    }
    let mut half = weights.clone();
    half.set_half_floats(true);
    half.save(path).map_err(|e| e.to_string())
}
