//! Colour for diagnostics on a terminal. The front end renders plain
//! text (`nnspec_dsl::diagnostic::render`); this colours its severity
//! words and gutter the way rustc does, only when stderr is a terminal and
//! `NO_COLOR` is not set ([`crate::output::colour_stderr`]).

const RESET: &str = "\x1b[0m";
const BOLD_RED: &str = "\x1b[1;31m";
const BOLD_YELLOW: &str = "\x1b[1;33m";
const BOLD_BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";

/// Rendered diagnostics, coloured when stderr is a terminal.
pub fn diagnostics(text: &str) -> String {
    if crate::output::colour_stderr() {
        paint(text)
    } else {
        text.to_string()
    }
}

/// Colours rendered diagnostics (whatever the terminal).
fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let severity = [("error", BOLD_RED), ("warning", BOLD_YELLOW)]
            .into_iter()
            .find(|(word, _)| line.starts_with(word));
        if let Some((_, colour)) = severity
            && let Some(end) = line.find(": ")
        {
            // `error[E0301]: message`: the head in colour, the message bold.
            let (head, rest) = line.split_at(end);
            let message = rest[2..].trim_end_matches('\n');
            out.push_str(&format!("{colour}{head}{RESET}{BOLD}: {message}{RESET}"));
            if line.ends_with('\n') {
                out.push('\n');
            }
            continue;
        }
        // The gutter: `  --> file:1:2`, ` 3 |`, `   = note:`.
        let trimmed = line.trim_start();
        let gutter_end = if trimmed.starts_with("-->") {
            Some(line.len() - trimmed.len() + 3)
        } else if trimmed.starts_with('=') {
            Some(line.len() - trimmed.len() + 1)
        } else {
            line.find('|')
                .filter(|&i| line[..i].chars().all(|c| c.is_ascii_digit() || c == ' '))
                .map(|i| i + 1)
        };
        match gutter_end {
            Some(end) => {
                out.push_str(BOLD_BLUE);
                out.push_str(&line[..end]);
                out.push_str(RESET);
                out.push_str(&line[end..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn severity_and_gutter_are_coloured() {
        let plain = "error[E0301]: shapes differ\n --> m.nn:3:5\n  |\n3 | x\n";
        let painted = super::paint(plain);
        assert!(
            painted.contains("\x1b[1;31merror[E0301]\x1b[0m"),
            "{painted:?}"
        );
        assert!(painted.contains("\x1b[1;34m -->\x1b[0m"), "{painted:?}");
        let stripped: String = painted
            .split('\x1b')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part
                } else {
                    part.split_once('m').map_or("", |p| p.1)
                }
            })
            .collect();
        assert_eq!(stripped, plain);
    }
}
