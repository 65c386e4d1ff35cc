//! The long-form explanation of every diagnostic code, for `dslc explain`.
//!
//! Each code has a title, a few paragraphs on what it means and why the
//! language refuses it, an example that produces it and the example fixed.
//! The explanations live one file per code group (`syntax.rs` for E00xx,
//! and so on); the tests (`explain/tests.rs`) compile every example, so an
//! explanation cannot drift from what the front end reports.
//!
//! Codes are looked up as rustc's `--explain` does: case does not matter and
//! leading zeros may be left out (`E0301`, `e0301`, `e301`, `0301` and `301`
//! all mean E0301). A bare number means an error code; warnings need their
//! `W` (`W0001`, `w1`), since `0001` would otherwise name both E0001 and W0001.

use std::fmt;

use crate::error::CODES;

mod arguments;
mod models;
mod names;
mod shapes;
mod syntax;
mod warnings;

#[cfg(test)]
mod tests;

/// One code's explanation.
#[derive(Debug)]
pub struct Explanation {
    /// `E0301`
    pub code: &'static str,
    /// A short description, as in the table of docs/language.md.
    pub title: &'static str,
    /// What the code means and why the language refuses it: paragraphs
    /// separated by blank lines, lines at most 76 columns.
    pub text: &'static str,
    /// A file that produces the code (the newlines around it are not part
    /// of it).
    pub wrong: &'static str,
    /// The same file, corrected: it checks with no errors and no warnings.
    pub fixed: &'static str,
}

/// Every explanation, in the order of [`CODES`].
pub fn all() -> impl Iterator<Item = &'static Explanation> {
    [
        syntax::EXPLANATIONS,
        arguments::EXPLANATIONS,
        names::EXPLANATIONS,
        shapes::EXPLANATIONS,
        models::EXPLANATIONS,
        warnings::EXPLANATIONS,
    ]
    .into_iter()
    .flatten()
}

/// The explanation of exactly `code` (`E0301`), if there is one.
pub fn get(code: &str) -> Option<&'static Explanation> {
    all().find(|e| e.code == code)
}

/// The explanation a user asked for, in any of the accepted spellings.
pub fn lookup(query: &str) -> Result<&'static Explanation, UnknownCode> {
    let normalized = normalize(query);
    if let Some(explanation) = normalized.as_deref().and_then(get) {
        return Ok(explanation);
    }
    let nearest = match &normalized {
        Some(code) => numerically_nearest(code),
        None => textually_nearest(query),
    };
    Err(UnknownCode {
        query: clip(query.trim()),
        normalized,
        nearest,
    })
}

/// A code that has no explanation (or text that is not a code at all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCode {
    /// What was asked for, clipped to a printable length.
    pub query: String,
    /// The code it reads as, if it has the shape of one (`E0309`).
    pub normalized: Option<String>,
    /// Up to three known codes near it, in order.
    pub nearest: Vec<&'static str>,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.normalized {
            Some(code) if *code == self.query => write!(f, "no diagnostic code {code}")?,
            Some(code) => write!(f, "no diagnostic code {code} (read from `{}`)", self.query)?,
            None if self.query.is_empty() => write!(f, "no code given")?,
            None => write!(
                f,
                "`{}` is not a diagnostic code; codes look like E0301 or W0001",
                self.query
            )?,
        }
        if !self.nearest.is_empty() {
            write!(f, "\nthe nearest codes are: {}", self.nearest.join(", "))?;
        }
        Ok(())
    }
}

/// `E0301` from `e301`, `0301`, `301`; None if the text is not code-shaped.
pub fn normalize(query: &str) -> Option<String> {
    let query = query.trim();
    let (letter, digits) = match query.chars().next()? {
        'E' | 'e' => ('E', &query[1..]),
        'W' | 'w' => ('W', &query[1..]),
        _ => ('E', query),
    };
    let well_formed = (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| format!("{letter}{digits:0>4}"))
}

/// The three codes with the same letter closest in number to `code`.
fn numerically_nearest(code: &str) -> Vec<&'static str> {
    let number = |c: &str| c[1..].parse::<i64>().unwrap_or(0);
    let target = number(code);
    let mut same_letter: Vec<&'static str> = CODES
        .iter()
        .copied()
        .filter(|c| c.as_bytes()[0] == code.as_bytes()[0])
        .collect();
    // Stable: among equally near codes the lower comes first.
    same_letter.sort_by_key(|c| (number(c) - target).abs());
    let mut nearest: Vec<&'static str> = same_letter.into_iter().take(3).collect();
    nearest.sort_unstable();
    nearest
}

/// Codes within two edits of text that is almost a code (`E03O1`, `EO301`).
fn textually_nearest(query: &str) -> Vec<&'static str> {
    let query = query.trim().to_ascii_uppercase();
    // Longer text is not a mistyped five-character code; skip the work.
    if query.len() > 8 {
        return Vec::new();
    }
    let mut scored: Vec<(usize, &'static str)> = CODES
        .iter()
        .map(|code| (edit_distance(&query, code), *code))
        .filter(|(distance, _)| *distance <= 2)
        .collect();
    scored.sort_unstable();
    scored.into_iter().take(3).map(|(_, code)| code).collect()
}

/// Levenshtein distance over bytes (both sides are short here).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, &y) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(x != y);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// At most 32 characters of what the user typed, for messages: an argument
/// can be megabytes long.
fn clip(text: &str) -> String {
    const SHOWN: usize = 32;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// The explanation as `dslc explain` prints it: plain text in the layout of
/// `rustc --explain` (the prose, then fenced examples).
pub fn render(explanation: &Explanation) -> String {
    format!(
        "{code}: {title}\n\n{text}\n\nErroneous code example:\n\n```\n{wrong}\n```\n\nFixed:\n\n```\n{fixed}\n```\n",
        code = explanation.code,
        title = explanation.title,
        text = explanation.text.trim(),
        wrong = explanation.wrong.trim_matches('\n'),
        fixed = explanation.fixed.trim_matches('\n'),
    )
}
