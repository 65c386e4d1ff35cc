//! The generated `forward` of a model reading token ids: its token inputs
//! are `&[i64; N]`, checked against their table and written as the f32
//! the arena carries them in (as `forward_batch` takes them), and it
//! returns a `Result` whose error is the first id outside the table.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use nnspec_runtime::plan::Plan;

use super::lit;

/// `forward`'s input parameters, the checks that convert token ids, and
/// whether there are any.
pub(super) struct SampleInputs {
    pub params: Vec<TokenStream>,
    pub checks: Vec<TokenStream>,
    pub takes_tokens: bool,
}

pub(super) fn sample_inputs(plan: &Plan, args: &[Ident], consts: &[Ident]) -> SampleInputs {
    let mut inputs = SampleInputs {
        params: Vec::new(),
        checks: Vec::new(),
        takes_tokens: false,
    };
    for (i, (a, c)) in args.iter().zip(consts).enumerate() {
        match plan.token_bound(i) {
            Some(num) => {
                let num = lit(num);
                inputs.params.push(quote!(#a: &[i64; #c]));
                inputs.checks.push(quote! {
                    let #a = {
                        let mut ids = [0.0f32; #c];
                        kernels::embedding::ids_to_f32(#a, #num, &mut ids)?;
                        ids
                    };
                });
                inputs.takes_tokens = true;
            }
            None => inputs.params.push(quote!(#a: &[f32; #c])),
        }
    }
    inputs
}

/// `forward`'s return type and value: wrapped in a `Result` when it
/// checks token ids.
pub(super) fn returns(
    takes_tokens: bool,
    ty: TokenStream,
    value: TokenStream,
) -> (TokenStream, TokenStream) {
    if takes_tokens {
        (
            quote!(Result<#ty, kernels::embedding::TokenError>),
            quote!(Ok(#value)),
        )
    } else {
        (ty, value)
    }
}

/// The docs of `forward` and `forward_batch`, with what each does with
/// token ids.
pub(super) fn docs(takes_tokens: bool, one: String, batch: String) -> (String, String) {
    if !takes_tokens {
        return (one, batch);
    }
    (
        format!(
            "{one} Token ids (i64) are checked: one outside its embedding's `0..num_embeddings` is an `Err`, and nothing runs."
        ),
        format!(
            "{batch} Token ids come as f32 integers (exact below 2^24), unchecked: an id outside its embedding's table gives NaN outputs, never a read out of bounds; `kernels::embedding::ids_to_f32` checks and converts them."
        ),
    )
}
