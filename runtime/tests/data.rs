//! Data set loaders on real files and on crafted malformed inputs.
//!
//! The expected numbers (counts, pixel sums, label histograms, normalized
//! values) were computed independently with numpy and PyTorch from the same
//! files; the scripts are quoted next to the tests.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use nnspec_runtime::data::csv::{CsvError, LabelProblem, load_csv, parse_csv};
use nnspec_runtime::data::idx::{
    self, FASHION_MNIST_CLASSES, IdxError, fashion_mnist_class_names, load_dir, load_pair,
};
use nnspec_runtime::data::{
    DataError, Dataset, Normalization, NormalizationError, digits, digits_with, epoch_permutation,
    refill_permutation, train_test_split,
};
use nnspec_runtime::rng::Rng;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A fresh, empty scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("data-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// An IDX file: magic, big-endian dims, data.
fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend(data);
    b
}

fn images(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..count * rows * cols)
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    idx_bytes(0x803, &[count, rows, cols], &data)
}

fn labels(values: &[u8]) -> Vec<u8> {
    idx_bytes(0x801, &[values.len() as u32], values)
}

fn sum_f64(xs: &[f32]) -> f64 {
    xs.iter().map(|&x| x as f64).sum()
}

// numpy: for p in train, t10k: images (n, 28, 28) u8, labels u8;
// pixel sums and np.bincount(labels).
const SMALL_TRAIN_PIXEL_SUM: f64 = 286_031_984.0;
const SMALL_TEST_PIXEL_SUM: f64 = 58_034_149.0;
const SMALL_TRAIN_COUNTS: [usize; 10] = [457, 556, 504, 501, 488, 493, 493, 512, 490, 506];
const SMALL_TEST_COUNTS: [usize; 10] = [107, 105, 111, 93, 115, 87, 97, 95, 95, 95];

#[test]
fn fashion_mnist_small_directory_raw_pixels() {
    let split = load_dir(&testdata("fashion-mnist-small"), &Normalization::None, None).unwrap();
    let (train, test) = (&split.train, &split.test);
    assert_eq!(train.len(), 5000);
    assert_eq!(test.len(), 1000);
    assert_eq!(train.sample_shape, vec![1, 28, 28]);
    assert_eq!(train.sample_len(), 784);
    assert_eq!(train.features.len(), 5000 * 784);
    assert_eq!((train.classes, test.classes), (10, 10));
    assert_eq!(train.class_names, None);
    assert_eq!(sum_f64(&train.features), SMALL_TRAIN_PIXEL_SUM);
    assert_eq!(sum_f64(&test.features), SMALL_TEST_PIXEL_SUM);
    assert_eq!(train.class_counts(), SMALL_TRAIN_COUNTS);
    assert_eq!(test.class_counts(), SMALL_TEST_COUNTS);
    assert_eq!(&train.labels[..10], &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(&test.labels[..10], &[9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    // numpy: x[0, 14] of the test images.
    let row14: Vec<f32> = test.sample(0)[14 * 28..15 * 28].to_vec();
    let expected: [u8; 28] = [
        0, 0, 0, 0, 0, 0, 2, 4, 1, 0, 0, 0, 98, 136, 110, 109, 110, 162, 135, 144, 149, 159, 167,
        144, 158, 169, 119, 0,
    ];
    assert_eq!(
        row14,
        expected.iter().map(|&p| p as f32).collect::<Vec<_>>()
    );
    assert!(train.source.ends_with("train-images-idx3-ubyte.gz"));
}

#[test]
fn fashion_mnist_normalization_matches_torch_bit_for_bit() {
    // torch: ToTensor() then Normalize((0.5,), (0.5,)) on test image 0,
    // row 14, columns 10..16: t.float().div(255).sub(0.5).div(0.5).
    let split = load_dir(
        &testdata("fashion-mnist-small"),
        &Normalization::U8_PIXELS,
        Some(fashion_mnist_class_names()),
    )
    .unwrap();
    let x = &split.test.sample(0)[14 * 28 + 10..14 * 28 + 16];
    let bits: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
    assert_eq!(
        bits,
        [
            0xbf800000, 0xbf800000, 0xbe6cecec, 0x3d888890, 0xbe0c8c8c, 0xbe149494
        ]
    );
    // torch on pixels 0, 1, 128, 255.
    let n = Normalization::U8_PIXELS;
    let got: Vec<u32> = [0.0f32, 1.0, 128.0, 255.0]
        .iter()
        .map(|&p| n.apply(p).to_bits())
        .collect();
    assert_eq!(got, [0xbf800000, 0xbf7dfdfe, 0x3b808100, 0x3f800000]);
    let (lo, hi) = split
        .train
        .features
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert_eq!((lo, hi), (-1.0, 1.0));
    assert_eq!(split.train.class_names.as_ref().unwrap()[9], "Ankle boot");
    assert_eq!(split.test.class_name(0), "T-shirt/top");
    assert_eq!(FASHION_MNIST_CLASSES.len(), 10);
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let dir = scratch("gzip-detect");
    let src = testdata("fashion-mnist-small");
    let gz_images = std::fs::read(src.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let gz_labels = std::fs::read(src.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    // Raw data under a .gz name, gzip data under a raw name.
    let images = dir.join("images.gz");
    let labels = dir.join("labels.raw");
    std::fs::write(&images, gunzip(&gz_images)).unwrap();
    std::fs::write(&labels, &gz_labels).unwrap();
    let a = load_pair(&images, &labels, &Normalization::U8_PIXELS, None).unwrap();
    let b = load_pair(
        &src.join("t10k-images-idx3-ubyte.gz"),
        &src.join("t10k-labels-idx1-ubyte.gz"),
        &Normalization::U8_PIXELS,
        None,
    )
    .unwrap();
    assert_eq!(a.features, b.features);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.classes, 10);
}

#[test]
fn directory_with_raw_files_loads() {
    let dir = scratch("raw-dir");
    let src = testdata("fashion-mnist-small");
    for name in [
        idx::TRAIN_IMAGES,
        idx::TRAIN_LABELS,
        idx::TEST_IMAGES,
        idx::TEST_LABELS,
    ] {
        let gz = std::fs::read(src.join(format!("{name}.gz"))).unwrap();
        std::fs::write(dir.join(name), gunzip(&gz)).unwrap();
    }
    let split = load_dir(&dir, &Normalization::None, None).unwrap();
    assert_eq!(sum_f64(&split.train.features), SMALL_TRAIN_PIXEL_SUM);
    assert_eq!(split.test.class_counts(), SMALL_TEST_COUNTS);
}

#[test]
fn missing_files_list_what_was_looked_for() {
    let dir = scratch("missing");
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), b"").unwrap();
    let err = load_dir(&dir, &Normalization::None, None).unwrap_err();
    let msg = err.to_string();
    match &err {
        DataError::MissingFiles {
            missing,
            looked_for,
            ..
        } => {
            assert_eq!(
                missing,
                &[idx::TRAIN_LABELS, idx::TEST_IMAGES, idx::TEST_LABELS]
            );
            assert_eq!(looked_for.len(), 8);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz"), "{msg}");
    assert!(msg.contains("train-labels-idx1-ubyte,"), "{msg}");
}

/// Writes `images` and `labels` into a scratch dir and loads them as a pair.
fn load_crafted(test: &str, images: &[u8], labels: &[u8]) -> Result<Dataset, DataError> {
    let dir = scratch(test);
    let (ip, lp) = (dir.join("images-idx3"), dir.join("labels-idx1"));
    std::fs::write(&ip, images).unwrap();
    std::fs::write(&lp, labels).unwrap();
    load_pair(&ip, &lp, &Normalization::None, None)
}

fn idx_error(err: DataError, file: &str) -> IdxError {
    let msg = err.to_string();
    assert!(msg.contains(file), "{msg:?} should name {file}");
    match err {
        DataError::Idx { error, .. } => error,
        other => panic!("expected an IDX error, got {other:?}"),
    }
}

#[test]
fn crafted_idx_pair_loads() {
    let ds = load_crafted("crafted-ok", &images(3, 2, 4), &labels(&[4, 0, 2])).unwrap();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.sample_shape, vec![1, 2, 4]);
    assert_eq!(ds.classes, 5);
    assert_eq!(ds.labels, vec![4, 0, 2]);
    let expected: Vec<f32> = (0..24).map(|i| (i * 7 % 256) as f32).collect();
    assert_eq!(ds.features, expected);
}

#[test]
fn idx_truncated_images() {
    let mut img = images(3, 2, 4);
    img.truncate(img.len() - 5);
    let err = load_crafted("trunc", &img, &labels(&[0, 1, 2])).unwrap_err();
    let msg = err.to_string();
    match idx_error(err, "images-idx3") {
        IdxError::Truncated {
            expected, found, ..
        } => assert_eq!((expected, found), (24, 19)),
        other => panic!("{other:?}"),
    }
    assert!(msg.contains("truncated"), "{msg}");
    assert!(msg.contains("byte offset 35"), "{msg}");
}

#[test]
fn idx_truncated_gzip_images() {
    // A complete gzip stream of a truncated file: the IDX check catches it.
    let mut img = images(3, 2, 4);
    img.truncate(20);
    let err = load_crafted("trunc-gz", &gzip(&img), &labels(&[0, 1, 2])).unwrap_err();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::Truncated { found: 4, .. }
    ));
    // A cut gzip stream: the decompressor catches it.
    let gz = gzip(&images(50, 28, 28));
    let err = load_crafted("cut-gz", &gz[..gz.len() / 2], &labels(&[0; 50])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert!(
        msg.contains("images-idx3") && msg.contains("corrupt gzip"),
        "{msg}"
    );
}

#[test]
fn idx_wrong_magic() {
    // A labels file where images belong.
    let err = load_crafted("magic-swap", &labels(&[1, 2]), &labels(&[1, 2])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::WrongDims { dims: 1, .. }
    ));
    assert!(
        msg.contains("0x00000801") && msg.contains("labels file?"),
        "{msg}"
    );
    // Not IDX at all.
    let err = load_crafted("magic-zip", b"PK\x03\x04 not idx", &labels(&[1])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::BadMagic {
            found: 0x504b0304,
            ..
        }
    ));
    assert!(msg.contains("not an IDX file"), "{msg}");
    // f32 elements.
    let err = load_crafted(
        "magic-f32",
        &idx_bytes(0x0D03, &[1, 1, 1], &[0; 4]),
        &labels(&[1]),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::UnsupportedType {
            type_name: "f32",
            ..
        }
    ));
    assert!(msg.contains("only unsigned bytes"), "{msg}");
    // Images where labels belong.
    let err = load_crafted("magic-labels", &images(1, 1, 1), &images(1, 1, 1)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "labels-idx1"),
        IdxError::WrongDims { dims: 3, .. }
    ));
    assert!(msg.contains("images file?"), "{msg}");
}

#[test]
fn idx_wrong_dims() {
    // Two dimensions declared for images.
    let err = load_crafted(
        "dims-2",
        &idx_bytes(0x802, &[2, 4], &[0; 8]),
        &labels(&[0, 1]),
    )
    .unwrap_err();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::WrongDims { dims: 2, .. }
    ));
    // A zero dimension.
    let err = load_crafted(
        "dims-0",
        &idx_bytes(0x803, &[2, 0, 4], &[]),
        &labels(&[0, 1]),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::ZeroDim {
            index: 1,
            offset: 8,
            ..
        }
    ));
    assert!(msg.contains("bytes 8..12"), "{msg}");
    // Dimensions claiming terabytes in a tiny file: an error, no huge allocation.
    let err = load_crafted(
        "dims-huge",
        &idx_bytes(0x803, &[u32::MAX, u32::MAX, 1000], &[1, 2, 3]),
        &labels(&[0]),
    )
    .unwrap_err();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::Truncated { .. } | IdxError::TooLarge { .. }
    ));
    let err = load_crafted(
        "dims-huge-gz",
        &gzip(&idx_bytes(0x803, &[1 << 30, 1 << 20, 1 << 10], &[1, 2, 3])),
        &labels(&[0]),
    )
    .unwrap_err();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::Truncated { found: 3, .. } | IdxError::TooLarge { .. }
    ));
    // Header cut inside the dimensions.
    let err = load_crafted("short-header", &images(2, 2, 2)[..10], &labels(&[0, 1])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::ShortHeader {
            found: 10,
            needed: 16,
            ..
        }
    ));
    assert!(msg.contains("header truncated"), "{msg}");
}

#[test]
fn idx_count_mismatch() {
    let err = load_crafted("count", &images(3, 2, 2), &labels(&[0, 1])).unwrap_err();
    let msg = err.to_string();
    match err {
        DataError::CountMismatch {
            image_count,
            label_count,
            ..
        } => assert_eq!((image_count, label_count), (3, 2)),
        other => panic!("{other:?}"),
    }
    assert!(
        msg.contains("images-idx3") && msg.contains("labels-idx1") && msg.contains("3 images"),
        "{msg}"
    );
}

#[test]
fn idx_trailing_bytes() {
    let mut img = images(2, 2, 2);
    img.extend([9, 9, 9]);
    let err = load_crafted("trailing", &img, &labels(&[0, 1])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::Trailing {
            end: 24,
            extra: 3,
            ..
        }
    ));
    assert!(
        msg.contains("3 trailing byte(s)") && msg.contains("offset 24"),
        "{msg}"
    );
    let mut lab = labels(&[0, 1]);
    lab.push(1);
    let err = load_crafted("trailing-gz", &images(2, 2, 2), &gzip(&lab)).unwrap_err();
    assert!(matches!(
        idx_error(err, "labels-idx1"),
        IdxError::Trailing {
            end: 10,
            extra: 1,
            ..
        }
    ));
}

#[test]
fn idx_empty_file() {
    let err = load_crafted("empty", b"", &labels(&[0])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "images-idx3"),
        IdxError::Empty { .. }
    ));
    assert!(msg.contains("empty"), "{msg}");
    // Empty after decompression.
    let err = load_crafted("empty-gz", &images(1, 1, 1), &gzip(b"")).unwrap_err();
    assert!(matches!(
        idx_error(err, "labels-idx1"),
        IdxError::Empty { .. }
    ));
}

#[test]
fn idx_labels_out_of_range() {
    // Without names: the class count follows the data; the model check
    // names the sample and the labels file (not the images file).
    let ds = load_crafted("labels-200", &images(3, 1, 1), &labels(&[1, 200, 3])).unwrap();
    assert_eq!(ds.classes, 201);
    let err = ds.check_classes(10).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        err,
        DataError::LabelOutOfRange {
            index: 1,
            label: 200,
            classes: 10,
            ..
        }
    ));
    assert!(
        msg.contains("labels-idx1")
            && !msg.contains("images-idx3")
            && msg.contains("sample 1 has label 200"),
        "{msg}"
    );

    // With names: an error at load time, naming the labels file and offset.
    let dir = scratch("labels-names");
    let (ip, lp) = (dir.join("img"), dir.join("lab"));
    std::fs::write(&ip, images(3, 1, 1)).unwrap();
    std::fs::write(&lp, labels(&[1, 9, 10])).unwrap();
    let err = load_pair(
        &ip,
        &lp,
        &Normalization::None,
        Some(fashion_mnist_class_names()),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        idx_error(err, "lab"),
        IdxError::LabelOutOfRange {
            index: 2,
            offset: 10,
            label: 10,
            classes: 10
        }
    ));
    assert!(msg.contains("byte offset 10"), "{msg}");
}

#[test]
fn idx_in_memory_parsers() {
    let ds = idx::dataset_from_bytes(
        &gzip(&images(2, 3, 3)),
        "a",
        &labels(&[1, 0]),
        "b",
        &Normalization::Scale { max: 255.0 },
        None,
    )
    .unwrap();
    assert_eq!(ds.features[1], 7.0 / 255.0);
    assert_eq!(ds.classes, 2);
    let err = idx::parse_labels(&[0, 0, 8, 1, 0, 0, 0, 2, 5], "mem-labels").unwrap_err();
    assert!(
        err.to_string().starts_with("mem-labels: truncated"),
        "{err}"
    );
    let img = idx::parse_images(&images(2, 3, 4), "x").unwrap();
    assert_eq!(
        (img.count, img.rows, img.cols, img.pixels.len()),
        (2, 3, 4, 24)
    );
}

#[test]
fn unreadable_file_names_the_path() {
    let dir = scratch("unreadable");
    let err = load_pair(
        &dir.join("nope-images"),
        &dir.join("nope-labels"),
        &Normalization::None,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Io { .. }));
    assert!(err.to_string().contains("nope-images"), "{err}");
}

// ---------------------------------------------------------------- CSV

// numpy: a = np.loadtxt(gzip.open("digits.csv.gz"), delimiter=",")
const DIGITS_PIXEL_SUM: f64 = 561_718.0;
const DIGITS_COUNTS: [usize; 10] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];

#[test]
fn embedded_digits() {
    let raw = digits_with(&Normalization::None).unwrap();
    assert_eq!(raw.len(), 1797);
    assert_eq!(raw.sample_shape, vec![64]);
    assert_eq!(raw.classes, 10);
    assert_eq!(raw.class_counts(), DIGITS_COUNTS);
    assert_eq!(sum_f64(&raw.features), DIGITS_PIXEL_SUM);
    assert!(raw.features.iter().all(|&v| (0.0..=16.0).contains(&v)));
    assert_eq!(&raw.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let last: [f32; 64] = [
        0., 0., 10., 14., 8., 1., 0., 0., 0., 2., 16., 14., 6., 1., 0., 0., 0., 0., 15., 15., 8.,
        15., 0., 0., 0., 0., 5., 16., 16., 10., 0., 0., 0., 0., 12., 15., 15., 12., 0., 0., 0., 4.,
        16., 6., 4., 16., 6., 0., 0., 8., 16., 10., 8., 16., 8., 0., 0., 1., 8., 12., 14., 12., 1.,
        0.,
    ];
    assert_eq!(raw.sample(1796), last);
    assert_eq!(raw.labels[1796], 8);

    // Default: (x / 16 - 0.5) / 0.5.
    let ds = digits();
    assert_eq!(ds.len(), 1797);
    for (&n, &r) in ds.features.iter().zip(&raw.features) {
        assert_eq!(n, (r / 16.0 - 0.5) / 0.5);
    }
    assert_eq!(ds.sample(1796)[2], (10.0f32 / 16.0 - 0.5) / 0.5);
    assert!(ds.features.iter().all(|&v| (-1.0..=1.0).contains(&v)));
}

#[test]
fn iris_with_sklearn_header() {
    let ds = load_csv(&testdata("iris.csv"), &Normalization::None).unwrap();
    assert_eq!(ds.len(), 150);
    assert_eq!(ds.sample_shape, vec![4]);
    assert_eq!(ds.classes, 3);
    assert_eq!(
        ds.class_names.as_deref().unwrap(),
        ["setosa", "versicolor", "virginica"]
    );
    assert_eq!(ds.class_counts(), [50, 50, 50]);
    assert_eq!(ds.sample(0), [5.1, 3.5, 1.4, 0.2]);
    assert_eq!(ds.sample(149), [5.9, 3.0, 5.1, 1.8]);
    // numpy column sums: 876.5, 458.6, 563.7, 179.9.
    for (col, expected) in [876.5, 458.6, 563.7, 179.9].into_iter().enumerate() {
        let s: f64 = (0..150).map(|i| ds.sample(i)[col] as f64).sum();
        assert!((s - expected).abs() < 1e-3, "column {col}: {s}");
    }
}

fn csv(text: &str) -> Result<Dataset, DataError> {
    parse_csv(text.as_bytes(), "table.csv", &Normalization::None)
}

fn csv_error(text: &str) -> CsvError {
    let err = csv(text).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("table.csv: "), "{msg}");
    match err {
        DataError::Csv { error, .. } => error,
        other => panic!("{other:?}"),
    }
}

#[test]
fn csv_variants_parse() {
    // Header of names, CRLF, spaces, blank lines, a float-written label.
    let ds = csv("x1, x2 ,label\r\n1, 2.5 ,0\r\n\r\n-3,4e2,2.0\n\n").unwrap();
    assert_eq!(ds.features, [1.0, 2.5, -3.0, 400.0]);
    assert_eq!(ds.labels, [0, 2]);
    assert_eq!(ds.classes, 3);
    assert_eq!(ds.class_names, None);
    // gzip.
    let gz = gzip(b"1,2,1\n3,4,0\n");
    let ds = parse_csv(&gz, "t.csv.gz", &Normalization::Scale { max: 2.0 }).unwrap();
    assert_eq!(ds.features, [0.5, 1.0, 1.5, 2.0]);
}

#[test]
fn csv_non_numeric_cell() {
    let e = csv_error("1,2,0\n3,x,1\n");
    assert!(
        matches!(&e, CsvError::NotANumber { line: 2, column: 2, text } if text == "x"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "line 2, column 2: \"x\" is not a number");
    // A header line recognized, but a mixed first line is data.
    let e = csv_error("a,2,0\n");
    assert!(matches!(
        e,
        CsvError::NotANumber {
            line: 1,
            column: 1,
            ..
        }
    ));
    let e = csv_error("1,,0\n");
    assert!(matches!(
        e,
        CsvError::NotANumber {
            line: 1,
            column: 2,
            ..
        }
    ));
}

#[test]
fn csv_nan_and_infinities() {
    for (text, col) in [
        ("1,2,0\n1,NaN,0\n", 2),
        ("1,2,0\ninf,2,0\n", 1),
        ("1,2,0\n1,-infinity,0\n", 2),
        ("1,2,0\n1,1e39,0\n", 2),
    ] {
        let e = csv_error(text);
        assert!(
            matches!(e, CsvError::NotFinite { line: 2, column, .. } if column == col),
            "{text:?}: {e:?}"
        );
        assert!(e.to_string().contains("not a finite f32"), "{e}");
    }
    let e = csv_error("1,2,nan\n");
    assert!(matches!(
        e,
        CsvError::BadLabel {
            problem: LabelProblem::NotANumber,
            ..
        }
    ));
}

#[test]
fn csv_wrong_column_count() {
    let e = csv_error("1,2,3,0\n1,2,3,0\n1,2,0\n");
    assert!(matches!(
        e,
        CsvError::ColumnCount {
            line: 3,
            found: 3,
            expected: 4,
            first_line: 1
        }
    ));
    assert_eq!(
        e.to_string(),
        "line 3: 3 columns, expected 4 (as on line 1)"
    );
    let e = csv_error("h1,h2\n1,2\n1,2,3\n");
    assert!(matches!(
        e,
        CsvError::ColumnCount {
            line: 3,
            found: 3,
            expected: 2,
            first_line: 2
        }
    ));
    let e = csv_error("5\n6\n");
    assert!(matches!(e, CsvError::TooFewColumns { line: 1, found: 1 }));
}

#[test]
fn csv_bad_labels() {
    for (text, problem) in [
        ("-1", LabelProblem::Negative),
        ("-2.5", LabelProblem::Negative),
        ("1.5", LabelProblem::NotAnInteger),
        ("inf", LabelProblem::NotAnInteger),
        ("cat", LabelProblem::NotANumber),
        ("65536", LabelProblem::TooLarge),
        ("1e10", LabelProblem::TooLarge),
    ] {
        let text = format!("1,2,0\n1,2,{text}\n");
        let e = csv_error(&text);
        assert!(
            matches!(e, CsvError::BadLabel { line: 2, column: 3, problem: p, .. } if p == problem),
            "{text:?}: {e:?}"
        );
        assert!(e.to_string().starts_with("line 2, column 3 (label)"), "{e}");
    }
    // Ambiguous on its own: `1,2,cat` reads as a scikit-learn header
    // (1 row, 2 features, class "cat") with no rows after it.
    assert!(matches!(csv_error("1,2,cat\n"), CsvError::NoRows));
    assert_eq!(csv("1,2,65535\n").unwrap().classes, 65536);
}

#[test]
fn csv_empty_and_header_only() {
    assert!(matches!(csv_error(""), CsvError::Empty));
    assert!(matches!(csv_error("\n \n"), CsvError::Empty));
    assert!(matches!(csv_error("a,b,label\n"), CsvError::NoRows));
    let err = parse_csv(&gzip(b""), "e.csv.gz", &Normalization::None).unwrap_err();
    assert!(
        err.to_string().starts_with("e.csv.gz: file is empty"),
        "{err}"
    );
}

#[test]
fn csv_sklearn_header_checks() {
    let e = csv_error("3,2,a,b\n1,2,0\n1,2,1\n");
    assert!(matches!(
        e,
        CsvError::HeaderRows {
            declared: 3,
            found: 2
        }
    ));
    let e = csv_error("2,3,a,b\n1,2,0\n1,2,1\n");
    assert!(matches!(
        e,
        CsvError::HeaderFeatures {
            declared: 3,
            line: 2,
            found: 2
        }
    ));
    let e = csv_error("2,2,a,b\n1,2,0\n1,2,2\n");
    assert!(matches!(
        e,
        CsvError::LabelBeyondNames {
            line: 3,
            column: 3,
            label: 2,
            classes: 2
        }
    ));
}

#[test]
fn csv_not_utf8() {
    let err = parse_csv(b"1,2,0\n1,\xff,0\n", "bin.csv", &Normalization::None).unwrap_err();
    assert!(matches!(
        err,
        DataError::Csv {
            error: CsvError::NotUtf8 { line: 2, offset: 8 },
            ..
        }
    ));
}

#[test]
fn csv_file_errors_name_the_path() {
    let dir = scratch("csv-path");
    let p = dir.join("broken.csv");
    std::fs::write(&p, "1,2,0\n1,2\n").unwrap();
    let err = load_csv(&p, &Normalization::None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    assert!(msg.contains("line 2: 2 columns, expected 3"), "{msg}");
}

// ------------------------------------------------- Dataset operations

fn tiny() -> Dataset {
    Dataset::new(
        (0..12).map(|v| v as f32).collect(),
        vec![0, 1, 2, 1],
        vec![3],
        3,
        None,
        "tiny",
    )
    .unwrap()
}

#[test]
fn gather_batch_copies_samples_in_order() {
    let ds = tiny();
    let mut x = [0.0f32; 6];
    let mut y = [0u32; 2];
    ds.gather_batch(&[3, 0], &mut x, &mut y);
    assert_eq!(x, [9.0, 10.0, 11.0, 0.0, 1.0, 2.0]);
    assert_eq!(y, [1, 0]);
}

#[test]
#[should_panic(expected = "gather_batch: x_out holds 5 values")]
fn gather_batch_rejects_wrong_buffer() {
    tiny().gather_batch(&[0, 1], &mut [0.0; 5], &mut [0; 2]);
}

#[test]
fn reshape_to_checks_element_counts() {
    let mut ds = digits();
    ds.reshape_to(&[1, 8, 8]).unwrap();
    assert_eq!(ds.sample_shape, vec![1, 8, 8]);
    let err = ds.reshape_to(&[1, 28, 28]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "digits (UCI optical digits, embedded): samples have shape [1, 8, 8] (64 values), \
         which cannot be reshaped to the model's input shape [1, 28, 28] (784 values)"
    );
    assert_eq!(ds.sample_shape, vec![1, 8, 8]);
    assert!(ds.reshape_to(&[usize::MAX, 2]).is_err());
}

#[test]
fn check_classes_names_first_offender() {
    let ds = tiny();
    ds.check_classes(3).unwrap();
    let err = ds.check_classes(2).unwrap_err();
    assert!(matches!(
        err,
        DataError::LabelOutOfRange {
            index: 2,
            label: 2,
            classes: 2,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "tiny: sample 2 has label 2, but there are only 2 classes (labels 0..2)"
    );
}

#[test]
fn dataset_new_rejects_inconsistent_parts() {
    let e = Dataset::new(vec![0.0; 5], vec![0, 1], vec![3], 2, None, "d").unwrap_err();
    assert!(
        e.to_string()
            .contains("5 features are not 2 samples of shape [3]"),
        "{e}"
    );
    let e = Dataset::new(
        vec![0.0; 6],
        vec![0, 1],
        vec![3],
        2,
        Some(vec!["a".into()]),
        "d",
    )
    .unwrap_err();
    assert!(e.to_string().contains("1 class names for 2 classes"), "{e}");
    let e = Dataset::new(vec![0.0; 6], vec![0, 5], vec![3], 2, None, "d").unwrap_err();
    assert!(matches!(e, DataError::LabelOutOfRange { index: 1, .. }));
}

#[test]
fn stratified_split_is_proportional_and_reproducible() {
    let ds = digits();
    let split = train_test_split(&ds, 0.2, 42).unwrap();
    // ceil(1797 * 0.2) = 360, as scikit-learn.
    assert_eq!(split.test.len(), 360);
    assert_eq!(split.train.len(), 1437);
    // Each class within one sample of its exact share.
    for (c, (&n, &t)) in DIGITS_COUNTS
        .iter()
        .zip(&split.test.class_counts())
        .enumerate()
    {
        let exact = n as f64 * 360.0 / 1797.0;
        assert!((t as f64 - exact).abs() < 1.0, "class {c}: {t} vs {exact}");
    }
    // Reproducible for a seed, different for another.
    let again = train_test_split(&ds, 0.2, 42).unwrap();
    assert_eq!(split, again);
    let other = train_test_split(&ds, 0.2, 43).unwrap();
    assert_ne!(split.test.features, other.test.features);
    // The halves partition the data: together they hold every sample once.
    let key = |x: &[f32], y: u32| {
        let mut k: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
        k.push(y);
        k
    };
    let mut all: Vec<Vec<u32>> = (0..ds.len())
        .map(|i| key(ds.sample(i), ds.labels[i]))
        .collect();
    let mut parts: Vec<Vec<u32>> = [&split.train, &split.test]
        .iter()
        .flat_map(|d| (0..d.len()).map(|i| key(d.sample(i), d.labels[i])))
        .collect();
    all.sort();
    parts.sort();
    assert_eq!(all, parts);
    assert_eq!(split.train.classes, 10);
    assert!(split.test.source.contains("test split"));
}

#[test]
fn split_rejects_bad_fractions() {
    let ds = tiny();
    for f in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        let e = train_test_split(&ds, f, 1).unwrap_err();
        assert!(matches!(e, DataError::BadTestFraction { .. }), "{f}: {e:?}");
    }
    // 4 samples, 0.9: ceil(3.6) = 4 test samples leaves no training set.
    let e = train_test_split(&ds, 0.9, 1).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::EmptySplit {
                train: 0,
                test: 4,
                ..
            }
        ),
        "{e:?}"
    );
    let s = train_test_split(&ds, 0.25, 1).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (3, 1));
}

#[test]
fn epoch_permutations() {
    let mut rng = Rng::new(5);
    let p = epoch_permutation(1000, &mut rng);
    let mut sorted = p.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    assert_ne!(p, sorted);
    // The same as shuffling 0..n with the same generator state.
    let mut expected: Vec<usize> = (0..1000).collect();
    Rng::new(5).shuffle(&mut expected);
    assert_eq!(p, expected);
    // Refilling reuses the buffer and continues the stream.
    let mut buf = p.clone();
    let cap = buf.capacity();
    refill_permutation(&mut buf, 1000, &mut rng);
    assert_ne!(buf, p);
    assert_eq!(buf.capacity(), cap);
    Rng::new(5).shuffle(&mut expected.clone());
}

#[test]
fn normalization_validation() {
    assert!(matches!(
        Normalization::Scale { max: 0.0 }.validate(),
        Err(NormalizationError::DivisionByZero(_))
    ));
    assert!(matches!(
        Normalization::Standardize {
            scale: 1.0,
            mean: f32::NAN,
            std: 1.0
        }
        .validate(),
        Err(NormalizationError::NotFinite(_))
    ));
    let err = parse_csv(b"1,0\n", "n.csv", &Normalization::Scale { max: 0.0 }).unwrap_err();
    assert!(err.to_string().starts_with("n.csv: normalization"), "{err}");
    let err = digits_with(&Normalization::symmetric(0.0)).unwrap_err();
    assert!(matches!(err, DataError::Normalization { .. }));
    assert_eq!(Normalization::DIGITS.apply(16.0), 1.0);
    assert_eq!(Normalization::DIGITS.apply(0.0), -1.0);
    assert_eq!(Normalization::None.apply(3.5), 3.5);
}

/// The full Fashion-MNIST (Debian's dataset-fashion-mnist package), when
/// installed (`.ci/run` installs it): checks the numbers and prints the
/// load time (`cargo test --release -p nnspec-runtime --test data -- full --nocapture`).
/// Absent, it is skipped with a note, except under CI (`CI` set), where
/// the data are installed and their absence is a failure.
#[test]
fn full_fashion_mnist_load_time() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is not installed, but CI is set and CI installs it \
             (apt-get install dataset-fashion-mnist)",
            dir.display()
        );
        eprintln!(
            "{} not installed; skipped (set CI to make this a failure)",
            dir.display()
        );
        return;
    }
    let mut times = Vec::new();
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let split = load_dir(
            dir,
            &Normalization::U8_PIXELS,
            Some(fashion_mnist_class_names()),
        )
        .unwrap();
        times.push(start.elapsed().as_secs_f64());
        assert_eq!((split.train.len(), split.test.len()), (60_000, 10_000));
        assert_eq!(split.train.class_counts(), [6000; 10]);
        assert_eq!(split.test.class_counts(), [1000; 10]);
    }
    let raw = load_dir(dir, &Normalization::None, None).unwrap();
    // numpy: pixel sums of the full files.
    assert_eq!(sum_f64(&raw.train.features), 3_431_114_169.0);
    assert_eq!(sum_f64(&raw.test.features), 573_469_082.0);
    eprintln!("full Fashion-MNIST load times (s): {times:?}");
}
