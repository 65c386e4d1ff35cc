"""TFLite's standard model metadata of a .tflite file, read by TFLite
Support's MetadataDisplayer (an independent reader of the metadata
flatbuffer and of the packed associated files), for dslc/tests/export_tflite.rs.

    python metadata.py MODEL.tflite

Prints one JSON object: `metadata` (the displayer's JSON of the
ModelMetadata) and `files` (each packed file's name and text).
"""

import json
import sys

from tensorflow_lite_support.metadata.python import metadata


def main():
    with open(sys.argv[1], "rb") as f:
        model = f.read()
    displayer = metadata.MetadataDisplayer.with_model_buffer(model)
    files = {
        name: displayer.get_associated_file_buffer(name).decode("utf-8")
        for name in displayer.get_packed_associated_file_list()
    }
    print(json.dumps({"metadata": json.loads(displayer.get_metadata_json()), "files": files}))


if __name__ == "__main__":
    main()
