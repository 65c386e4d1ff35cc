//! The `train` block as Python: its settings as constants, and the loss,
//! optimizer, gradient clipping and learning-rate schedule as functions
//! building PyTorch's own objects with nnspec's resolved arguments.

use std::fmt::Write;

use nnspec_dsl::ir::{
    Anneal, Clip, EarlyStopping, Loss, Monitor, Optimizer, Schedule, ThresholdMode, TrainConfig,
};
use nnspec_dsl::ops::pytorch::{py_bool, py_float};

use super::layout::wrap;

/// The constants and functions, ending with a newline.
pub fn train_block(config: &TrainConfig, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# The train block of {source}.");
    let _ = writeln!(
        out,
        "# The global batch: the trainer splits it over its processes."
    );
    let _ = writeln!(out, "BATCH = {}", config.batch);
    let _ = writeln!(out, "EPOCHS = {}", config.epochs);
    let _ = writeln!(
        out,
        "# nnspec's seed, which also draws the 80/20 test split."
    );
    let _ = writeln!(out, "SEED = {}", config.seed);
    let _ = writeln!(
        out,
        "# The share of the training split held out for validation, if any."
    );
    let _ = writeln!(out, "VALIDATION = {}", optional_float(config.validation));
    let _ = writeln!(
        out,
        "# (monitor, patience, min_delta): stop when the monitor has not improved."
    );
    let _ = writeln!(
        out,
        "EARLY_STOPPING = {}",
        early_stopping(config.early_stopping)
    );
    let _ = writeln!(
        out,
        "# Class labels (cross-entropy, BCE) or float targets (mse, l1, smooth_l1)."
    );
    let _ = writeln!(
        out,
        "CLASSIFICATION = {}",
        py_bool(!config.loss.is_regression())
    );
    let _ = writeln!(out, "# As nnspec records them in a checkpoint's metadata.");
    let _ = writeln!(out, "LR = {}", py_float(config.optimizer.lr()));
    let _ = writeln!(out, "CLIP = \"{}\"\n\n", clip_record(config.clip));

    let _ = writeln!(out, "def loss_function():");
    let _ = writeln!(
        out,
        "    return {}\n\n",
        wrap("return ", &loss(&config.loss), 4)
    );
    let _ = writeln!(out, "def optimizer(parameters):");
    let _ = writeln!(
        out,
        "    return {}\n\n",
        wrap("return ", &optimizer(&config.optimizer), 4)
    );
    let _ = writeln!(out, "def clip_gradients(parameters):");
    let _ = writeln!(out, "{}\n\n", clip(config.clip));
    schedule(config, &mut out);
    out
}

fn optional_float(value: Option<f64>) -> String {
    value.map_or_else(|| "None".into(), py_float)
}

fn early_stopping(rule: Option<EarlyStopping>) -> String {
    match rule {
        None => "None".into(),
        Some(EarlyStopping {
            monitor,
            patience,
            min_delta,
        }) => {
            let monitor = match monitor {
                Monitor::ValLoss => "val_loss",
                Monitor::ValAccuracy => "val_accuracy",
            };
            format!("(\"{monitor}\", {patience}, {})", py_float(min_delta))
        }
    }
}

/// The `clip` metadata entry of nnspec's checkpoints (`dslc`'s
/// `run_info::ClipSetting`): `none`, `norm(1)`, `value(0.5)`.
fn clip_record(clip: Option<Clip>) -> String {
    clip.map_or_else(|| "none".into(), |clip| clip.to_string())
}

fn loss(loss: &Loss) -> String {
    match loss {
        Loss::CrossEntropy {
            label_smoothing,
            weight,
        } => {
            let mut args = Vec::new();
            if !weight.is_empty() {
                let weights: Vec<String> = weight.iter().map(|w| py_float(*w)).collect();
                args.push(format!("weight=torch.tensor([{}])", weights.join(", ")));
            }
            if *label_smoothing != 0.0 {
                args.push(format!("label_smoothing={}", py_float(*label_smoothing)));
            }
            format!("nn.CrossEntropyLoss({})", args.join(", "))
        }
        Loss::Mse => "nn.MSELoss()".into(),
        Loss::L1 => "nn.L1Loss()".into(),
        Loss::SmoothL1 { beta } => format!("nn.SmoothL1Loss(beta={})", py_float(*beta)),
        Loss::BceWithLogits => "nn.BCEWithLogitsLoss()".into(),
    }
}

/// PyTorch's optimizer with nnspec's resolved hyperparameters (every one
/// written, so the file says what runs whatever PyTorch's defaults).
fn optimizer(optimizer: &Optimizer) -> String {
    match *optimizer {
        Optimizer::Sgd {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
        } => format!(
            "torch.optim.SGD(parameters, lr={}, momentum={}, dampening={}, nesterov={}, \
             weight_decay={})",
            py_float(lr),
            py_float(momentum),
            py_float(dampening),
            py_bool(nesterov),
            py_float(weight_decay)
        ),
        Optimizer::Adam {
            lr,
            betas,
            eps,
            weight_decay,
        } => adam("Adam", lr, betas, eps, weight_decay),
        Optimizer::AdamW {
            lr,
            betas,
            eps,
            weight_decay,
        } => adam("AdamW", lr, betas, eps, weight_decay),
    }
}

fn adam(kind: &str, lr: f64, betas: [f64; 2], eps: f64, weight_decay: f64) -> String {
    format!(
        "torch.optim.{kind}(parameters, lr={}, betas=({}, {}), eps={}, weight_decay={})",
        py_float(lr),
        py_float(betas[0]),
        py_float(betas[1]),
        py_float(eps),
        py_float(weight_decay)
    )
}

fn clip(clip: Option<Clip>) -> String {
    match clip {
        None => "    \"\"\"The train block does not clip gradients.\"\"\"".into(),
        Some(Clip::Norm { max_norm }) => format!(
            "    \"\"\"Called after backward, before the optimizer's step.\"\"\"\n    \
             nn.utils.clip_grad_norm_(parameters, max_norm={})",
            py_float(max_norm)
        ),
        Some(Clip::Value { clip_value }) => format!(
            "    \"\"\"Called after backward, before the optimizer's step.\"\"\"\n    \
             nn.utils.clip_grad_value_(parameters, clip_value={})",
            py_float(clip_value)
        ),
    }
}

/// `schedule(optimizer, steps_per_epoch, epochs)`: none, or nnspec's
/// construction (the `Schedule` class, emitted only when used).
fn schedule(config: &TrainConfig, out: &mut String) {
    if config.schedule.is_none() && config.warmup == 0 {
        let _ = writeln!(
            out,
            "def schedule(optimizer, steps_per_epoch, epochs=EPOCHS):"
        );
        let _ = writeln!(
            out,
            "    \"\"\"None: the train block has no schedule, the optimizer's lr holds.\"\"\""
        );
        return;
    }
    out.push_str(include_str!("schedule.py"));
    let (per, build) = match &config.schedule {
        None => ("None", "None".to_string()),
        Some(schedule) => {
            let (per, scheduler) = scheduler(schedule);
            let build = format!("lambda: torch.optim.lr_scheduler.{scheduler}");
            (per, wrap("build=", &build, 8))
        }
    };
    let _ = writeln!(
        out,
        "\n\ndef schedule(optimizer, steps_per_epoch, epochs=EPOCHS):"
    );
    let _ = writeln!(out, "    return Schedule(");
    let _ = writeln!(out, "        optimizer,");
    let _ = writeln!(out, "        warmup_epochs={},", config.warmup);
    let _ = writeln!(out, "        steps_per_epoch=steps_per_epoch,");
    let _ = writeln!(out, "        per={per},");
    let _ = writeln!(out, "        build={build},");
    let _ = writeln!(out, "    )");
}

/// When the scheduler steps (`"epoch"`, `"step"`, `"plateau"`) and its
/// construction.
fn scheduler(schedule: &Schedule) -> (&'static str, String) {
    match schedule {
        Schedule::Step { step_size, gamma } => (
            "\"epoch\"",
            format!(
                "StepLR(optimizer, step_size={step_size}, gamma={})",
                py_float(*gamma)
            ),
        ),
        Schedule::MultiStep { milestones, gamma } => {
            let milestones: Vec<String> = milestones.iter().map(usize::to_string).collect();
            (
                "\"epoch\"",
                format!(
                    "MultiStepLR(optimizer, milestones=[{}], gamma={})",
                    milestones.join(", "),
                    py_float(*gamma)
                ),
            )
        }
        Schedule::Exponential { gamma } => (
            "\"epoch\"",
            format!("ExponentialLR(optimizer, gamma={})", py_float(*gamma)),
        ),
        Schedule::Cosine { t_max, eta_min } => (
            "\"epoch\"",
            format!(
                "CosineAnnealingLR(optimizer, T_max={t_max}, eta_min={})",
                py_float(*eta_min)
            ),
        ),
        Schedule::OneCycle {
            max_lr,
            pct_start,
            anneal,
            div_factor,
            final_div_factor,
            three_phase,
        } => (
            "\"step\"",
            format!(
                "OneCycleLR(optimizer, max_lr={}, total_steps=epochs * steps_per_epoch, \
                 pct_start={}, anneal_strategy=\"{}\", div_factor={}, final_div_factor={}, \
                 three_phase={}, cycle_momentum=False)",
                py_float(*max_lr),
                py_float(*pct_start),
                match anneal {
                    Anneal::Cos => "cos",
                    Anneal::Linear => "linear",
                },
                py_float(*div_factor),
                py_float(*final_div_factor),
                py_bool(*three_phase)
            ),
        ),
        Schedule::Plateau {
            factor,
            patience,
            threshold,
            threshold_mode,
            cooldown,
            min_lr,
            eps,
        } => (
            "\"plateau\"",
            format!(
                "ReduceLROnPlateau(optimizer, mode=\"min\", factor={}, patience={patience}, \
                 threshold={}, threshold_mode=\"{}\", cooldown={cooldown}, min_lr={}, eps={})",
                py_float(*factor),
                py_float(*threshold),
                match threshold_mode {
                    ThresholdMode::Rel => "rel",
                    ThresholdMode::Abs => "abs",
                },
                py_float(*min_lr),
                py_float(*eps)
            ),
        ),
    }
}
