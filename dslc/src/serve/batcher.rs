//! The dynamic batcher, as Triton's: requests wait in a bounded queue; one
//! thread (not a tokio worker, so a forward pass never stalls the async
//! runtime) takes the first, then gathers more until the batch holds
//! `max_batch` samples or `max_delay` has passed since the first arrived,
//! runs one forward pass over the concatenated rows and answers each
//! request with its own rows through its oneshot channel.
//!
//! Reloads travel the same queue, so a new checkpoint takes effect between
//! two batches: a batch runs wholly on the old or wholly on the new weights.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use nnspec_runtime::checkpoint::load_state_dict;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::plan::Plan;
use nnspec_runtime::quantize::{self, QPlan};
use nnspec_runtime::safetensors_file::Checkpoint;
use tokio::sync::oneshot;

use super::metrics::Metrics;

/// One request's samples, already validated: `samples × sample_len` values
/// in the arena's f32 form (token ids as exact integers).
pub struct Job {
    pub rows: Vec<f32>,
    pub samples: usize,
    /// Each output's values for these samples, in plan order.
    pub reply: oneshot::Sender<Result<Vec<Vec<f32>>, String>>,
}

pub enum Message {
    Infer(Job),
    Reload(Box<Checkpoint>, oneshot::Sender<Result<(), String>>),
}

pub enum SubmitError {
    /// The queue is full: answer 503 and let the client retry.
    Full,
    /// The batcher has stopped (shutting down).
    Closed,
}

#[derive(Clone)]
pub struct Handle {
    sender: SyncSender<Message>,
    /// Requests queued or gathered into a batch not yet run; the queue's
    /// bound is on these, so a request waiting out `max_delay` counts.
    waiting: Arc<AtomicUsize>,
    limit: usize,
    model: Arc<str>,
    metrics: Arc<Metrics>,
}

impl Handle {
    pub fn submit(&self, job: Job) -> Result<(), SubmitError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limit {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(SubmitError::Full);
        }
        let samples = job.samples as i64;
        self.metrics.queue_change(&self.model, samples);
        match self.sender.try_send(Message::Infer(job)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                self.metrics.queue_change(&self.model, -samples);
                Err(match e {
                    TrySendError::Full(_) => SubmitError::Full,
                    TrySendError::Disconnected(_) => SubmitError::Closed,
                })
            }
        }
    }

    /// Queues a reload, waiting for room (a reload is never refused for a
    /// busy queue); blocking, so call it off the async runtime.
    pub fn reload(
        &self,
        checkpoint: Checkpoint,
    ) -> Result<oneshot::Receiver<Result<(), String>>, String> {
        let (tx, rx) = oneshot::channel();
        self.sender
            .send(Message::Reload(Box::new(checkpoint), tx))
            .map_err(|_| "the server is shutting down".to_string())?;
        Ok(rx)
    }
}

/// What runs a batch: the f32 executor (allocated once for `max_batch`
/// samples), or the int8 plan of a `dslc quantize` checkpoint, which
/// answers its first output.
pub enum Engine {
    Float(Box<Executor>),
    Int8 {
        /// The float plan, to check and load a reloaded int8 checkpoint.
        plan: Box<Plan>,
        q: Box<QPlan>,
    },
}

pub struct Settings {
    pub max_batch: usize,
    pub max_delay: Duration,
    pub queue: usize,
}

/// Starts the batcher thread for `exec`, which must hold `max_batch` samples.
pub fn start(
    model: &str,
    engine: Engine,
    settings: &Settings,
    metrics: Arc<Metrics>,
) -> std::io::Result<(Handle, std::thread::JoinHandle<()>)> {
    // Room for every admitted request plus reloads; admission is `waiting`'s.
    let (sender, receiver) = std::sync::mpsc::sync_channel(settings.queue + 4);
    let model: Arc<str> = Arc::from(model);
    let waiting = Arc::new(AtomicUsize::new(0));
    let worker = Worker {
        waiting: waiting.clone(),
        engine,
        rows: Vec::new(),
        receiver,
        max_batch: settings.max_batch,
        max_delay: settings.max_delay,
        model: model.clone(),
        metrics: metrics.clone(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("batcher-{model}"))
        .spawn(move || worker.run())?;
    Ok((
        Handle {
            sender,
            waiting,
            limit: settings.queue,
            model,
            metrics,
        },
        thread,
    ))
}

struct Worker {
    engine: Engine,
    /// The int8 engine's batch input, reused between batches.
    rows: Vec<f32>,
    waiting: Arc<AtomicUsize>,
    receiver: Receiver<Message>,
    max_batch: usize,
    max_delay: Duration,
    model: Arc<str>,
    metrics: Arc<Metrics>,
}

impl Worker {
    fn run(mut self) {
        // A message taken while gathering that did not fit the batch.
        let mut carried: Option<Message> = None;
        loop {
            let first = match carried.take() {
                Some(message) => message,
                None => match self.receiver.recv() {
                    Ok(message) => message,
                    // Every sender is gone: the server has drained.
                    Err(_) => return,
                },
            };
            let first = match first {
                Message::Reload(checkpoint, reply) => {
                    self.reload(&checkpoint, reply);
                    continue;
                }
                Message::Infer(job) => job,
            };
            let deadline = Instant::now() + self.max_delay;
            let mut samples = first.samples;
            let mut batch = vec![first];
            while samples < self.max_batch {
                let wait = deadline.saturating_duration_since(Instant::now());
                let next = if wait.is_zero() {
                    self.receiver.try_recv().ok()
                } else {
                    // Timed out, or every sender gone: run what we have.
                    self.receiver.recv_timeout(wait).ok()
                };
                match next {
                    Some(Message::Infer(job)) if samples + job.samples <= self.max_batch => {
                        samples += job.samples;
                        batch.push(job);
                    }
                    // A reload or a job that does not fit waits for the
                    // next round, after this batch.
                    Some(other) => {
                        carried = Some(other);
                        break;
                    }
                    None => break,
                }
            }
            self.forward(batch, samples);
        }
    }

    fn forward(&mut self, batch: Vec<Job>, samples: usize) {
        self.waiting.fetch_sub(batch.len(), Ordering::SeqCst);
        self.metrics.queue_change(&self.model, -(samples as i64));
        self.metrics.batch(&self.model, samples);
        let results: Result<Vec<&[f32]>, String> = match &mut self.engine {
            Engine::Float(exec) => {
                let input = exec.input_mut(samples);
                let mut at = 0;
                for job in &batch {
                    input[at..at + job.rows.len()].copy_from_slice(&job.rows);
                    at += job.rows.len();
                }
                exec.forward(samples, false);
                let exec = &*exec;
                Ok((0..exec.plan().outputs.len())
                    .map(|o| exec.output(o, samples))
                    .collect())
            }
            Engine::Int8 { q, .. } => {
                self.rows.clear();
                for job in &batch {
                    self.rows.extend_from_slice(&job.rows);
                }
                match quantize::run_int8(q, &self.rows) {
                    Ok(out) => {
                        self.rows = out;
                        Ok(vec![self.rows.as_slice()])
                    }
                    Err(e) => Err(format!("the int8 forward pass failed: {e}")),
                }
            }
        };
        let mut first = 0;
        for job in batch {
            let answer = results.as_ref().map_err(Clone::clone).map(|outputs| {
                outputs
                    .iter()
                    .map(|all| {
                        let width = all.len() / samples;
                        all[first * width..(first + job.samples) * width].to_vec()
                    })
                    .collect()
            });
            first += job.samples;
            // The client may have timed out and gone; nothing to do then.
            let _ = job.reply.send(answer);
        }
    }

    fn reload(&mut self, checkpoint: &Checkpoint, reply: oneshot::Sender<Result<(), String>>) {
        // load_state_dict changes nothing unless every tensor fits, so a
        // wrong checkpoint leaves the old weights serving.
        let result = match &mut self.engine {
            Engine::Float(exec) => load_state_dict(exec, checkpoint).map_err(|e| e.to_string()),
            Engine::Int8 { plan, q } => quantize::load(plan, checkpoint)
                .map(|loaded| **q = loaded)
                .map_err(|e| e.to_string()),
        };
        let _ = reply.send(result);
    }
}
