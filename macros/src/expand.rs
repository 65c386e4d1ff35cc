//! What `model!` expands to: the generated module of each model (as
//! `dslc build --emit rust` writes it, naming the runtime through the
//! `nnspec` facade), or `compile_error!`s at the tokens each problem is
//! about, every problem at once, next to stand-ins for the models that
//! keep the rest of the user's code free of follow-on errors.

use nnspec_codegen::emit::{Nalgebra, model_module_name, model_type_name, value_name};
use nnspec_codegen::{RustOptions, model_module};
use nnspec_dsl::ast::{self, Item, Stmt};
use nnspec_dsl::diagnostic::Diagnostic;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

use crate::parse::{SyntaxError, parse};
use crate::tokens::Tokens;

/// The path generated code names the runtime by, through the facade.
const RUNTIME: &str = "::nnspec::runtime";

pub fn expand(input: TokenStream) -> TokenStream {
    let tokens = Tokens::new(input);
    if tokens.list.is_empty() {
        return error_at(
            (Span::call_site(), Span::call_site()),
            "expected a model: `model Name { input x: f32[784]; output y = x -> dense(10); }`",
        );
    }
    let file = match parse(&tokens.list) {
        Ok(file) => file,
        Err(SyntaxError {
            message,
            first,
            last,
        }) => {
            return error_at(
                (tokens.list[first].span, tokens.list[last].span),
                &format!("syntax error: {message}"),
            );
        }
    };
    let compiled = nnspec_dsl::compile_tree(file.clone(), tokens.text.clone());
    let mut out = TokenStream::new();
    for diagnostic in compiled.diagnostics.iter().filter(|d| d.is_error()) {
        out.extend(diagnostic_error(&tokens, diagnostic));
    }
    for item in &file.items {
        let Item::Model(model) = item else { continue };
        let module = format_ident!("{}", model_module_name(&model.name.name));
        let ty = format_ident!("{}", model_type_name(&model.name.name));
        let body = match compiled.model(&model.name.name) {
            Some(checked) if !compiled.has_errors() => {
                let options = RustOptions {
                    runtime_path: RUNTIME.to_string(),
                    source: "model!".to_string(),
                    nalgebra: Some(Nalgebra {
                        path: "::nnspec::nalgebra".to_string(),
                        gate: Some("::nnspec::__with_nalgebra".to_string()),
                    }),
                    std_runtime: Some(RUNTIME.to_string()),
                };
                match model_module(checked, compiled.train(&checked.name), &options) {
                    Ok(code) => code
                        .parse::<TokenStream>()
                        .expect("generated code tokenizes"),
                    Err(e) => {
                        out.extend(error_at(
                            (Span::call_site(), Span::call_site()),
                            &e.to_string(),
                        ));
                        stand_in(model, trains(&file, model))
                    }
                }
            }
            _ => stand_in(model, trains(&file, model)),
        };
        let doc = format!(
            " The code generated for model `{}` (see its type, [`{}`]).",
            model.name.name,
            model_type_name(&model.name.name)
        );
        let source = &tokens.text;
        out.extend(quote! {
            #[doc = #doc]
            #[allow(clippy::all)]
            pub mod #module {
                /// The `model!` input as `.nn` text (comments dropped), for
                /// the executor (`nnspec::dsl::compile`) and `dslc`.
                pub const SOURCE: &str = #source;
                #body
            }
            pub use #module::#ty;
        });
    }
    out
}

/// `compile_error!(message)` spanning from the first to the last span, as
/// syn reports an error over several tokens.
fn error_at(spans: (Span, Span), message: &str) -> TokenStream {
    let first = proc_macro2::Ident::new("first", spans.0);
    let last = proc_macro2::Ident::new("last", spans.1);
    syn::Error::new_spanned(quote!(#first #last), message).to_compile_error()
}

/// One checker diagnostic as a `compile_error!` at its primary span. rustc
/// shows one message per `compile_error!`, so the label, notes and help
/// follow the message as rustc lays out its own notes, and the last line
/// names the long explanation (`dslc explain CODE`).
fn diagnostic_error(tokens: &Tokens, d: &Diagnostic) -> TokenStream {
    let mut message = d.message.clone();
    let label = &d.primary.message;
    if !label.is_empty() && !message.contains(label.as_str()) {
        message.push_str(&format!("\n  = label: {label}"));
    }
    for secondary in &d.secondary {
        let at = &tokens.text[secondary.span.start.min(tokens.text.len())
            ..secondary.span.end.min(tokens.text.len())];
        message.push_str(&format!("\n  = note: {} (`{at}`)", secondary.message));
    }
    for note in &d.notes {
        message.push_str(&format!("\n  = note: {note}"));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\n  = help: {help}"));
    }
    message.push_str(&format!("\n  = see: dslc explain {}", d.code));
    let spans = tokens.spans_of(d.primary.span.start, d.primary.span.end);
    error_at(spans, &message)
}

/// The public face of a model that did not check: its type and methods
/// with the signatures its input declarations imply, so code using the
/// model shows only the model's own errors.
/// Whether `file` has a `train` block for `model`.
fn trains(file: &ast::File, model: &ast::Model) -> bool {
    file.items
        .iter()
        .any(|item| matches!(item, Item::Train(t) if t.model.name == model.name.name))
}

/// The stand-in of a model with errors: its type with the signatures the
/// generated code would have (`forward`; with a `train` block, the
/// `training` module, `train_step` and `fit`), so code using it shows no
/// errors of its own.
fn stand_in(model: &ast::Model, trains: bool) -> TokenStream {
    let ty = format_ident!("{}", model_type_name(&model.name.name));
    let inputs: Vec<(proc_macro2::Ident, usize)> = model
        .stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Input(input) => Some((
                format_ident!("{}", value_name(&input.name.name)),
                input.dims.iter().map(|d| d.value.max(0) as usize).product(),
            )),
            _ => None,
        })
        .collect();
    let params = inputs.iter().map(|(name, len)| quote!(#name: &[f32; #len]));
    let training = if trains {
        let rt: TokenStream = RUNTIME.parse().expect("a Rust path");
        let slices = inputs.iter().map(|(name, _)| {
            let name = format_ident!("_{}", name);
            quote!(#name: &[f32])
        });
        quote! {
            /// A stand-in: the model has errors.
            pub mod training {
                pub use #rt::training::StepStats;
                pub const BATCH: usize = 1;
                pub const EPOCHS: usize = 1;
                pub const SEED: u64 = 0;
                pub const STATE_LEN: usize = 0;
                pub type TrainState<S> = #rt::training::TrainState<S, 0, 0>;
                pub fn state(_seed: u64) -> TrainState<#rt::Vec<f32>> {
                    unreachable!("the model did not compile")
                }
                pub fn arena_len(_batch: usize, _threads: usize) -> usize {
                    unreachable!("the model did not compile")
                }
            }
            impl<W> #ty<W> {
                /// A stand-in: the model has errors.
                pub fn train_step<S>(
                    &mut self,
                    #(#slices,)*
                    _labels: &[u32],
                    _state: &mut training::TrainState<S>,
                    _arena: &mut [f32],
                    _par: &dyn #rt::threads::Threads,
                ) -> training::StepStats {
                    unreachable!("the model did not compile")
                }
                /// A stand-in: the model has errors.
                pub fn fit<S>(
                    &mut self,
                    _train: &#rt::data::Dataset,
                    _test: Option<&#rt::data::Dataset>,
                    _state: &mut training::TrainState<S>,
                    _par: &dyn #rt::threads::Threads,
                ) -> Result<#rt::Vec<#rt::metrics::EpochRecord>, #rt::train::TrainError> {
                    unreachable!("the model did not compile")
                }
            }
        }
    } else {
        quote!()
    };
    quote! {
        #training
        /// A stand-in: the model has errors (see them above).
        pub struct #ty<W = ()> {
            _weights: W,
        }
        impl<W> #ty<W> {
            /// A stand-in: the model has errors.
            pub fn forward(&self, #(#params),*) -> [f32; 1] {
                unreachable!("the model did not compile")
            }
        }
    }
}
