//! `fit` for generated models that train and may use `std`: `dslc
//! train`'s loop (`nnspec_runtime::train::fit_trainee`: the same shuffles,
//! batches and dropout streams for a seed) driving the generated
//! `train_step`, with the model's `train` block as its settings. Emitted
//! only when the options name a `std` runtime, as data sets and threads
//! need it.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::{EmitError, Emitter, Training};
use nnspec_runtime::schedule::{Anneal, Schedule, ThresholdMode};
use nnspec_runtime::train::Monitor;

impl Emitter<'_> {
    /// `fit` and the adapter it drives the training loop through; `input`
    /// and `output` are the per-sample length constants.
    pub(super) fn fit_impl(
        &self,
        std_path: &str,
        training: &Training<'_>,
        input: &Ident,
        output: &Ident,
    ) -> Result<TokenStream, EmitError> {
        let rt: syn::Path =
            syn::parse_str(std_path).map_err(|_| EmitError::bad_path("std runtime", std_path))?;
        let ty = &self.type_name;
        let validation = match training.validation {
            Some(fraction) => {
                let fraction = proc_macro2::Literal::f64_unsuffixed(fraction);
                quote!(Some(#fraction))
            }
            None => quote!(None),
        };
        let early_stopping = match training.early_stopping {
            Some(e) => {
                let monitor = match e.monitor {
                    Monitor::ValLoss => quote!(ValLoss),
                    Monitor::ValAccuracy => quote!(ValAccuracy),
                };
                let patience = proc_macro2::Literal::usize_unsuffixed(e.patience);
                let min_delta = proc_macro2::Literal::f64_unsuffixed(e.min_delta);
                quote!(Some(#rt::train::EarlyStopping {
                    monitor: #rt::train::Monitor::#monitor,
                    patience: #patience,
                    min_delta: #min_delta,
                }))
            }
            None => quote!(None),
        };
        let lr = match (&training.schedule, training.warmup) {
            (None, 0) => quote!(None),
            (schedule, warmup) => {
                let schedule = match schedule {
                    Some(s) => {
                        let s = schedule_tokens(&rt, s);
                        quote!(Some(#s))
                    }
                    None => quote!(None),
                };
                let warmup = proc_macro2::Literal::usize_unsuffixed(warmup);
                let base_lr = proc_macro2::Literal::f64_unsuffixed(training.base_lr);
                quote!(Some(#rt::train::LrPlan {
                    schedule: #schedule,
                    warmup: #warmup,
                    base_lr: #base_lr,
                    total_epochs: training::EPOCHS,
                    scheduler: None,
                }))
            }
        };
        Ok(quote! {
            impl<W: AsRef<[f32]> + AsMut<[f32]>> #ty<W> {
                /// Trains on `train` as the model's `train` block says
                /// ([`training::EPOCHS`] passes in batches of
                /// [`training::BATCH`], shuffled from [`training::SEED`]:
                /// the batches `dslc train` draws), evaluating on
                /// `validation` after each epoch (without one, on the share
                /// of `train` the block's `validation` holds out, if any);
                /// one record per epoch, and the best epoch. With
                /// `early_stopping` in the block, training stops when the
                /// validation metric stops improving and ends with the best
                /// epoch's weights.
                pub fn fit<S: AsRef<[f32]> + AsMut<[f32]>>(
                    &mut self,
                    train: &#rt::data::Dataset,
                    validation: Option<&#rt::data::Dataset>,
                    state: &mut training::TrainState<S>,
                    par: &dyn #rt::threads::Threads,
                ) -> Result<#rt::train::Fitted, #rt::train::TrainError> {
                    let options = #rt::train::FitOptions {
                        epochs: training::EPOCHS,
                        batch: training::BATCH,
                        seed: training::SEED,
                        start_epoch: 0,
                        validation: #validation,
                        early_stopping: #early_stopping,
                        lr: #lr,
                    };
                    let mut fitting = Fitting {
                        model: self,
                        state,
                        par,
                        x: #rt::Vec::new(),
                        labels: #rt::Vec::new(),
                        arena: #rt::Vec::new(),
                    };
                    #rt::train::fit_trainee(&mut fitting, train, validation, &options, &mut #rt::train::Silent)
                }
            }

            /// The generated model as the training loop drives it, with the
            /// buffers of a batch.
            struct Fitting<'a, W, S> {
                model: &'a mut #ty<W>,
                state: &'a mut training::TrainState<S>,
                par: &'a dyn #rt::threads::Threads,
                x: #rt::Vec<f32>,
                labels: #rt::Vec<u32>,
                arena: #rt::Vec<f32>,
            }

            impl<W: AsRef<[f32]> + AsMut<[f32]>, S: AsRef<[f32]> + AsMut<[f32]>> #rt::train::Trainee
                for Fitting<'_, W, S>
            {
                fn input_len(&self) -> usize {
                    #input
                }

                fn classes(&self) -> usize {
                    #output
                }

                fn capacity(&self) -> usize {
                    training::BATCH
                }

                fn train_batch(
                    &mut self,
                    data: &#rt::data::Dataset,
                    indices: &[usize],
                ) -> training::StepStats {
                    let batch = indices.len();
                    self.x.resize(batch * #input, 0.0);
                    self.labels.resize(batch, 0);
                    data.gather_batch(indices, &mut self.x, &mut self.labels);
                    self.arena.resize(training::arena_len(batch, self.par.threads()), 0.0);
                    self.model.train_step(&self.x, &self.labels, self.state, &mut self.arena, self.par)
                }

                fn seed_dropout(&mut self, seed: u64) {
                    self.state.seed_dropout(seed);
                }

                fn set_lr(&mut self, lr: f64) {
                    self.state.set_lr(lr as f32);
                }

                fn evaluate(&mut self, data: &#rt::data::Dataset) -> #rt::train::Evaluation {
                    let (model, par, arena) = (&*self.model, self.par, &mut self.arena);
                    #rt::train::evaluate_with(data, training::BATCH, training::LOSS, &mut |x, out| {
                        arena.resize(arena_len(x.len() / #input, par.threads()), 0.0);
                        model.forward_batch(x, out, arena, par);
                    })
                }

                fn snapshot(&self) -> #rt::train::Snapshot {
                    let (values, counters) = (self.model.weights.as_ref(), self.state.counters());
                    #rt::train::Snapshot {
                        values: values.to_vec(),
                        counters: counters.to_vec(),
                    }
                }

                fn restore(&mut self, snapshot: &#rt::train::Snapshot) {
                    self.model.weights.as_mut().copy_from_slice(&snapshot.values);
                    self.state.parts().counters.copy_from_slice(&snapshot.counters);
                }
            }
        })
    }
}

/// A schedule as the expression that builds it.
fn schedule_tokens(rt: &syn::Path, schedule: &Schedule) -> TokenStream {
    let f = proc_macro2::Literal::f64_unsuffixed;
    let n = proc_macro2::Literal::usize_unsuffixed;
    let s = quote!(#rt::schedule::Schedule);
    match schedule {
        Schedule::Step { step_size, gamma } => {
            let (step_size, gamma) = (n(*step_size), f(*gamma));
            quote!(#s::Step { step_size: #step_size, gamma: #gamma })
        }
        Schedule::MultiStep { milestones, gamma } => {
            let (milestones, gamma) = (milestones.iter().map(|&m| n(m)), f(*gamma));
            quote!(#s::MultiStep { milestones: #rt::Vec::from([#(#milestones),*]), gamma: #gamma })
        }
        Schedule::Exponential { gamma } => {
            let gamma = f(*gamma);
            quote!(#s::Exponential { gamma: #gamma })
        }
        Schedule::Cosine { t_max, eta_min } => {
            let (t_max, eta_min) = (n(*t_max), f(*eta_min));
            quote!(#s::Cosine { t_max: #t_max, eta_min: #eta_min })
        }
        Schedule::OneCycle {
            max_lr,
            pct_start,
            anneal,
            div_factor,
            final_div_factor,
            three_phase,
        } => {
            let anneal = match anneal {
                Anneal::Cos => quote!(Cos),
                Anneal::Linear => quote!(Linear),
            };
            let (max_lr, pct_start) = (f(*max_lr), f(*pct_start));
            let (div_factor, final_div_factor) = (f(*div_factor), f(*final_div_factor));
            quote!(#s::OneCycle {
                max_lr: #max_lr,
                pct_start: #pct_start,
                anneal: #rt::schedule::Anneal::#anneal,
                div_factor: #div_factor,
                final_div_factor: #final_div_factor,
                three_phase: #three_phase,
            })
        }
        Schedule::Plateau {
            factor,
            patience,
            threshold,
            threshold_mode,
            cooldown,
            min_lr,
            eps,
        } => {
            let mode = match threshold_mode {
                ThresholdMode::Rel => quote!(Rel),
                ThresholdMode::Abs => quote!(Abs),
            };
            let (factor, patience, threshold) = (f(*factor), n(*patience), f(*threshold));
            let (cooldown, min_lr, eps) = (n(*cooldown), f(*min_lr), f(*eps));
            quote!(#s::Plateau {
                factor: #factor,
                patience: #patience,
                threshold: #threshold,
                threshold_mode: #rt::schedule::ThresholdMode::#mode,
                cooldown: #cooldown,
                min_lr: #min_lr,
                eps: #eps,
            })
        }
    }
}
