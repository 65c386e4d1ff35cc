//! The `model!` macro (being written).
