//! The activations, the unary maths, the binary operators with
//! broadcasting, SOFTMAX, LOG_SOFTMAX, QUANTIZE and DEQUANTIZE.

pub fn cases() -> Vec<super::build::OpCase> {
    Vec::new()
}
