//! Safetensors files for generated models that may use `std`: loading the
//! `model.safetensors` that `dslc train` writes (PyTorch's `state_dict`)
//! and saving one PyTorch loads. Emitted only when the options name a
//! `std` runtime (`nnspec_runtime`, or `::nnspec::runtime` for `model!`),
//! since the no_std core has no files.

use proc_macro2::TokenStream;
use quote::quote;

use nnspec_runtime::plan::ParamKind;

use super::{EmitError, Emitter};

impl Emitter<'_> {
    /// `load_safetensors` and `save_safetensors`, through the runtime at
    /// `std_path`.
    pub(super) fn checkpoint_impl(&self, std_path: &str) -> Result<TokenStream, EmitError> {
        let rt: syn::Path =
            syn::parse_str(std_path).map_err(|_| EmitError::bad_path("std runtime", std_path))?;
        let ty = &self.type_name;
        // BatchNorm's `num_batches_tracked`: PyTorch's strict loading wants
        // them, inference does not use them; saved as 0.
        let counters: Vec<&str> = self
            .plan
            .params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Counter))
            .map(|p| p.name.as_str())
            .collect();
        let count = proc_macro2::Literal::usize_unsuffixed(counters.len());
        Ok(quote! {
            impl #ty<#rt::Vec<f32>> {
                /// The weights of a safetensors file such as the
                /// `model.safetensors` of `dslc train` (PyTorch's
                /// `state_dict`): every parameter by name, with its shape
                /// checked; other tensors are ignored.
                pub fn load_safetensors(
                    path: impl AsRef<std::path::Path>,
                ) -> Result<Self, #rt::safetensors_file::CheckpointError> {
                    let checkpoint = #rt::safetensors_file::Checkpoint::load(path)?;
                    let mut weights = #rt::Vec::with_capacity(WEIGHTS_LEN);
                    weights.resize(WEIGHTS_LEN, 0.0);
                    for (name, range, shape) in params::ALL {
                        weights[range].copy_from_slice(checkpoint.f32(name, shape)?);
                    }
                    Ok(#ty { weights })
                }
            }

            impl<W: AsRef<[f32]>> #ty<W> {
                /// Saves the weights as a safetensors `state_dict` that
                /// PyTorch's `load_state_dict` and `load_safetensors` read
                /// (written to a temporary file and renamed).
                pub fn save_safetensors(
                    &self,
                    path: impl AsRef<std::path::Path>,
                ) -> Result<(), #rt::safetensors_file::CheckpointError> {
                    let mut checkpoint = #rt::safetensors_file::Checkpoint::new();
                    let weights = self.weights.as_ref();
                    for (name, range, shape) in params::ALL {
                        checkpoint.insert_f32(name, shape, &weights[range])?;
                    }
                    let counters: [&str; #count] = [#(#counters),*];
                    for name in counters {
                        checkpoint.insert_i64(name, &[], &[0])?;
                    }
                    checkpoint.save(path)
                }
            }
        })
    }
}
