//! What an application needs to use a `.tflite` file alone, in TFLite's
//! standard model metadata: the `TFLITE_METADATA` buffer, a
//! `ModelMetadata` flatbuffer (file identifier `M001`) that Android
//! Studio's ML model binding, the TFLite Support and Task libraries and
//! `MetadataDisplayer` read. It names the model and its tensors, says how
//! raw input values are normalized (`NormalizationOptions`: `(x - mean) /
//! std`) and their range, whether the input is an image, and points the
//! output at a label file, packed into the model file as TFLite's
//! metadata populator does: a zip archive appended to the flatbuffer
//! ([`append_files`]), which the flatbuffer's readers ignore.
//!
//! The tables and field ids are those of TFLite Support's
//! `metadata_schema.fbs` (version 1.0.0 of its parser covers every field
//! written here): fields are numbered in declaration order, a union
//! takes two (its type byte, then its table).

use std::io::{Cursor, Seek, SeekFrom, Write};

use flatbuffers::{FlatBufferBuilder, TableFinishedWIPOffset, WIPOffset};

/// The name of the model's metadata entry that holds the flatbuffer.
pub const METADATA_NAME: &str = "TFLITE_METADATA";

/// The oldest metadata parser that reads every field written here.
const MIN_PARSER_VERSION: &str = "1.0.0";

/// The model as an application sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppMetadata {
    pub name: String,
    pub description: String,
    pub version: String,
    pub author: String,
    pub license: String,
    pub inputs: Vec<InputMetadata>,
    pub outputs: Vec<OutputMetadata>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct InputMetadata {
    pub name: String,
    pub description: String,
    /// An image input's size and colours; `None` for a feature vector.
    pub image: Option<ImageMetadata>,
    /// `(x - mean) / std` per channel on raw values, as the model was
    /// trained; `None` when raw values go in as they are.
    pub normalization: Option<(Vec<f32>, Vec<f32>)>,
    /// The normalized input's range (`Stats`: min, max).
    pub range: Option<(f32, f32)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageMetadata {
    pub width: u32,
    pub height: u32,
    /// Grey (one channel) or RGB (three).
    pub grayscale: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputMetadata {
    pub name: String,
    pub description: String,
    /// The name of the packed label file (one class name per line, in
    /// output order), as `TENSOR_AXIS_LABELS`.
    pub labels_file: Option<String>,
}

type Table = WIPOffset<TableFinishedWIPOffset>;

/// Field `id`'s vtable slot.
const fn slot(id: u16) -> u16 {
    4 + 2 * id
}

// Enum values of metadata_schema.fbs.
const COLOR_SPACE_RGB: i8 = 1;
const COLOR_SPACE_GRAYSCALE: i8 = 2;
const CONTENT_FEATURE_PROPERTIES: u8 = 1;
const CONTENT_IMAGE_PROPERTIES: u8 = 2;
const PROCESS_UNIT_NORMALIZATION: u8 = 1;
const FILE_TENSOR_AXIS_LABELS: i8 = 2;

/// The `ModelMetadata` flatbuffer of `metadata`, identifier `M001`.
pub fn model_metadata(metadata: &AppMetadata) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let inputs: Vec<Table> = metadata.inputs.iter().map(|i| input(&mut fbb, i)).collect();
    let outputs: Vec<Table> = metadata
        .outputs
        .iter()
        .map(|o| output(&mut fbb, o))
        .collect();
    let inputs = fbb.create_vector(&inputs);
    let outputs = fbb.create_vector(&outputs);
    // SubGraphMetadata: name 0, description 1, input_tensor_metadata 2,
    // output_tensor_metadata 3.
    let subgraph_name = fbb.create_string(&metadata.name);
    let start = fbb.start_table();
    fbb.push_slot_always(slot(0), subgraph_name);
    fbb.push_slot_always(slot(2), inputs);
    fbb.push_slot_always(slot(3), outputs);
    let subgraph = fbb.end_table(start);
    let subgraphs = fbb.create_vector(&[subgraph]);
    // ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3,
    // author 4, license 5, associated_files 6, min_parser_version 7.
    let strings: Vec<(u16, WIPOffset<&str>)> = [
        (0, &metadata.name),
        (1, &metadata.description),
        (2, &metadata.version),
        (4, &metadata.author),
        (5, &metadata.license),
    ]
    .into_iter()
    .filter(|(_, s)| !s.is_empty())
    .map(|(id, s)| (id, fbb.create_string(s)))
    .collect();
    let min_parser = fbb.create_string(MIN_PARSER_VERSION);
    let start = fbb.start_table();
    for (id, string) in strings {
        fbb.push_slot_always(slot(id), string);
    }
    fbb.push_slot_always(slot(3), subgraphs);
    fbb.push_slot_always(slot(7), min_parser);
    let root = fbb.end_table(start);
    fbb.finish(root, Some("M001"));
    fbb.finished_data().to_vec()
}

/// TensorMetadata: name 0, description 1, dimension_names 2, content 3,
/// process_units 4, stats 5, associated_files 6.
fn input<'a>(fbb: &mut FlatBufferBuilder<'a>, input: &InputMetadata) -> Table {
    let name = fbb.create_string(&input.name);
    let description = fbb.create_string(&input.description);
    let content = content(fbb, input.image);
    let process_units = input.normalization.as_ref().map(|(mean, std)| {
        let mean = fbb.create_vector(mean);
        let std = fbb.create_vector(std);
        // NormalizationOptions: mean 0, std 1.
        let start = fbb.start_table();
        fbb.push_slot_always(slot(0), mean);
        fbb.push_slot_always(slot(1), std);
        let options = fbb.end_table(start);
        // ProcessUnit: options_type 0, options 1.
        let start = fbb.start_table();
        fbb.push_slot_always(slot(0), PROCESS_UNIT_NORMALIZATION);
        fbb.push_slot_always(slot(1), options.as_union_value());
        let unit = fbb.end_table(start);
        fbb.create_vector(&[unit])
    });
    let stats = input.range.map(|(min, max)| {
        let max = fbb.create_vector(&[max]);
        let min = fbb.create_vector(&[min]);
        // Stats: max 0, min 1.
        let start = fbb.start_table();
        fbb.push_slot_always(slot(0), max);
        fbb.push_slot_always(slot(1), min);
        fbb.end_table(start)
    });
    let start = fbb.start_table();
    fbb.push_slot_always(slot(0), name);
    fbb.push_slot_always(slot(1), description);
    fbb.push_slot_always(slot(3), content);
    if let Some(units) = process_units {
        fbb.push_slot_always(slot(4), units);
    }
    if let Some(stats) = stats {
        fbb.push_slot_always(slot(5), stats);
    }
    fbb.end_table(start)
}

/// Content: content_properties_type 0, content_properties 1, range 2.
fn content<'a>(fbb: &mut FlatBufferBuilder<'a>, image: Option<ImageMetadata>) -> Table {
    let (kind, properties) = match image {
        Some(image) => {
            // ImageSize: width 0, height 1.
            let start = fbb.start_table();
            fbb.push_slot_always(slot(0), image.width);
            fbb.push_slot_always(slot(1), image.height);
            let size = fbb.end_table(start);
            // ImageProperties: color_space 0, default_size 1.
            let colours = if image.grayscale {
                COLOR_SPACE_GRAYSCALE
            } else {
                COLOR_SPACE_RGB
            };
            let start = fbb.start_table();
            fbb.push_slot_always(slot(0), colours);
            fbb.push_slot_always(slot(1), size);
            (CONTENT_IMAGE_PROPERTIES, fbb.end_table(start))
        }
        None => {
            // FeatureProperties has no fields.
            let start = fbb.start_table();
            (CONTENT_FEATURE_PROPERTIES, fbb.end_table(start))
        }
    };
    let start = fbb.start_table();
    fbb.push_slot_always(slot(0), kind);
    fbb.push_slot_always(slot(1), properties.as_union_value());
    fbb.end_table(start)
}

fn output<'a>(fbb: &mut FlatBufferBuilder<'a>, output: &OutputMetadata) -> Table {
    let name = fbb.create_string(&output.name);
    let description = fbb.create_string(&output.description);
    let content = content(fbb, None);
    let files = output.labels_file.as_ref().map(|file| {
        let file = fbb.create_string(file);
        let description = fbb.create_string("the class names, one per line, in output order");
        // AssociatedFile: name 0, description 1, type 2.
        let start = fbb.start_table();
        fbb.push_slot_always(slot(0), file);
        fbb.push_slot_always(slot(1), description);
        fbb.push_slot_always(slot(2), FILE_TENSOR_AXIS_LABELS);
        let file = fbb.end_table(start);
        fbb.create_vector(&[file])
    });
    let start = fbb.start_table();
    fbb.push_slot_always(slot(0), name);
    fbb.push_slot_always(slot(1), description);
    fbb.push_slot_always(slot(3), content);
    if let Some(files) = files {
        fbb.push_slot_always(slot(6), files);
    }
    fbb.end_table(start)
}

/// `tflite` with `files` packed after it in a zip archive (stored, not
/// compressed, offsets from the start of the file), as TFLite's metadata
/// populator packs associated files.
pub fn append_files(tflite: Vec<u8>, files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    if files.is_empty() {
        return Ok(tflite);
    }
    let mut cursor = Cursor::new(tflite);
    cursor.seek(SeekFrom::End(0))?;
    let mut zip = zip::ZipWriter::new(cursor);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, contents) in files {
        zip.start_file(*name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(contents)?;
    }
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_files_are_a_zip_after_the_model() {
        let model = b"not really a flatbuffer".to_vec();
        let packed = append_files(model.clone(), &[("labels.txt", b"cat\ndog\n")]).unwrap();
        assert_eq!(&packed[..model.len()], &model[..]);
        let mut archive = zip::ZipArchive::new(Cursor::new(&packed)).unwrap();
        let mut labels = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("labels.txt").unwrap(), &mut labels)
            .unwrap();
        assert_eq!(labels, "cat\ndog\n");
        assert_eq!(append_files(model.clone(), &[]).unwrap(), model);
    }

    #[test]
    fn metadata_is_identified_and_rooted() {
        let bytes = model_metadata(&AppMetadata {
            name: "LeNet".into(),
            ..AppMetadata::default()
        });
        assert_eq!(&bytes[4..8], b"M001");
        // The root offset points inside the buffer, at a table whose
        // vtable is inside too.
        let root = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert!(root + 4 <= bytes.len());
    }
}
