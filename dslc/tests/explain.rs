//! `dslc explain`, run as a user runs it.

mod common;

use common::{dslc, root, text};

use nnspec_dsl::{error::CODES, explain};

#[test]
fn explains_a_code_with_its_title_and_both_examples() {
    let out = dslc(&["explain", "E0301"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let explanation = explain::get("E0301").unwrap();
    assert!(
        stdout.starts_with("E0301: shapes do not match\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Erroneous code example:"), "{stdout}");
    assert!(stdout.contains(explanation.wrong.trim()), "{stdout}");
    assert!(stdout.contains("Fixed:"), "{stdout}");
    assert!(stdout.contains(explanation.fixed.trim()), "{stdout}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    // The other spellings name the same code.
    for spelling in ["e0301", "E301", "0301", "301"] {
        let again = dslc(&["explain", spelling]);
        assert_eq!(again.status.code(), Some(0), "{spelling}");
        assert_eq!(again.stdout, out.stdout, "{spelling}");
    }
}

#[test]
fn every_code_is_explained() {
    for code in CODES {
        let out = dslc(&["explain", code]);
        assert_eq!(out.status.code(), Some(0), "{code}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with(&format!("{code}: ")),
            "{code}"
        );
    }
}

#[test]
fn an_unknown_code_exits_2_naming_the_nearest() {
    let out = dslc(&["explain", "E0319"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no diagnostic code E0319")
            && stderr.contains("the nearest codes are: E0307, E0308, E0309")
            && stderr.contains("dslc explain --list"),
        "{stderr}"
    );

    let out = dslc(&["explain", "shape"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`shape` is not a diagnostic code"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn odd_arguments_are_answered_without_a_panic() {
    // One argument may be at most 128 KiB on Linux (MAX_ARG_STRLEN), so a
    // 10 MB argument cannot reach dslc at all; `explain::lookup` is tested
    // with one in the dsl crate. 100 KB is the largest that can be passed.
    let long = "E".repeat(100_000);
    for arg in ["", " ", "é", "E", "-1", long.as_str()] {
        let out = dslc(&["explain", "--", arg]);
        assert_eq!(out.status.code(), Some(2), "{arg:.20}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error: "), "{stderr:.200}");
        assert!(!stderr.contains("panicked"), "{stderr:.200}");
        assert!(stderr.len() < 300, "{stderr:.300}");
    }
    // Neither a code nor `--list`: a usage error.
    let out = dslc(&["explain"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dslc(&["explain", "--list", "E0301"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn list_names_every_code_with_its_title() {
    let out = dslc(&["explain", "--list"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), CODES.len(), "{stdout}");
    for (line, code) in lines.iter().zip(CODES) {
        let title = explain::get(code).unwrap().title;
        assert_eq!(*line, format!("{code}  {title}"));
    }
}

#[test]
fn check_points_to_explain() {
    let dir = root().join("target").join("cli-tests").join("explain-note");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let one = dir.join("one.nn");
    std::fs::write(
        &one,
        "model M {\n    input x: f32[4];\n    output y = x -> dense(3) + x;\n}\n",
    )
    .unwrap();
    let out = dslc(&["check", one.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\nFor more information about this error, try `dslc explain E0301`.\n"),
        "{stderr}"
    );

    let two = dir.join("two.nn");
    std::fs::write(
        &two,
        "model M {\n    input x: f32[4];\n    output y = x -> dense(3) + x;\n}\n\
         model N {\n    input x: f32[4];\n    output y = x -> dense(0);\n}\n",
    )
    .unwrap();
    let out = dslc(&["check", two.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "Some errors have detailed explanations: E0107, E0301.\n\
             For more information about an error, try `dslc explain E0107`.\n"
        ),
        "{stderr}"
    );

    // Warnings alone do not ask for it, as in rustc.
    let warned = dir.join("warned.nn");
    std::fs::write(
        &warned,
        "model M {\n    input x: f32[4];\n    input unused: f32[4];\n    output y = x -> relu;\n}\n",
    )
    .unwrap();
    let out = dslc(&["check", warned.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning[W0001]"), "{stderr}");
    assert!(!stderr.contains("dslc explain"), "{stderr}");
}
