//! Generates the Rust of every example model with the build-script API,
//! as a user's crate would.

fn main() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let files: Vec<String> = ["mnist_mlp", "digits_mlp", "lenet", "residual", "inception"]
        .iter()
        .map(|name| format!("{examples}/{name}.nn"))
        .collect();
    if let Err(e) = nnspec_codegen::build::compile(&files) {
        panic!("generating the example models: {e}");
    }
}
