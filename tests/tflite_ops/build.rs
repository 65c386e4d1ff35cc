//! Tiny one-operator models and their inputs, built by hand.

use nnspec::codegen::tflite::model::{Op, Tensor, TensorId, TfModel};

/// A dense array in row-major order (f64 for the references).
#[derive(Clone, Debug)]
pub struct Arr {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Arr {
    pub fn new(shape: &[usize], data: Vec<f64>) -> Arr {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "{shape:?}");
        Arr {
            shape: shape.to_vec(),
            data,
        }
    }

    pub fn f32s(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }

    /// Row-major strides.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1; self.shape.len()];
        for i in (0..self.shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.shape[i + 1];
        }
        strides
    }

    pub fn map(&self, f: impl Fn(f64) -> f64) -> Arr {
        Arr::new(&self.shape, self.data.iter().map(|&v| f(v)).collect())
    }
}

/// A deterministic generator (xorshift), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi), rounded to f32 so the model sees the same value.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo + (hi - lo) * self.unit()) as f32 as f64
    }

    pub fn arr(&mut self, shape: &[usize], lo: f64, hi: f64) -> Arr {
        let n = shape.iter().product();
        Arr::new(shape, (0..n).map(|_| self.uniform(lo, hi)).collect())
    }
}

/// One model to run through LiteRT and what it must give.
pub struct OpCase {
    pub name: String,
    pub model: TfModel,
    pub inputs: Vec<Arr>,
    pub expected: Vec<Arr>,
    /// The builtin LiteRT must report running (`FULLY_CONNECTED`).
    pub op: &'static str,
    /// Allowed |got - want|: `tolerance` per unit of max(1, |want|), plus
    /// `absolute` (a quantized output's steps).
    pub tolerance: f64,
    pub absolute: f64,
}

/// Builds one model: inputs, constants, operators, outputs.
pub struct Graph {
    model: TfModel,
    inputs: Vec<Arr>,
}

impl Graph {
    pub fn new(name: &str) -> Graph {
        Graph {
            model: TfModel {
                description: "nnspec tflite_ops".into(),
                name: name.into(),
                ..TfModel::default()
            },
            inputs: Vec::new(),
        }
    }

    /// A model input holding `value`, whose axis 0 is the batch.
    pub fn input(&mut self, value: &Arr) -> TensorId {
        let name = format!("input{}", self.inputs.len());
        let id = self
            .model
            .push_tensor(Tensor::activation(name, &value.shape[1..]));
        self.model.inputs.push(id);
        self.inputs.push(value.clone());
        id
    }

    pub fn constant(&mut self, tensor: Tensor) -> TensorId {
        self.model.push_tensor(tensor)
    }

    pub fn f32_constant(&mut self, name: &str, value: &Arr) -> TensorId {
        self.constant(Tensor::f32_constant(name, &value.shape, &value.f32s()))
    }

    pub fn i32_constant(&mut self, name: &str, values: &[i32]) -> TensorId {
        self.constant(Tensor::i32_constant(name, &[values.len()], values))
    }

    /// `op` on `inputs`, giving an f32 activation of `per_sample` shape.
    pub fn op(&mut self, op: Op, inputs: Vec<Option<TensorId>>, per_sample: &[usize]) -> TensorId {
        let name = format!("t{}", self.model.tensors.len());
        self.op_to(op, inputs, Tensor::activation(name, per_sample))
    }

    /// `op` on `inputs`, giving `output`.
    pub fn op_to(&mut self, op: Op, inputs: Vec<Option<TensorId>>, output: Tensor) -> TensorId {
        let out = self.model.push_tensor(output);
        self.model.push_operator(op, inputs, vec![out]);
        out
    }

    pub fn finish(mut self, outputs: &[TensorId], expected: Vec<Arr>, op: &'static str) -> OpCase {
        self.model.outputs = outputs.to_vec();
        OpCase {
            name: self.model.name.clone(),
            model: self.model,
            inputs: self.inputs,
            expected,
            op,
            tolerance: 1e-5,
            absolute: 0.0,
        }
    }
}

/// One input, one operator, one output: the shape of most cases.
pub fn unary_case(name: &str, op: Op, x: &Arr, expected: Arr, builtin: &'static str) -> OpCase {
    let mut g = Graph::new(name);
    let input = g.input(x);
    let out = g.op(op, vec![Some(input)], &expected.shape[1..]);
    g.finish(&[out], vec![expected], builtin)
}
