//! A light lexical scan over the source, below the grammar.
//!
//! The parser driver uses it to find where items and statements end (for
//! error recovery), to refuse pathological nesting before the recursive
//! grammar sees it, and to describe the token an error is at. The formatter
//! uses it to find comments. It understands exactly three things: trivia
//! (whitespace and comments), brackets, and word boundaries.

use crate::ast::Span;

/// Brackets deeper than this are refused before parsing (the grammar is
/// recursive; this bound keeps its stack use small and fixed).
pub const MAX_NESTING: usize = 64;

/// Skips whitespace and comments from `pos`. An unterminated block comment
/// is returned as an error span.
pub fn skip_trivia(src: &str, mut pos: usize) -> Result<usize, Span> {
    let bytes = src.as_bytes();
    loop {
        while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b'\r' | b'\n') {
            pos += 1;
        }
        if src[pos..].starts_with('\u{FEFF}') {
            pos += '\u{FEFF}'.len_utf8();
            continue;
        }
        if src[pos..].starts_with("//") {
            pos = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
            continue;
        }
        if src[pos..].starts_with("/*") {
            match src[pos + 2..].find("*/") {
                Some(i) => pos = pos + 2 + i + 2,
                None => return Err(Span::new(pos, pos + 2)),
            }
            continue;
        }
        return Ok(pos);
    }
}

/// Whether the word `keyword` starts at `pos` (and is not a prefix of a longer word).
pub fn keyword_at(src: &str, pos: usize, keyword: &str) -> bool {
    src[pos..].starts_with(keyword)
        && !src[pos + keyword.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_word_start(src: &str, pos: usize) -> bool {
    pos == 0
        || !src[..pos]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// If a comment starts at `i`, where it ends (an unterminated block
/// comment runs to the end of the text).
fn comment_end(src: &str, i: usize) -> Option<usize> {
    let rest = &src.as_bytes()[i..];
    if rest.starts_with(b"//") {
        Some(src[i..].find('\n').map_or(src.len(), |n| i + n))
    } else if rest.starts_with(b"/*") {
        Some(src[i + 2..].find("*/").map_or(src.len(), |n| i + 2 + n + 2))
    } else {
        None
    }
}

/// What [`scan_statement`] found.
pub struct StatementScan {
    /// Where parsing should resume after this statement.
    pub resume: usize,
    /// The first bracket past [`MAX_NESTING`], if any.
    pub too_deep: Option<Span>,
}

/// Scans one statement (or train field) from `pos`: it ends after the
/// `terminator` (`;` or `,`) at bracket depth 0, before any `}`,
/// before one of `stop_words` at depth 0 found after `stop_words_from`, or
/// at the end of the text.
pub fn scan_statement(
    src: &str,
    pos: usize,
    terminator: u8,
    stop_words: &[&str],
    stop_words_from: usize,
) -> StatementScan {
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    let mut too_deep = None;
    let mut i = pos;
    while i < bytes.len() {
        if let Some(end) = comment_end(src, i) {
            i = end;
            continue;
        }
        match bytes[i] {
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING && too_deep.is_none() {
                    too_deep = Some(Span::new(i, i + 1));
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            // Statements never contain braces: a `}` always ends one, even
            // inside an unbalanced bracket, so recovery stops at the item's end.
            b'}' => {
                return StatementScan {
                    resume: i,
                    too_deep,
                };
            }
            c if c == terminator && depth == 0 => {
                return StatementScan {
                    resume: i + 1,
                    too_deep,
                };
            }
            c if depth == 0
                && i >= stop_words_from
                && c.is_ascii_alphabetic()
                && is_word_start(src, i)
                && stop_words.iter().any(|w| keyword_at(src, i, w)) =>
            {
                return StatementScan {
                    resume: i,
                    too_deep,
                };
            }
            _ => {}
        }
        i += 1;
    }
    StatementScan {
        resume: src.len(),
        too_deep,
    }
}

/// The next position at or after `pos` where `model` or `train` starts a
/// word outside comments, for skipping garbage between items.
pub fn next_item(src: &str, pos: usize) -> usize {
    let bytes = src.as_bytes();
    let mut i = pos;
    while i < bytes.len() {
        if let Some(end) = comment_end(src, i) {
            i = end;
            continue;
        }
        match bytes[i] {
            b'm' | b't'
                if is_word_start(src, i)
                    && (keyword_at(src, i, "model") || keyword_at(src, i, "train")) =>
            {
                return i;
            }
            _ => {}
        }
        i += 1;
    }
    src.len()
}

/// The length of the token `rest` starts with: a word or number
/// (`dense`, `2.5`, `1e-3`), `->`, or one character.
pub fn token_len(rest: &str) -> usize {
    match rest.chars().next() {
        None => 0,
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
            let number = c.is_ascii_digit();
            let mut previous = c;
            rest.char_indices()
                .skip(1)
                .find(|&(_, ch)| {
                    let continues = ch.is_ascii_alphanumeric()
                        || ch == '_'
                        || (number && ch == '.')
                        || (number && matches!(ch, '-' | '+') && matches!(previous, 'e' | 'E'));
                    previous = ch;
                    !continues
                })
                .map_or(rest.len(), |(i, _)| i)
        }
        Some(_) if rest.starts_with("->") => 2,
        Some(c) => c.len_utf8(),
    }
}

/// How an error message names the token at `pos`: `` `foo` ``, `` `;` ``, "end of file".
pub fn describe_token(src: &str, pos: usize) -> String {
    let rest = &src[pos.min(src.len())..];
    let Some(first) = rest.chars().next() else {
        return "end of file".into();
    };
    if first.is_control() || first == '\u{FFFD}' {
        return format!("character {first:?}");
    }
    let token = &rest[..token_len(rest)];
    if token.chars().count() > 40 {
        let short: String = token.chars().take(37).collect();
        return format!("`{short}...`");
    }
    format!("`{token}`")
}

/// `text` without the whitespace and comments it ends with. The language
/// has no string literals, so `//` and `/*` always start comments.
pub fn without_trailing_trivia(text: &str) -> &str {
    let mut text = text.trim_end();
    loop {
        let last_line = text.rfind('\n').map_or(0, |i| i + 1);
        if let Some(comment) = text[last_line..].find("//") {
            text = text[..last_line + comment].trim_end();
        } else if text.ends_with("*/") {
            match text[..text.len() - 2].rfind("/*") {
                Some(open) => text = text[..open].trim_end(),
                None => return text,
            }
        } else {
            return text;
        }
    }
}

/// Every comment in the text with its span, in order.
pub fn comments(src: &str) -> Vec<Span> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < src.len() {
        match comment_end(src, i) {
            Some(end) => {
                found.push(Span::new(i, end));
                i = end;
            }
            None => i += 1,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivia() {
        assert_eq!(skip_trivia("  // c\n /* d */ x", 0), Ok(16));
        assert_eq!(skip_trivia("/* open", 0), Err(Span::new(0, 2)));
    }

    #[test]
    fn statements_end_at_semicolons_outside_brackets() {
        let src = "let a = f(x; y); let b = 1;";
        assert_eq!(scan_statement(src, 0, b';', &[], 0).resume, 16);
        let src = "let a = x -> relu\n let b = y;";
        assert_eq!(scan_statement(src, 0, b';', &["let"], 3).resume, 19);
        assert_eq!(scan_statement("a }", 0, b';', &[], 0).resume, 2);
    }

    #[test]
    fn trailing_trivia_is_trimmed() {
        assert_eq!(
            without_trailing_trivia("sgd(lr: 0.1) // opt\n  "),
            "sgd(lr: 0.1)"
        );
        assert_eq!(without_trailing_trivia("relu /* a */ /* b */\n"), "relu");
        assert_eq!(without_trailing_trivia("x"), "x");
    }

    #[test]
    fn deep_nesting_is_found() {
        let src = "(".repeat(MAX_NESTING + 5);
        let scan = scan_statement(&src, 0, b';', &[], 0);
        assert_eq!(scan.too_deep, Some(Span::new(MAX_NESTING, MAX_NESTING + 1)));
    }

    #[test]
    fn items_are_found_at_word_starts_only() {
        assert_eq!(next_item("xmodel // train\n train", 0), 17);
    }
}
