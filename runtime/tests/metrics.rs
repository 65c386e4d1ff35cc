//! Metrics against hand-computed numbers, their text and JSON forms, and
//! the PNG plots.

use std::path::{Path, PathBuf};

use nnspec_runtime::metrics::{ConfusionMatrix, EpochRecord, MetricsError, argmax, save_json};
use nnspec_runtime::plot::{CONFUSION_SIZE, CURVES_SIZE, PlotError, plot_confusion, plot_curves};

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("metrics-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Worked by hand:
///
/// ```text
/// true:      0 0 0 1 1 2 2 2 2 0
/// predicted: 0 1 0 1 2 2 2 0 2 1
///
///            predicted
///             0  1  2    support
/// true 0    [ 2  2  0 ]  4
///      1    [ 0  1  1 ]  2
///      2    [ 1  0  3 ]  4
/// predicted   3  3  4
///
/// accuracy 6/10
/// class 0: precision 2/3, recall 2/4, F1 2·2/(4+3) = 4/7
/// class 1: precision 1/3, recall 1/2, F1 2·1/(2+3) = 2/5
/// class 2: precision 3/4, recall 3/4, F1 2·3/(4+4) = 3/4
/// macro:    precision (2/3 + 1/3 + 3/4)/3 = 7/12, recall (1/2 + 1/2 + 3/4)/3 = 7/12,
///           F1 (4/7 + 2/5 + 3/4)/3
/// weighted: precision (4·2/3 + 2·1/3 + 4·3/4)/10 = 19/30, recall 6/10,
///           F1 (4·4/7 + 2·2/5 + 4·3/4)/10
/// ```
fn worked() -> ConfusionMatrix {
    ConfusionMatrix::from_predictions(
        3,
        &[0, 0, 0, 1, 1, 2, 2, 2, 2, 0],
        &[0, 1, 0, 1, 2, 2, 2, 0, 2, 1],
    )
    .unwrap()
}

#[test]
fn hand_computed_example() {
    let m = worked();
    let rows: Vec<Vec<u64>> = m.rows().map(|r| r.to_vec()).collect();
    assert_eq!(rows, [[2, 2, 0], [0, 1, 1], [1, 0, 3]]);
    assert_eq!(m.total(), 10);
    assert_eq!(m.correct(), 6);
    assert!(close(m.accuracy(), 0.6));
    let expected = [
        (2.0 / 3.0, 0.5, 4.0 / 7.0, 4),
        (1.0 / 3.0, 0.5, 0.4, 2),
        (0.75, 0.75, 0.75, 4),
    ];
    for (c, &(p, r, f, s)) in expected.iter().enumerate() {
        assert!(close(m.precision(c), p), "precision {c}");
        assert!(close(m.recall(c), r), "recall {c}");
        assert!(close(m.f1(c), f), "f1 {c}");
        // F1 is the harmonic mean of precision and recall.
        assert!(close(2.0 * p * r / (p + r), f));
        assert_eq!(m.support(c), s);
    }
    let macro_avg = m.macro_avg();
    assert!(close(macro_avg.precision, 7.0 / 12.0));
    assert!(close(macro_avg.recall, 7.0 / 12.0));
    assert!(close(macro_avg.f1, (4.0 / 7.0 + 0.4 + 0.75) / 3.0));
    let weighted = m.weighted_avg();
    assert!(close(weighted.precision, 19.0 / 30.0));
    assert!(close(weighted.recall, 0.6));
    assert!(close(weighted.f1, (4.0 * 4.0 / 7.0 + 0.8 + 3.0) / 10.0));
}

#[test]
fn zero_denominators_give_zero() {
    // Class 3 never occurs and is never predicted; class 1 is never
    // predicted; class 2 is predicted but never occurs.
    let m = ConfusionMatrix::from_predictions(4, &[0, 1, 1], &[0, 2, 0]).unwrap();
    assert_eq!((m.precision(1), m.recall(1), m.f1(1)), (0.0, 0.0, 0.0));
    assert_eq!((m.precision(2), m.recall(2), m.f1(2)), (0.0, 0.0, 0.0));
    assert_eq!((m.precision(3), m.recall(3), m.f1(3)), (0.0, 0.0, 0.0));
    assert!(close(m.precision(0), 0.5));
    assert!(close(m.f1(0), 2.0 / 3.0));
    assert!(close(m.macro_avg().f1, (2.0 / 3.0) / 4.0));
    let empty = ConfusionMatrix::new(3);
    assert_eq!(empty.accuracy(), 0.0);
    assert_eq!(empty.weighted_avg().f1, 0.0);
}

#[test]
fn bad_input_is_an_error_and_counts_nothing() {
    let mut m = ConfusionMatrix::new(3);
    assert_eq!(
        m.add_batch(&[0, 1, 2], &[0, 3, 1]),
        Err(MetricsError::SampleOutOfRange {
            index: 1,
            class: 3,
            classes: 3
        })
    );
    assert_eq!(m.total(), 0);
    assert_eq!(
        m.add_batch(&[0], &[0, 1]),
        Err(MetricsError::LengthMismatch {
            truths: 1,
            predictions: 2
        })
    );
    assert_eq!(
        m.add(5, 0).unwrap_err().to_string(),
        "class 5 is out of range for a 3-class confusion matrix"
    );
    assert!(matches!(
        m.add_logits(&[0, 1], &[0.0; 5]),
        Err(MetricsError::LogitsShape { .. })
    ));
    m.add(2, 1).unwrap();
    assert_eq!(m.get(2, 1), 1);
}

#[test]
fn argmax_and_logits() {
    assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
    assert_eq!(argmax(&[-1.0, f32::NAN, 5.0]), 1);
    assert_eq!(argmax(&[f32::NEG_INFINITY, -1e30]), 1);
    let mut m = ConfusionMatrix::new(3);
    m.add_logits(&[2, 0], &[0.1, 0.2, 3.0, 1.0, 5.0, -2.0])
        .unwrap();
    assert_eq!(m.get(2, 2), 1);
    assert_eq!(m.get(0, 1), 1);
    let mut other = ConfusionMatrix::new(3);
    other.add(0, 1).unwrap();
    m.merge(&other).unwrap();
    assert_eq!(m.get(0, 1), 2);
    assert_eq!(
        m.merge(&ConfusionMatrix::new(2)),
        Err(MetricsError::ClassCountMismatch { left: 3, right: 2 })
    );
    assert_eq!(m.get(0, 1), 2);
}

#[test]
fn text_table() {
    let names: Vec<String> = ["cat", "dog", "axolotl"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let table = worked().render_table(Some(&names));
    let expected = "\
\x20             precision     recall   f1-score  support

         cat     0.6667     0.5000     0.5714        4
         dog     0.3333     0.5000     0.4000        2
     axolotl     0.7500     0.7500     0.7500        4

    accuracy                           0.6000       10
   macro avg     0.5833     0.5833     0.5738       10
weighted avg     0.6333     0.6000     0.6086       10

confusion matrix (rows: true class, columns: predicted)
           0 1 2
0 cat      2 2 0
1 dog      0 1 1
2 axolotl  1 0 3
";
    assert_eq!(table, expected, "\n{table}");
    // Without names the classes are numbered.
    let plain = worked().render_table(None);
    assert!(plain.contains("\n           2     0.7500"), "{plain}");
}

#[test]
fn json_forms() {
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let report = worked().report(Some(&names));
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["samples"], 10);
    assert_eq!(v["accuracy"], 0.6);
    assert_eq!(
        v["confusion_matrix"],
        serde_json::json!([[2, 2, 0], [0, 1, 1], [1, 0, 3]])
    );
    assert_eq!(v["per_class"][1]["name"], "b");
    assert_eq!(v["per_class"][1]["support"], 2);
    assert_eq!(v["per_class"][2]["f1"], 0.75);
    assert_eq!(v["class_names"][0], "a");
    let no_names = serde_json::to_value(worked().report(None)).unwrap();
    assert!(no_names.get("class_names").is_none());
    assert!(no_names["per_class"][0].get("name").is_none());

    let rec = EpochRecord {
        epoch: 3,
        train_loss: 0.25,
        train_accuracy: 0.9,
        val_loss: None,
        val_accuracy: Some(0.875),
        lr: None,
        samples_per_s: 12000.0,
        seconds: 5.0,
    };
    let json = serde_json::to_string(&rec).unwrap();
    assert_eq!(
        json,
        "{\"epoch\":3,\"train_loss\":0.25,\"train_accuracy\":0.9,\"val_loss\":null,\
         \"val_accuracy\":0.875,\"samples_per_s\":12000.0,\"seconds\":5.0}"
    );
    assert_eq!(serde_json::from_str::<EpochRecord>(&json).unwrap(), rec);

    let dir = scratch("json");
    let path = dir.join("metrics.json");
    save_json(&path, &serde_json::json!({"epochs": [rec], "test": report})).unwrap();
    let back: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back["epochs"][0]["val_accuracy"], 0.875);
    assert_eq!(back["test"]["confusion_matrix"][2][2], 3);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let err = save_json(&dir.join("no/such/metrics.json"), &rec).unwrap_err();
    assert!(err.to_string().contains("no/such/metrics.json"), "{err}");
}

// ---------------------------------------------------------------- plots

/// Checks the PNG signature and reads the IHDR width and height.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    assert!(b.ends_with(&[0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]));
    let be = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

fn records(n: usize, with_test: bool) -> Vec<EpochRecord> {
    (1..=n)
        .map(|e| {
            let t = e as f64;
            EpochRecord {
                epoch: e,
                train_loss: 1.6 / t.sqrt(),
                train_accuracy: 0.98 - 0.4 / t,
                val_loss: with_test.then(|| 1.7 / t.sqrt() + 0.02 * t),
                val_accuracy: with_test.then(|| 0.95 - 0.42 / t),
                lr: None,
                samples_per_s: 50_000.0,
                seconds: 1.2,
            }
        })
        .collect()
}

#[test]
fn curves_png() {
    let dir = scratch("curves");
    let path = dir.join("curves.png");
    plot_curves(&path, &records(12, true)).unwrap();
    assert_eq!(png_size(&path), CURVES_SIZE);
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000);
    // One epoch, no test set, a diverged loss: still a picture.
    let mut one = records(1, false);
    one[0].train_loss = f64::NAN;
    let p1 = dir.join("one.png");
    plot_curves(&p1, &one).unwrap();
    assert_eq!(png_size(&p1), CURVES_SIZE);
    // Many epochs.
    let p2 = dir.join("many.png");
    plot_curves(&p2, &records(150, true)).unwrap();
    assert_eq!(png_size(&p2), CURVES_SIZE);
    // A schedule's learning rate: a third panel, small rates too.
    let mut scheduled = records(30, true);
    for r in &mut scheduled {
        r.lr = Some(0.1 * 0.8f64.powi(r.epoch as i32));
    }
    let p3 = dir.join("lr.png");
    plot_curves(&p3, &scheduled).unwrap();
    assert_eq!(png_size(&p3), (CURVES_SIZE.0 * 3 / 2, CURVES_SIZE.1));
    // Nothing to plot.
    let err = plot_curves(dir.join("none.png"), &[]).unwrap_err();
    assert!(matches!(err, PlotError::Empty { .. }));
    assert!(err.to_string().contains("none.png"), "{err}");
    // Only the four plots, no temporary files.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4);
}

#[test]
fn confusion_png() {
    let dir = scratch("confusion");
    let names: Vec<String> = nnspec_runtime::data::idx::fashion_mnist_class_names();
    let mut m = ConfusionMatrix::new(10);
    for t in 0..10u32 {
        for p in 0..10u32 {
            let n = if t == p {
                900 - 40 * t
            } else {
                (t * 7 + p * 3) % 23
            };
            for _ in 0..n {
                m.add(t as usize, p as usize).unwrap();
            }
        }
    }
    let path = dir.join("confusion.png");
    plot_confusion(&path, &m, Some(&names)).unwrap();
    assert_eq!(png_size(&path), CONFUSION_SIZE);
    let plain = dir.join("plain.png");
    plot_confusion(
        &plain,
        &ConfusionMatrix::from_predictions(3, &[0, 1, 2, 2], &[0, 2, 2, 1]).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(png_size(&plain), CONFUSION_SIZE);
    let many = dir.join("many.png");
    plot_confusion(&many, &ConfusionMatrix::new(60), None).unwrap();
    assert_eq!(png_size(&many), CONFUSION_SIZE);

    let err = plot_confusion(dir.join("x.png"), &m, Some(&names[..3])).unwrap_err();
    assert!(matches!(
        err,
        PlotError::ClassNames {
            names: 3,
            classes: 10,
            ..
        }
    ));
    let err = plot_confusion(dir.join("missing/x.png"), &m, None).unwrap_err();
    assert!(err.to_string().contains("missing/x.png"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
}
