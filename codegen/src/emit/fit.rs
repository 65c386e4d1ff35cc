//! `fit` for generated models that train and may use `std`: `dslc
//! train`'s loop (`nnspec_runtime::train::fit_trainee`: the same shuffles,
//! batches and dropout streams for a seed) driving the generated
//! `train_step`, with the model's `train` block as its settings. Emitted
//! only when the options name a `std` runtime, as data sets and threads
//! need it.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::{EmitError, Emitter, Training};
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
