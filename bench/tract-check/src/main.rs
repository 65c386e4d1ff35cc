//! A second, independent consumer of nnspec's ONNX exports: tract (the
//! tract-onnx crate) loads the exported tutorial MLP and LeNet and runs
//! them on random inputs at batch sizes 1, 7 and 1000; its outputs must be
//! the executor's within 1e-5.
//!
//! ```text
//! cargo run --release --manifest-path bench/tract-check/Cargo.toml [-- CHECKPOINT_DIR]
//! ```
//!
//! The weights are the seed's initialization, or with a directory, the
//! `mnist_mlp.safetensors` and `lenet.safetensors` found there (from
//! `dslc train ... --out`). Not a workspace member: tract's dependency
//! tree is large and only this check needs it.

use std::path::{Path, PathBuf};

use nnspec::codegen::onnx::{self, Provenance};
use nnspec::runtime::checkpoint::load_state_dict;
use nnspec::runtime::exec::Executor;
use nnspec::runtime::rng::Rng;
use nnspec::runtime::safetensors_file::Checkpoint;
use tract_onnx::prelude::*;

const TOLERANCE: f32 = 1e-5;
const MODELS: [(&str, &str, &str); 2] = [
    ("examples/mnist_mlp.nn", "MnistMlp", "mnist_mlp.safetensors"),
    ("examples/lenet.nn", "LeNet", "lenet.safetensors"),
];

fn main() -> TractResult<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checkpoints = std::env::args().nth(1).map(PathBuf::from);
    let mut worst_overall = 0.0f32;
    for (file, name, checkpoint_file) in MODELS {
        let source = std::fs::read(root.join(file))?;
        let compiled = nnspec::dsl::compile_bytes(&source);
        let model = compiled.model(name).expect("an example model");
        let weights = match &checkpoints {
            Some(dir) => Checkpoint::load(dir.join(checkpoint_file))?,
            None => onnx::initial_weights(model, 1)?,
        };
        let provenance = Provenance {
            source_file: file,
            source: &source,
            weights: "tract check".into(),
        };
        let bytes = onnx::to_bytes(&onnx::export(model, &weights, &provenance)?);

        // One tract model for every batch size: the batch axis stays symbolic.
        let runnable = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())?
            .into_optimized()?
            .into_runnable()?;

        let plan = nnspec::codegen::lower_inference(model);
        let per_sample = plan.input_shapes[0].clone();
        let mut exec = Executor::new(plan, 1000, 1)?;
        load_state_dict(&mut exec, &weights)?;
        let mut rng = Rng::new(9);
        for batch in [1, 7, 1000] {
            let input: Vec<f32> = exec
                .input_mut(batch)
                .iter_mut()
                .map(|v| {
                    *v = rng.uniform(-1.0, 1.0);
                    *v
                })
                .collect();
            exec.forward(batch, false);
            let expected = exec.output(0, batch);
            let mut shape = vec![batch];
            shape.extend(&per_sample);
            let tensor = Tensor::from_shape(&shape, &input)?;
            let outputs = runnable.run(tvec!(tensor.into()))?;
            let got = outputs[0].to_plain_array_view::<f32>()?;
            let got: Vec<f32> = got.iter().copied().collect();
            assert_eq!(got.len(), expected.len(), "{name}: output size");
            let worst = got
                .iter()
                .zip(expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            println!("{name} batch {batch:>4}: largest |tract - nnspec| = {worst:.3e}");
            assert!(
                worst <= TOLERANCE,
                "{name} at batch {batch}: {worst} > {TOLERANCE}"
            );
            worst_overall = worst_overall.max(worst);
        }
    }
    println!(
        "tract agrees with nnspec's executor within {TOLERANCE:e} (largest difference {worst_overall:.3e})"
    );
    Ok(())
}
