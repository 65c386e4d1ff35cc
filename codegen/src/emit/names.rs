//! Rust identifiers for the names of a model.
//!
//! Model names are the language's identifiers plus the dots of PyTorch
//! `state_dict` names (`dense_1.weight`) and of derived buffers
//! (`maxpool2d_1.argmax`). Any of them may be a Rust keyword (`type`,
//! `fn`, `self`) or clash with another after mangling, so every identifier
//! of generated code goes through a [`Namer`]: dots become underscores, a
//! keyword gets a trailing underscore (`self` cannot be a raw identifier,
//! so `r#` is not used at all), a leading digit a leading `v`, and a clash
//! a numeric suffix. The original names stay in the generated code's
//! documentation and in the `state_dict` table.

use std::collections::BTreeSet;

/// Every keyword of Rust 2024, strict and reserved, and the names generated
/// code itself uses for its parameters and locals.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "union",
    "macro_rules",
    "raw",
    "safe",
    // Generated code's own names.
    "arena",
    "at",
    "batch",
    "par",
    "scratch",
    "values",
    "w",
    "weights",
    "kernels",
    "views",
    // ... and its training step's.
    "base",
    "bn_beta",
    "bn_gamma",
    "bn_mean",
    "bn_var",
    "counters",
    "dropout",
    "fixed",
    "grad_b",
    "grad_w",
    "grads",
    "indices",
    "labels",
    "need",
    "rest",
    "state",
    "stats",
];

/// Hands out distinct identifiers of one namespace.
#[derive(Default)]
pub(super) struct Namer {
    taken: BTreeSet<String>,
}

impl Namer {
    /// A fresh `snake_case` identifier for `name`.
    pub(super) fn snake(&mut self, name: &str) -> String {
        self.fresh(mangle(name, false))
    }

    /// A fresh `SCREAMING_SNAKE_CASE` identifier for `name`.
    pub(super) fn screaming(&mut self, name: &str) -> String {
        self.fresh(mangle(name, true))
    }

    /// A fresh type identifier for `name`, its case kept (a model name).
    pub(super) fn type_name(&mut self, name: &str) -> String {
        let mut out: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
            out.insert(0, 'M');
        }
        // Capitalized as Rust types are (`lenet` -> `Lenet`), which also
        // keeps a type apart from its snake_case module in `model!`.
        out[..1].make_ascii_uppercase();
        if RESERVED.contains(&out.as_str()) {
            out.push('_');
        }
        self.fresh(out)
    }

    fn fresh(&mut self, base: String) -> String {
        let mut candidate = base.clone();
        let mut n = 2;
        // `d_stem_` twice gives `d_stem_2`, not `d_stem__2` (not snake case).
        let stem = base.strip_suffix('_').unwrap_or(&base);
        while self.taken.contains(&candidate) {
            candidate = format!("{stem}_{n}");
            n += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

/// The type generated code gives model `name` (`MnistMlp`, `lenet` ->
/// `Lenet`, `self` -> `Self_`).
pub fn model_type_name(name: &str) -> String {
    Namer::default().type_name(name)
}

/// The local generated code gives a value named `name` (`type` -> `type_`).
pub fn value_name(name: &str) -> String {
    Namer::default().snake(name)
}

/// The module `model!` puts model `name`'s code in: snake_case
/// (`MnistMlp` -> `mnist_mlp`, `LeNet` -> `le_net`), keywords avoided
/// (`match` -> `match_`).
pub fn model_module_name(name: &str) -> String {
    let mut snake = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !snake.ends_with('_') {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    Namer::default().snake(&snake)
}

/// `name` as an identifier of the given case (not yet made unique).
fn mangle(name: &str, upper: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() => {
                if upper {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            }
            _ => '_',
        })
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '_') {
        out = "value".to_string();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, if upper { 'V' } else { 'v' });
    }
    if RESERVED.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_distinct_identifiers() {
        let mut n = Namer::default();
        assert_eq!(n.snake("dense_1"), "dense_1");
        assert_eq!(n.snake("type"), "type_");
        assert_eq!(n.snake("self"), "self_");
        assert_eq!(n.snake("fn"), "fn_");
        assert_eq!(n.snake("1x"), "v1x");
        assert_eq!(n.snake("maxpool2d_1.argmax"), "maxpool2d_1_argmax");
        // A clash after mangling gets a suffix.
        assert_eq!(n.snake("maxpool2d_1_argmax"), "maxpool2d_1_argmax_2");
        assert_eq!(n.snake("Dense"), "dense");
        assert_eq!(n.snake("dense"), "dense_2");
        assert_eq!(model_type_name("MnistMlp"), "MnistMlp");
        assert_eq!(model_type_name("lenet"), "Lenet");
        assert_eq!(model_type_name("self"), "Self_");
        assert_eq!(model_module_name("MnistMlp"), "mnist_mlp");
        assert_eq!(model_module_name("LeNet"), "le_net");
        assert_eq!(model_module_name("lenet"), "lenet");
        assert_eq!(model_module_name("match"), "match_");
        let mut u = Namer::default();
        assert_eq!(u.screaming("dense_1.weight"), "DENSE_1_WEIGHT");
        assert_eq!(u.screaming("self"), "SELF");
    }

    #[test]
    fn every_mangled_name_parses_as_an_identifier() {
        let mut n = Namer::default();
        for name in RESERVED.iter().chain(&["9", "_", "a.b", "ünïcode", "x"]) {
            for ident in [n.snake(name), n.screaming(name)] {
                syn::parse_str::<syn::Ident>(&ident)
                    .unwrap_or_else(|e| panic!("{name} -> {ident}: {e}"));
            }
        }
    }
}
