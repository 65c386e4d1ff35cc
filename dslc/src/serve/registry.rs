//! The served models: each with its signature, its checkpoint path and its
//! batcher; and reloading a checkpoint, which reads and checks the file off
//! the batcher, then swaps the weights between two batches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batcher::{self, Engine, Handle, Settings};
use super::metrics::Metrics;
use super::protocol::Signature;
use crate::session;

pub struct Served {
    pub signature: Signature,
    pub weights: PathBuf,
    /// The model's name in its file (checked against a reloaded checkpoint).
    pub model: String,
    /// Serving a `dslc quantize` int8 checkpoint (reloads take int8 ones).
    pub int8: bool,
    pub batcher: Handle,
}

/// What to serve: a name, a model file, the model in it and a checkpoint.
pub struct Spec {
    /// The name in URLs (default: the model's).
    pub name: Option<String>,
    pub file: PathBuf,
    pub model: Option<String>,
    pub weights: PathBuf,
}

pub struct Registry {
    pub models: BTreeMap<String, Served>,
    pub metrics: Arc<Metrics>,
    pub max_batch: usize,
}

/// Builds each model's executor (at `max_batch` samples) and starts its
/// batcher; returns the batcher threads to join after shutdown.
pub fn build(
    specs: &[Spec],
    settings: &Settings,
    threads: usize,
    metrics: Arc<Metrics>,
) -> Result<(Registry, Vec<std::thread::JoinHandle<()>>), String> {
    let mut models = BTreeMap::new();
    let mut joins = Vec::new();
    for spec in specs {
        let job = session::load_job(&spec.file, spec.model.as_deref(), "serve stopped")?;
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| job.config.model.clone());
        if models.contains_key(&name) {
            return Err(format!(
                "two models are served as `{name}`; name them apart with --name or --serve NAME=..."
            ));
        }
        let plan = nnspec_codegen::lower_inference(&job.model);
        let tokens = session::token_bound(&job.model, &plan);
        let input = job.model.value(job.model.inputs[0]);
        let checkpoint = session::read_checkpoint(&spec.weights)
            .map_err(|e| format!("{}: {e}", spec.weights.display()))?;
        // An int8 checkpoint is one the int8 loader accepts; anything else
        // is checked as an f32 one, for that error message.
        let int8 = nnspec_runtime::quantize::load(&plan, &checkpoint).ok();
        let mut signature = Signature {
            input_name: input.binding.clone().unwrap_or_else(|| "input".to_string()),
            input_shape: plan.input_shapes[0].clone(),
            tokens,
            outputs: plan
                .outputs
                .iter()
                .map(|(name, _, shape)| (name.clone(), shape.clone()))
                .collect(),
        };
        let engine = match int8 {
            Some(q) => {
                signature.outputs.truncate(1);
                Engine::Int8 {
                    plan: Box::new(plan),
                    q: Box::new(q),
                }
            }
            None => {
                nnspec_runtime::checkpoint::check_model(&checkpoint, &job.config.model)
                    .map_err(|e| format!("{}: {e}", spec.weights.display()))?;
                let exec = session::restore(plan, &checkpoint, settings.max_batch, threads)
                    .map_err(|e| format!("{}: {e}", spec.weights.display()))?;
                Engine::Float(Box::new(exec))
            }
        };
        let int8 = matches!(engine, Engine::Int8 { .. });
        let (handle, join) = batcher::start(&name, engine, settings, metrics.clone())
            .map_err(|e| format!("cannot start the batcher thread: {e}"))?;
        joins.push(join);
        models.insert(
            name,
            Served {
                signature,
                weights: spec.weights.clone(),
                model: job.config.model.clone(),
                int8,
                batcher: handle,
            },
        );
    }
    Ok((
        Registry {
            models,
            metrics,
            max_batch: settings.max_batch,
        },
        joins,
    ))
}

fn read_checked(
    path: &Path,
    model: &str,
) -> Result<nnspec_runtime::safetensors_file::Checkpoint, String> {
    let checkpoint =
        session::read_checkpoint(path).map_err(|e| format!("{}: {e}", path.display()))?;
    nnspec_runtime::checkpoint::check_model(&checkpoint, model)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(checkpoint)
}

impl Registry {
    /// Reloads `name`'s checkpoint from its path. Blocking (reads the file
    /// and waits for room in the queue): call it off the async runtime. On
    /// any error the old weights keep serving.
    pub fn reload_blocking(
        &self,
        name: &str,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, String> {
        let served = self
            .models
            .get(name)
            .ok_or_else(|| format!("unknown model `{name}`"))?;
        let checkpoint = if served.int8 {
            // The batcher's int8 loader checks the model and the scheme.
            session::read_checkpoint(&served.weights)
                .map_err(|e| format!("{}: {e}", served.weights.display()))?
        } else {
            read_checked(&served.weights, &served.model)?
        };
        served.batcher.reload(checkpoint)
    }

    /// Reloads `name` and waits for the swap; logs and counts the outcome.
    pub async fn reload(self: &Arc<Self>, name: &str) -> Result<(), String> {
        let registry = self.clone();
        let owned = name.to_string();
        let queued = tokio::task::spawn_blocking(move || registry.reload_blocking(&owned))
            .await
            .map_err(|e| format!("reload task failed: {e}"))?;
        let result = match queued {
            Ok(swap) => swap
                .await
                .unwrap_or_else(|_| Err("the batcher stopped".to_string())),
            Err(e) => Err(e),
        };
        let weights = self
            .models
            .get(name)
            .map(|m| m.weights.display().to_string());
        match &result {
            Ok(()) => tracing::info!(model = name, weights, "reloaded checkpoint"),
            Err(error) => {
                tracing::error!(
                    model = name,
                    weights,
                    error,
                    "reload failed; the old weights keep serving"
                )
            }
        }
        if self.models.contains_key(name) {
            self.metrics.reload(name, result.is_ok());
        }
        result
    }
}
