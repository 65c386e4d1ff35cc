//! `dslc export --format tflite`: the model as a `.tflite` file, f32 or
//! (`--int8`) TFLite's full-integer scheme, with TFLite's standard
//! metadata so an application can use the file alone: the model's and
//! tensors' names, the input's normalization and range, whether it is an
//! image, and the class names (`--labels`) packed as `labels.txt`.

use nnspec_codegen::onnx::Provenance;
use nnspec_codegen::tflite::{self, TfModel, metadata};
use nnspec_dsl::ir;
use nnspec_runtime::data::Normalization;

/// What the metadata says beyond the model itself.
pub struct AppInfo<'a> {
    pub provenance: &'a Provenance<'a>,
    /// How raw input values were scaled in training; `None` when unknown
    /// (an export of initial weights) or none.
    pub normalization: Option<Normalization>,
    /// The class names, one per output value.
    pub labels: Option<Vec<String>>,
    pub int8: bool,
}

/// The `.tflite` bytes of `model` with its metadata and packed label file.
pub fn file_bytes(model: &ir::Model, mut tf: TfModel, info: &AppInfo) -> Result<Vec<u8>, String> {
    let app = app_metadata(model, info);
    tf.metadata.push((
        metadata::METADATA_NAME.to_string(),
        metadata::model_metadata(&app),
    ));
    let bytes = tflite::to_bytes(&tf).map_err(|e| e.to_string())?;
    let labels = info.labels.as_ref().map(|labels| {
        let mut text = labels.join("\n");
        text.push('\n');
        text
    });
    let files: Vec<(&str, &[u8])> = labels
        .as_deref()
        .map(|text| (LABELS_FILE, text.as_bytes()))
        .into_iter()
        .collect();
    metadata::append_files(bytes, &files).map_err(|e| format!("cannot pack {LABELS_FILE}: {e}"))
}

const LABELS_FILE: &str = "labels.txt";

fn app_metadata(model: &ir::Model, info: &AppInfo) -> metadata::AppMetadata {
    let provenance = info.provenance;
    let scheme = if info.int8 {
        "int8 (TFLite full-integer: int8 activations, per-channel int8 weights; f32 input and \
         output)"
    } else {
        "f32"
    };
    let description = format!(
        "model `{}` from {} (sha256 {}), weights: {}; {scheme}; exported by nnspec {}",
        model.name,
        provenance.source_file,
        nnspec_codegen::onnx::sha256_hex(provenance.source),
        provenance.weights,
        env!("CARGO_PKG_VERSION"),
    );
    let inputs = model
        .inputs
        .iter()
        .map(|&id| input_metadata(model.value(id), info.normalization))
        .collect();
    let outputs = model
        .outputs
        .iter()
        .enumerate()
        .map(|(index, output)| {
            let dims = model.value(output.value).shape.dims().to_vec();
            metadata::OutputMetadata {
                name: output.name.clone(),
                description: format!("per sample {dims:?}"),
                labels_file: (index == 0 && info.labels.is_some()).then(|| LABELS_FILE.into()),
            }
        })
        .collect();
    metadata::AppMetadata {
        name: model.name.clone(),
        description,
        version: String::new(),
        author: String::new(),
        license: String::new(),
        inputs,
        outputs,
    }
}

fn input_metadata(
    value: &ir::Value,
    normalization: Option<Normalization>,
) -> metadata::InputMetadata {
    let dims = value.shape.dims();
    let name = value.binding.clone().unwrap_or_else(|| value.layer.clone());
    // `[C, H, W]` with grey or RGB channels is an image an app can feed.
    let image = match *dims {
        [channels @ (1 | 3), height, width] => Some(metadata::ImageMetadata {
            width: width as u32,
            height: height as u32,
            grayscale: channels == 1,
        }),
        _ => None,
    };
    let channels = if dims.len() == 3 { dims[0] } else { 1 };
    let layout = match dims.len() {
        3 => format!(" (nnspec's [C, H, W] = {dims:?}), fed NHWC [batch, H, W, C]"),
        2 => format!(" (nnspec's [C, L] = {dims:?}), fed [batch, L, C]"),
        _ => format!(" {dims:?}, fed [batch, ...]"),
    };
    // (x / scale - mean) / std on raw x is (x - mean * scale) / (std * scale):
    // TFLite's NormalizationOptions on raw values.
    let (normalization, range) = match normalization {
        Some(Normalization::Standardize { scale, mean, std }) => (
            Some((vec![mean * scale; channels], vec![std * scale; channels])),
            Some((-mean / std, (1.0 - mean) / std)),
        ),
        Some(Normalization::Scale { max }) => (
            Some((vec![0.0; channels], vec![max; channels])),
            Some((0.0, 1.0)),
        ),
        Some(Normalization::None) | None => (None, None),
    };
    let how = match &normalization {
        Some((mean, std)) => format!("; normalize raw values as (x - {}) / {}", mean[0], std[0]),
        None => String::new(),
    };
    metadata::InputMetadata {
        name,
        description: format!("the model's input{layout}{how}"),
        image,
        normalization,
        range,
    }
}

/// The class names in `path`, one per line (trailing blank lines
/// ignored), which must number the first output's values.
pub fn read_labels(path: &std::path::Path, model: &ir::Model) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| format!("{}: not UTF-8 text ({e})", path.display()))?;
    let mut labels: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    while labels.last().is_some_and(|l| l.trim().is_empty()) {
        labels.pop();
    }
    let Some(output) = model.outputs.first() else {
        return Err(format!("model `{}` has no output to label", model.name));
    };
    let classes: usize = model.value(output.value).shape.dims().iter().product();
    if labels.len() != classes {
        return Err(format!(
            "{}: {} class name{} for output `{}`, which has {classes} value{} per sample",
            path.display(),
            labels.len(),
            if labels.len() == 1 { "" } else { "s" },
            output.name,
            if classes == 1 { "" } else { "s" },
        ));
    }
    if let Some(line) = labels.iter().position(|l| l.trim().is_empty()) {
        return Err(format!(
            "{} line {}: an empty class name",
            path.display(),
            line + 1
        ));
    }
    Ok(labels)
}
