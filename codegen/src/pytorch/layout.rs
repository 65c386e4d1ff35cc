//! Line layout for the generated Python: long calls are broken the way
//! `ruff format` (and black) would break them, so the files read as
//! formatted code and a formatter leaves them unchanged.

/// The longest line a formatter keeps.
const WIDTH: usize = 88;

/// `call` (`head(args)`) after `prefix` at `indent` columns: on one line
/// when it fits, else its arguments on the next line, or one per line
/// (with a trailing comma) when even they do not fit. The first line
/// carries no indentation (the caller writes it after `prefix`).
/// A call may be followed by an index (`self.rnn(x)[0]`).
pub fn wrap(prefix: &str, call: &str, indent: usize) -> String {
    let Some((open, close)) = outer_parentheses(call) else {
        return call.to_string();
    };
    let suffix = &call[close + 1..];
    let indexed = suffix.is_empty() || (suffix.starts_with('[') && suffix.ends_with(']'));
    if indent + prefix.len() + call.len() <= WIDTH || !indexed {
        return call.to_string();
    }
    let (head, args) = (&call[..=open], &call[open + 1..close]);
    let inner = " ".repeat(indent + 4);
    let outer = " ".repeat(indent);
    if inner.len() + args.len() <= WIDTH {
        return format!("{head}\n{inner}{args}\n{outer}){suffix}");
    }
    let mut text = format!("{head}\n");
    for arg in split_arguments(args) {
        text.push_str(&format!("{inner}{arg},\n"));
    }
    format!("{text}{outer}){suffix}")
}

/// The first `(` of `call` and the `)` that closes it.
fn outer_parentheses(call: &str) -> Option<(usize, usize)> {
    let open = call.find('(')?;
    let mut depth = 0i32;
    for (i, c) in call.char_indices().skip_while(|&(i, _)| i < open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((open, i));
                }
            }
            _ => {}
        }
    }
    None
}

/// A statement with a trailing comment, the comment on the line above
/// when the two do not fit on one.
pub fn commented(indent: usize, statement: &str, comment: &str) -> String {
    let pad = " ".repeat(indent);
    if indent + statement.len() + 2 + comment.len() <= WIDTH {
        return format!("{pad}{statement}  {comment}\n");
    }
    // `name = call`: the call broken as a formatter breaks it.
    let statement = match statement.split_once(" = ") {
        Some((name, call)) => format!("{name} = {}", wrap(&format!("{name} = "), call, indent)),
        None => statement.to_string(),
    };
    format!("{pad}{comment}\n{pad}{statement}\n")
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
