//! The tables of a generated module: where each parameter sits in the
//! weights (`params`), where each value sits in the arena (`layout`), and
//! how the weights start (`init_weights`).

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use nnspec_runtime::plan::Size;

use super::memory::ArenaLayout;
use super::{Emitter, lit};

impl Emitter<'_> {
    /// `pub mod params`: a range per parameter and the `state_dict` table.
    pub(super) fn params_module(&self) -> TokenStream {
        let mut at = 0;
        let param_items: Vec<TokenStream> = self
            .weight_params()
            .map(|(i, p)| {
                let c = &self.param_idents[i];
                let (start, end) = (lit(at), lit(at + p.len()));
                at += p.len();
                let doc = format!(" `{}`: shape {:?}.", p.name, p.shape);
                quote!(#[doc = #doc] pub const #c: Range<usize> = #start..#end;)
            })
            .collect();
        let table_rows: Vec<TokenStream> = self
            .weight_params()
            .map(|(i, p)| {
                let c = &self.param_idents[i];
                let name = &p.name;
                let shape = p.shape.iter().map(|&d| lit(d));
                quote!((#name, #c, &[#(#shape),*]))
            })
            .collect();
        let param_count = lit(table_rows.len());
        quote! {
            /// Where each parameter sits in the weights, by PyTorch
            /// `state_dict` name (the order of `dslc train` checkpoints).
            pub mod params {
                use core::ops::Range;
                #(#param_items)*
                /// Every parameter: `state_dict` name, place, shape.
                pub const ALL: [(&str, Range<usize>, &[usize]); #param_count] = [#(#table_rows),*];
            }
        }
    }

    /// `mod layout`: each value's per-sample range in the arena.
    pub(super) fn layout_module(&self, layout: &ArenaLayout) -> TokenStream {
        let plan = self.plan;
        let per_sample = lit(layout.per_sample);
        let slot_items: Vec<TokenStream> = layout
            .offset
            .iter()
            .enumerate()
            .filter_map(|(b, off)| {
                let off = (*off)?;
                let len = match plan.buffers[b].size {
                    Size::PerSample(n) | Size::Fixed(n) => n,
                };
                let c = &self.slot_idents[b];
                let (start, end) = (lit(off), lit(off + len));
                let doc = format!(" `{}`, per sample.", plan.buffers[b].name);
                Some(quote!(#[doc = #doc] pub const #c: Range<usize> = #start..#end;))
            })
            .collect();
        quote! {
            /// Where each intermediate value sits in the arena, per sample (a
            /// batch of `n` multiplies both ends by `n`). Values never alive
            /// at the same time share memory.
            mod layout {
                use core::ops::Range;
                /// Floats per sample of every value.
                pub const PER_SAMPLE: usize = #per_sample;
                #(#slot_items)*
            }
        }
    }

    /// `init_weights`: the executor's initialization, parameter by parameter.
    pub(super) fn init_fn(&self) -> TokenStream {
        // Weights initialization.
        let inits = self.weight_params().map(|(i, p)| {
            let c = &self.param_idents[i];
            let name = &p.name;
            let init = match p.init {
                nnspec_runtime::plan::Init::Uniform { bound } => {
                    let b = Literal::f32_unsuffixed(bound);
                    quote!(Init::Uniform { bound: #b })
                }
                nnspec_runtime::plan::Init::Constant(v) => {
                    let v = Literal::f32_unsuffixed(v);
                    quote!(Init::Constant(#v))
                }
                nnspec_runtime::plan::Init::Normal { std } => {
                    let std = Literal::f32_unsuffixed(std);
                    quote!(Init::Normal { std: #std })
                }
            };
            quote!(init::fill(&mut weights[params::#c], #init, #name, seed);)
        });
        quote! {
            /// Fills `weights` as `dslc train --seed` starts them.
            pub fn init_weights(seed: u64, weights: &mut [f32; WEIGHTS_LEN]) {
                #(#inits)*
            }
        }
    }
}
