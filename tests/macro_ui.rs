//! `model!` from a user's point of view (trybuild): every example model
//! compiles and runs inside the macro, and wrong models fail with the
//! checker's message at the tokens it is about (`tests/macro/fail/*.stderr`).

#[test]
fn model_macro() {
    let t = trybuild::TestCases::new();
    t.pass("tests/macro/pass/*.rs");
    t.compile_fail("tests/macro/fail/*.rs");
}
