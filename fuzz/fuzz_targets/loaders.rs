//! Feeds arbitrary bytes to the data set and checkpoint parsers.
//!
//! The first byte picks the parser (low bits; for CSV, bit 0x80 reads
//! float target columns) and whether the harness
//! gzip-compresses the input first (bit 0x40), so the parsers' gzip paths
//! see interesting decompressed data; the rest is the input. Besides "never
//! panics", it checks what an accepted input must satisfy: consistent
//! data set sizes, finite features, labels below the class count, and
//! checkpoints that survive a write/read round trip byte for byte and that
//! the safetensors reference implementation reads the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnspec_runtime::data::{Dataset, Normalization, csv, idx, parse_csv_targets};
use nnspec_runtime::safetensors_file::{Checkpoint, TensorData};

fn check_dataset(ds: &Dataset) {
    let n = ds.sample_len();
    assert!(n > 0);
    assert_eq!(ds.features.len(), ds.labels.len() * n);
    assert!(ds.features.iter().all(|x| x.is_finite()));
    ds.check_classes(ds.classes).expect("labels below classes");
    if let Some(names) = &ds.class_names {
        assert_eq!(names.len(), ds.classes);
    }
    // Exercise the batch path on the first samples.
    let k = ds.len().min(3);
    let indices: Vec<usize> = (0..k).collect();
    let mut x = vec![0.0; k * n];
    let mut y = vec![0; k];
    ds.gather_batch(&indices, &mut x, &mut y);
}

fn checkpoint(data: &[u8]) {
    let ours = Checkpoint::from_bytes(data, "fuzz");
    let reference = safetensors::SafeTensors::deserialize(data);
    match ours {
        Err(e) => {
            let _ = e.to_string();
        }
        Ok(ck) => {
            // What we accept, the reference accepts, with the same tensors.
            let st = reference.expect("accepted here but not by the reference implementation");
            assert_eq!(st.len(), ck.len());
            for (name, t) in ck.iter() {
                let view = st.tensor(name).expect("same names");
                assert_eq!(view.shape(), t.shape.as_slice());
                let bytes: Vec<u8> = match &t.data {
                    TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    TensorData::I8(v) => v.iter().map(|&x| x as u8).collect(),
                    TensorData::U8(v) => v.clone(),
                    TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                };
                assert_eq!(view.data(), bytes.as_slice());
            }
            // Our own output reads back to the same bytes.
            let once = ck.to_bytes();
            let again = Checkpoint::from_bytes(&once, "fuzz2")
                .expect("our output parses")
                .to_bytes();
            assert_eq!(once, again);
            safetensors::SafeTensors::deserialize(&once).expect("the reference reads our output");
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let mode = (selector & 0x3f) % 5;
    let compress = selector & 0x40 != 0;
    let maybe_gzip = |d: &[u8]| if compress { gzip(d) } else { d.to_vec() };
    match mode {
        0 => match idx::parse_images(&maybe_gzip(data), "fuzz-images") {
            Ok(img) => assert_eq!(img.pixels.len(), img.count * img.rows * img.cols),
            Err(e) => {
                let _ = e.to_string();
            }
        },
        1 => match idx::parse_labels(&maybe_gzip(data), "fuzz-labels") {
            Ok(labels) => assert!(!labels.is_empty()),
            Err(e) => {
                let _ = e.to_string();
            }
        },
        2 => {
            // Images and labels files split at a position from the input.
            let Some((&cut, rest)) = data.split_first() else {
                return;
            };
            let cut = (cut as usize * rest.len() / 255).min(rest.len());
            let (images, labels) = rest.split_at(cut);
            let names = (selector & 0x80 != 0).then(idx::fashion_mnist_class_names);
            match idx::dataset_from_bytes(
                &maybe_gzip(images),
                "fuzz-images",
                &maybe_gzip(labels),
                "fuzz-labels",
                &Normalization::U8_PIXELS,
                names,
            ) {
                Ok(ds) => check_dataset(&ds),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        3 if selector & 0x80 != 0 => {
            // Float target columns, by number or by header name.
            let targets: Vec<String> = if data.len() % 2 == 0 {
                vec!["1".into()]
            } else {
                vec!["y".into(), "3".into()]
            };
            match parse_csv_targets(&maybe_gzip(data), "fuzz.csv", &targets, &Normalization::None) {
                Ok(ds) => {
                    let t = ds.targets.as_ref().expect("a targets data set has targets");
                    assert_eq!(t.names.len(), targets.len());
                    assert_eq!(t.values.len(), ds.len() * t.width());
                    assert!(t.values.iter().all(|x| x.is_finite()));
                    assert_eq!(ds.features.len(), ds.len() * ds.sample_len());
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        3 => match csv::parse_csv(&maybe_gzip(data), "fuzz.csv", &Normalization::DIGITS) {
            Ok(ds) => check_dataset(&ds),
            Err(e) => {
                let _ = e.to_string();
            }
        },
        _ => checkpoint(data),
    }
});
