//! Float targets: CSV columns picked as targets, their errors, the plain
//! seeded split, batches of targets, and training on them.

use nnspec_runtime::data::{
    self, DataError, Dataset, Normalization, parse_csv_targets, train_test_split,
};

const CSV: &str = "a,b,y,c,z\n1,2,10,3,-1\n4,5,20,6,-2\n7,8,30,9,-3\n";

fn parse(text: &str, targets: &[&str]) -> Result<Dataset, DataError> {
    let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    parse_csv_targets(text.as_bytes(), "f.csv", &targets, &Normalization::None)
}

#[test]
fn targets_by_header_name_or_column_number() {
    let ds = parse(CSV, &["z", "3"]).expect("loads");
    assert_eq!(ds.sample_shape, vec![3]);
    assert_eq!(ds.features, vec![1., 2., 3., 4., 5., 6., 7., 8., 9.]);
    let targets = ds.targets.as_ref().expect("targets");
    assert_eq!(targets.names, vec!["z", "y"]);
    assert_eq!(targets.values, vec![-1., 10., -2., 20., -3., 30.]);
    assert_eq!(ds.labels, vec![0, 0, 0]);
    assert_eq!(ds.target(1), &[-2.0, 20.0]);
    // Without a header, columns go by number only.
    let ds = parse("1,2,3\n4,5,6\n", &["1"]).expect("loads");
    assert_eq!(ds.targets.unwrap().values, vec![1., 4.]);
    assert_eq!(ds.features, vec![2., 3., 5., 6.]);
}

#[test]
fn a_target_that_is_not_a_number_names_file_line_column_and_value() {
    let bad = "a,b,price\n1,2,3.5\n4,5,cheap\n";
    let message = parse(bad, &["price"]).unwrap_err().to_string();
    for part in ["f.csv", "line 3", "column 3", "`price`", "\"cheap\""] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
}

#[test]
fn bad_target_requests_are_clear_errors() {
    let message = |targets: &[&str]| parse(CSV, targets).unwrap_err().to_string();
    assert!(message(&["q"]).contains("no column is called `q`; the header has a, b, y, c, z"));
    assert!(message(&["9"]).contains("column 9 is not among the file's columns 1 to 5"));
    assert!(message(&["y", "3"]).contains("column 3 is named twice"));
    assert!(message(&["a", "b", "y", "c", "z"]).contains("every column is a target"));
    let headerless = parse("1,2\n3,4\n", &["y"]).unwrap_err().to_string();
    assert!(headerless.contains("no header line"), "{headerless}");
}

#[test]
fn with_targets_checks_its_parts() {
    let ds = Dataset::new(vec![0.0; 6], vec![0; 3], vec![2], 1, None, "m").unwrap();
    let short = ds
        .clone()
        .with_targets(vec![1.0; 5], vec!["t".into(), "u".into()]);
    assert!(matches!(short, Err(DataError::Inconsistent { .. })));
    let nan = ds
        .clone()
        .with_targets(vec![1.0, f32::NAN, 2.0], vec!["t".into()]);
    assert!(nan.unwrap_err().to_string().contains("not finite"));
    let ok = ds
        .with_targets(vec![1.0, 2.0, 3.0], vec!["t".into()])
        .unwrap();
    let mut out = [0.0; 2];
    ok.gather_targets(&[2, 0], &mut out);
    assert_eq!(out, [3.0, 1.0]);
}

#[test]
fn the_split_of_targets_is_a_seeded_shuffle_keeping_rows_together() {
    let n = 50;
    let features: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let ds = Dataset::new(features, vec![0; n], vec![1], 1, None, "m")
        .unwrap()
        .with_targets((0..n).map(|i| 100.0 + i as f32).collect(), vec!["t".into()])
        .unwrap();
    let split = train_test_split(&ds, 0.2, 3).unwrap();
    assert_eq!(split.test.len(), 10);
    assert_eq!(split.train.len(), 40);
    for part in [&split.train, &split.test] {
        for i in 0..part.len() {
            assert_eq!(part.target(i)[0], 100.0 + part.sample(i)[0]);
        }
    }
    // The seed decides, and the same seed decides the same way.
    let again = train_test_split(&ds, 0.2, 3).unwrap();
    assert_eq!(again.test.features, split.test.features);
    let other = train_test_split(&ds, 0.2, 4).unwrap();
    assert_ne!(other.test.features, split.test.features);
    let val = data::validation_split(&split.train, 0.25, 3).unwrap();
    assert_eq!(val.test.len(), 10);
    assert!(val.test.targets.is_some());
}
