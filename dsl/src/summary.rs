//! The per-model table `dslc check` prints, in the manner of Keras' `summary()`.

use crate::ir::{Model, Op};

/// A table of layers with output shapes and parameter counts, and totals.
pub fn summary(model: &Model) -> String {
    let header = ["Layer (op)", "Output shape", "Params", "Value"];
    let rows: Vec<[String; 4]> = model
        .values
        .iter()
        .map(|value| {
            let params: usize = value
                .params
                .iter()
                .map(|&p| model.param(p))
                .filter(|p| p.role.trainable())
                .map(|p| p.shape.elements())
                .sum();
            let op = match value.op {
                Op::Input => format!("input {}", value.dtype),
                _ => value.op.name().to_string(),
            };
            [
                format!("{} ({op})", value.layer),
                value.shape.to_string(),
                group_thousands(params),
                value.binding.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let total_width = widths.iter().sum::<usize>() + 3 * 2;
    let rule = "─".repeat(total_width);
    let format_row = |cells: [&str; 4]| {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        format!("{}\n", line.trim_end())
    };
    let mut out = format!("Model: {}\n{rule}\n", model.name);
    out.push_str(&format_row(header));
    out.push_str(&format!("{rule}\n"));
    for row in &rows {
        out.push_str(&format_row([&row[0], &row[1], &row[2], &row[3]]));
    }
    out.push_str(&format!("{rule}\n"));
    let trainable = model.trainable_parameter_count();
    let buffers = model.parameter_count() - trainable;
    out.push_str(&format!(
        "Trainable params: {} ({})\n",
        group_thousands(trainable),
        bytes(trainable * 4)
    ));
    out.push_str(&format!(
        "Buffers (running statistics): {}\n",
        group_thousands(buffers)
    ));
    out
}

/// `101770` -> `101,770`
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.2} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
