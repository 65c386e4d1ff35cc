//! The firmware crate `dslc deploy --target thumbv7em-none-eabihf` writes.
//!
//! Fixed files come from the template in `firmware/` (a crate in its own
//! right, with a committed `Cargo.lock` so the cortex-m crates' versions are
//! pinned and CI can `cargo fetch` them); the model's files are generated:
//! `src/model.rs` (codegen's no_std inference module), `src/weights.rs`
//! and `src/samples.rs` (f32 bits as static data, so nothing is rounded on
//! the way) and `src/glue.rs` (the names `main.rs` needs). The crate is
//! its own workspace and names `nnspec-runtime-core` by path.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nnspec_codegen::RustOptions;
use nnspec_dsl::ir;
use nnspec_runtime::plan::{ParamKind, Plan};
use nnspec_runtime::safetensors_file::Checkpoint;

use super::samples::Inputs;

/// The template's files: where each goes in the written crate, its text.
const TEMPLATE: [(&str, &str); 8] = [
    ("Cargo.toml", include_str!("firmware/Cargo.toml")),
    ("Cargo.lock", include_str!("firmware/Cargo.lock")),
    (
        ".cargo/config.toml",
        include_str!("firmware/.cargo/config.toml"),
    ),
    ("memory.x", include_str!("firmware/memory.x")),
    ("build.rs", include_str!("firmware/build.rs")),
    ("src/main.rs", include_str!("firmware/src/main.rs")),
    ("src/stack.rs", include_str!("firmware/src/stack.rs")),
    (".gitignore", include_str!("firmware/.gitignore")),
];

/// The template's dependency line, pointing into this repository from
/// where the template sits (so the template itself builds); the written
/// crate's line names the runtime core's absolute path instead.
const RUNTIME_CORE_LINE: &str = r#"nnspec-runtime-core = { path = "../../../../runtime/core" }"#;

/// What goes into one firmware crate.
pub struct Firmware<'a> {
    pub model: &'a ir::Model,
    /// The model file, for the generated header.
    pub source: &'a Path,
    pub checkpoint: &'a Checkpoint,
    pub inputs: &'a Inputs,
    /// The int8 module's code, when the firmware also runs int8.
    pub int8: Option<&'a str>,
    /// The `nnspec-runtime-core` directory the crate depends on.
    pub runtime_core: &'a Path,
    pub out: &'a Path,
}

/// The runtime core's directory: `--runtime-core`, else the one of the
/// source tree this dslc was built from, checked to be that crate.
pub fn runtime_core(flag: Option<&Path>) -> Result<PathBuf, String> {
    let dir = match flag {
        Some(dir) => dir.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/core"),
    };
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains(r#"name = "nnspec-runtime-core""#) {
        let how = if flag.is_some() {
            "--runtime-core"
        } else {
            "the nnspec tree dslc was built from"
        };
        return Err(format!(
            "the firmware depends on nnspec-runtime-core by path, and {} ({how}) does not hold it: give --runtime-core DIR, the runtime/core directory of an nnspec checkout",
            dir.display()
        ));
    }
    dir.canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// Writes the crate into `firmware.out`; the directory written.
pub fn write(firmware: &Firmware) -> Result<PathBuf, String> {
    let plan = nnspec_codegen::lower_inference(firmware.model);
    let (input_len, output_len) = single_input_output(&plan, &firmware.model.name)?;
    if input_len != firmware.inputs.len {
        return Err(format!(
            "the samples have {} values each; model `{}` takes {input_len}",
            firmware.inputs.len, firmware.model.name
        ));
    }
    let weights = weights(&plan, firmware.checkpoint)?;
    let options = RustOptions {
        source: firmware.source.display().to_string(),
        ..RustOptions::default()
    };
    let model_code = nnspec_codegen::rust_module(&plan, None, &options).map_err(|e| {
        format!(
            "cannot generate Rust for model `{}`: {e}",
            firmware.model.name
        )
    })?;
    let runtime_core = toml_string(&firmware.runtime_core.display().to_string());
    let mut files: Vec<(String, String)> = TEMPLATE
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect();
    let manifest = &mut files[0].1;
    *manifest = manifest.replace(
        RUNTIME_CORE_LINE,
        &format!("nnspec-runtime-core = {{ path = {runtime_core} }}"),
    );
    files.push(("src/model.rs".into(), model_code));
    files.push(("src/weights.rs".into(), weights_rs(&weights)));
    files.push(("src/samples.rs".into(), samples_rs(firmware.inputs)));
    files.push((
        "src/glue.rs".into(),
        glue_rs(
            &firmware.model.name,
            input_len,
            output_len,
            firmware.int8.is_some(),
        ),
    ));
    if let Some(code) = firmware.int8 {
        files.push(("src/model_int8.rs".into(), code.to_string()));
    }
    for (path, text) in &files {
        let path = firmware.out.join(path);
        let dir = path.parent().expect("every file is in the crate");
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        nnspec_runtime::atomic_write::write_atomically(&path, |w| w.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(firmware.out.to_path_buf())
}

/// The floats of the one input and the one output a firmware runs.
fn single_input_output(plan: &Plan, model: &str) -> Result<(usize, usize), String> {
    match (plan.input_shapes.as_slice(), plan.outputs.as_slice()) {
        ([input], [(_, _, output)]) => Ok((input.iter().product(), output.iter().product())),
        (inputs, outputs) => Err(format!(
            "model `{model}` has {} inputs and {} outputs; the firmware runs models with one of each",
            inputs.len(),
            outputs.len()
        )),
    }
}

/// The checkpoint's parameters in the generated module's order (the
/// plan's, without BatchNorm's step counters, which inference ignores).
pub fn weights(plan: &Plan, checkpoint: &Checkpoint) -> Result<Vec<f32>, String> {
    let mut weights = Vec::new();
    for param in plan
        .params
        .iter()
        .filter(|p| !matches!(p.kind, ParamKind::Counter))
    {
        let values = checkpoint
            .f32(&param.name, &param.shape)
            .map_err(|e| e.to_string())?;
        weights.extend_from_slice(values);
    }
    Ok(weights)
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// f32 values as a Rust array literal of their bits, eight a line.
fn bits_literal(values: &[f32], indent: &str) -> String {
    let mut text = String::from("[\n");
    for line in values.chunks(8) {
        text.push_str(indent);
        text.push_str("    ");
        let words: Vec<String> = line
            .iter()
            .map(|v| format!("0x{:08x},", v.to_bits()))
            .collect();
        text.push_str(&words.join(" "));
        text.push('\n');
    }
    text.push_str(indent);
    text.push(']');
    text
}

const GENERATED: &str = "// @generated by `dslc deploy`. Do not edit: deploy again.\n";

fn weights_rs(weights: &[f32]) -> String {
    format!(
        "{GENERATED}//! The trained weights, as the generated module lays them out\n//! (`model::params`), stored as their f32 bits.\n\n\
         const BITS: [u32; crate::model::WEIGHTS_LEN] = {};\n\n\
         /// The weights (in flash: a `static` of constant data).\n\
         pub static WEIGHTS: [f32; crate::model::WEIGHTS_LEN] =\n    \
         // SAFETY: u32 and f32 have one size and every bit pattern is an f32.\n    \
         unsafe {{ core::mem::transmute::<[u32; crate::model::WEIGHTS_LEN], [f32; crate::model::WEIGHTS_LEN]>(BITS) }};\n",
        bits_literal(weights, "")
    )
}

fn samples_rs(inputs: &Inputs) -> String {
    let rows: Vec<String> = inputs
        .features
        .chunks(inputs.len)
        .map(|sample| format!("    {},\n", bits_literal(sample, "    ")))
        .collect();
    format!(
        "{GENERATED}//! The samples the firmware runs, scaled as the model's training data\n//! were, stored as their f32 bits.\n\n\
         /// How many samples.\n\
         pub const COUNT: usize = {count};\n\n\
         const BITS: [[u32; crate::glue::INPUT_LEN]; COUNT] = [\n{rows}];\n\n\
         /// The samples, one row each.\n\
         pub static SAMPLES: [[f32; crate::glue::INPUT_LEN]; COUNT] =\n    \
         // SAFETY: u32 and f32 have one size and every bit pattern is an f32.\n    \
         unsafe {{ core::mem::transmute::<[[u32; crate::glue::INPUT_LEN]; COUNT], [[f32; crate::glue::INPUT_LEN]; COUNT]>(BITS) }};\n",
        count = inputs.count,
        rows = rows.concat()
    )
}

fn glue_rs(model: &str, input_len: usize, output_len: usize, int8: bool) -> String {
    let ty = nnspec_codegen::emit::model_type_name(model);
    let int8_fn = if int8 {
        format!(
            "/// The int8 module (`dslc deploy --int8`), its weights static data.\n\
             #[allow(dead_code, unused_imports, clippy::all)]\n\
             #[path = \"model_int8.rs\"]\n\
             mod model_int8;\n\n\
             /// One sample's int8 outputs: the `u8` integers the outputs are\n\
             /// dequantized from.\n\
             pub fn int8(sample: &[f32; INPUT_LEN]) -> Option<[u8; OUTPUT_LEN]> {{\n    \
             Some(model_int8::{ty}.forward_u8(sample))\n\
             }}\n"
        )
    } else {
        "/// No int8 module was deployed (`dslc deploy --int8` adds one).\n\
         pub fn int8(_sample: &[f32; INPUT_LEN]) -> Option<[u8; OUTPUT_LEN]> {\n    \
         None\n\
         }\n"
        .to_string()
    };
    format!(
        "{GENERATED}//! What `main.rs` needs to know of the model.\n\n\
         /// The model's name in its `.nn` file.\n\
         pub const MODEL: &str = {model:?};\n\
         /// The generated model type.\n\
         pub type Net<W> = crate::model::{ty}<W>;\n\
         /// Floats of one sample's input.\n\
         pub const INPUT_LEN: usize = {input_len};\n\
         /// Floats of one sample's output.\n\
         pub const OUTPUT_LEN: usize = {output_len};\n\n\
         {int8_fn}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_names_the_runtime_core_by_the_line_deploy_replaces() {
        assert_eq!(TEMPLATE[0].0, "Cargo.toml");
        assert_eq!(TEMPLATE[0].1.matches(RUNTIME_CORE_LINE).count(), 1);
        // And that line finds the runtime core from the template's place.
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/deploy/firmware");
        assert!(here.join("../../../../runtime/core/Cargo.toml").is_file());
    }

    #[test]
    fn toml_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(toml_string(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
        assert_eq!(toml_string("a\nb"), r#""a\u000Ab""#);
    }

    #[test]
    fn bits_literals_keep_every_bit() {
        let values = [1.0f32, -0.0, f32::MIN_POSITIVE / 2.0, 0.1];
        let text = bits_literal(&values, "");
        let parsed: Vec<f32> = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter_map(|w| w.strip_prefix("0x"))
            .map(|h| f32::from_bits(u32::from_str_radix(h, 16).unwrap()))
            .collect();
        assert_eq!(
            parsed.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
