//! Generates the Rust of every example model with the build-script API,
//! as a user's crate would.

fn main() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut files: Vec<String> = ["mnist_mlp", "digits_mlp", "lenet", "residual", "inception"]
        .iter()
        .map(|name| format!("{examples}/{name}.nn"))
        .collect();
    // The ops the examples do not use.
    files.push(concat!(env!("CARGO_MANIFEST_DIR"), "/models/extras.nn").to_string());
    // With the golden tests `dslc build --with-test` appends: the lib's own
    // tests then hold each module to the executor's output.
    let result = nnspec_codegen::build::Config::new()
        .golden_tests(true)
        .compile(&files);
    if let Err(e) = result {
        panic!("generating the example models: {e}");
    }
}
