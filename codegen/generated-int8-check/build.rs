//! Quantizes the checked models (seeded weights, deterministic
//! calibration) and writes each one's int8 deploy module to
//! `$OUT_DIR/<Model>.int8.rs`, and the tutorial MLP's f32 module (for the
//! benchmark) to `$OUT_DIR/MnistMlp.f32.rs`.

#[path = "plans.rs"]
mod plans;

use std::path::Path;

use nnspec_codegen::RustOptions;

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

fn main() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed=plans.rs");
    for (file, model, stem) in plans::MODELS {
        println!("cargo:rerun-if-changed={file}");
        let plan = plans::float_plan(dir, file, model);
        let q = plans::quantized(&plan);
        let options = RustOptions {
            source: file.trim_start_matches("../../").to_string(),
            ..RustOptions::default()
        };
        let code = nnspec_codegen::int8_module(&q, &options)
            .unwrap_or_else(|e| panic!("generating {model}'s int8 module: {e}"));
        write_if_changed(&Path::new(&out).join(format!("{stem}.int8.rs")), &code);
        if model == "MnistMlp" {
            let code = nnspec_codegen::rust_module(&plan, None, &options)
                .unwrap_or_else(|e| panic!("generating {model}'s f32 module: {e}"));
            write_if_changed(&Path::new(&out).join(format!("{stem}.f32.rs")), &code);
        }
    }
}
