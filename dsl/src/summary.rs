//! The per-model table `dslc check` prints, in the manner of Keras' `summary()`.

use crate::ir::{Model, Op};

/// Cells longer than this many characters are shortened with `...`, so a
/// 70 000-character name gives a table, not a 70 000-column line.
const MAX_CELL: usize = 60;

/// A table of layers with output shapes, parameter counts, the values each
/// layer reads ("Connected to", as in Keras, so branches can be followed),
/// and totals.
pub fn summary(model: &Model) -> String {
    const COLUMNS: usize = 5;
    let header = [
        "Layer (op)",
        "Output shape",
        "Params",
        "Connected to",
        "Value",
    ];
    let name_of = |id: crate::ir::ValueId| {
        let value = model.value(id);
        value.binding.clone().unwrap_or_else(|| value.layer.clone())
    };
    let rows: Vec<[String; COLUMNS]> = model
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
            let inputs: Vec<String> = value.inputs.iter().map(|&i| name_of(i)).collect();
            [
                format!("{} ({op})", value.layer),
                value.shape.to_string(),
                group_thousands(params),
                inputs.join(", "),
                value.binding.clone().unwrap_or_default(),
            ]
            .map(|cell| shorten(&cell))
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let total_width = widths.iter().sum::<usize>() + (COLUMNS - 1) * 2;
    let rule = "─".repeat(total_width);
    // Padding by hand: `std::fmt` widths above 65 535 panic.
    let format_row = |cells: [&str; COLUMNS]| {
        let mut line = String::new();
        for (i, (cell, &width)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let fill = " ".repeat(width - cell.chars().count());
            // Counts read best right-aligned.
            if i == 2 {
                line.push_str(&fill);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&fill);
            }
        }
        format!("{}\n", line.trim_end())
    };
    let mut out = format!("Model: {}\n{rule}\n", shorten(&model.name));
    out.push_str(&format_row(header));
    out.push_str(&format!("{rule}\n"));
    for row in &rows {
        out.push_str(&format_row(row.each_ref().map(String::as_str)));
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

/// `cell` cut to [`MAX_CELL`] characters, ending in `...` when cut.
fn shorten(cell: &str) -> String {
    if cell.chars().count() <= MAX_CELL {
        return cell.to_string();
    }
    let kept: String = cell.chars().take(MAX_CELL - 3).collect();
    format!("{kept}...")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn model(source: &str) -> Model {
        let compiled = crate::compile(source);
        assert!(!compiled.has_errors(), "{}", compiled.render("t.nn"));
        compiled.models.into_iter().next().expect("one model")
    }

    #[test]
    fn names_beyond_format_widths_do_not_panic() {
        // `std::fmt` refuses widths over 65 535: this panicked before.
        let name = "A".repeat(70_000);
        let table = summary(&model(&format!(
            "model M {{\n    input x: f32[4];\n    output y = x -> dense(2) as {name};\n}}\n"
        )));
        assert!(table.lines().all(|l| l.chars().count() < 200), "{table}");
        assert!(table.contains(&format!("{}...", "A".repeat(MAX_CELL - 3))));
    }

    #[test]
    fn branches_show_what_each_layer_reads() {
        let table = summary(&model(
            "model R {\n    input x: f32[8];\n    let h = x -> dense(8) as fc;\n    output y = h + x;\n}\n",
        ));
        let add = table
            .lines()
            .find(|l| l.starts_with("add_1"))
            .expect("the sum's row");
        assert!(add.contains("h, x"), "{table}");
        let fc = table
            .lines()
            .find(|l| l.starts_with("fc (dense)"))
            .expect("fc's row");
        assert!(fc.contains("  x  "), "{table}");
    }
}
