//! The Open Inference Protocol's (KServe v2) JSON: model metadata, and
//! reading and checking an inference request, with an error that names
//! what is wrong (expected against got) for each way a request can be bad.

use serde_json::{Value, json};

/// What a served model takes and returns, per sample (the batch dimension
/// is the protocol's leading -1).
#[derive(Clone, Debug)]
pub struct Signature {
    pub input_name: String,
    pub input_shape: Vec<usize>,
    /// The bound on token ids, for a model whose input is INT64 token ids.
    pub tokens: Option<usize>,
    pub outputs: Vec<(String, Vec<usize>)>,
}

impl Signature {
    pub fn sample_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    fn input_datatype(&self) -> &'static str {
        if self.tokens.is_some() {
            "INT64"
        } else {
            "FP32"
        }
    }

    pub fn metadata(&self, name: &str) -> Value {
        let shape = |dims: &[usize]| {
            std::iter::once(-1i64)
                .chain(dims.iter().map(|&d| d as i64))
                .collect::<Vec<_>>()
        };
        json!({
            "name": name,
            "versions": ["1"],
            "platform": "nnspec",
            "inputs": [{
                "name": self.input_name,
                "datatype": self.input_datatype(),
                "shape": shape(&self.input_shape),
            }],
            "outputs": self.outputs.iter().map(|(output, dims)| json!({
                "name": output,
                "datatype": "FP32",
                "shape": shape(dims),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A checked request: its samples as the arena's f32 rows.
#[derive(Debug)]
pub struct Request {
    pub id: Option<Value>,
    pub rows: Vec<f32>,
    pub samples: usize,
}

/// Reads an inference request for a model with `signature`, taking at most
/// `max_batch` samples (a batch never splits across forward passes).
pub fn parse_infer(
    body: &[u8],
    signature: &Signature,
    max_batch: usize,
) -> Result<Request, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("the request must be a JSON object with \"inputs\"")?;
    let id = object.get("id").cloned();
    if let Some(other) = id.as_ref().filter(|id| !id.is_string()) {
        return Err(format!("\"id\" must be a string, not {other}"));
    }
    let inputs = object
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or("the request has no \"inputs\" array")?;
    let [tensor] = inputs.as_slice() else {
        return Err(format!(
            "the model takes one input, `{}`; the request has {}",
            signature.input_name,
            inputs.len()
        ));
    };
    let name = tensor
        .get("name")
        .and_then(Value::as_str)
        .ok_or("the input has no \"name\" string")?;
    if name != signature.input_name {
        return Err(format!(
            "unknown input `{name}`; the model's input is `{}`",
            signature.input_name
        ));
    }
    let datatype = tensor
        .get("datatype")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("input `{name}` has no \"datatype\" string"))?;
    let expected = signature.input_datatype();
    if datatype != expected {
        return Err(format!(
            "input `{name}` has datatype {datatype}; the model takes {expected}"
        ));
    }
    let shape = read_shape(tensor, name)?;
    let samples = check_shape(&shape, signature, name)?;
    if samples > max_batch {
        return Err(format!(
            "input `{name}` has {samples} samples; this server takes at most {max_batch} per request (--max-batch)"
        ));
    }
    let data = tensor
        .get("data")
        .ok_or_else(|| format!("input `{name}` has no \"data\""))?;
    let mut flat = Vec::with_capacity(samples * signature.sample_len());
    flatten(data, &mut flat);
    let expected_len = samples * signature.sample_len();
    if flat.len() != expected_len {
        return Err(format!(
            "input `{name}` has {} values in \"data\"; its shape {shape:?} needs {expected_len}",
            flat.len()
        ));
    }
    let rows = match signature.tokens {
        Some(bound) => token_rows(&flat, bound, name)?,
        None => float_rows(&flat, name)?,
    };
    Ok(Request { id, rows, samples })
}

fn read_shape(tensor: &Value, name: &str) -> Result<Vec<usize>, String> {
    let dims = tensor
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("input `{name}` has no \"shape\" array"))?;
    dims.iter()
        .map(|d| {
            d.as_u64().map(|d| d as usize).ok_or_else(|| {
                format!("input `{name}`: shape entries are whole numbers >= 0, not {d}")
            })
        })
        .collect()
}

/// The batch size of a request shaped `shape`: `[N, ...sample shape]`.
fn check_shape(shape: &[usize], signature: &Signature, name: &str) -> Result<usize, String> {
    let expected = std::iter::once("N".to_string())
        .chain(signature.input_shape.iter().map(|d| d.to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    match shape.split_first() {
        Some((&samples, rest)) if rest == signature.input_shape.as_slice() && samples > 0 => {
            Ok(samples)
        }
        _ => Err(format!(
            "input `{name}` has shape {shape:?}; the model expects [{expected}] with N >= 1"
        )),
    }
}

/// The numbers of `data`, flat or nested as the protocol allows, in row-major
/// order; anything else is kept as a `Value` to name in the error.
fn flatten<'a>(data: &'a Value, out: &mut Vec<&'a Value>) {
    match data {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

fn float_rows(flat: &[&Value], name: &str) -> Result<Vec<f32>, String> {
    flat.iter()
        .enumerate()
        .map(|(i, v)| {
            let x = v
                .as_f64()
                .ok_or_else(|| format!("input `{name}`: data[{i}] is {v}, not a number"))?
                as f32;
            if x.is_finite() {
                Ok(x)
            } else {
                Err(format!(
                    "input `{name}`: data[{i}] = {v} is not a finite FP32 value (NaN or infinity)"
                ))
            }
        })
        .collect()
}

fn token_rows(flat: &[&Value], bound: usize, name: &str) -> Result<Vec<f32>, String> {
    flat.iter()
        .enumerate()
        .map(|(i, v)| match v.as_i64() {
            Some(id) if id >= 0 && (id as u64) < bound as u64 => Ok(id as f32),
            Some(id) => Err(format!(
                "input `{name}`: data[{i}] = {id} is not a token id in 0..{bound}"
            )),
            None => Err(format!(
                "input `{name}`: data[{i}] is {v}, not an INT64 token id"
            )),
        })
        .collect()
}

/// The response to an answered request: each output `[samples, ...]`.
pub fn infer_response(
    model: &str,
    id: Option<Value>,
    signature: &Signature,
    samples: usize,
    outputs: Vec<Vec<f32>>,
) -> Value {
    let outputs: Vec<Value> = signature
        .outputs
        .iter()
        .zip(outputs)
        .map(|((name, dims), data)| {
            let shape: Vec<usize> = std::iter::once(samples)
                .chain(dims.iter().copied())
                .collect();
            json!({"name": name, "datatype": "FP32", "shape": shape, "data": data})
        })
        .collect();
    let mut response = json!({"model_name": model, "model_version": "1", "outputs": outputs});
    if let Some(id) = id {
        response["id"] = id;
    }
    response
}
