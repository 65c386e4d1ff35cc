//! The text renderers of training results on arbitrary class names and
//! counts: the per-class metrics table and report. Class names come from
//! CSV headers and can be anything (200 000 characters, control bytes,
//! invalid UTF-8 made lossy); nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnspec_runtime::metrics::ConfusionMatrix;

fuzz_target!(|bytes: &[u8]| {
    let Some((&first, rest)) = bytes.split_first() else {
        return;
    };
    let classes = usize::from(first % 16) + 1;
    // The names: the first `classes` lines; the rest are (truth, prediction) bytes.
    let mut parts = rest.splitn(classes + 1, |&b| b == b'\n');
    let names: Vec<String> = (0..classes)
        .map(|i| {
            parts
                .next()
                .map_or_else(|| format!("class {i}"), |n| String::from_utf8_lossy(n).into_owned())
        })
        .collect();
    let counts = parts.next().unwrap_or(&[]);
    let mut matrix = ConfusionMatrix::new(classes);
    for pair in counts.chunks_exact(2) {
        let (truth, predicted) = (usize::from(pair[0]) % classes, usize::from(pair[1]) % classes);
        matrix.add(truth, predicted).expect("in range");
    }
    let table = matrix.render_table(Some(&names));
    assert!(!table.is_empty());
    let _ = matrix.report(Some(&names));
    let _ = matrix.render_table(None);
});
