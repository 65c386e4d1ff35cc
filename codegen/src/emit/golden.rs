//! A self-check for generated code (`dslc build --emit rust --with-test`):
//! a `#[test]` holding one input and the output the executor computed for
//! it when the module was generated, with the weights of `new(SEED)`.
//!
//! The test compares within a tolerance, not bit for bit: it may run on
//! another machine, whose kernel tier sums in another order (on the same
//! tier, generated code and executor agree exactly; the workspace's
//! `generated-check` tests hold them to that).

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use nnspec_runtime::exec::Executor;
use nnspec_runtime::plan::Plan;
use nnspec_runtime::rng::Rng;

use super::EmitError;
use super::names::Namer;

/// The seed of the weights the golden output is computed with.
const SEED: u64 = 7;

/// The test module for inference `plan`'s generated code, as text to
/// append to the module.
pub fn golden_test(plan: &Plan) -> Result<String, EmitError> {
    if plan.inputs.len() != 1 || plan.outputs.len() != 1 {
        return Err(EmitError::GoldenShape);
    }
    let mut exec = Executor::new(plan.clone(), 1, 1).map_err(|_| EmitError::GoldenShape)?;
    exec.init_params(SEED);
    let mut rng = Rng::new(SEED);
    // Token ids are drawn from their table's ids, floats from [-1, 1).
    let tokens = plan.token_bound(0);
    let input: Vec<f32> = exec
        .input_mut(1)
        .iter_mut()
        .map(|v| {
            *v = match tokens {
                Some(num) => rng.below(num) as f32,
                None => rng.uniform(-1.0, 1.0),
            };
            *v
        })
        .collect();
    exec.forward(1, false);
    let output = exec.output(0, 1).to_vec();

    let ty = format_ident!("{}", Namer::default().type_name(&plan.model));
    let floats =
        |v: &[f32]| -> Vec<Literal> { v.iter().map(|&x| Literal::f32_suffixed(x)).collect() };
    let (input_lits, output_lits) = (floats(&input), floats(&output));
    let (input_ty, input_lits, call) = match tokens {
        Some(_) => (
            quote!(i64),
            input
                .iter()
                .map(|&x| Literal::i64_unsuffixed(x as i64))
                .collect(),
            quote!(model.forward(&INPUT).expect("the ids are the table's")),
        ),
        None => (quote!(f32), input_lits, quote!(model.forward(&INPUT))),
    };
    let (n_in, n_out) = (
        Literal::usize_unsuffixed(input.len()),
        Literal::usize_unsuffixed(output.len()),
    );
    let seed = Literal::u64_unsuffixed(SEED);
    let doc = format!(
        " Generated code against the executor that generated it: weights of `new({SEED})`, one input, the executor's output (nnspec {}).",
        env!("CARGO_PKG_VERSION")
    );
    let tokens: TokenStream = quote! {
        #[cfg(test)]
        #[doc = #doc]
        mod golden {
            use super::*;

            const INPUT: [#input_ty; #n_in] = [#(#input_lits),*];
            const OUTPUT: [f32; #n_out] = [#(#output_lits),*];

            #[test]
            fn forward_matches_the_executor() {
                let model = #ty::new(#seed);
                let got = #call;
                for (i, (&g, &w)) in got.iter().zip(OUTPUT.iter()).enumerate() {
                    // Another kernel tier sums in another order.
                    let tolerance = 1e-5 + 1e-4 * w.abs();
                    assert!((g - w).abs() <= tolerance, "output {i}: {g} against {w}");
                }
            }
        }
    };
    let file: syn::File = syn::parse2(tokens).expect("the golden test parses");
    Ok(prettyplease::unparse(&file))
}
