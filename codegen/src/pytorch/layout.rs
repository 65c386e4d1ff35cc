//! Line layout for the generated Python: long calls are broken the way
//! `ruff format` (and black) would break them, so the files read as
//! formatted code and a formatter leaves them unchanged.

/// The longest line a formatter keeps.
const WIDTH: usize = 88;

/// `call` (`head(args)`) after `prefix` at `indent` columns: on one line
/// when it fits, else its arguments on the next line, or one per line
/// (with a trailing comma) when even they do not fit. The first line
/// carries no indentation (the caller writes it after `prefix`).
pub fn wrap(prefix: &str, call: &str, indent: usize) -> String {
    let Some(open) = call.find('(') else {
        return call.to_string();
    };
    if indent + prefix.len() + call.len() <= WIDTH || !call.ends_with(')') {
        return call.to_string();
    }
    let (head, args) = (&call[..=open], &call[open + 1..call.len() - 1]);
    let inner = " ".repeat(indent + 4);
    let outer = " ".repeat(indent);
    if inner.len() + args.len() <= WIDTH {
        return format!("{head}\n{inner}{args}\n{outer})");
    }
    let mut text = format!("{head}\n");
    for arg in split_arguments(args) {
        text.push_str(&format!("{inner}{arg},\n"));
    }
    text + &outer + ")"
}

/// A statement with a trailing comment, the comment on the line above
/// when the two do not fit on one.
pub fn commented(indent: usize, statement: &str, comment: &str) -> String {
    let pad = " ".repeat(indent);
    if indent + statement.len() + 2 + comment.len() <= WIDTH {
        format!("{pad}{statement}  {comment}\n")
    } else {
        format!("{pad}{comment}\n{pad}{statement}\n")
    }
}

/// Top-level arguments of a call (commas inside brackets stay).
fn split_arguments(args: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in args.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(args[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(args[start..].trim());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_calls_stay_on_one_line() {
        assert_eq!(wrap("return ", "f(a, b)", 4), "f(a, b)");
    }

    #[test]
    fn long_calls_break_like_a_formatter() {
        let args = "x".repeat(70);
        assert_eq!(
            wrap("return ", &format!("torch.optim.SGD({args}, y)"), 4),
            format!("torch.optim.SGD(\n        {args}, y\n    )")
        );
        let long = "z".repeat(50);
        assert_eq!(
            wrap("return ", &format!("g({long}, {long}, h(1, 2))"), 4),
            format!("g(\n        {long},\n        {long},\n        h(1, 2),\n    )")
        );
    }
}
