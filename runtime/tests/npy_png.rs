//! The NumPy and PNG loaders: values as NumPy writes them (checked
//! against numpy itself when `NNSPEC_PYTHON` names an interpreter with
//! it), and truncated, corrupted or random bytes rejected without a panic.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use nnspec_runtime::data::npy::{self, Dtype, Values};
use nnspec_runtime::data::{npz, png as png_inputs};
use proptest::prelude::*;

fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let f = if fortran { "True" } else { "False" };
    let header = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn zip_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn png_bytes(w: u32, h: u32, colour: ::png::ColorType, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut out, w, h);
    encoder.set_color(colour);
    encoder.set_depth(::png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(pixels)
        .unwrap();
    out
}

#[test]
fn npy_reads_byte_orders_and_fortran_order() {
    let be: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    let a = npy::parse_npy(&npy_bytes(">f4", false, "(2,)", &be), "be").unwrap();
    assert_eq!(a.values, Values::F32(vec![1.5, -2.0]));
    // Fortran order: [[1, 2, 3], [4, 5, 6]] is stored 1, 4, 2, 5, 3, 6.
    let f: Vec<u8> = [1i32, 4, 2, 5, 3, 6]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let a = npy::parse_npy(&npy_bytes("<i4", true, "(2, 3)", &f), "f").unwrap();
    assert_eq!(a.shape, [2, 3]);
    assert_eq!(a.values, Values::Int(vec![1, 2, 3, 4, 5, 6]));
    assert_eq!(
        a.dtype,
        Dtype::Int {
            signed: true,
            bytes: 4
        }
    );
    // A shape whose size overflows is an error, not an overflow.
    let huge = npy_bytes("<f8", false, "(4294967296, 4294967296, 16)", &[]);
    let e = npy::parse_npy(&huge, "huge.npy").unwrap_err().to_string();
    assert!(
        e.contains("huge.npy") && e.contains("more data than fits"),
        "{e}"
    );
}

#[test]
fn png_converts_colour_to_gray_like_pillow() {
    let rgb = png_bytes(2, 1, ::png::ColorType::Rgb, &[255, 0, 0, 10, 200, 30]);
    let gray = png_inputs::decode(&rgb, "c.png", &[1, 1, 2]).unwrap();
    // Pillow: Image.new("RGB", ...).convert("L") gives 76 and 124.
    assert_eq!(gray, [76, 124]);
    let planes = png_inputs::decode(&rgb, "c.png", &[3, 1, 2]).unwrap();
    assert_eq!(planes, [255, 10, 0, 200, 0, 30]);
    let e = png_inputs::decode(&rgb, "c.png", &[1, 2, 2])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("c.png") && e.contains("2x1") && e.contains("[1, 2, 2]"),
        "{e}"
    );
}

/// Every loader on bytes: an error or a value, never a panic.
fn all_loaders(bytes: &[u8]) {
    let _ = npy::parse_npy(bytes, "fuzz.npy").map(|a| npz::features(&a, "features"));
    if let Ok(arrays) = npz::parse_npz(bytes, "fuzz.npz") {
        let _ = npz::npz_features(arrays);
    }
    for shape in [&[1, 28, 28][..], &[3, 2, 2], &[4], &[2, 2]] {
        let _ = png_inputs::decode(bytes, "fuzz.png", shape);
    }
}

fn valid_inputs() -> Vec<Vec<u8>> {
    let npy = npy_bytes("<f4", false, "(1, 4)", &[0; 16]);
    vec![
        npy.clone(),
        zip_of(&[
            ("x.npy", npy),
            ("y.npy", npy_bytes("|u1", false, "(1,)", &[3])),
        ]),
        png_bytes(2, 2, ::png::ColorType::Rgba, &[7; 16]),
    ]
}

#[test]
fn truncated_and_corrupted_inputs_are_errors() {
    for valid in valid_inputs() {
        all_loaders(&valid);
        for cut in 0..valid.len() {
            all_loaders(&valid[..cut]);
            let mut flipped = valid.clone();
            flipped[cut] ^= 0xa5;
            all_loaders(&flipped);
        }
        // Long inputs: trailing garbage after a valid file.
        let mut long = valid.clone();
        long.resize(1 << 20, 0x5a);
        all_loaders(&long);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_bytes_never_panic(
        prefix in 0usize..3,
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        // Start from a real magic often, so the parsers get past it.
        let magics: [&[u8]; 3] = [b"\x93NUMPY\x01\x00", b"PK\x03\x04", b"\x89PNG\r\n\x1a\n"];
        let mut bytes = magics[prefix].to_vec();
        bytes.extend(tail);
        all_loaders(&bytes);
    }
}

/// The interpreter named by `NNSPEC_PYTHON`, if it has numpy.
fn python() -> Result<PathBuf, String> {
    let python = std::env::var_os("NNSPEC_PYTHON")
        .map(PathBuf::from)
        .ok_or("NNSPEC_PYTHON is not set (.ci/run sets it to its virtual environment)")?;
    let probe = Command::new(&python)
        .args(["-c", "import numpy"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !probe.status.success() {
        return Err(format!("{} cannot import numpy", python.display()));
    }
    Ok(python)
}

/// numpy writes arrays of every supported dtype, orders and archive
/// kinds; the loaders read the values numpy prints.
#[test]
fn loads_what_numpy_writes() {
    let python = match python() {
        Ok(p) => p,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{why}; CI is set, and CI installs numpy (.ci/run)"
            );
            eprintln!("numpy comparison skipped: {why}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("nnspec-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
arrays = {
    "f32": rng.standard_normal((3, 4)).astype("<f4"),
    "f64be": rng.standard_normal((2, 5)).astype(">f8"),
    "u8": rng.integers(0, 256, (4, 2, 3)).astype(np.uint8),
    "i64": rng.integers(-5, 5, (6,)).astype(np.int64),
    "i32fortran": np.asfortranarray(rng.integers(0, 9, (3, 4)).astype(np.int32)),
    "u16": rng.integers(0, 60000, (5,)).astype(np.uint16),
}
for name, a in arrays.items():
    np.save(f"{d}/{name}.npy", a)
    with open(f"{d}/{name}.txt", "w") as f:
        f.write(" ".join(repr(float(v)) for v in np.ascontiguousarray(a).ravel()))
        f.write("\n" + " ".join(str(s) for s in a.shape))
np.savez_compressed(f"{d}/keras.npz", x_train=arrays["u8"], y_train=np.arange(4), x_test=arrays["u8"][:1], y_test=np.array([2], dtype=np.uint8))
np.savez(f"{d}/plain.npz", x=arrays["f32"], y=np.array([0, 1, 1], dtype=np.int32))
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["f32", "f64be", "u8", "i64", "i32fortran", "u16"] {
        let a = npy::load_npy(&dir.join(format!("{name}.npy"))).unwrap();
        let txt = std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap();
        let mut lines = txt.lines();
        let want: Vec<f64> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        let shape: Vec<usize> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(a.shape, shape, "{name}");
        let got: Vec<f64> = match &a.values {
            Values::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Values::F64(v) => v.clone(),
            Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
        };
        assert_eq!(got, want, "{name}");
    }
    let keras = npz::load_npz(&dir.join("keras.npz")).unwrap();
    assert!(keras.bytes);
    assert_eq!(keras.train.labels, [0, 1, 2, 3]);
    assert_eq!(keras.train.sample_shape, [2, 3]);
    assert_eq!(keras.test.as_ref().unwrap().labels, [2]);
    let plain = npz::load_npz(&dir.join("plain.npz")).unwrap();
    assert!(!plain.bytes && plain.test.is_none());
    assert_eq!(plain.train.labels, [0, 1, 1]);
    let _ = std::fs::remove_dir_all(&dir);
}
