//! RESHAPE, TRANSPOSE, PAD, PADV2, CONCATENATION, MEAN, SUM,
//! STRIDED_SLICE, GATHER and BATCH_MATMUL, with their operands as
//! constants (shapes, permutations, paddings, axes, indices).

use nnspec::codegen::tflite::model::{Activation, Op, Tensor, TensorType};

use super::build::{Arr, Graph, OpCase, Rng};
use super::reference;

fn reshape_and_transpose(rng: &mut Rng) -> Vec<OpCase> {
    let x = rng.arr(&[3, 2, 3, 4], -2.0, 2.0);
    let mut g = Graph::new("reshape");
    let input = g.input(&x);
    // -1 stands for the batch, which the file leaves open.
    let shape = g.i32_constant("shape", &[-1, 6, 4]);
    let out = g.op(Op::Reshape, vec![Some(input), Some(shape)], &[6, 4]);
    let mut cases = vec![g.finish(
        &[out],
        vec![Arr::new(&[3, 6, 4], x.data.clone())],
        "RESHAPE",
    )];

    let mut g = Graph::new("transpose");
    let input = g.input(&x);
    let perm = g.i32_constant("perm", &[0, 3, 1, 2]);
    let out = g.op(Op::Transpose, vec![Some(input), Some(perm)], &[4, 2, 3]);
    cases.push(g.finish(
        &[out],
        vec![reference::transpose(&x, &[0, 3, 1, 2])],
        "TRANSPOSE",
    ));
    cases
}

fn pads(rng: &mut Rng) -> Vec<OpCase> {
    let x = rng.arr(&[2, 3, 4, 2], -2.0, 2.0);
    let paddings = [(0, 0), (1, 2), (0, 1), (0, 0)];
    let flat: Vec<i32> = paddings
        .iter()
        .flat_map(|&(a, b)| [a as i32, b as i32])
        .collect();
    let mut cases = Vec::new();
    for v2 in [false, true] {
        let mut g = Graph::new(if v2 { "padv2" } else { "pad" });
        let input = g.input(&x);
        let p = g.constant(Tensor::i32_constant("paddings", &[4, 2], &flat));
        let (op, inputs, value, builtin) = if v2 {
            // A rank-0 constant: has_rank tells LiteRT it is a scalar.
            let value = g.constant(Tensor::f32_constant("value", &[], &[-1.5]));
            (
                Op::PadV2,
                vec![Some(input), Some(p), Some(value)],
                -1.5,
                "PADV2",
            )
        } else {
            (Op::Pad, vec![Some(input), Some(p)], 0.0, "PAD")
        };
        let expected = reference::pad(&x, &paddings, value);
        let out = g.op(op, inputs, &expected.shape[1..]);
        cases.push(g.finish(&[out], vec![expected], builtin));
    }
    cases
}

fn concatenations(rng: &mut Rng) -> Vec<OpCase> {
    let mut cases = Vec::new();
    // LiteRT takes no fused activation here (the writer refuses one).
    let activation = Activation::None;
    for axis in [1i32, -1, 2] {
        let axis_u = axis.rem_euclid(3) as usize;
        let shapes = [[3, 2, 3], [3, 4, 3], [3, 1, 3]].map(|mut s| {
            if axis_u == 2 {
                s.swap(1, 2);
                s[1] = 2;
            }
            s
        });
        let xs: Vec<Arr> = shapes.iter().map(|s| rng.arr(s, -8.0, 8.0)).collect();
        let name = format!("concat_axis{axis}");
        let mut g = Graph::new(&name);
        let ids = xs.iter().map(|x| Some(g.input(x))).collect();
        let refs: Vec<&Arr> = xs.iter().collect();
        let expected = reference::concatenate(&refs, axis_u);
        let out = g.op(
            Op::Concatenation { axis, activation },
            ids,
            &expected.shape[1..],
        );
        cases.push(g.finish(&[out], vec![expected], "CONCATENATION"));
    }
    cases
}

fn reductions(rng: &mut Rng) -> Vec<OpCase> {
    let mut cases = Vec::new();
    let x = rng.arr(&[3, 4, 5, 2], -3.0, 3.0);
    for (mean, axes, keep_dims) in [
        (true, vec![1, 2], false),
        (true, vec![1, 2], true),
        (false, vec![2], false),
        (false, vec![1, 3], true),
    ] {
        let builtin = if mean { "MEAN" } else { "SUM" };
        let name = format!("{}_{axes:?}_{keep_dims}", builtin.to_lowercase())
            .replace([' ', ',', '[', ']'], "");
        let mut g = Graph::new(&name);
        let input = g.input(&x);
        let axes_i32: Vec<i32> = axes.iter().map(|&a| a as i32).collect();
        let a = g.i32_constant("axes", &axes_i32);
        let expected = reference::reduce(&x, &axes, keep_dims, mean);
        let op = if mean {
            Op::Mean { keep_dims }
        } else {
            Op::Sum { keep_dims }
        };
        let out = g.op(op, vec![Some(input), Some(a)], &expected.shape[1..]);
        cases.push(g.finish(&[out], vec![expected], builtin));
    }
    cases
}

fn strided_slices(rng: &mut Rng) -> Vec<OpCase> {
    let x = rng.arr(&[3, 6, 5], -3.0, 3.0);
    let mut cases = Vec::new();
    // (begin, end, strides, begin_mask, end_mask, shrink): the batch axis
    // is always masked, as the batch is not known in the file.
    type Slice = ([i32; 3], [i32; 3], [i32; 3], i32, i32, i32);
    let specs: [Slice; 3] = [
        ([0, 1, 0], [0, 5, 4], [1, 2, 1], 1, 1, 0),
        ([0, -4, 1], [0, 0, -1], [1, 1, 2], 1, 0b101, 0),
        ([0, 2, 0], [0, 3, 0], [1, 1, 1], 0b101, 0b101, 0b010),
    ];
    for (i, (begin, end, strides, begin_mask, end_mask, shrink)) in specs.into_iter().enumerate() {
        let mut g = Graph::new(&format!("strided_slice_{i}"));
        let input = g.input(&x);
        let b = g.i32_constant("begin", &begin);
        let e = g.i32_constant("end", &end);
        let s = g.i32_constant("strides", &strides);
        let wide = |v: [i32; 3]| v.map(i64::from);
        let expected = reference::strided_slice(
            &x,
            &wide(begin),
            &wide(end),
            &wide(strides),
            begin_mask,
            end_mask,
            shrink,
        );
        let op = Op::StridedSlice {
            begin_mask,
            end_mask,
            shrink_axis_mask: shrink,
        };
        let out = g.op(
            op,
            vec![Some(input), Some(b), Some(e), Some(s)],
            &expected.shape[1..],
        );
        cases.push(g.finish(&[out], vec![expected], "STRIDED_SLICE"));
    }
    cases
}

fn gathers(rng: &mut Rng) -> Vec<OpCase> {
    let x = rng.arr(&[3, 5, 4], -3.0, 3.0);
    let mut cases = Vec::new();
    for (axis, dtype) in [
        (1, TensorType::Int32),
        (2, TensorType::Int64),
        (-1, TensorType::Int32),
    ] {
        let axis_u = if axis < 0 { 2 } else { axis as usize };
        let indices: Vec<usize> = if axis_u == 1 {
            vec![4, 0, 2, 2]
        } else {
            vec![3, 1]
        };
        let data: Vec<u8> = match dtype {
            TensorType::Int64 => indices
                .iter()
                .flat_map(|&i| (i as i64).to_le_bytes())
                .collect(),
            _ => indices
                .iter()
                .flat_map(|&i| (i as i32).to_le_bytes())
                .collect(),
        };
        let mut g = Graph::new(&format!("gather_axis{axis}_{dtype:?}").to_lowercase());
        let input = g.input(&x);
        let idx = g.constant(Tensor {
            dtype,
            data: Some(data),
            ..Tensor::i32_constant("indices", &[indices.len()], &[])
        });
        let expected = reference::gather(&x, &indices, axis_u);
        let out = g.op(
            Op::Gather { axis },
            vec![Some(input), Some(idx)],
            &expected.shape[1..],
        );
        cases.push(g.finish(&[out], vec![expected], "GATHER"));
    }
    cases
}

fn batch_matmuls(rng: &mut Rng) -> Vec<OpCase> {
    let mut cases = Vec::new();
    for (adj_x, adj_y, constant_y) in [
        (false, false, false),
        (true, false, false),
        (false, true, true),
        (true, true, true),
    ] {
        let x_shape = if adj_x { [3, 4, 2] } else { [3, 2, 4] };
        let x = rng.arr(&x_shape, -2.0, 2.0);
        let name = format!("batch_matmul_{adj_x}_{adj_y}_{constant_y}");
        let mut g = Graph::new(&name);
        let ix = g.input(&x);
        let y_inner: [usize; 2] = if adj_y { [5, 4] } else { [4, 5] };
        let (y, iy) = if constant_y {
            let y = rng.arr(&y_inner, -2.0, 2.0);
            let id = g.f32_constant("y", &y);
            (y, id)
        } else {
            let y = rng.arr(&[3, y_inner[0], y_inner[1]], -2.0, 2.0);
            let id = g.input(&y);
            (y, id)
        };
        let expected = reference::batch_matmul(&x, &y, adj_x, adj_y);
        let out = g.op(
            Op::BatchMatMul { adj_x, adj_y },
            vec![Some(ix), Some(iy)],
            &expected.shape[1..],
        );
        cases.push(g.finish(&[out], vec![expected], "BATCH_MATMUL"));
    }
    cases
}

pub fn cases() -> Vec<OpCase> {
    let mut rng = Rng::new(11);
    let mut cases = reshape_and_transpose(&mut rng);
    cases.extend(pads(&mut rng));
    cases.extend(concatenations(&mut rng));
    cases.extend(reductions(&mut rng));
    cases.extend(strided_slices(&mut rng));
    cases.extend(gathers(&mut rng));
    cases.extend(batch_matmuls(&mut rng));
    cases
}
