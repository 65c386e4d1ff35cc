//! The safetensors file format: round trips, interoperability with PyTorch's files and the
//! safetensors reference implementation, malformed files, and atomic
//! writes.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nnspec_runtime::atomic_write::write_atomically;
use nnspec_runtime::safetensors_file::{
    Checkpoint, CheckpointError, Dtype, FormatError, Tensor, TensorData,
};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("checkpoint-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Awkward values: signed zeros, a subnormal, infinities, NaNs with payloads.
fn awkward() -> Vec<f32> {
    vec![
        0.0,
        -0.0,
        1.0e-45,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(0x7fc0_0001),
        f32::from_bits(0xffa0_0000),
        0.1,
        -3.75,
        1.0 / 3.0,
    ]
}

fn sample() -> Checkpoint {
    let mut ck = Checkpoint::new();
    ck.insert_f32("fc1.weight", &[3, 4], &awkward()).unwrap();
    ck.insert_f32("fc1.bias", &[3], &[0.5, -0.5, 0.25]).unwrap();
    ck.insert_f32("bn.running_mean", &[1], &[0.125]).unwrap();
    ck.insert_i64("bn.num_batches_tracked", &[], &[i64::MAX])
        .unwrap();
    ck.insert_i64("idx", &[2], &[-1, 1 << 40]).unwrap();
    ck.set_metadata("format", "pt");
    ck.set_metadata("nnspec.model", "mlp \"quoted\" \u{e9}");
    ck
}

/// The names in a file's order.
fn names(ck: &Checkpoint) -> Vec<&str> {
    ck.names().collect()
}

#[test]
fn round_trip_is_bit_identical() {
    let dir = scratch("round-trip");
    let path = dir.join("model.safetensors");
    let ck = sample();
    ck.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back.origin(), path.display().to_string());
    assert_eq!(back.len(), 5);
    for (name, t) in ck.iter() {
        let u = back.get(name).unwrap();
        assert_eq!(t.shape, u.shape, "{name}");
        match (&t.data, &u.data) {
            (TensorData::F32(a), TensorData::F32(b)) => assert_eq!(bits(a), bits(b), "{name}"),
            (TensorData::I64(a), TensorData::I64(b)) => assert_eq!(a, b, "{name}"),
            _ => panic!("{name}: dtype changed"),
        }
    }
    assert_eq!(back.metadata(), ck.metadata());
    // 8-byte tensors first, otherwise insertion order.
    assert_eq!(
        names(&back),
        [
            "bn.num_batches_tracked",
            "idx",
            "fc1.weight",
            "fc1.bias",
            "bn.running_mean"
        ]
    );
    // Saving what was loaded reproduces the file byte for byte.
    assert_eq!(back.to_bytes(), std::fs::read(&path).unwrap());
    // No temporary file is left behind.
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn f32_only_checkpoints_keep_their_order() {
    let mut ck = Checkpoint::new();
    for name in ["z.weight", "a.weight", "m.bias"] {
        ck.insert_f32(name, &[1], &[1.0]).unwrap();
    }
    let back = Checkpoint::from_bytes(&ck.to_bytes(), "mem").unwrap();
    assert_eq!(names(&back), ["z.weight", "a.weight", "m.bias"]);
    // Replacing keeps the position.
    ck.insert_f32("a.weight", &[2], &[2.0, 3.0]).unwrap();
    assert_eq!(names(&ck), ["z.weight", "a.weight", "m.bias"]);
    assert_eq!(ck.f32("a.weight", &[2]).unwrap(), [2.0, 3.0]);
}

/// `runtime/tests/data/torch_checkpoint.safetensors` was written by:
///
/// ```python
/// m = torch.nn.Sequential()
/// m.add_module('fc', torch.nn.Linear(3, 2))
/// m.add_module('bn', torch.nn.BatchNorm1d(2))
/// with torch.no_grad():
///     m.fc.weight.copy_(torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.25 - 0.5)
///     m.fc.bias.copy_(torch.tensor([0.1, -0.2]))
///     m.bn.weight.copy_(torch.tensor([1.5, 2.0]))
///     m.bn.bias.copy_(torch.tensor([0.0, -1.0]))
///     m.bn.running_mean.copy_(torch.tensor([0.3, 0.4]))
///     m.bn.running_var.copy_(torch.tensor([1.1, 0.9]))
///     m.bn.num_batches_tracked.fill_(7)
/// safetensors.torch.save_file(m.state_dict(), path, metadata={'format': 'pt'})
/// ```
#[test]
fn loads_a_pytorch_state_dict() {
    let ck = Checkpoint::load(testdata("torch_checkpoint.safetensors")).unwrap();
    assert_eq!(ck.len(), 7);
    assert_eq!(ck.metadata().get("format").map(String::as_str), Some("pt"));
    assert_eq!(
        ck.f32("fc.weight", &[2, 3]).unwrap(),
        [-0.5, -0.25, 0.0, 0.25, 0.5, 0.75]
    );
    // torch.tensor([0.1, -0.2]) rounds the literals to f32 exactly as Rust does.
    assert_eq!(bits(ck.f32("fc.bias", &[2]).unwrap()), bits(&[0.1, -0.2]));
    assert_eq!(ck.f32("bn.weight", &[2]).unwrap(), [1.5, 2.0]);
    assert_eq!(ck.f32("bn.bias", &[2]).unwrap(), [0.0, -1.0]);
    assert_eq!(
        bits(ck.f32("bn.running_mean", &[2]).unwrap()),
        bits(&[0.3, 0.4])
    );
    assert_eq!(
        bits(ck.f32("bn.running_var", &[2]).unwrap()),
        bits(&[1.1, 0.9])
    );
    assert_eq!(ck.i64("bn.num_batches_tracked", &[]).unwrap(), [7]);
    let model = [
        "fc.weight",
        "fc.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ];
    ck.require_names(model).unwrap();
    // The reference writer's order: I64 first, then by name.
    assert_eq!(
        names(&ck),
        [
            "bn.num_batches_tracked",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.weight",
            "fc.bias",
            "fc.weight"
        ]
    );
}

#[test]
fn our_files_parse_with_the_reference_implementation() {
    let ck = sample();
    let bytes = ck.to_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.len(), ck.len());
    for (name, t) in ck.iter() {
        let view = st.tensor(name).unwrap();
        assert_eq!(view.shape(), t.shape.as_slice(), "{name}");
        let expected: Vec<u8> = match &t.data {
            TensorData::F32(v) => {
                assert_eq!(view.dtype(), safetensors::Dtype::F32);
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            TensorData::I64(v) => {
                assert_eq!(view.dtype(), safetensors::Dtype::I64);
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            TensorData::I8(v) => {
                assert_eq!(view.dtype(), safetensors::Dtype::I8);
                v.iter().map(|&x| x as u8).collect()
            }
            TensorData::U8(v) => {
                assert_eq!(view.dtype(), safetensors::Dtype::U8);
                v.clone()
            }
            TensorData::I32(v) => {
                assert_eq!(view.dtype(), safetensors::Dtype::I32);
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
        };
        assert_eq!(view.data(), expected.as_slice(), "{name}");
    }
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta.get("nnspec.model").unwrap(), "mlp \"quoted\" \u{e9}");
    // The header is padded so the data start 8-byte aligned.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(n % 8, 0);
}

#[test]
fn reference_implementation_files_parse_here() {
    use safetensors::tensor::TensorView;
    let w: Vec<u8> = awkward().iter().flat_map(|x| x.to_le_bytes()).collect();
    let s: Vec<u8> = 42i64.to_le_bytes().to_vec();
    let tensors = vec![
        (
            "w",
            TensorView::new(safetensors::Dtype::F32, vec![4, 3], &w).unwrap(),
        ),
        (
            "steps",
            TensorView::new(safetensors::Dtype::I64, vec![], &s).unwrap(),
        ),
    ];
    let mut meta = HashMap::new();
    meta.insert("k".to_string(), "v".to_string());
    let bytes = safetensors::serialize(tensors, Some(meta)).unwrap();
    let ck = Checkpoint::from_bytes(&bytes, "ref").unwrap();
    assert_eq!(bits(ck.f32("w", &[4, 3]).unwrap()), bits(&awkward()));
    assert_eq!(ck.i64("steps", &[]).unwrap(), [42]);
    assert_eq!(ck.metadata().get("k").map(String::as_str), Some("v"));
}

#[test]
fn typed_accessors_explain_mismatches() {
    let mut ck = Checkpoint::new();
    ck.insert_f32("fc1.weight", &[128, 784], &vec![0.0; 128 * 784])
        .unwrap();
    ck.insert_i64("bn.num_batches_tracked", &[], &[3]).unwrap();
    let ck = Checkpoint::from_bytes(&ck.to_bytes(), "model.safetensors").unwrap();
    let err = ck.f32("fc1.weight", &[64, 784]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "checkpoint model.safetensors: tensor \"fc1.weight\" has shape [128, 784], the model \
         expects [64, 784]"
    );
    let err = ck.f32("bn.num_batches_tracked", &[]).unwrap_err();
    assert!(matches!(
        err,
        CheckpointError::DtypeMismatch {
            found: Dtype::I64,
            expected: Dtype::F32,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "checkpoint model.safetensors: tensor \"bn.num_batches_tracked\" has dtype I64, the \
         model expects F32"
    );
    let err = ck.i64("fc2.weight", &[1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "checkpoint model.safetensors: no tensor \"fc2.weight\" (the file has 2 tensors)"
    );

    let check = ck.check_names(["fc1.weight", "fc1.bias", "fc2.weight"]);
    assert_eq!(check.missing, ["fc1.bias", "fc2.weight"]);
    assert_eq!(check.unexpected, ["bn.num_batches_tracked"]);
    assert!(!check.is_exact());
    let err = ck
        .require_names(["fc1.weight", "fc1.bias"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "checkpoint model.safetensors: 1 tensor(s) the model needs are missing: \"fc1.bias\"; \
         1 tensor(s) in the file are unknown to the model: \"bn.num_batches_tracked\""
    );
    assert!(
        ck.check_names(["bn.num_batches_tracked", "fc1.weight"])
            .is_exact()
    );
}

#[test]
fn insert_checks_the_shape() {
    let mut ck = Checkpoint::new();
    let err = ck.insert_f32("w", &[2, 3], &[0.0; 5]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "checkpoint <memory>: tensor \"w\": shape [2, 3] needs 6 elements but 5 were given"
    );
    let err = ck
        .insert(
            "big",
            Tensor {
                shape: vec![usize::MAX, 2],
                data: TensorData::F32(vec![]),
            },
        )
        .unwrap_err();
    assert!(matches!(err, CheckpointError::InvalidTensor { .. }));
    assert!(ck.is_empty());
}

// ------------------------------------------------------ malformed files

/// A safetensors file from a header and data.
fn st(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    b.extend(data);
    b
}

/// Writes `bytes` to `bad.safetensors`, loads it, returns the format error
/// after checking the message names the file.
fn load_bad(test: &str, bytes: &[u8]) -> FormatError {
    let path = scratch(test).join("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("checkpoint {}: ", path.display())),
        "{msg}"
    );
    match err {
        CheckpointError::Format { error, .. } => error,
        other => panic!("{other:?}"),
    }
}

const GOOD_HEADER: &str = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;

#[test]
fn good_crafted_file_loads() {
    let ck = Checkpoint::from_bytes(&st(GOOD_HEADER, &[0, 0, 128, 63, 0, 0, 0, 64]), "x").unwrap();
    assert_eq!(ck.f32("a", &[2]).unwrap(), [1.0, 2.0]);
}

#[test]
fn not_a_file() {
    let dir = scratch("not-a-file");
    let err = Checkpoint::load(&dir).unwrap_err();
    assert!(matches!(err, CheckpointError::NotAFile { .. }));
    assert_eq!(
        err.to_string(),
        format!("checkpoint {}: not a regular file", dir.display())
    );
    let err = Checkpoint::load(dir.join("absent.safetensors")).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }));
    assert!(err.to_string().contains("absent.safetensors"), "{err}");
}

#[test]
fn truncated_files() {
    assert!(matches!(
        load_bad("empty", b""),
        FormatError::TooShort { len: 0 }
    ));
    assert!(matches!(
        load_bad("short", &[8, 0, 0]),
        FormatError::TooShort { len: 3 }
    ));
    let full = st(GOOD_HEADER, &[0; 8]);
    let e = load_bad("header-cut", &full[..30]);
    assert!(
        matches!(e, FormatError::HeaderPastEnd { file_len: 30, .. }),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("truncated"), "{e}");
    let e = load_bad("data-cut", &full[..full.len() - 3]);
    assert!(matches!(
        e,
        FormatError::Truncated {
            expected: 8,
            found: 5,
            ..
        }
    ));
    assert!(e.to_string().contains("holds 5"), "{e}");
    assert!(e.to_string().contains("is the first cut short"), "{e}");
    let mut long = full.clone();
    long.extend([1, 2]);
    let e = load_bad("trailing", &long);
    assert!(matches!(
        e,
        FormatError::Trailing {
            expected: 8,
            found: 10,
            ..
        }
    ));
    assert!(e.to_string().starts_with("2 trailing byte(s)"), "{e}");
}

#[test]
fn header_not_json() {
    let e = load_bad("not-json", &st("{\"a\": [1, 2", &[]));
    assert!(matches!(e, FormatError::HeaderNotJson { .. }));
    assert!(e.to_string().contains("is not JSON"), "{e}");
    let e = load_bad("not-utf8", &st("{\"\u{0}\"}", &[])[..]);
    assert!(matches!(e, FormatError::HeaderNotJson { .. }), "{e:?}");
    let mut b = st("{\"ab\":1}", &[]);
    b[10] = 0xff;
    assert!(matches!(
        load_bad("not-utf8b", &b),
        FormatError::HeaderNotUtf8 { offset: 10 }
    ));
    assert!(matches!(
        load_bad("array", &st("[1,2,3]", &[])),
        FormatError::HeaderNotObject
    ));
    let e = load_bad("huge-header", &u64::MAX.to_le_bytes());
    assert!(matches!(e, FormatError::HeaderTooLarge { .. }), "{e:?}");
}

#[test]
fn bad_entries() {
    let e = load_bad(
        "no-dtype",
        &st(r#"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, &[0; 4]),
    );
    assert!(matches!(&e, FormatError::BadEntry { name, .. } if name == "w"));
    assert!(e.to_string().contains("\"dtype\" is missing"), "{e}");
    let e = load_bad(
        "neg-shape",
        &st(
            r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    );
    assert!(e.to_string().contains("\"shape\" is not a list"), "{e}");
    let e = load_bad(
        "offsets",
        &st(
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
            &[0; 4],
        ),
    );
    assert!(e.to_string().contains("data_offsets"), "{e}");
    let e = load_bad("meta", &st(r#"{"__metadata__":{"epochs":3}}"#, &[]));
    assert!(matches!(e, FormatError::BadMetadata { .. }), "{e:?}");
    assert!(e.to_string().contains("\"epochs\""), "{e}");
    let e = load_bad("meta-list", &st(r#"{"__metadata__":[]}"#, &[]));
    assert!(matches!(e, FormatError::BadMetadata { .. }), "{e:?}");
    // `null` metadata means none, as in the reference implementation.
    let ck = Checkpoint::from_bytes(&st(r#"{"__metadata__":null}"#, &[]), "m").unwrap();
    assert!(ck.metadata().is_empty() && ck.is_empty());
}

#[test]
fn unsupported_dtype() {
    let e = load_bad(
        "f16",
        &st(
            r#"{"half":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    );
    assert!(
        matches!(&e, FormatError::UnsupportedDtype { name, dtype } if name == "half" && dtype == "F16")
    );
    assert_eq!(
        e.to_string(),
        "tensor \"half\" has dtype F16, which nnspec does not support (only F32 and I64)"
    );
}

#[test]
fn bad_offsets() {
    // A gap between tensors.
    let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
               "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let e = load_bad("gap", &st(h, &[0; 12]));
    assert!(
        matches!(&e, FormatError::BadOffsets { name, start: 8, expected_start: 4, .. } if name == "b"),
        "{e:?}"
    );
    // Overlapping tensors.
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
               "b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let e = load_bad("overlap", &st(h, &[0; 8]));
    assert!(matches!(e, FormatError::BadOffsets { .. }), "{e:?}");
    // End before start.
    let h = r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},
               "b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
               "c":{"dtype":"F32","shape":[1],"data_offsets":[4,2]}}"#;
    let e = load_bad("backwards", &st(h, &[0; 4]));
    assert!(matches!(e, FormatError::BadOffsets { .. }), "{e:?}");
    // Offsets disagree with shape and dtype.
    let h = r#"{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,8]}}"#;
    let e = load_bad("size", &st(h, &[0; 8]));
    assert!(
        matches!(e, FormatError::SizeMismatch { expected: 16, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("span 8 bytes, but I64 with shape [2] needs 16"),
        "{e}"
    );
    // A shape whose element count overflows.
    let h = r#"{"a":{"dtype":"F32","shape":[18446744073709551615,4],"data_offsets":[0,4]}}"#;
    let e = load_bad("overflow", &st(h, &[0; 4]));
    assert!(matches!(e, FormatError::Overflow { .. }), "{e:?}");
    // Offsets far beyond the file.
    let h = r#"{"a":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#;
    let e = load_bad("beyond", &st(h, &[0; 4]));
    assert!(matches!(e, FormatError::Truncated { .. }), "{e:?}");
}

// ------------------------------------------------------- atomic writes

/// A writer that accepts `limit` bytes, then fails like a full disk.
struct FailingWriter {
    written: usize,
    limit: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written >= self.limit {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.limit - self.written);
        self.written += n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_propagate() {
    let mut w = FailingWriter {
        written: 0,
        limit: 100,
    };
    let err = sample().write_to(&mut w).unwrap_err();
    assert_eq!(err.to_string(), "disk full");
}

#[test]
fn failed_write_never_replaces_the_old_file() {
    let dir = scratch("interrupted");
    let path = dir.join("model.safetensors");
    let old = sample();
    old.save(&path).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();

    // A save that fails halfway through: a new, bigger checkpoint whose
    // bytes stop after the header.
    let mut new = Checkpoint::new();
    new.insert_f32("w", &[1000], &[1.0; 1000]).unwrap();
    let new_bytes = new.to_bytes();
    let err = write_atomically(&path, |w| {
        w.write_all(&new_bytes[..new_bytes.len() / 2])?;
        Err(io::Error::other("killed mid-write"))
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "killed mid-write");
    assert_eq!(std::fs::read(&path).unwrap(), old_bytes);
    // The temporary file is gone.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["model.safetensors"]);

    // A torn temporary file from a killed run does not disturb loading or
    // the next save.
    let stray = dir.join(".model.safetensors.99999.0.tmp");
    std::fs::write(&stray, &new_bytes[..50]).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap().to_bytes(), old_bytes);
    new.save(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), new_bytes);
    assert_eq!(std::fs::read(&stray).unwrap(), &new_bytes[..50]);
}

#[test]
fn save_into_a_missing_directory_names_the_path() {
    let dir = scratch("missing-dir");
    let path = dir.join("no/such/dir/model.safetensors");
    let err = sample().save(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }));
    assert!(
        err.to_string().contains("no/such/dir/model.safetensors"),
        "{err}"
    );
}

/// The int8 checkpoint's dtypes (I8, U8, I32): read by the reference
/// implementation as written, aligned, and read back here unchanged.
#[test]
fn integer_dtypes_round_trip_through_the_reference_implementation() {
    let mut ck = Checkpoint::new();
    let put = |ck: &mut Checkpoint, name: &str, shape: &[usize], data: TensorData| {
        let shape = shape.to_vec();
        ck.insert(
            name,
            nnspec_runtime::safetensors_file::Tensor { shape, data },
        )
        .unwrap();
    };
    put(
        &mut ck,
        "w",
        &[2, 3],
        TensorData::I8(vec![-127, -1, 0, 1, 5, 127]),
    );
    put(&mut ck, "zp", &[], TensorData::U8(vec![200]));
    put(
        &mut ck,
        "b",
        &[3],
        TensorData::I32(vec![i32::MIN, -7, i32::MAX]),
    );
    ck.insert_f32("s", &[1], &[0.5]).unwrap();
    let bytes = ck.to_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("w").unwrap().dtype(), safetensors::Dtype::I8);
    assert_eq!(st.tensor("w").unwrap().data(), &[129u8, 255, 0, 1, 5, 127]);
    assert_eq!(st.tensor("zp").unwrap().dtype(), safetensors::Dtype::U8);
    let b = st.tensor("b").unwrap();
    assert_eq!(b.dtype(), safetensors::Dtype::I32);
    let want: Vec<u8> = [i32::MIN, -7, i32::MAX]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    assert_eq!(b.data(), want.as_slice());
    // Wider elements first: every tensor starts at a multiple of its size.
    assert_eq!(
        names(&Checkpoint::from_bytes(&bytes, "m").unwrap()),
        ["b", "s", "w", "zp"]
    );
    let back = Checkpoint::from_bytes(&bytes, "m").unwrap();
    assert_eq!(back.i8("w", &[2, 3]).unwrap(), &[-127, -1, 0, 1, 5, 127]);
    assert_eq!(back.u8("zp", &[]).unwrap(), &[200]);
    assert_eq!(back.i32("b", &[3]).unwrap(), &[i32::MIN, -7, i32::MAX]);
    assert!(
        back.i32("w", &[2, 3])
            .unwrap_err()
            .to_string()
            .contains("I8")
    );
}
