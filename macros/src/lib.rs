//! The `model!` macro: the `.nn` language written inline in Rust.
//!
//! ```ignore
//! nnspec::model! {
//!     model MnistMlp {
//!         input x: f32[784];
//!         output logits = x -> dense(128) as fc1 -> relu -> dense(10) as fc2;
//!     }
//! }
//! let model = MnistMlp::new(0);
//! let logits: [f32; 10] = model.forward(&[0.0; 784]);
//! ```
//!
//! The tokens are parsed straight into the language's syntax tree (no
//! text round trip through the `.nn` parser; [`parse`]), checked by the
//! same checker as `.nn` files, and each model expands to the module
//! `dslc build --emit rust` generates (inside `pub mod mnist_mlp`, its type
//! re-exported). Every error becomes a `compile_error!` at the tokens it is
//! about, all of them at once, in `cargo check` and rust-analyzer too; a
//! model with errors still gets a stand-in type so code using it shows no
//! errors of its own. The expansion names the runtime as
//! `::nnspec::runtime`, so the calling crate depends on the `nnspec`
//! facade.

mod expand;
mod parse;
mod tokens;

/// The syntax-tree strategies the parser tests share with tests/roundtrip.rs.
#[cfg(test)]
#[path = "../../tests/support/ast_strategies.rs"]
mod ast_strategies;

/// The noise words the robustness test shares with tests/robustness.rs.
#[cfg(test)]
#[path = "../../tests/support/token_soup.rs"]
mod token_soup;

/// A model written in the `.nn` language, expanded to its generated Rust
/// module. See the crate documentation.
#[proc_macro]
pub fn model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand(input.into()).into()
}
