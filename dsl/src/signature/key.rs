//! Typed keys: how op and optimizer code reads its bound arguments, by
//! position and Rust type instead of by name.

use std::marker::PhantomData;

use super::{ArgSpec, ArgType, ArgValue, Default, Range};

/// A typed handle on one argument of a signature: its position and the Rust
/// type its value reads as. Code reads arguments through keys, never by a
/// name string, so a misspelt argument is a compile error.
#[derive(Debug)]
pub struct Key<T> {
    pub index: usize,
    pub spec: ArgSpec,
    ty: PhantomData<fn() -> T>,
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

impl<T> Key<T> {
    const fn with(
        index: usize,
        name: &'static str,
        ty: ArgType,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key {
            index,
            spec: ArgSpec::new(name, ty, default, doc),
            ty: PhantomData,
        }
    }
}

impl Key<usize> {
    /// An integer ≥ 1.
    pub const fn count(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Count, default, doc)
    }

    /// An integer ≥ 0.
    pub const fn natural(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Natural, default, doc)
    }
}

impl Key<[usize; 2]> {
    /// An integer ≥ 1 or `[h, w]` of them.
    pub const fn pair(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Pair, default, doc)
    }

    /// An integer ≥ 0 or `[h, w]` of them.
    pub const fn natural_pair(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::NaturalPair, default, doc)
    }
}

impl Key<f64> {
    pub const fn float(
        index: usize,
        name: &'static str,
        range: Range,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Float(range), default, doc)
    }
}

impl Key<[f64; 2]> {
    pub const fn float_pair(
        index: usize,
        name: &'static str,
        range: Range,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::FloatPair(range), default, doc)
    }
}

impl Key<bool> {
    pub const fn bool(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Bool, default, doc)
    }
}

/// An axis is read as written (negative counts from the end); the op
/// resolves it against its input's rank.
pub struct AxisArg(pub i64);

impl Key<AxisArg> {
    pub const fn axis(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Axis, default, doc)
    }
}

impl Key<Vec<i64>> {
    pub const fn shape(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Shape, default, doc)
    }
}

impl Key<Vec<usize>> {
    /// A non-empty list of integers ≥ 1.
    pub const fn counts(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Counts, default, doc)
    }
}

/// A Rust enum written as one of a few bare words (`anneal: cos`).
pub trait Word: Sized + 'static {
    /// Every word, in the order of the variants.
    const WORDS: &'static [&'static str];
    fn from_word(word: &str) -> Option<Self>;
}

impl<T: Word> Key<T> {
    /// One of `T`'s words; `default` is `Default::Word(..)` or `Required`.
    pub const fn word(
        index: usize,
        name: &'static str,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::Word(T::WORDS), default, doc)
    }
}

impl Key<Vec<f64>> {
    /// A list of floats; [`Default::Empty`] reads as an empty list.
    pub const fn float_list(
        index: usize,
        name: &'static str,
        range: Range,
        default: Default,
        doc: &'static str,
    ) -> Self {
        Key::with(index, name, ArgType::FloatList(range), default, doc)
    }
}

/// A Rust type an argument value converts to; one per [`ArgType`] family.
pub trait FromArg: Sized {
    fn from_arg(value: &ArgValue) -> Self;
}

/// The binder converts every value to its spec's type before anyone reads
/// it, so a value of another variant here is a bug in this crate.
fn mistyped(value: &ArgValue, wanted: &str) -> ! {
    unreachable!("argument value {value:?} read as {wanted}")
}

impl FromArg for usize {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::Int(v) => *v as usize,
            other => mistyped(other, "an integer"),
        }
    }
}

impl FromArg for AxisArg {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::Int(v) => AxisArg(*v),
            other => mistyped(other, "an axis"),
        }
    }
}

impl FromArg for f64 {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::Float(v) => *v,
            other => mistyped(other, "a float"),
        }
    }
}

impl FromArg for [f64; 2] {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::Floats(v) => *v,
            other => mistyped(other, "a float pair"),
        }
    }
}

impl FromArg for [usize; 2] {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::Pair(v) => *v,
            other => mistyped(other, "a pair"),
        }
    }
}

impl FromArg for bool {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::Bool(v) => *v,
            other => mistyped(other, "a bool"),
        }
    }
}

impl FromArg for Vec<i64> {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::Ints(v) => v.clone(),
            other => mistyped(other, "a list"),
        }
    }
}

impl FromArg for Vec<usize> {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            // The binder has checked every entry is at least 1.
            ArgValue::Ints(v) => v.iter().map(|&n| n as usize).collect(),
            other => mistyped(other, "a list of counts"),
        }
    }
}

impl<T: Word> FromArg for T {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::Word(word) => T::from_word(word).unwrap_or_else(|| mistyped(value, "a word")),
            other => mistyped(other, "a word"),
        }
    }
}

impl FromArg for Vec<f64> {
    fn from_arg(value: &ArgValue) -> Self {
        match value {
            ArgValue::FloatList(v) => v.clone(),
            other => mistyped(other, "a list of floats"),
        }
    }
}
