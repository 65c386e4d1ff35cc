//! The int8 module's public functions around `forward_batch`: `forward`
//! (one sample on stack arenas, as the f32 module's), `forward_u8` (the
//! same sample's int8 outputs) and, per output dequantized from a tensor,
//! its quantization and `<output>_u8`, the tensor left in the arena.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use nnspec_runtime_core::quant::plan::QTensorId;

use super::super::ident;
use super::super::steps::Names;
use super::Int8Emitter;

/// What `forward_batch` and its neighbours are made of.
pub(super) struct Api {
    /// `forward` and `forward_u8`.
    pub methods: TokenStream,
    /// Module items: the outputs' quantization and `<output>_u8`.
    pub items: TokenStream,
    /// `forward_batch`'s slices (inputs, then outputs) and their checks.
    pub batch_params: Vec<TokenStream>,
    pub batch_checks: Vec<TokenStream>,
    pub first_input: Ident,
    pub first_const: Ident,
}

impl Int8Emitter<'_> {
    pub(super) fn api(
        &self,
        input_consts: &[Ident],
        output_consts: &[Ident],
        direct: &[bool],
        outputs_u8: &[Option<QTensorId>],
    ) -> Api {
        let plan = &self.q.float;
        let input_args: Vec<Ident> = plan
            .inputs
            .iter()
            .map(|&b| self.base.buffer(plan.root(b)))
            .collect();
        let output_args: Vec<Ident> = plan
            .outputs
            .iter()
            .zip(direct)
            .map(|((_, id, _), &d)| {
                if d {
                    self.base.buffer(plan.root(*id))
                } else {
                    ident(&format!("{}_out", self.base.buffer(*id)))
                }
            })
            .collect();
        let batch_params = input_args
            .iter()
            .map(|a| quote!(#a: &[f32]))
            .chain(output_args.iter().map(|a| quote!(#a: &mut [f32])))
            .collect();
        let batch_checks = input_args
            .iter()
            .zip(input_consts)
            .chain(output_args.iter().zip(output_consts))
            .map(|(a, c)| {
                let msg = format!("{a}: a whole number of samples, `batch` of them");
                quote!(assert_eq!(#a.len(), batch * #c, #msg);)
            })
            .collect();

        let names = |ids: &mut dyn Iterator<Item = String>| -> String {
            ids.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        };
        let input_names = names(&mut plan.inputs.iter().map(|&b| plan.buffer(b).name.clone()));
        let output_names = names(&mut plan.outputs.iter().map(|(n, _, _)| n.clone()));
        let sample_inputs: Vec<TokenStream> = input_args
            .iter()
            .zip(input_consts)
            .map(|(a, c)| quote!(#a: &[f32; #c]))
            .collect();
        let sample_call_inputs: Vec<TokenStream> =
            input_args.iter().map(|a| quote!(#a.as_slice())).collect();
        let out_locals: Vec<Ident> = output_args
            .iter()
            .map(|a| ident(&format!("{a}_sample")))
            .collect();
        let tuple = |items: Vec<TokenStream>| {
            if items.len() == 1 {
                items[0].clone()
            } else {
                quote!((#(#items),*))
            }
        };
        let ret_ty = tuple(output_consts.iter().map(|c| quote!([f32; #c])).collect());
        let ret_val = tuple(out_locals.iter().map(|o| quote!(#o)).collect());
        let run_sample = quote! {
            let mut arena = [0u8; ARENA_U8_LEN];
            let mut float_arena = [0.0f32; ARENA_F32_LEN];
            #(let mut #out_locals = [0.0f32; #output_consts];)*
            self.forward_batch(#(#sample_call_inputs,)* #(&mut #out_locals,)* &mut arena, &mut float_arena, &Serial);
        };
        let one_doc = format!(
            " One sample: {input_names} in, {output_names} out, on the calling thread, with stack arenas of `ARENA_U8_LEN` bytes and `ARENA_F32_LEN` floats."
        );

        // The int8 outputs.
        let slots: Vec<&Ident> = plan
            .outputs
            .iter()
            .map(|(_, id, _)| &self.base.slot_idents[id.index()])
            .collect();
        let mut items = Vec::new();
        for (i, from) in outputs_u8.iter().enumerate() {
            let Some(t) = from else { continue };
            let (name, slot) = (&plan.outputs[i].0, slots[i]);
            let quant = ident(&format!("{slot}_QUANT"));
            let getter = ident(&format!("{}_u8", slot.to_string().to_lowercase()));
            let (tc, tensor) = (&self.tensor_consts[t.index()], &self.q.tensor(*t).name);
            let quant_doc =
                format!(" How output `{name}`'s integers (tensor `{tensor}`) are quantized.");
            let getter_doc = format!(
                " Output `{name}` as `u8` (tensor `{tensor}`, quantized as [`{quant}`]), as the last [`{}::forward_batch`] of `batch` samples left it in `arena`.",
                self.base.type_name
            );
            items.push(quote! {
                #[doc = #quant_doc]
                pub const #quant: QuantParams = activations::#tc;

                #[doc = #getter_doc]
                pub fn #getter(arena: &[u8], batch: usize) -> &[u8] {
                    let r = tensor_layout::#tc;
                    &arena[r.start * batch..r.end * batch]
                }
            });
        }
        let forward_u8 = if outputs_u8.iter().all(Option::is_some) {
            let getters = slots
                .iter()
                .map(|s| ident(&format!("{}_u8", s.to_string().to_lowercase())));
            let q_locals: Vec<Ident> = output_args
                .iter()
                .map(|a| ident(&format!("{a}_q")))
                .collect();
            let ret_ty = tuple(output_consts.iter().map(|c| quote!([u8; #c])).collect());
            let ret_val = tuple(q_locals.iter().map(|o| quote!(#o)).collect());
            let doc = format!(
                " One sample's int8 outputs: {output_names} as the `u8` values they are dequantized from (the integers every kernel tier and the int8 executor agree on)."
            );
            quote! {
                #[doc = #doc]
                pub fn forward_u8(&self, #(#sample_inputs),*) -> #ret_ty {
                    #run_sample
                    #(let _ = #out_locals;)*
                    #(
                        let mut #q_locals = [0u8; #output_consts];
                        #q_locals.copy_from_slice(#getters(&arena, 1));
                    )*
                    #ret_val
                }
            }
        } else {
            quote!()
        };
        let methods = quote! {
            #[doc = #one_doc]
            pub fn forward(&self, #(#sample_inputs),*) -> #ret_ty {
                #run_sample
                #ret_val
            }

            #forward_u8
        };
        Api {
            methods,
            items: quote!(#(#items)*),
            batch_params,
            batch_checks,
            first_input: input_args[0].clone(),
            first_const: input_consts[0].clone(),
        }
    }
}
