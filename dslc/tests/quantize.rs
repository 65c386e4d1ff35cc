//! Post-training int8 quantization: the builder, the executor and the
//! int8 checkpoint, held to naive references and to the float plan
//! (`dslc quantize` itself: quantize_cli.rs).

use nnspec_runtime::exec::Executor;
use nnspec_runtime::plan::Plan;
use nnspec_runtime::quant::run;
use nnspec_runtime::quantize::{self, CalibrationMethod};

#[path = "quantize/reference.rs"]
mod reference;
#[path = "quantize/support.rs"]
mod support;
use reference::reference_u8;
use support::{digits_mlp, executor_u8, initial_params, lowered};

#[test]
fn dense_int8_outputs_equal_a_naive_reference() {
    let plan = digits_mlp();
    let params = initial_params(&plan, 7);
    let data = nnspec_runtime::data::digits::digits();
    let inputs = &data.features[..200 * 64];
    let cal = quantize::calibrate(&plan, &params, inputs, 200, CalibrationMethod::MinMax).unwrap();
    let q = quantize::build(&plan, &params, &cal).unwrap();
    assert!(
        quantize::float_step_names(&q).is_empty(),
        "an MLP runs in int8 only"
    );
    let batch = 37;
    let (got, _) = executor_u8(&q, &inputs[..batch * 64], batch);
    for s in 0..batch {
        let want = reference_u8(&q, &inputs[s * 64..(s + 1) * 64]);
        assert_eq!(&got[s * 10..(s + 1) * 10], want.as_slice(), "sample {s}");
    }
    // Not a degenerate plan: the outputs use the range.
    assert!(
        got.iter().any(|&v| v > 10)
            && got.iter().collect::<std::collections::HashSet<_>>().len() > 20
    );
}

/// The tutorial MLP's int8 checkpoint file is at most 30% of its f32 one
/// (sizes do not depend on training: the initial weights).
#[test]
fn tutorial_mlp_int8_file_is_under_30_percent() {
    let plan = lowered(include_str!("../../examples/mnist_mlp.nn"));
    let params = initial_params(&plan, 3);
    let mut exec = Executor::new(plan.clone(), 1, 1).unwrap();
    exec.init_params(3);
    let f32_bytes = nnspec_runtime::checkpoint::state_dict(&exec)
        .to_bytes()
        .len();
    let inputs: Vec<f32> = (0..16 * 784)
        .map(|i| ((i * 37) % 255) as f32 / 255.0)
        .collect();
    let cal = quantize::calibrate(&plan, &params, &inputs, 16, CalibrationMethod::MinMax).unwrap();
    let q = quantize::build(&plan, &params, &cal).unwrap();
    let int8_bytes = quantize::to_checkpoint(&q).unwrap().to_bytes().len();
    let ratio = int8_bytes as f64 / f32_bytes as f64;
    assert!(ratio <= 0.30, "{int8_bytes} / {f32_bytes} = {ratio:.3}");
}

#[test]
fn int8_checkpoint_round_trips_and_refuses_mismatches() {
    let plan = digits_mlp();
    let params = initial_params(&plan, 11);
    let data = nnspec_runtime::data::digits::digits();
    let cal = quantize::calibrate(
        &plan,
        &params,
        &data.features,
        100,
        CalibrationMethod::Percentile(99.9),
    )
    .unwrap();
    let q = quantize::build(&plan, &params, &cal).unwrap();
    let bytes = quantize::to_checkpoint(&q).unwrap().to_bytes();
    let ck = nnspec_runtime::safetensors_file::Checkpoint::from_bytes(&bytes, "int8.safetensors")
        .unwrap();
    assert_eq!(quantize::load(&plan, &ck).unwrap(), q);

    // Another model.
    let other = lowered(include_str!("../../examples/mnist_mlp.nn"));
    let e = quantize::load(&other, &ck).unwrap_err().to_string();
    assert!(
        e.contains("int8.safetensors") && e.contains("DigitsMlp") && e.contains("MnistMlp"),
        "{e}"
    );
    // A float checkpoint.
    let mut exec = Executor::new(plan.clone(), 1, 1).unwrap();
    exec.init_params(1);
    let e = quantize::load(&plan, &nnspec_runtime::checkpoint::state_dict(&exec))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an int8 checkpoint"), "{e}");
    // A weight of -128, a zero scale, a missing tensor.
    use nnspec_runtime::safetensors_file::TensorData;
    let tamper = |name: &str, f: &dyn Fn(&mut TensorData)| {
        let mut ck = ck.clone();
        let mut t = ck.get(name).unwrap().clone();
        f(&mut t.data);
        ck.insert(name, t).unwrap();
        quantize::load(&plan, &ck).unwrap_err().to_string()
    };
    let e = tamper("fc1.weight", &|d| {
        if let TensorData::I8(v) = d {
            v[5] = -128
        }
    });
    assert!(e.contains("fc1.weight") && e.contains("-128"), "{e}");
    let e = tamper("fc2.weight_scale", &|d| {
        if let TensorData::F32(v) = d {
            v[0] = 0.0
        }
    });
    assert!(e.contains("fc2.weight_scale"), "{e}");
    let e = tamper("fc2.bias", &|d| *d = TensorData::F32(vec![0.0; 10]));
    assert!(e.contains("fc2.bias") && e.contains("I32"), "{e}");
}

/// Issue 12, acceptance 7: malformed calibration data gives clear errors.
#[test]
fn malformed_calibration_data_is_refused_clearly() {
    use quantize::CalibrationError as E;
    let plan = digits_mlp();
    let params = initial_params(&plan, 5);
    let good: Vec<f32> = (0..10 * 64).map(|i| (i % 7) as f32 / 7.0).collect();
    let cal =
        |x: &[f32], n: usize| quantize::calibrate(&plan, &params, x, n, CalibrationMethod::MinMax);
    assert_eq!(cal(&[], 1).unwrap_err(), E::Empty);
    assert_eq!(
        cal(&good[..100], 1).unwrap_err(),
        E::Width {
            len: 100,
            width: 64
        }
    );
    assert_eq!(
        cal(&good, 11).unwrap_err(),
        E::TooFewSamples {
            wanted: 11,
            have: 10
        }
    );
    assert_eq!(cal(&good, 0).unwrap_err(), E::ZeroSamples);
    let mut nan = good.clone();
    nan[3 * 64 + 9] = f32::NAN;
    let e = cal(&nan, 10).unwrap_err();
    assert!(
        matches!(
            e,
            E::NotFinite {
                sample: 3,
                index: 9,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("sample 3, value 9"), "{e}");
    // Samples past the ones asked for are not read.
    assert!(cal(&nan, 3).is_ok());
    let e =
        quantize::calibrate(&plan, &params[1..], &good, 1, CalibrationMethod::MinMax).unwrap_err();
    assert!(matches!(e, E::Params { .. }), "{e:?}");
    assert!("percentile:0".parse::<CalibrationMethod>().is_err());
    assert!("percentile:101".parse::<CalibrationMethod>().is_err());
    assert!(
        "max"
            .parse::<CalibrationMethod>()
            .unwrap_err()
            .contains("minmax")
    );
    assert_eq!(
        "percentile:99.99".parse::<CalibrationMethod>(),
        Ok(CalibrationMethod::Percentile(99.99))
    );
}

/// Issue 12, acceptance 7: a layer whose weights and bias are all zero
/// quantizes without NaN and computes zeros.
#[test]
fn constant_zero_layer_quantizes_to_zeros() {
    let plan = digits_mlp();
    let mut params = initial_params(&plan, 9);
    let fc2 = plan
        .params
        .iter()
        .position(|p| p.name == "fc2.weight")
        .unwrap();
    for id in [fc2, fc2 + 1] {
        let range =
            nnspec_runtime::infer::param_range(&plan, nnspec_runtime::plan::ParamId(id as u32));
        params[range].fill(0.0);
    }
    let data = nnspec_runtime::data::digits::digits();
    let inputs = &data.features[..50 * 64];
    let cal = quantize::calibrate(&plan, &params, inputs, 50, CalibrationMethod::MinMax).unwrap();
    let q = quantize::build(&plan, &params, &cal).unwrap();
    let layer = q.layers.iter().find(|l| l.name == "fc2").unwrap();
    assert!(layer.weight.iter().all(|&w| w == 0) && layer.bias.iter().all(|&b| b == 0));
    assert!(layer.weight_scale.iter().all(|s| s.is_finite() && *s > 0.0));
    let (_, out) = executor_u8(&q, &inputs[..5 * 64], 5);
    assert!(out.iter().all(|&v| v == 0.0), "{out:?}");
    let report = quantize::report(&plan, &params, &q, inputs).unwrap();
    assert!(
        report
            .layers
            .iter()
            .all(|l| !l.sqnr_db.is_nan() && !l.max_abs_error.is_nan())
    );
    // Saved and loaded too.
    let ck = quantize::to_checkpoint(&q).unwrap();
    assert_eq!(quantize::load(&plan, &ck).unwrap(), q);
}

/// k so large that 127·127·k could overflow i32 is refused by name.
#[test]
fn too_many_inputs_per_output_is_refused() {
    let plan = lowered("model Wide { input x: f32[140000]; output y = x -> dense(1) as wide; }");
    let params = vec![0.01f32; nnspec_runtime::infer::params_len(&plan)];
    let cal = quantize::calibrate(
        &plan,
        &params,
        &vec![0.5f32; 140000],
        1,
        CalibrationMethod::MinMax,
    )
    .unwrap();
    let e = quantize::build(&plan, &params, &cal)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`wide`") && e.contains("140000"), "{e}");
}

/// Steps without an int8 kernel run in f32 between dequantize and quantize
/// steps, consecutive ones without converting in between.
#[test]
fn float_steps_run_between_dequantize_and_quantize() {
    let plan = lowered(
        "model Mixed { input x: f32[64]; output y = x -> dense(32) as fc1 -> sigmoid -> tanh -> dense(10) as fc2 -> softmax; }",
    );
    let params = initial_params(&plan, 4);
    let data = nnspec_runtime::data::digits::digits();
    let inputs = &data.features[..200 * 64];
    let cal = quantize::calibrate(&plan, &params, inputs, 200, CalibrationMethod::MinMax).unwrap();
    let q = quantize::build(&plan, &params, &cal).unwrap();
    let kinds: Vec<String> = q
        .steps
        .iter()
        .map(|s| {
            format!("{s:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Quantize",
            "Dense",
            "Dequantize",
            "Float",
            "Float",
            "Quantize",
            "Dense",
            "Dequantize",
            "Float",
            "Quantize"
        ],
        "{:#?}",
        q.steps
    );
    assert_eq!(quantize::float_step_names(&q).len(), 3);
    let float = quantize::run_float(&plan, &params, inputs).unwrap();
    let int8 = quantize::run_int8(&q, inputs).unwrap();
    let worst = float
        .iter()
        .zip(&int8)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 0.05, "probabilities differ by {worst}");
    // The u8 output is the softmax's, quantized.
    let (u, f) = executor_u8(&q, &inputs[..64], 1);
    let p = q.tensor(run::output_tensor(&q, 0).unwrap()).q;
    for (u, f) in u.iter().zip(&f) {
        assert_eq!(*u, p.quantize(*f));
    }
}

/// A LeNet-shaped plan with weights from a seed and BatchNorms whose
/// statistics and affine parameters are far from the identity.
fn small_lenet_with_batchnorm() -> (Plan, Vec<f32>) {
    let plan = lowered(
        "model ConvNet {
    input x: f32[1, 8, 8];
    let f = x -> conv2d(6, kernel: 3, padding: 1) -> batchnorm -> relu -> maxpool2d(2)
              -> conv2d(12, kernel: 3, stride: 2, padding: 1) -> batchnorm -> relu;
    output logits = f -> flatten -> dense(10);
}",
    );
    let mut params = initial_params(&plan, 21);
    let mut changed = 0;
    for (i, p) in plan.params.iter().enumerate() {
        let range =
            nnspec_runtime::infer::param_range(&plan, nnspec_runtime::plan::ParamId(i as u32));
        let wave =
            |j: usize, lo: f32, hi: f32| lo + (hi - lo) * ((j * 7 + i * 3) % 11) as f32 / 10.0;
        let set: Option<(f32, f32)> = if p.name.ends_with("running_mean") {
            Some((-0.3, 0.3))
        } else if p.name.ends_with("running_var") {
            Some((0.2, 2.0))
        } else if p.name.starts_with("batchnorm") && p.name.ends_with("weight") {
            Some((0.5, 1.5))
        } else if p.name.starts_with("batchnorm") && p.name.ends_with("bias") {
            Some((-0.2, 0.2))
        } else {
            None
        };
        if let Some((lo, hi)) = set {
            changed += 1;
            for (j, v) in params[range].iter_mut().enumerate() {
                *v = wave(j, lo, hi);
            }
        }
    }
    assert_eq!(changed, 8, "two BatchNorms' four tensors each");
    (plan, params)
}

/// Convolutions (BatchNorm folded, ReLU fused, padding, stride) and max
/// pooling: the executor's integers equal the direct-loop reference's, and
/// the int8 values follow the float plan's.
#[test]
fn conv_int8_outputs_equal_a_naive_reference_and_follow_the_float_plan() {
    let (plan, params) = small_lenet_with_batchnorm();
    assert!(plan.params.iter().any(|p| p.name.ends_with("running_var")));
    let data = nnspec_runtime::data::digits::digits();
    let inputs = &data.features[..300 * 64];
    let cal = quantize::calibrate(&plan, &params, inputs, 300, CalibrationMethod::MinMax).unwrap();
    let q = quantize::build(&plan, &params, &cal).unwrap();
    assert!(quantize::float_step_names(&q).is_empty(), "{:#?}", q.steps);
    let batch = 9;
    let (got, _) = executor_u8(&q, &inputs[..batch * 64], batch);
    for s in 0..batch {
        let want = reference_u8(&q, &inputs[s * 64..(s + 1) * 64]);
        assert_eq!(&got[s * 10..(s + 1) * 10], want.as_slice(), "sample {s}");
    }
    let report = quantize::report(&plan, &params, &q, inputs).unwrap();
    assert_eq!(report.layers.len(), 3, "{report:?}");
    for layer in &report.layers {
        assert!(layer.sqnr_db > 20.0, "{layer:?}");
    }
    assert!(report.argmax_agreement >= 0.9, "{report:?}");
}

/// Every example model quantizes (what has no int8 kernel runs in f32),
/// runs, and stays near its float plan.
#[test]
fn every_example_quantizes_and_follows_its_float_plan() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let compiled = nnspec_dsl::compile(&source);
        for model in &compiled.models {
            let plan = match compiled.train(&model.name) {
                Some(config) => nnspec_codegen::lower_training(model, config),
                None => nnspec_codegen::lower_inference(model),
            };
            let name = format!("{}: {}", file.display(), model.name);
            let params = initial_params(&plan, 2);
            let width: usize = plan.input_shapes[0].iter().product();
            let samples = 24;
            let inputs: Vec<f32> = match plan.token_bound(0) {
                Some(bound) => (0..samples * width)
                    .map(|i| ((i * 7) % bound) as f32)
                    .collect(),
                None => (0..samples * width)
                    .map(|i| (i * 37 % 101) as f32 / 50.0 - 1.0)
                    .collect(),
            };
            let cal =
                quantize::calibrate(&plan, &params, &inputs, samples, CalibrationMethod::MinMax)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            let q = quantize::build(&plan, &params, &cal).unwrap_or_else(|e| panic!("{name}: {e}"));
            let float = quantize::run_float(&plan, &params, &inputs).unwrap();
            let int8 = quantize::run_int8(&q, &inputs).unwrap();
            let scale = float.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let worst = float
                .iter()
                .zip(&int8)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            eprintln!(
                "{name}: worst {worst} of {scale}; f32 steps {:?}",
                quantize::float_step_names(&q)
            );
            assert!(int8.iter().all(|v| v.is_finite()), "{name}");
            assert!(
                worst <= 0.1 * scale + 1e-3,
                "{name}: int8 differs by {worst}, outputs reach {scale}"
            );
            let back = quantize::load(&plan, &quantize::to_checkpoint(&q).unwrap()).unwrap();
            assert_eq!(back, q, "{name}");
        }
    }
}

/// The percentile method clips at the given share of magnitudes: on the
/// input (whose values the test knows) the threshold is the sorted
/// magnitudes' percentile, to a histogram bin; no range grows.
#[test]
fn percentile_calibration_clips_at_the_percentile_of_magnitudes() {
    let plan = digits_mlp();
    let params = initial_params(&plan, 13);
    let data = nnspec_runtime::data::digits::digits();
    let n = 400;
    let inputs: Vec<f32> = data.features[..n * 64]
        .iter()
        .enumerate()
        // A few outliers, as real data have.
        .map(|(i, &v)| if i % 997 == 0 { v * 40.0 } else { v })
        .collect();
    let all = quantize::calibrate(&plan, &params, &inputs, n, CalibrationMethod::MinMax).unwrap();
    let clipped = quantize::calibrate(
        &plan,
        &params,
        &inputs,
        n,
        CalibrationMethod::Percentile(99.0),
    )
    .unwrap();
    for (a, c) in all.ranges.iter().zip(&clipped.ranges) {
        if let (Some((a0, a1)), Some((c0, c1))) = (a, c) {
            assert!(c0 >= a0 && c1 <= a1, "{a:?} {c:?}");
        }
    }
    let mut magnitudes: Vec<f32> = inputs.iter().map(|v| v.abs()).collect();
    magnitudes.sort_by(f32::total_cmp);
    let want = magnitudes[(magnitudes.len() as f64 * 0.99).ceil() as usize - 1];
    let top = *magnitudes.last().unwrap();
    let (lo, hi) = clipped.range(&plan, plan.inputs[0]).unwrap();
    let threshold = lo.abs().max(hi.abs());
    assert!(
        (threshold - want).abs() <= top / 2048.0 + 1e-6,
        "threshold {threshold}, the 99th percentile of |x| is {want}"
    );
    assert!(
        threshold < top / 10.0,
        "the outliers are clipped: {threshold} of {top}"
    );
}

/// On a thread pool the executor gives the integers it gives on one
/// thread (float steps included: the transformer's attention and norms).
#[test]
fn threads_give_the_same_integers() {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lenet.nn"),
    )
    .unwrap();
    for source in [
        source.as_str(),
        "model M { input x: f32[4, 16]; output y = x -> layernorm -> dense(8) as fc -> gelu -> mean(axis: 0); }",
    ] {
        let plan = lowered(source);
        let params = initial_params(&plan, 6);
        let width: usize = plan.input_shapes[0].iter().product();
        let batch = 5;
        let inputs: Vec<f32> = (0..batch * width)
            .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
            .collect();
        let cal =
            quantize::calibrate(&plan, &params, &inputs, batch, CalibrationMethod::MinMax).unwrap();
        let q = quantize::build(&plan, &params, &cal).unwrap();
        let pool = nnspec_runtime::parallel::Parallel::new(2);
        let one = executor_u8(&q, &inputs, batch);
        let sizes = run::arena_sizes(&q, batch, 2).unwrap();
        let (mut f, mut u, mut s) = (
            vec![0.0; sizes.f32_len],
            vec![0; sizes.u8_len],
            vec![0; sizes.scratch_len],
        );
        f[run::input_range(&q, batch)].copy_from_slice(&inputs);
        run::run(&q, &mut f, &mut u, &mut s, batch, &pool);
        assert_eq!(u[run::u8_output_range(&q, batch, 0).unwrap()], one.0[..]);
    }
}
