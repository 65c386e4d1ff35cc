//! Issue 11's sequence models trained through the CLI on a sequence task
//! whose data the tests generate reproducibly: the UCI digits that ship
//! with nnspec, read as sequences, split by a seeded permutation (the last
//! 360 samples, 20%, are the test set).
//!
//! - `examples/digits_lstm.nn`: each image is 8 steps of its 8-pixel rows,
//!   scaled as dslc scales the digits, `(x/16 - 0.5)/0.5`.
//! - `examples/digits_transformer.nn`: each image is 64 tokens, one per
//!   pixel, the id being `position * 17 + intensity`, so the embedding
//!   carries the position.
//!
//! The same models in PyTorch, on a split built the same way, train to
//! about the accuracy asserted here (bench/seq_vs_pytorch.py runs both
//! sides and loads nnspec's checkpoints into the PyTorch modules).

mod common;

use std::io::Write;
use std::path::Path;

use common::{both, dslc, metrics, npy, root, scratch};
use nnspec_runtime::data::{Normalization, digits_with};
use nnspec_runtime::rng::Rng;

const TEST_SAMPLES: usize = 360;

/// The digits as `(pixels 0..16 per sample, label)`, in a seeded order.
fn shuffled_digits() -> Vec<(Vec<u32>, u32)> {
    let ds = digits_with(&Normalization::None).unwrap();
    let mut samples: Vec<(Vec<u32>, u32)> = ds
        .features
        .chunks(64)
        .zip(&ds.labels)
        .map(|(pixels, &label)| (pixels.iter().map(|&p| p as u32).collect(), label))
        .collect();
    Rng::new(2026).shuffle(&mut samples);
    samples
}

/// Writes the train and test arrays of the digits as sequences, each
/// sample's features from `encode`, as `x_train`, `y_train`, `x_test`,
/// `y_test` in an `.npz`.
fn write_npz(path: &Path, descr: &str, shape: &[usize], encode: impl Fn(&[u32]) -> Vec<u8>) {
    let samples = shuffled_digits();
    let (train, test) = samples.split_at(samples.len() - TEST_SAMPLES);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for (part, set) in [("train", train), ("test", test)] {
        let x: Vec<u8> = set.iter().flat_map(|(p, _)| encode(p)).collect();
        let y: Vec<u8> = set
            .iter()
            .flat_map(|(_, l)| i64::from(*l).to_le_bytes())
            .collect();
        let mut dims = vec![set.len()];
        dims.extend(shape);
        zip.start_file(format!("x_{part}.npy"), options).unwrap();
        zip.write_all(&npy(descr, &dims, &x)).unwrap();
        zip.start_file(format!("y_{part}.npy"), options).unwrap();
        zip.write_all(&npy("<i8", &[set.len()], &y)).unwrap();
    }
    zip.finish().unwrap();
}

/// Trains `example` on `data` with its own train block; the test accuracy.
fn train(dir: &Path, example: &str, data: &Path) -> f64 {
    let model = root().join("examples").join(example);
    let out_dir = dir.join("run");
    let out = dslc(&[
        "train",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--force",
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let m = metrics(&out_dir);
    assert_eq!(m["test_samples"].as_u64(), Some(TEST_SAMPLES as u64));
    m["test_accuracy"].as_f64().unwrap()
}

#[test]
fn the_lstm_reads_digits_row_by_row() {
    let dir = scratch("sequence-lstm");
    let data = dir.join("rows.npz");
    write_npz(&data, "<f4", &[8, 8], |pixels| {
        pixels
            .iter()
            .flat_map(|&p| ((p as f32 / 16.0 - 0.5) / 0.5).to_le_bytes())
            .collect()
    });
    let accuracy = train(&dir, "digits_lstm.nn", &data);
    // PyTorch's nn.LSTM, same model and train block: 0.98 on its split.
    assert!(accuracy > 0.95, "LSTM test accuracy {accuracy}");
}

#[test]
fn the_transformer_reads_digits_pixel_by_pixel() {
    let dir = scratch("sequence-transformer");
    let data = dir.join("tokens.npz");
    write_npz(&data, "<i8", &[64], |pixels| {
        pixels
            .iter()
            .enumerate()
            .flat_map(|(position, &p)| (position as i64 * 17 + i64::from(p)).to_le_bytes())
            .collect()
    });
    let accuracy = train(&dir, "digits_transformer.nn", &data);
    // PyTorch, same model and train block: 0.89 on its split.
    assert!(accuracy > 0.85, "transformer test accuracy {accuracy}");
}
