//! From tokens to the text of a generated module: prettyplease, then the
//! comments and blank lines a token stream cannot carry.

use proc_macro2::TokenStream;

/// The statement generated code turns into a `//` comment after
/// formatting (token streams cannot hold comments): `__nnspec_comment!(i)`
/// for the `i`-th comment, short enough that prettyplease never breaks it.
pub(super) const COMMENT_MACRO: &str = "__nnspec_comment";

/// `tokens` formatted, after `header`, with each comment marker replaced
/// by its comment.
pub(super) fn finish(tokens: TokenStream, header: &str, comments: &[String]) -> String {
    let file: syn::File = syn::parse2(tokens).expect("generated code parses");
    let body = prettyplease::unparse(&file);
    let mut out = header.to_string();
    for line in space_items(&body).lines() {
        let trimmed = line.trim_start();
        match trimmed
            .strip_prefix(COMMENT_MACRO)
            .and_then(|rest| rest.strip_prefix("!("))
            .and_then(|rest| rest.strip_suffix(");"))
            .and_then(|index| index.parse::<usize>().ok())
        {
            Some(index) => {
                let indent = &line[..line.len() - trimmed.len()];
                out.push_str(&format!("{indent}// {}\n", comments[index]));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// prettyplease puts items right under each other; a blank line before
/// each item (or its doc comment) of a module or impl, and before each
/// step's comment, reads better.
fn space_items(code: &str) -> String {
    let starts_item = |t: &str| {
        [
            "///", "#[", "pub ", "fn ", "impl", "mod ", "const ", "struct ",
        ]
        .iter()
        .any(|p| t.starts_with(p))
            || t.starts_with(COMMENT_MACRO)
    };
    let mut out = String::new();
    let mut previous = "";
    for line in code.lines() {
        let t = line.trim_start();
        let p = previous.trim_start();
        let after_item = p == "}" || (p.ends_with(';') && !p.starts_with("use ")) || p == "};";
        let continues = p.starts_with("///") || p.starts_with("#[") || p.ends_with('{');
        if starts_item(t) && after_item && !continues && !previous.is_empty() {
            out.push('\n');
        }
        if t.starts_with("use ") || !p.starts_with("use ") || t.is_empty() {
        } else {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        previous = line;
    }
    out
}
