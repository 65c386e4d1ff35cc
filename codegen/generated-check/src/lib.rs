//! The generated modules of the example models, compiled as a user's crate
//! compiles them (no `std`: generated inference code needs only the
//! runtime core). The tests compare them with the executor, and each
//! module's own golden test (`dslc build --with-test`) runs with the lib's
//! tests.
#![cfg_attr(not(test), no_std)]

macro_rules! generated {
    ($($module:ident: $model:literal),* $(,)?) => {
        $(
            #[allow(missing_docs)]
            pub mod $module {
                include!(concat!(env!("OUT_DIR"), "/", $model, ".rs"));
            }
        )*
    };
}

generated! {
    mnist_mlp: "MnistMlp",
    digits_mlp: "DigitsMlp",
    lenet: "LeNet",
    residual: "Residual",
    digits_resnet: "DigitsResNet",
    mini_inception: "MiniInception",
    extras: "Extras",
    residual_block: "ResidualBlock",
    smooth: "Smooth",
    seq_blocks: "SeqBlocks",
    sequence1d: "Sequence1d",
    attend: "Attend",
    recurrent: "Recurrent",
    tokens: "Tokens",
    grouped: "Grouped",
}
