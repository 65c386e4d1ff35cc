//! The front end on arbitrary bytes: parse, check, render every diagnostic,
//! and format whatever parses. Nothing may panic, overflow the stack or
//! hang; formatted text must format to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let compiled = nnspec_dsl::compile_bytes(bytes);
    let _ = compiled.render("fuzz.nn");
    for model in &compiled.models {
        let _ = nnspec_dsl::summary::summary(model);
        let _ = model.to_string();
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(formatted) = nnspec_dsl::format(text) {
            let again = nnspec_dsl::format(&formatted).expect("formatted text parses");
            assert_eq!(again, formatted, "formatting is not idempotent");
        }
    }
});
