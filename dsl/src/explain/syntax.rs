//! E00xx: the text and its syntax.

use super::Explanation;

pub(super) const EXPLANATIONS: &[Explanation] = &[
    Explanation {
        code: "E0001",
        title: "syntax error",
        text: r#"
The text does not follow the grammar at this point. The message says what
the parser expected and what it found instead. The usual causes are a
missing `;` after a statement, a missing `,` between train settings, an
unclosed bracket, or a misspelled keyword.

The parser skips the broken statement and resumes at the next one, so every
syntax error in the file is reported in one run. A model that lost a
statement this way is not shape-checked: the lost statement would otherwise
be reported again as an undefined name.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784]
    output y = x -> dense(128) -> relu -> dense(10);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) -> relu -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0002",
        title: "the file is not valid UTF-8",
        text: r#"
Model files are UTF-8 text. The file holds a byte that is not part of any
UTF-8 character, usually because an editor saved it in another encoding
(Latin-1, Windows-1252, UTF-16). Nothing else in the file is checked: its
text cannot be trusted to mean what it shows.

In the example below, `\xE9` stands for the single byte 0xE9 (an `é` in
Latin-1), which cannot be shown as text. Re-save the file as UTF-8; outside
comments, a model file needs only ASCII.
"#,
        wrong: r#"
// Saved as Latin-1: caf\xE9.
model Cafe {
    input x: f32[4];
    output y = x -> relu;
}
"#,
        fixed: r#"
// Saved as UTF-8: café.
model Cafe {
    input x: f32[4];
    output y = x -> relu;
}
"#,
    },
    Explanation {
        code: "E0003",
        title: "brackets nested more than 64 deep",
        text: r#"
Parentheses and square brackets may nest at most 64 deep. The grammar is
recursive, and the bound keeps the parser's stack use small and fixed, so
no file can overflow it. The text is refused before it is parsed.

Hand-written models never come near the limit; deep nesting usually means
generated text. Name intermediate values with `let` instead of nesting
calls, and drop parentheses that group a single value: they change nothing.
"#,
        wrong: r#"
model Deep {
    input x: f32[4];
    output y = (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((x)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))));
}
"#,
        fixed: r#"
model Deep {
    input x: f32[4];
    output y = x;
}
"#,
    },
    Explanation {
        code: "E0004",
        title: "integer literal too large for 64 bits",
        text: r#"
Integers are 64-bit signed numbers: the largest is 9223372036854775807.
A larger literal cannot be represented, so it is refused where it is
written rather than silently wrapped or rounded.

No dim or argument needs a value anywhere near this large (a per-sample
value may have at most 2^32 elements; see E0304). The literal is most
likely a typo, such as a repeated digit or a pasted number.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(99999999999999999999);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0005",
        title: "too many errors; stopped",
        text: r#"
After 100 errors the front end stops and reports this instead of going on.
That many errors almost always come from a few mistakes seen many times
(a file that is not a model at all, a generator gone wrong), and a longer
list would only bury the first, real one.

Fix the first errors reported and run the check again. The example has
110 empty `let` statements; the first 100 are reported (as E0001), then
the parser stops.
"#,
        wrong: r#"
model Broken {
    input x: f32[4];
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    let ; let ; let ; let ; let ; let ; let ; let ; let ; let ;
    output y = x;
}
"#,
        fixed: r#"
model Broken {
    input x: f32[4];
    output y = x;
}
"#,
    },
    Explanation {
        code: "E0006",
        title: "number literal out of range",
        text: r#"
Numbers are 64-bit floats. A literal too large for one (beyond about
1.8e308) would become infinity, and no argument means anything with an
infinite value, so the literal is refused where it is written.

The literal is usually a typo in the exponent: `1e400` for `1e-4`.
"#,
        wrong: r#"
model Leaky {
    input x: f32[16];
    output y = x -> leaky_relu(1e400);
}
"#,
        fixed: r#"
model Leaky {
    input x: f32[16];
    output y = x -> leaky_relu(1e-4);
}
"#,
    },
];
