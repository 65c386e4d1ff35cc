//! Inputs that were mishandled: a CSV with a byte-order mark, an IDX
//! directory holding both forms of a file, very long class names in the
//! report, the data fingerprint, temporaries left by killed processes.

use std::path::{Path, PathBuf};

use nnspec_runtime::atomic_write::remove_stale_temporaries;
use nnspec_runtime::data::fingerprint::fingerprint;
use nnspec_runtime::data::idx::{TRAIN_IMAGES, load_dir};
use nnspec_runtime::data::{DataError, Normalization, csv::load_csv};
use nnspec_runtime::metrics::ConfusionMatrix;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("nnspec-data-inputs-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn a_csv_with_a_byte_order_mark_loads() {
    let dir = scratch("bom");
    let path = dir.join("excel.csv");
    std::fs::write(&path, "\u{feff}x1,x2,label\r\n1,2,0\r\n3,4,1\r\n").unwrap();
    let ds = load_csv(&path, &Normalization::None).unwrap();
    assert_eq!(ds.labels, [0, 1]);
    assert_eq!(ds.features, [1.0, 2.0, 3.0, 4.0]);
    // Without a header too: the mark is not part of the first number.
    std::fs::write(&path, "\u{feff}1,2,0\n").unwrap();
    assert_eq!(
        load_csv(&path, &Normalization::None).unwrap().features,
        [1.0, 2.0]
    );
}

#[test]
fn a_directory_with_both_forms_of_a_file_is_an_error_naming_both() {
    let dir = scratch("both-forms");
    let src = testdata("fashion-mnist-small");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    assert!(load_dir(&dir, &Normalization::None, None).is_ok());
    std::fs::write(dir.join(TRAIN_IMAGES), b"an older, raw copy").unwrap();
    let err = load_dir(&dir, &Normalization::None, None).unwrap_err();
    assert!(matches!(err, DataError::BothForms { .. }), "{err}");
    let msg = err.to_string();
    let raw = dir.join(TRAIN_IMAGES).display().to_string();
    assert!(
        msg.contains(&raw) && msg.contains(&format!("{raw}.gz")),
        "{msg}"
    );
}

#[test]
fn the_fingerprint_follows_the_data() {
    let dir = scratch("fingerprint");
    let path = dir.join("d.csv");
    std::fs::write(&path, "1,2,0\n").unwrap();
    let first = fingerprint(&path).unwrap();
    assert_eq!(first, fingerprint(&path).unwrap());
    std::fs::write(&path, "1,2,1\n").unwrap();
    assert_ne!(first, fingerprint(&path).unwrap());
    // Large files: the ends are hashed, and the size.
    let mut big = vec![b'1'; 300_000];
    std::fs::write(&path, &big).unwrap();
    let big_print = fingerprint(&path).unwrap();
    big[299_999] = b'2';
    std::fs::write(&path, &big).unwrap();
    assert_ne!(big_print, fingerprint(&path).unwrap());
    let idx = fingerprint(&testdata("fashion-mnist-small")).unwrap();
    assert!(idx.starts_with("fnv1a64:"), "{idx}");
}

#[test]
fn the_report_renders_class_names_of_any_length() {
    let mut m = ConfusionMatrix::new(2);
    m.add(0, 0).unwrap();
    m.add(1, 0).unwrap();
    for len in [70_000, 200_000] {
        let names = vec!["A".repeat(len), "b".to_string()];
        let table = m.render_table(Some(&names));
        assert!(table.contains(&names[0]));
        // Columns still line up: the short name is padded to the long one.
        let row = table
            .lines()
            .find(|l| l.trim_start().starts_with("b "))
            .unwrap();
        assert_eq!(row.find('b'), Some(len - 1));
    }
}

#[test]
fn temporaries_of_dead_processes_are_removed() {
    let dir = scratch("stale");
    let dead = dir.join(".model.safetensors.999999999.3.tmp");
    let dead_png = dir.join(".curves.png.999999999.0.tmp.png");
    let alive = dir.join(format!(".model.safetensors.{}.0.tmp", std::process::id()));
    let other = dir.join("notes.999999999.1.tmp.txt");
    for path in [&dead, &dead_png, &alive, &other] {
        std::fs::write(path, b"x").unwrap();
    }
    let mut removed = remove_stale_temporaries(&dir).unwrap();
    removed.sort();
    let mut expected = vec![dead_png.clone(), dead.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(alive.exists() && other.exists());
}
