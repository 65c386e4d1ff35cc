//! Feeds arbitrary bytes to the NumPy (`.npy`, `.npz`) and PNG loaders.
//!
//! The first byte picks the loader (low 2 bits) and, for PNG, the model
//! input shape the image must fit; the rest is the input. Beyond "never
//! panics" it checks what an accepted input must satisfy: an array holds
//! as many values as its shape says, features are finite, a decoded image
//! fills the input shape exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnspec_runtime::data::npy::{self, NpyArray, Values};
use nnspec_runtime::data::{npz, png};

fn check_array(a: &NpyArray) {
    let n: usize = a.shape.iter().product();
    let len = match &a.values {
        Values::F32(v) => v.len(),
        Values::F64(v) => v.len(),
        Values::Int(v) => v.len(),
    };
    assert_eq!(len, n);
    if let Ok((features, _)) = npz::features(a, "features") {
        assert!(features.iter().all(|x| x.is_finite()));
    }
    let _ = npz::labels(a);
}

const SHAPES: [&[usize]; 4] = [&[1, 28, 28], &[3, 4, 4], &[64], &[8, 8]];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    match selector & 3 {
        0 => match npy::parse_npy(data, "fuzz.npy") {
            Ok(a) => check_array(&a),
            Err(e) => {
                let _ = e.to_string();
            }
        },
        1 => match npz::parse_npz(data, "fuzz.npz") {
            Ok(arrays) => {
                arrays.iter().for_each(|(_, a)| check_array(a));
                let _ = npz::npz_features(arrays);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        },
        _ => {
            let shape = SHAPES[usize::from(selector >> 2) % SHAPES.len()];
            match png::decode(data, "fuzz.png", shape) {
                Ok(pixels) => assert_eq!(pixels.len(), shape.iter().product::<usize>()),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
    }
});
