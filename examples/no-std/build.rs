//! Generates `$OUT_DIR/LeNet.rs`, naming the runtime core directly (no
//! facade, no std).

fn main() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../lenet.nn");
    if let Err(e) = nnspec_codegen::build::compile(&[model]) {
        panic!("{e}");
    }
}
