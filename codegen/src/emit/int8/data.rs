//! The static data of an int8 module: each quantized layer's packed
//! weights, weight sums, biases and requantization constants, each
//! tensor's quantization, and the parameters of the steps that run in
//! f32. On a microcontroller statics stay in flash.
//!
//! prettyplease prints an array literal one element per line, which for
//! the tutorial MLP's 100 352 weights would be a file of 100 000 lines; so
//! the token stream carries a placeholder (`__nnspec_data!(i)`) for each
//! array, and [`fill`] writes the numbers in after formatting, several to
//! a line.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use nnspec_runtime::plan::ParamId;
use nnspec_runtime_core::quant::plan::QLayer;

use super::super::{ident, lit};
use super::Int8Emitter;

/// The placeholder statement-free expression [`fill`] replaces.
const DATA_MACRO: &str = "__nnspec_data";

/// Columns of the filled-in arrays' lines (indentation included).
const WIDTH: usize = 100;

impl Int8Emitter<'_> {
    /// A placeholder for an array literal of `items` (each already Rust).
    fn data(&self, items: Vec<String>) -> TokenStream {
        let mut data = self.data.borrow_mut();
        let index = lit(data.len());
        data.push(items);
        let marker = ident(DATA_MACRO);
        quote!(#marker!(#index))
    }

    /// `pub mod layers`: per int8 layer a `PackedLayer` static over its
    /// data, and a convolution's geometry.
    pub(super) fn layers_module(&self) -> TokenStream {
        let items = self.q.layers.iter().enumerate().map(|(i, l)| {
            let c = &self.layer_consts[i];
            let [packed, sums, bias, requant] = &self.layer_data_consts[i];
            let (n, k) = (lit(l.n), lit(l.k));
            let shape = match &self.conv_shapes[i] {
                Some(shape) => {
                    let sc = &self.shape_consts[i];
                    let g = super::steps::conv_shape(shape);
                    let doc = format!(" `{}`'s geometry: {}.", l.name, super::steps::conv_text(shape));
                    quote!(#[doc = #doc] pub const #sc: ConvShape = #g;)
                }
                None => quote!(),
            };
            let what = match &self.conv_shapes[i] {
                Some(_) => "a convolution, its weight seen as a matrix",
                None => "a dense layer",
            };
            let doc = format!(
                " `{}`: {what}, {} outputs of {} inputs, in the kernels' packed layout.",
                l.name, l.n, l.k
            );
            let packed_len = lit(l.packed.len());
            let nl = lit(l.n);
            let data = self.layer_data(l);
            let [d_packed, d_sums, d_bias, d_requant] = data;
            let docs = [
                format!(" `{}.weight`, i8 in -127..=127 (per output channel scales folded into the requantization).", l.name),
                " Per output channel: the sum of its weights (for the input's zero point).".to_string(),
                " Per output channel: the bias at scale `x_scale · weight_scale[c]`.".to_string(),
                " Per output channel: `x_scale · weight_scale[c] / y_scale` in fixed point.".to_string(),
            ];
            let [doc_packed, doc_sums, doc_bias, doc_requant] = &docs;
            quote! {
                #[doc = #doc]
                pub static #c: PackedLayer<'static> = PackedLayer {
                    n: #n,
                    k: #k,
                    packed: &#packed,
                    weight_sums: &#sums,
                    bias: &#bias,
                    requant: &#requant,
                };
                #shape
                #[doc = #doc_packed]
                static #packed: [i8; #packed_len] = #d_packed;
                #[doc = #doc_sums]
                static #sums: [i32; #nl] = #d_sums;
                #[doc = #doc_bias]
                static #bias: [i32; #nl] = #d_bias;
                #[doc = #doc_requant]
                static #requant: [Requant; #nl] = #d_requant;
            }
        });
        let items: Vec<TokenStream> = items.collect();
        let uses_conv = self.conv_shapes.iter().any(Option::is_some);
        let conv_use = if uses_conv {
            quote!(
                use super::ConvShape;
            )
        } else {
            quote!()
        };
        quote! {
            /// The layers that run in int8, as the kernels read them: `u8`
            /// inputs times `i8` weights summed in `i32`, requantized to `u8`.
            pub mod layers {
                use super::{PackedLayer, Requant};
                #conv_use
                #(#items)*
            }
        }
    }

    fn layer_data(&self, l: &QLayer) -> [TokenStream; 4] {
        let ints = |v: &[i32]| v.iter().map(i32::to_string).collect();
        [
            self.data(l.packed.iter().map(i8::to_string).collect()),
            self.data(ints(&l.weight_sums)),
            self.data(ints(&l.bias)),
            self.data(
                l.requant
                    .iter()
                    .map(|r| {
                        format!(
                            "Requant {{ multiplier: {}, shift: {} }}",
                            r.multiplier, r.shift
                        )
                    })
                    .collect(),
            ),
        ]
    }

    /// `pub mod activations`: each u8 tensor's scale and zero point.
    pub(super) fn activations_module(&self) -> TokenStream {
        let items = self.q.tensors.iter().enumerate().map(|(i, t)| {
            let c = &self.tensor_consts[i];
            let scale = Literal::f32_unsuffixed(t.q.scale);
            let zp = Literal::u8_unsuffixed(t.q.zero_point);
            let doc = format!(" `{}`: {} values per sample.", t.name, t.per_sample);
            quote!(#[doc = #doc] pub const #c: QuantParams = QuantParams { scale: #scale, zero_point: #zp };)
        });
        quote! {
            /// The quantization of each `u8` activation: `real = (q − zero_point) · scale`,
            /// `q` in `0..=127`.
            pub mod activations {
                use super::QuantParams;
                #(#items)*
            }
        }
    }

    /// The parameters the f32 steps read, in one static (only those: the
    /// int8 layers' float weights are not needed), with `mod params`
    /// giving each one's range in it. Empty when no f32 step reads any.
    pub(super) fn float_params_items(&self, used: &[ParamId]) -> (TokenStream, usize) {
        if used.is_empty() {
            return (quote!(), 0);
        }
        let plan = &self.q.float;
        let mut values = Vec::new();
        let mut ranges = Vec::new();
        for &id in used {
            let range = nnspec_runtime::infer::param_range(plan, id);
            let (start, end) = (lit(values.len()), lit(values.len() + range.len()));
            let c = &self.base.param_idents[id.index()];
            let p = plan.param(id);
            let doc = format!(" `{}`: shape {:?}.", p.name, p.shape);
            ranges.push(quote!(#[doc = #doc] pub const #c: Range<usize> = #start..#end;));
            values.extend_from_slice(&self.q.float_params[range]);
        }
        let len = lit(values.len());
        let data = self.data(values.iter().map(|v| format!("{v:?}")).collect());
        let items = quote! {
            /// The parameters of the steps that run in f32, laid out as
            /// [`params`] says.
            static FLOAT_PARAMS: [f32; #len] = #data;

            /// Where each parameter of the f32 steps sits in `FLOAT_PARAMS`,
            /// by PyTorch `state_dict` name.
            mod params {
                use core::ops::Range;
                #(#ranges)*
            }
        };
        (items, values.len())
    }
}

/// `code` with every data placeholder replaced by its array literal.
pub(super) fn fill(code: &str, data: &[Vec<String>]) -> String {
    let mut out =
        String::with_capacity(code.len() + data.iter().map(|d| d.len() * 6).sum::<usize>());
    let open = format!("{DATA_MACRO}!(");
    for line in code.lines() {
        let Some(at) = line.find(&open) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let rest = &line[at + open.len()..];
        let close = rest.find(')').expect("a placeholder's closing bracket");
        let index: usize = rest[..close].parse().expect("a placeholder's index");
        let indent = &line[..line.len() - line.trim_start().len()];
        out.push_str(&line[..at]);
        out.push_str("[\n");
        let inner = format!("{indent}    ");
        let mut current = String::new();
        for item in &data[index] {
            if !current.is_empty() && inner.len() + current.len() + item.len() + 2 > WIDTH {
                out.push_str(&inner);
                out.push_str(current.trim_end());
                out.push('\n');
                current.clear();
            }
            current.push_str(item);
            current.push_str(", ");
        }
        if !current.is_empty() {
            out.push_str(&inner);
            out.push_str(current.trim_end());
            out.push('\n');
        }
        out.push_str(indent);
        out.push(']');
        out.push_str(&rest[close + 1..]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_filled_in_several_to_a_line() {
        let code =
            "const A: [i8; 3] = __nnspec_data!(0);\n    static B: [i32; 40] = __nnspec_data!(1);\n";
        let data = vec![
            vec!["1".to_string(), "-2".to_string(), "3".to_string()],
            (0..40).map(|i| (i * 1000).to_string()).collect(),
        ];
        let filled = fill(code, &data);
        let (a, b) = filled.split_once("    static B").unwrap();
        assert_eq!(a, "const A: [i8; 3] = [\n    1, -2, 3,\n];\n");
        assert!(
            b.starts_with(": [i32; 40] = [\n        0, 1000, 2000,"),
            "{b}"
        );
        assert!(b.ends_with(",\n    ];\n"), "{b}");
        let lines: Vec<&str> = filled.lines().collect();
        assert!(lines.len() > 4, "B takes several lines");
        assert!(lines.iter().all(|l| l.len() <= WIDTH), "{filled}");
        let values: Vec<i64> = b
            .lines()
            .skip(1)
            .flat_map(|l| l.split(',').filter_map(|s| s.trim().parse().ok()))
            .collect();
        assert_eq!(values, (0..40).map(|i| i * 1000).collect::<Vec<i64>>());
    }
}
