//! `nnspec-macros` will own the `model!` macro: the `.nn` language written
//! inline in Rust, parsed from tokens to the same AST as `.nn` files, with
//! errors reported as `compile_error!` at the offending tokens.
//!
//! Nothing is exported yet: the macro is a later piece of work. The crate
//! exists so the workspace already has the layout of the design.
