//! The fp16 deploy variant of an exported model: every f32 initializer
//! stored as FLOAT16 and widened by a `Cast` at the start of the graph, so
//! the file is half the size and every operator still runs in f32 (as
//! the fp16 Rust variant does: weights stored in half precision, widened
//! when loaded).

use super::proto::{AttributeProto, AttributeType, ModelProto, NodeProto, data_type};

/// `model` with its f32 initializers in half precision (values rounded to
/// nearest, ties to even, as `half::f16::from_f32` does). An initializer
/// holding a value beyond half's range becomes infinite: check first
/// (`nnspec_runtime::prune::half_range`).
pub fn with_half_weights(mut model: ModelProto) -> ModelProto {
    let Some(graph) = model.graph.as_mut() else {
        return model;
    };
    let mut casts = Vec::new();
    for tensor in &mut graph.initializer {
        if tensor.data_type != data_type::FLOAT {
            continue;
        }
        let values: Vec<f32> = if tensor.raw_data.is_empty() {
            std::mem::take(&mut tensor.float_data)
        } else {
            tensor
                .raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        tensor.raw_data = values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        tensor.data_type = data_type::FLOAT16;
        // The graph keeps reading the f32 name; the Cast produces it.
        let f32_name = std::mem::take(&mut tensor.name);
        tensor.name = format!("{f32_name}.fp16");
        casts.push(NodeProto {
            input: vec![tensor.name.clone()],
            output: vec![f32_name.clone()],
            name: format!("cast_{f32_name}"),
            op_type: "Cast".to_string(),
            attribute: vec![AttributeProto {
                name: "to".to_string(),
                r#type: AttributeType::Int as i32,
                i: data_type::FLOAT as i64,
                ..AttributeProto::default()
            }],
            ..NodeProto::default()
        });
    }
    casts.append(&mut graph.node);
    graph.node = casts;
    model
}
