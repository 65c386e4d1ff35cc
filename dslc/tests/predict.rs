//! `dslc predict`, and training from NumPy files, run as a user runs them.

mod common;

use std::path::Path;

use common::{both, dslc, metrics, npy, npz, safetensors_metadata, scratch, text};
use nnspec_runtime::data::{self, Dataset, Normalization};

fn write_png(path: &Path, width: u32, height: u32, colour: png::ColorType, pixels: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(colour);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(pixels).unwrap();
}

/// The digits' test split for `seed`, in raw units (0..16), as `dslc eval`
/// draws it.
fn digits_test(seed: u64) -> Dataset {
    let all = data::digits_with(&Normalization::None).unwrap();
    data::train_test_split(&all, 0.2, seed).unwrap().test
}

/// Parses predict's CSV: the header and the `predicted` column.
fn predicted(csv: &str) -> (Vec<String>, Vec<String>) {
    let mut lines = csv.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let col = header.iter().position(|h| h == "predicted").unwrap();
    let rows = lines
        .map(|l| l.split(',').nth(col).unwrap().to_string())
        .collect();
    (header, rows)
}

/// Acceptance: predict on the test split reproduces eval's accuracy, from
/// its own CSV, whichever input format carries the images.
fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(xs: &[u32]) -> Vec<u8> {
    xs.iter()
        .flat_map(|&x| i64::from(x).to_le_bytes())
        .collect()
}

#[test]
fn predict_reproduces_eval_accuracy() {
    let dir = scratch("predict-accuracy");
    let d = dir.to_str().unwrap();
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "3",
        "--out",
        d,
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let weights = dir.join("model.safetensors");
    let w = weights.to_str().unwrap();
    let out = dslc(&["eval", "examples/digits_mlp.nn", "--weights", w]);
    assert!(out.status.success(), "{}", both(&out));
    let eval_metrics = metrics(&dir.join("eval"));
    // serde_json's default float parsing may be off by an ulp: compare
    // the accuracy as written, and the counts behind it.
    let eval_json = std::fs::read_to_string(dir.join("eval/metrics.json")).unwrap();
    let eval_accuracy = eval_json
        .split("\"test_accuracy\": ")
        .nth(1)
        .and_then(|rest| rest.split([',', '\n']).next())
        .unwrap()
        .to_string();
    let confusion = eval_metrics["confusion_matrix"].as_array().unwrap();
    let eval_correct: u64 = (0..confusion.len())
        .map(|i| confusion[i][i].as_u64().unwrap())
        .sum();

    let seed: u64 = safetensors_metadata(&weights)["seed"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let test = digits_test(seed);
    let n = test.len();
    // uint8 like image pixels: predict scales them as training did (max 16).
    let pixels: Vec<u8> = test.features.iter().map(|&x| x as u8).collect();
    let input = dir.join("test.npy");
    std::fs::write(&input, npy("|u1", &[n, 64], &pixels)).unwrap();
    let csv_out = dir.join("pred.csv");
    let out = dslc(&[
        "predict",
        "examples/digits_mlp.nn",
        "--weights",
        w,
        "--input",
        input.to_str().unwrap(),
        "-o",
        csv_out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let (header, rows) = predicted(&std::fs::read_to_string(&csv_out).unwrap());
    assert_eq!(header[..3], ["index", "predicted", "p_0"]);
    assert_eq!(header.len(), 12);
    assert_eq!(rows.len(), n);
    let correct = rows
        .iter()
        .zip(&test.labels)
        .filter(|(p, l)| **p == l.to_string())
        .count();
    assert_eq!(correct as u64, eval_correct);
    assert_eq!((correct as f64 / n as f64).to_string(), eval_accuracy);

    // The same images as float32 .npy, a CSV and PNG files: the same answers.
    let as_f32 = dir.join("test_f32.npy");
    std::fs::write(&as_f32, npy("<f4", &[n, 64], &f32_bytes(&test.features))).unwrap();
    let csv_in = dir.join("test.csv");
    let rows_text: String = test
        .features
        .chunks(64)
        .map(|r| {
            format!(
                "{}\n",
                r.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect();
    std::fs::write(&csv_in, rows_text).unwrap();
    let pngs = dir.join("png");
    std::fs::create_dir_all(&pngs).unwrap();
    for i in 0..12 {
        let path = pngs.join(format!("digit{i:03}.png"));
        write_png(
            &path,
            8,
            8,
            png::ColorType::Grayscale,
            &pixels[i * 64..(i + 1) * 64],
        );
    }
    std::fs::write(pngs.join("notes.txt"), "not an image").unwrap();
    for (input, count) in [(&as_f32, n), (&csv_in, n), (&pngs, 12)] {
        let out = dslc(&[
            "predict",
            "examples/digits_mlp.nn",
            "--weights",
            w,
            "--input",
            input.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", both(&out));
        let (_, got) = predicted(&text(&out.stdout));
        assert_eq!(got, rows[..count], "{}", input.display());
    }

    // JSON by the extension: probabilities sum to 1.
    let json_out = dir.join("pred.json");
    let out = dslc(&[
        "predict",
        "examples/digits_mlp.nn",
        "--weights",
        w,
        "--input",
        input.to_str().unwrap(),
        "-o",
        json_out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    let first = &doc["predictions"][0];
    assert_eq!(first["predicted"].as_str().unwrap(), rows[0]);
    let sum: f64 = first["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-9, "{sum}");
}

/// Bad inputs: a clear error naming the file and the problem, exit 1,
/// and no output file (not even a temporary one).
#[test]
fn predict_refuses_bad_inputs() {
    let dir = scratch("predict-bad");
    let d = dir.to_str().unwrap();
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "1",
        "--out",
        d,
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let w = dir.join("model.safetensors");
    let ints = dir.join("ints.npy");
    std::fs::write(&ints, npy("<i8", &[2, 64], &i64_bytes(&[1; 128]))).unwrap();
    let narrow = dir.join("narrow.npy");
    std::fs::write(&narrow, npy("<f4", &[2, 63], &f32_bytes(&[1.0; 126]))).unwrap();
    let half = dir.join("half.npy");
    std::fs::write(&half, npy("<f2", &[2, 64], &[0; 256])).unwrap();
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let words = dir.join("words.csv");
    std::fs::write(
        &words,
        format!("{}\n{}x,1\n", "1,".repeat(63) + "1", "2,".repeat(62)),
    )
    .unwrap();
    let big_png = dir.join("big.png");
    write_png(&big_png, 28, 28, png::ColorType::Grayscale, &[0; 784]);
    let missing = dir.join("missing.npy");
    let cases: [(&Path, &[&str]); 7] = [
        (&ints, &["ints.npy", "int64", "float32, float64 or uint8"]),
        (&narrow, &["narrow.npy", "[2, 63]", "64 values per sample"]),
        (&half, &["half.npy", "\"<f2\"", "float16"]),
        (&empty, &["empty", "no .png files"]),
        (
            &words,
            &["words.csv", "line 2, column 63", "\"x\" is not a number"],
        ),
        (&big_png, &["big.png", "28x28", "[64]"]),
        (&missing, &["missing.npy", "no such file"]),
    ];
    for (input, expected) in cases {
        let output = dir.join("out.csv");
        let out = dslc(&[
            "predict",
            "examples/digits_mlp.nn",
            "--weights",
            w.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", both(&out));
        let stderr = text(&out.stderr);
        for e in expected {
            assert!(
                stderr.contains(e),
                "{}: expected {e:?} in\n{stderr}",
                input.display()
            );
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!output.exists(), "{}", input.display());
        let stray: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
}

/// `dslc train --data x.npz`: `x`/`y` are split 80/20 like a CSV; Keras'
/// `x_train`... keep their own test split. Labels must be integers.
#[test]
fn train_from_npz() {
    let dir = scratch("train-npz");
    let all = data::digits_with(&Normalization::None).unwrap();
    let n = all.len();
    let pixels: Vec<u8> = all.features.iter().map(|&x| x as u8).collect();
    let xy = dir.join("digits.npz");
    npz(
        &xy,
        &[
            ("x", npy("|u1", &[n, 8, 8], &pixels)),
            ("y", npy("<i8", &[n], &i64_bytes(&all.labels))),
        ],
    );
    let out_dir = dir.join("xy");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--data",
        xy.to_str().unwrap(),
        "--epochs",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let m = metrics(&out_dir);
    assert_eq!(m["test_samples"].as_u64(), Some(360));
    // uint8 features default to the tutorial's scaling, as IDX images.
    assert_eq!(
        safetensors_metadata(&out_dir.join("model.safetensors"))["normalize"],
        "tutorial"
    );

    let keras = dir.join("keras.npz");
    let (tr, te) = (1500, n - 1500);
    let f = &all.features;
    npz(
        &keras,
        &[
            ("x_train", npy("<f4", &[tr, 64], &f32_bytes(&f[..tr * 64]))),
            ("y_train", npy("<i8", &[tr], &i64_bytes(&all.labels[..tr]))),
            ("x_test", npy("<f4", &[te, 64], &f32_bytes(&f[tr * 64..]))),
            ("y_test", npy("<i8", &[te], &i64_bytes(&all.labels[tr..]))),
        ],
    );
    let out_dir = dir.join("keras");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--data",
        keras.to_str().unwrap(),
        "--epochs",
        "2",
        "--normalize",
        "unit",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(metrics(&out_dir)["test_samples"].as_u64(), Some(te as u64));

    let float_labels = dir.join("float_labels.npz");
    npz(
        &float_labels,
        &[
            ("x", npy("|u1", &[n, 64], &pixels)),
            ("y", npy("<f4", &[n], &f32_bytes(&vec![1.0; n]))),
        ],
    );
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--data",
        float_labels.to_str().unwrap(),
        "--out",
        dir.join("bad").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("float_labels.npz") && stderr.contains("labels are float32"),
        "{stderr}"
    );
}
