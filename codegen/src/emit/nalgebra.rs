//! nalgebra at the boundary of generated code: a model of one input and
//! one output also takes and returns nalgebra types, with no copy.
//!
//! `SVector<f32, N>` is `N` contiguous floats, and a matrix with one column
//! per sample is, nalgebra being column-major, sample after sample: the
//! row-major batch `forward_batch` takes. So the methods hand nalgebra's
//! storage straight to `forward_batch`. The kernels stay ours
//! (docs/architecture.md says why).

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::{EmitError, Emitter};

/// Where generated code finds nalgebra.
#[derive(Clone, Debug)]
pub struct Nalgebra {
    /// The path of the nalgebra crate (`nalgebra`, `::nnspec::nalgebra`).
    pub path: String,
    /// A macro the methods are wrapped in, if any: the `nnspec` facade's
    /// `__with_nalgebra!` expands its input only when its `nalgebra`
    /// feature is on, so `model!` code compiles either way.
    pub gate: Option<String>,
}

impl Emitter<'_> {
    /// The nalgebra methods (empty for models of several inputs or outputs).
    pub(super) fn nalgebra_impl(
        &self,
        options: &Nalgebra,
        input_len: &Ident,
        output_len: &Ident,
    ) -> Result<TokenStream, EmitError> {
        if self.plan.inputs.len() != 1 || self.plan.outputs.len() != 1 {
            return Ok(quote!());
        }
        let na: syn::Path = syn::parse_str(&options.path)
            .map_err(|_| EmitError::bad_path("nalgebra", &options.path))?;
        let ty = &self.type_name;
        let input = &self.plan.buffer(self.plan.inputs[0]).name;
        let output = &self.plan.outputs[0].0;
        let vector_doc = format!(
            " One sample as nalgebra vectors: `{input}` in, `{output}` out (no copy: the vectors' storage is what [`{ty}::forward`] reads and writes)."
        );
        let columns_doc = format!(
            " A batch as nalgebra matrices with one column per sample: `{input}` in, `{output}` out. nalgebra is column-major, so a column per sample is the row-major batch [`{ty}::forward_batch`] takes, and no data is copied; `arena` as there."
        );
        let methods = quote! {
            impl<W: AsRef<[f32]>> #ty<W> {
                #[doc = #vector_doc]
                pub fn forward_vector(
                    &self,
                    x: &#na::SVector<f32, #input_len>,
                ) -> #na::SVector<f32, #output_len> {
                    let mut arena = [0.0f32; ARENA_LEN];
                    let mut y = #na::SVector::<f32, #output_len>::zeros();
                    self.forward_batch(x.as_slice(), y.as_mut_slice(), &mut arena, &Serial);
                    y
                }

                #[doc = #columns_doc]
                pub fn forward_columns(
                    &self,
                    x: &#na::OMatrix<f32, #na::Const<#input_len>, #na::Dyn>,
                    y: &mut #na::OMatrix<f32, #na::Const<#output_len>, #na::Dyn>,
                    arena: &mut [f32],
                    par: &dyn Threads,
                ) {
                    self.forward_batch(x.as_slice(), y.as_mut_slice(), arena, par);
                }
            }
        };
        Ok(match &options.gate {
            Some(gate) => {
                let gate: syn::Path =
                    syn::parse_str(gate).map_err(|_| EmitError::bad_path("nalgebra gate", gate))?;
                quote!(#gate! { #methods })
            }
            None => methods,
        })
    }
}
