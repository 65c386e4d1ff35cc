//! The body of the generated `forward_batch`: a block per step that
//! borrows the step's values from the arena and calls its kernel, then the
//! copies of outputs that could not be written in place.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use nnspec_runtime::plan::BufferId;

use super::memory::ArenaLayout;
use super::steps::{Names, StepCode};
use super::{Emitter, ident};

impl Emitter<'_> {
    /// One block per step, its comment above it. `range` gives the
    /// expression of a buffer's place in `values`, or `None` for buffers
    /// that are not there (the caller's slices, index buffers).
    pub(super) fn step_blocks(
        &self,
        code: &[StepCode],
        range: &dyn Fn(BufferId) -> Option<TokenStream>,
    ) -> Vec<TokenStream> {
        code.iter()
            .map(|c| {
                let mut reads: Vec<(BufferId, TokenStream)> = Vec::new();
                for &r in &c.access.reads {
                    if let Some(at) = range(r)
                        && !reads.iter().any(|(b, _)| *b == r)
                    {
                        reads.push((r, at));
                    }
                }
                let writes: Vec<(BufferId, TokenStream)> = c
                    .access
                    .writes
                    .iter()
                    .filter_map(|&w| range(w).map(|at| (w, at)))
                    .collect();
                let call = &c.call;
                let bind = |ids: &[(BufferId, TokenStream)]| -> (Vec<Ident>, Vec<TokenStream>) {
                    ids.iter().map(|(b, at)| (self.buffer(*b), at.clone())).unzip()
                };
                let (read_names, read_ranges) = bind(&reads);
                let (write_names, write_ranges) = bind(&writes);
                let views = if reads.is_empty() && writes.is_empty() {
                    quote!()
                } else {
                    quote!(let ([#(#read_names),*], [#(#write_names),*]) = views(values, [#(#read_ranges),*], [#(#write_ranges),*]);)
                };
                let comment = self.comment(&c.comment);
                quote! {
                    #comment
                    {
                        #views
                        #call
                    }
                }
            })
            .collect()
    }

    /// Outputs that are copied rather than written in place (`direct`
    /// says which outputs are written in place).
    pub(super) fn output_copies(&self, direct: &[bool], layout: &ArenaLayout) -> Vec<TokenStream> {
        let plan = self.plan;
        plan.outputs
            .iter()
            .zip(direct)
            .filter(|(_, d)| !**d)
            .map(|((name, id, _), _)| {
                let out = ident(&format!("{}_out", self.buffer(*id)));
                let src = self.buffer(plan.root(*id));
                let comment = format!("{name}: a copy of `{}`", plan.buffer(plan.root(*id)).name);
                let comment = self.comment(&comment);
                let root = plan.root(*id);
                let read = if layout.offset[root.index()].is_some() {
                    let slot = &self.slot_idents[root.index()];
                    quote!(let ([#src], []) = views(values, [at(layout::#slot)], []);)
                } else {
                    quote!()
                };
                quote! {
                    #comment
                    {
                        #read
                        #out.copy_from_slice(#src);
                    }
                }
            })
            .collect()
    }
}
