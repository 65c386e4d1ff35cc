//! The shape rules against PyTorch: tests/shape_table.txt lists layer
//! configurations with the output shapes and parameter counts PyTorch gives
//! (written as literal numbers; `python3 bench/pytorch_shapes.py` re-derives
//! every row with torch.nn). Each row must check to exactly those numbers.

use nnspec::dsl;

struct Row {
    line: usize,
    input: String,
    layer: String,
    output: Vec<usize>,
    params: usize,
}

fn rows() -> Vec<Row> {
    let table = include_str!("shape_table.txt");
    table
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(i, line)| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "line {}: {line}", i + 1);
            let dims = |cell: &str| -> Vec<usize> {
                cell.trim_matches(['[', ']'])
                    .split(',')
                    .map(|d| {
                        d.trim()
                            .parse()
                            .unwrap_or_else(|_| panic!("line {}: bad dims {cell}", i + 1))
                    })
                    .collect()
            };
            Row {
                line: i + 1,
                input: cells[0].to_string(),
                layer: cells[1].to_string(),
                output: dims(cells[2]),
                params: cells[3].parse().expect("param count"),
            }
        })
        .collect()
}

/// The row as a model: `x -> layer` for one input; for several (joined by
/// ` + ` in the table), the layer in call form on inputs `a0, a1, ...`.
fn source(row: &Row) -> String {
    let inputs: Vec<&str> = row.input.split(" + ").collect();
    if inputs.len() == 1 {
        // Token ids are i64, the input of `embedding`.
        let dtype = if row.layer.starts_with("embedding") {
            "i64"
        } else {
            "f32"
        };
        return format!(
            "model M {{\n    input x: {dtype}{};\n    output y = x -> {};\n}}\n",
            row.input, row.layer
        );
    }
    let mut text = String::from("model M {\n");
    for (i, dims) in inputs.iter().enumerate() {
        text += &format!("    input a{i}: f32{dims};\n");
    }
    let names: Vec<String> = (0..inputs.len()).map(|i| format!("a{i}")).collect();
    let call = match row.layer.split_once('(') {
        Some((name, args)) => format!("{name}({}, {args}", names.join(", ")),
        None => format!("{}({})", row.layer, names.join(", ")),
    };
    text + &format!("    output y = {call};\n}}\n")
}

#[test]
fn shape_rules_agree_with_pytorch() {
    let rows = rows();
    assert!(
        rows.len() >= 30,
        "the table should hold at least 30 configurations"
    );
    let mut failures = Vec::new();
    for row in &rows {
        let source = source(row);
        let compiled = dsl::compile(&source);
        let Some(model) = compiled.model("M") else {
            failures.push(format!(
                "line {}: {} on {} did not check:\n{}",
                row.line,
                row.layer,
                row.input,
                compiled.render("row")
            ));
            continue;
        };
        let output = &model.value(model.outputs[0].value).shape;
        let params = model.trainable_parameter_count();
        if output.0 != row.output || params != row.params {
            failures.push(format!(
                "line {}: {} on {}: got {} with {params} params, PyTorch gives {:?} with {}",
                row.line, row.layer, row.input, output, row.output, row.params
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
