//! The int8 deploy modules of example models, compiled as a firmware
//! crate compiles them (no `std`: the runtime core only), with their
//! weights as statics. The build script quantizes each model with seeded
//! weights and deterministic calibration; the tests hold each module to
//! the int8 executor running the same plan, bit for bit.
#![cfg_attr(not(test), no_std)]

macro_rules! generated {
    ($($module:ident: $file:literal),* $(,)?) => {
        $(
            #[allow(missing_docs)]
            pub mod $module {
                include!(concat!(env!("OUT_DIR"), "/", $file));
            }
        )*
    };
}

generated! {
    digits_mlp: "DigitsMlp.int8.rs",
    lenet: "LeNet.int8.rs",
    mnist_mlp: "MnistMlp.int8.rs",
    float_steps: "FloatSteps.int8.rs",
    // The f32 module of the tutorial MLP, for the benchmark's comparison.
    mnist_mlp_f32: "MnistMlp.f32.rs",
}
