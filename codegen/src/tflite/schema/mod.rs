//! The `.tflite` flatbuffer of a [`TfModel`], written through the
//! `flatbuffers` crate's builder table by table, with the field ids and
//! enum values of TFLite's schema (`tensorflow/compiler/mlir/lite/schema/
//! schema.fbs`, schema version 3 with the compatible 3a-3c additions; see
//! [`ids`]). What is written:
//!
//! - `Model`: `version` 3, `operator_codes`, one `SubGraph`,
//!   `description`, `buffers`, `metadata`, and one `SignatureDef`
//!   (`serving_default`, the inputs and outputs under their tensor names,
//!   for applications that run a model through its signature);
//! - `SubGraph`: `tensors`, `inputs`, `outputs`, `operators`, `name`;
//! - `Tensor`: `shape`, `type`, `buffer`, `name`, `quantization`,
//!   `shape_signature` (a batched tensor's shape with -1 for the batch)
//!   and `has_rank` (so a scalar is a scalar, not an unknown rank);
//! - `QuantizationParameters`: `scale`, `zero_point`,
//!   `quantized_dimension`;
//! - `Buffer`: `data` (aligned to 16 as the schema's `force_align` asks).
//!   Buffer 0 is the empty sentinel every TFLite file starts with and
//!   every activation points at; each constant and each metadata entry
//!   gets a buffer of its own;
//! - `OperatorCode`: `deprecated_builtin_code` (the code, or 127 above
//!   it), `builtin_code`, `version` (see [`options::version`]); one per
//!   distinct (operator, version), in order of first use;
//! - `Operator`: `opcode_index`, `inputs` (-1 for an omitted optional
//!   input), `outputs`, and the `builtin_options` union ([`options`]).
//!
//! The model is checked first ([`check`]); nothing here panics on a bad
//! model.

mod check;
mod ids;
mod options;
#[cfg(test)]
mod tests;

use flatbuffers::{FlatBufferBuilder, Push, PushAlignment, WIPOffset};

use super::model::{Operator, Tensor, TensorType, TfModel};
use super::{ExportError, MAX_BYTES};
use ids::slot;

type Table = WIPOffset<flatbuffers::TableFinishedWIPOffset>;

pub(super) fn write(model: &TfModel) -> Result<Vec<u8>, ExportError> {
    check::model(model)?;
    let bound = size_bound(model);
    fits(bound)?;
    let mut fbb = FlatBufferBuilder::with_capacity(bound);
    let root = write_model(&mut fbb, model);
    fbb.finish(root, Some(ids::FILE_IDENTIFIER));
    Ok(fbb.finished_data().to_vec())
}

/// A file of at most `bound` bytes can be written.
fn fits(bound: usize) -> Result<(), ExportError> {
    if bound > MAX_BYTES {
        return Err(ExportError::TooLarge { bytes: bound });
    }
    Ok(())
}

/// At least the size of the finished file (every vector padded to its
/// alignment, every table with its own vtable), so that a model over
/// [`MAX_BYTES`] is refused before the builder, which panics past 2 GiB,
/// sees it; and so that the builder never reallocates.
fn size_bound(model: &TfModel) -> usize {
    const TABLE: usize = 96;
    let vector = |bytes: usize| bytes + 4 + 16;
    let string = |s: &str| s.len() + 1 + 4 + 4;
    let tensors: usize = model
        .tensors
        .iter()
        .map(|t| {
            let data = t.data.as_ref().map_or(0, |d| vector(d.len()) + TABLE);
            let quantization = t.quantization.as_ref().map_or(0, |q| {
                vector(4 * q.scale.len()) + vector(8 * q.zero_point.len()) + TABLE
            });
            string(&t.name) + 2 * vector(4 * t.shape.len()) + TABLE + data + quantization + 8
        })
        .sum();
    let operators: usize = model
        .operators
        .iter()
        .map(|o| vector(4 * o.inputs.len()) + vector(4 * o.outputs.len()) + 3 * TABLE)
        .sum();
    let metadata: usize = model
        .metadata
        .iter()
        .map(|(name, data)| string(name) + vector(data.len()) + 2 * TABLE + 8)
        .sum();
    let io = (model.inputs.len() + model.outputs.len()) * (TABLE + 64 + 8 + 4);
    string(&model.description) + string(&model.name) + tensors + operators + metadata + io + 1024
}

/// A byte of `Buffer.data`: pushed like a `u8`, but a vector of them is
/// aligned to 16 bytes (`force_align: 16`), so an application that maps
/// the file can read an f32 or i32 constant in place.
struct BufferByte(u8);

impl Push for BufferByte {
    type Output = u8;

    unsafe fn push(&self, dst: &mut [u8], _written_len: usize) {
        dst[0] = self.0;
    }

    fn alignment() -> PushAlignment {
        PushAlignment::new(ids::buffer::DATA_ALIGNMENT)
    }
}

fn tensor_type(dtype: TensorType) -> i8 {
    match dtype {
        TensorType::Float32 => ids::tensor_type::FLOAT32,
        TensorType::Int32 => ids::tensor_type::INT32,
        TensorType::Int8 => ids::tensor_type::INT8,
        TensorType::Int64 => ids::tensor_type::INT64,
    }
}

/// An index the checks have bounded by the model's sizes, as the schema's
/// `int`/`uint`.
fn index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

fn buffer(fbb: &mut FlatBufferBuilder, data: Option<&[u8]>) -> Table {
    let data = data.map(|bytes| {
        let bytes: Vec<BufferByte> = bytes.iter().map(|&b| BufferByte(b)).collect();
        fbb.create_vector(&bytes)
    });
    let start = fbb.start_table();
    if let Some(data) = data {
        fbb.push_slot_always(slot(ids::buffer::DATA), data);
    }
    fbb.end_table(start)
}

fn write_model<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    model: &TfModel,
) -> WIPOffset<flatbuffers::TableFinishedWIPOffset> {
    // Buffers: the empty sentinel, then each constant's, then each
    // metadata entry's.
    let mut buffers = vec![buffer(fbb, None)];
    let mut tensor_buffer = vec![0u32; model.tensors.len()];
    for (i, tensor) in model.tensors.iter().enumerate() {
        if let Some(data) = &tensor.data {
            tensor_buffer[i] = buffers.len() as u32;
            buffers.push(buffer(fbb, Some(data)));
        }
    }
    let mut metadata = Vec::new();
    for (name, data) in &model.metadata {
        let buffer_index = buffers.len() as u32;
        buffers.push(buffer(fbb, Some(data)));
        let name = fbb.create_string(name);
        let start = fbb.start_table();
        fbb.push_slot_always(slot(ids::metadata::NAME), name);
        fbb.push_slot::<u32>(slot(ids::metadata::BUFFER), buffer_index, 0);
        metadata.push(fbb.end_table(start));
    }

    let tensors: Vec<Table> = model
        .tensors
        .iter()
        .zip(&tensor_buffer)
        .map(|(tensor, &buffer)| write_tensor(fbb, tensor, buffer))
        .collect();

    // Operator codes: one per (builtin, version), in order of first use.
    let mut codes: Vec<(i32, i32)> = Vec::new();
    let mut operators = Vec::new();
    for operator in &model.operators {
        let code = (
            options::builtin_code(&operator.op),
            options::version(&operator.op, &signature(model, operator)),
        );
        let opcode_index = match codes.iter().position(|c| *c == code) {
            Some(i) => i,
            None => {
                codes.push(code);
                codes.len() - 1
            }
        };
        operators.push(write_operator(fbb, operator, opcode_index as u32));
    }
    let operator_codes: Vec<Table> = codes
        .iter()
        .map(|&(builtin, version)| {
            use ids::operator_code as f;
            let deprecated = builtin.min(f::PLACEHOLDER_FOR_GREATER_OP_CODES) as i8;
            let start = fbb.start_table();
            fbb.push_slot::<i8>(slot(f::DEPRECATED_BUILTIN_CODE), deprecated, 0);
            fbb.push_slot::<i32>(slot(f::VERSION), version, 1);
            fbb.push_slot::<i32>(slot(f::BUILTIN_CODE), builtin, 0);
            fbb.end_table(start)
        })
        .collect();

    let subgraph = {
        use ids::subgraph as f;
        let tensors = fbb.create_vector(&tensors);
        let inputs: Vec<i32> = model.inputs.iter().map(|id| index(id.index())).collect();
        let inputs = fbb.create_vector(&inputs);
        let outputs: Vec<i32> = model.outputs.iter().map(|id| index(id.index())).collect();
        let outputs = fbb.create_vector(&outputs);
        let operators = fbb.create_vector(&operators);
        let name = fbb.create_string(&model.name);
        let start = fbb.start_table();
        fbb.push_slot_always(slot(f::TENSORS), tensors);
        fbb.push_slot_always(slot(f::INPUTS), inputs);
        fbb.push_slot_always(slot(f::OUTPUTS), outputs);
        fbb.push_slot_always(slot(f::OPERATORS), operators);
        fbb.push_slot_always(slot(f::NAME), name);
        fbb.end_table(start)
    };
    let signature = write_signature(fbb, model);

    use ids::model as f;
    let operator_codes = fbb.create_vector(&operator_codes);
    let subgraphs = fbb.create_vector(&[subgraph]);
    let description = fbb.create_string(&model.description);
    let buffers = fbb.create_vector(&buffers);
    let metadata = fbb.create_vector(&metadata);
    let signatures = fbb.create_vector(&[signature]);
    let start = fbb.start_table();
    fbb.push_slot::<u32>(slot(f::VERSION), ids::SCHEMA_VERSION, 0);
    fbb.push_slot_always(slot(f::OPERATOR_CODES), operator_codes);
    fbb.push_slot_always(slot(f::SUBGRAPHS), subgraphs);
    fbb.push_slot_always(slot(f::DESCRIPTION), description);
    fbb.push_slot_always(slot(f::BUFFERS), buffers);
    fbb.push_slot_always(slot(f::METADATA), metadata);
    fbb.push_slot_always(slot(f::SIGNATURE_DEFS), signatures);
    fbb.end_table(start)
}

fn signature<'m>(model: &'m TfModel, operator: &Operator) -> options::Signature<'m> {
    options::Signature {
        inputs: operator
            .inputs
            .iter()
            .map(|id| id.map(|id| model.tensor(id)))
            .collect(),
        outputs: operator
            .outputs
            .iter()
            .map(|&id| model.tensor(id))
            .collect(),
    }
}

fn write_tensor(fbb: &mut FlatBufferBuilder, tensor: &Tensor, buffer: u32) -> Table {
    use ids::tensor as f;
    let shape = fbb.create_vector(&tensor.shape);
    let signature = tensor.batched.then(|| {
        let mut signature = tensor.shape.clone();
        signature[0] = -1;
        fbb.create_vector(&signature)
    });
    let name = fbb.create_string(&tensor.name);
    let quantization = tensor.quantization.as_ref().map(|q| {
        use ids::quantization as q_f;
        let scale = fbb.create_vector(&q.scale);
        let zero_point = fbb.create_vector(&q.zero_point);
        let start = fbb.start_table();
        fbb.push_slot_always(slot(q_f::SCALE), scale);
        fbb.push_slot_always(slot(q_f::ZERO_POINT), zero_point);
        fbb.push_slot::<i32>(slot(q_f::QUANTIZED_DIMENSION), q.quantized_dimension, 0);
        fbb.end_table(start)
    });
    let start = fbb.start_table();
    fbb.push_slot_always(slot(f::SHAPE), shape);
    fbb.push_slot::<i8>(slot(f::TYPE), tensor_type(tensor.dtype), 0);
    fbb.push_slot::<u32>(slot(f::BUFFER), buffer, 0);
    fbb.push_slot_always(slot(f::NAME), name);
    if let Some(quantization) = quantization {
        fbb.push_slot_always(slot(f::QUANTIZATION), quantization);
    }
    if let Some(signature) = signature {
        fbb.push_slot_always(slot(f::SHAPE_SIGNATURE), signature);
    }
    fbb.push_slot::<bool>(slot(f::HAS_RANK), true, false);
    fbb.end_table(start)
}

fn write_operator(fbb: &mut FlatBufferBuilder, operator: &Operator, opcode_index: u32) -> Table {
    use ids::operator as f;
    let inputs: Vec<i32> = operator
        .inputs
        .iter()
        .map(|id| id.map_or(f::OMITTED_INPUT, |id| index(id.index())))
        .collect();
    let inputs = fbb.create_vector(&inputs);
    let outputs: Vec<i32> = operator
        .outputs
        .iter()
        .map(|id| index(id.index()))
        .collect();
    let outputs = fbb.create_vector(&outputs);
    let builtin_options = options::write(fbb, &operator.op);
    let start = fbb.start_table();
    fbb.push_slot::<u32>(slot(f::OPCODE_INDEX), opcode_index, 0);
    fbb.push_slot_always(slot(f::INPUTS), inputs);
    fbb.push_slot_always(slot(f::OUTPUTS), outputs);
    if let Some((kind, table)) = builtin_options {
        fbb.push_slot::<u8>(slot(f::BUILTIN_OPTIONS_TYPE), kind, ids::options::NONE);
        fbb.push_slot_always(slot(f::BUILTIN_OPTIONS), table);
    }
    fbb.end_table(start)
}

/// `serving_default`: the model's inputs and outputs under their tensor
/// names, the signature TFLite's converter writes.
fn write_signature(fbb: &mut FlatBufferBuilder, model: &TfModel) -> Table {
    let mut maps = |ids: &[super::model::TensorId]| {
        let maps: Vec<Table> = ids
            .iter()
            .map(|&id| {
                use ids::tensor_map as f;
                let name = fbb.create_string(&model.tensor(id).name);
                let start = fbb.start_table();
                fbb.push_slot_always(slot(f::NAME), name);
                fbb.push_slot::<u32>(slot(f::TENSOR_INDEX), id.0, 0);
                fbb.end_table(start)
            })
            .collect();
        fbb.create_vector(&maps)
    };
    let inputs = maps(&model.inputs);
    let outputs = maps(&model.outputs);
    use ids::signature_def as f;
    let key = fbb.create_string("serving_default");
    let start = fbb.start_table();
    fbb.push_slot_always(slot(f::INPUTS), inputs);
    fbb.push_slot_always(slot(f::OUTPUTS), outputs);
    fbb.push_slot_always(slot(f::SIGNATURE_KEY), key);
    fbb.push_slot::<u32>(slot(f::SUBGRAPH_INDEX), 0, 0);
    fbb.end_table(start)
}
