//! Models whose input is token ids (`input tokens: i64[..]` read by an
//! `embedding`), trained, evaluated and run through the CLI on integer
//! data: a CSV of integers and `.npz` archives of int64 and int32 arrays.
//! Token ids are never scaled; a value that is not an id of the table is
//! an error naming the file, the sample and the column.

mod common;

use std::path::Path;

use common::{assert_no_panic, both, dslc, metrics, npy, npz, scratch};
use nnspec_runtime::rng::Rng;

/// Six ids in 0..10 per sample; the class says whether the first is
/// below 5, which a bag of embeddings learns at once.
const MODEL: &str = "
model Bag {
    input tokens: i64[6];
    let e = tokens -> embedding(10, 4) as emb;
    output logits = e -> flatten -> dense(2) as head;
}

train Bag {
    loss: cross_entropy,
    optimizer: adam(lr: 0.05),
    batch: 16,
    epochs: 8,
}
";

const SAMPLES: usize = 300;
const LEN: usize = 6;

fn samples() -> (Vec<i64>, Vec<i64>) {
    let mut rng = Rng::new(9);
    let ids: Vec<i64> = (0..SAMPLES * LEN).map(|_| rng.below(10) as i64).collect();
    let labels = ids.chunks(LEN).map(|s| i64::from(s[0] < 5)).collect();
    (ids, labels)
}

fn csv(ids: &[i64], labels: &[i64]) -> String {
    let mut text = String::from("t0,t1,t2,t3,t4,t5,label\n");
    for (row, label) in ids.chunks(LEN).zip(labels) {
        let cells: Vec<String> = row.iter().map(i64::to_string).collect();
        text += &format!("{},{label}\n", cells.join(","));
    }
    text
}

fn train(dir: &Path, model: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    let out = dir.join("run");
    let mut args = vec![
        "train",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
    ];
    args.extend(extra);
    dslc(&args)
}

#[test]
fn a_token_model_trains_evaluates_and_predicts_from_a_csv_of_integers() {
    let dir = scratch("tokens-csv");
    let model = dir.join("bag.nn");
    std::fs::write(&model, MODEL).unwrap();
    let (ids, labels) = samples();
    let data = dir.join("tokens.csv");
    std::fs::write(&data, csv(&ids, &labels)).unwrap();

    let out = train(&dir, &model, &data, &[]);
    assert!(out.status.success(), "{}", both(&out));
    let m = metrics(&dir.join("run"));
    let accuracy = m["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "test accuracy {accuracy}: {}", both(&out));

    let weights = dir.join("run/model.safetensors");
    let out = dslc(&[
        "eval",
        model.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));

    // Predict on ids alone (no label column): a first id below 5 is class 1.
    let input = dir.join("inputs.csv");
    std::fs::write(&input, "0,9,9,9,9,9\n9,0,0,0,0,0\n").unwrap();
    let out = dslc(&[
        "predict",
        model.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let classes: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(classes, ["1", "0"], "{text}");

    // An id outside the table, for predict too.
    std::fs::write(&input, "0,9,9,10,9,9\n").unwrap();
    let out = dslc(&[
        "predict",
        model.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_no_panic(&out, "predict with a bad id");
    assert!(!out.status.success());
    assert!(
        both(&out).contains("sample 1 (row 1 of the data), column 4: 10 is not a token id"),
        "{}",
        both(&out)
    );
}

#[test]
fn values_that_are_not_ids_are_errors_naming_file_sample_and_column() {
    let dir = scratch("tokens-bad");
    let model = dir.join("bag.nn");
    std::fs::write(&model, MODEL).unwrap();
    let (ids, labels) = samples();
    let good = csv(&ids, &labels);
    for (bad, shown) in [
        ("2.5", "2.5"),
        ("10", "10"),
        ("-1", "-1"),
        ("1e9", "1000000000"),
    ] {
        // Row 4 of the data (line 5 of the file), column 3.
        let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
        let mut cells: Vec<&str> = lines[4].split(',').collect();
        cells[2] = bad;
        lines[4] = cells.join(",");
        let data = dir.join("bad.csv");
        std::fs::write(&data, lines.join("\n")).unwrap();
        let out = train(&dir, &model, &data, &[]);
        assert_no_panic(&out, bad);
        assert!(!out.status.success(), "{bad}: trained");
        let message = both(&out);
        assert!(
            message.contains("bad.csv: sample 4 (row 4 of the data), column 3: ")
                && message.contains(&format!(
                    "{shown} is not a token id; the model's embedding takes integers in 0..10"
                )),
            "{bad}: {message}"
        );
    }
    let data = dir.join("tokens.csv");
    std::fs::write(&data, good).unwrap();
    let out = train(&dir, &model, &data, &["--normalize", "unit"]);
    assert!(!out.status.success());
    assert!(both(&out).contains("never scaled"), "{}", both(&out));
}

#[test]
fn a_token_model_trains_from_npz_arrays_of_int64_and_int32() {
    let dir = scratch("tokens-npz");
    let model = dir.join("bag.nn");
    std::fs::write(&model, MODEL).unwrap();
    let (ids, labels) = samples();
    let y = npy(
        "<i8",
        &[SAMPLES],
        &labels
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    let x64 = ids
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect::<Vec<u8>>();
    let x32 = ids
        .iter()
        .flat_map(|&v| (v as i32).to_le_bytes())
        .collect::<Vec<u8>>();
    for (descr, x) in [("<i8", x64), ("<i4", x32)] {
        let data = dir.join("tokens.npz");
        npz(
            &data,
            &[("x", npy(descr, &[SAMPLES, LEN], &x)), ("y", y.clone())],
        );
        let out = train(&dir, &model, &data, &[]);
        assert!(out.status.success(), "{descr}: {}", both(&out));
        let accuracy = metrics(&dir.join("run"))["test_accuracy"].as_f64().unwrap();
        assert!(accuracy > 0.9, "{descr}: test accuracy {accuracy}");
    }
    // An int64 id past the table, in sample 2, column 6.
    let mut bad = ids.clone();
    bad[LEN + 5] = 12;
    let x = bad
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect::<Vec<u8>>();
    let data = dir.join("bad.npz");
    npz(&data, &[("x", npy("<i8", &[SAMPLES, LEN], &x)), ("y", y)]);
    let out = train(&dir, &model, &data, &[]);
    assert_no_panic(&out, "bad npz");
    assert!(
        both(&out)
            .contains("bad.npz: sample 2 (row 2 of the data), column 6: 12 is not a token id"),
        "{}",
        both(&out)
    );
}
