//! Python names for the model's values and layers.
//!
//! A layer's attribute name is fixed: it is the first part of its
//! parameters' `state_dict` names, which must equal nnspec's checkpoint
//! names. So a layer named like a Python keyword or like one of
//! `nn.Module`'s own attributes cannot be written, and is refused with
//! the rename that fixes it. Local variables in `forward` are free: a
//! clashing one gets a trailing underscore.

use std::collections::HashSet;

/// Python's keywords (3.12), never identifiers.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Names the generated file defines or imports at module level: a local
/// variable so named would hide them inside `forward`.
const FILE_NAMES: &[&str] = &["self", "math", "torch", "nn", "F"];

/// `nn.Module`'s attributes and methods, and the class attributes the
/// generated class adds: a layer so named would replace them.
const MODULE_ATTRIBUTES: &[&str] = &[
    "INPUTS",
    "OUTPUTS",
    "TOKENS",
    "T_destination",
    "add_module",
    "apply",
    "bfloat16",
    "buffers",
    "call_super_init",
    "children",
    "compile",
    "cpu",
    "cuda",
    "double",
    "dump_patches",
    "eval",
    "extra_repr",
    "float",
    "forward",
    "get_buffer",
    "get_extra_state",
    "get_parameter",
    "get_submodule",
    "half",
    "ipu",
    "load_state_dict",
    "modules",
    "mtia",
    "named_buffers",
    "named_children",
    "named_modules",
    "named_parameters",
    "parameters",
    "register_buffer",
    "register_module",
    "register_parameter",
    "requires_grad_",
    "reset_parameters",
    "set_extra_state",
    "share_memory",
    "state_dict",
    "to",
    "to_empty",
    "train",
    "training",
    "type",
    "xpu",
    "zero_grad",
];

/// Why a name cannot be the attribute a layer's parameters live under.
pub fn attribute_problem(name: &str) -> Option<&'static str> {
    if KEYWORDS.contains(&name) {
        Some("a Python keyword")
    } else if MODULE_ATTRIBUTES.contains(&name) || name.starts_with("__") {
        Some("an attribute every torch.nn.Module already has")
    } else {
        None
    }
}

/// Whether `name` is a Python keyword (a class cannot be so named).
pub fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// The local variables of one `forward`, each name used once.
#[derive(Default)]
pub struct Locals {
    used: HashSet<String>,
}

impl Locals {
    /// A variable for a value that would like to be called `wanted`.
    pub fn claim(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        if KEYWORDS.contains(&wanted) || FILE_NAMES.contains(&wanted) {
            name.push('_');
        }
        let base = name.clone();
        let mut n = 2;
        while !self.used.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locals_avoid_keywords_imports_and_each_other() {
        let mut locals = Locals::default();
        assert_eq!(locals.claim("x"), "x");
        assert_eq!(locals.claim("x"), "x_2");
        assert_eq!(locals.claim("lambda"), "lambda_");
        assert_eq!(locals.claim("F"), "F_");
        assert_eq!(locals.claim("self"), "self_");
    }

    #[test]
    fn layer_names_that_cannot_be_attributes() {
        assert!(attribute_problem("fc1").is_none());
        assert!(attribute_problem("class").is_some());
        assert!(attribute_problem("training").is_some());
        assert!(attribute_problem("__init__").is_some());
    }
}
