//! Generates `$OUT_DIR/MnistMlp.rs` from the tutorial model, as prost-build
//! generates protobuf code: rewritten only when the model changes.

fn main() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../mnist_mlp.nn");
    if let Err(e) = nnspec::build::compile(&[model]) {
        panic!("{e}");
    }
}
