//! Fully connected layer with `nn.Linear` conventions: weight `[out, in]`,
//! `y = x · weightᵀ + bias`. Both products go through [`sgemm`], which picks
//! kernels that read `weight` in place (no transposed copy).

use crate::gemm::{Trans, sgemm};
use crate::threads::Threads;

use super::activation::relu;
use super::elementwise::sum_rows;

/// `y [batch, out] = x [batch, in] · weightᵀ + bias`, with `weight
/// [out, in]` and `bias [out]`.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    batch: usize,
    in_features: usize,
    out_features: usize,
    par: &dyn Threads,
) {
    check_shapes(x, weight, y, batch, in_features, out_features);
    let accumulate = match bias {
        Some(bias) => {
            assert_eq!(bias.len(), out_features, "dense: bias length");
            // Starting from the bias and accumulating saves a second pass.
            for row in y.chunks_exact_mut(out_features) {
                row.copy_from_slice(bias);
            }
            true
        }
        None => false,
    };
    sgemm(
        batch,
        out_features,
        in_features,
        x,
        Trans::No,
        weight,
        Trans::Yes,
        y,
        accumulate,
        par,
    );
}

/// [`forward`] followed by `relu` in place: `y = max(x · weightᵀ + bias, 0)`.
#[allow(clippy::too_many_arguments)]
pub fn forward_relu(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    batch: usize,
    in_features: usize,
    out_features: usize,
    par: &dyn Threads,
) {
    forward(x, weight, bias, y, batch, in_features, out_features, par);
    relu::forward_inplace(y);
}

/// Gradients of [`forward`] from `dy [batch, out]`, overwriting the outputs:
/// `dweight [out, in] = dyᵀ · x`, `dbias [out] = Σ_batch dy`, and, when
/// wanted, `dx [batch, in] = dy · weight` (skip it for a layer fed by the
/// data).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    batch: usize,
    in_features: usize,
    out_features: usize,
    par: &dyn Threads,
) {
    check_shapes(x, weight, dy, batch, in_features, out_features);
    assert_eq!(dweight.len(), weight.len(), "dense: dweight length");
    sgemm(
        out_features,
        in_features,
        batch,
        dy,
        Trans::Yes,
        x,
        Trans::No,
        dweight,
        false,
        par,
    );
    if let Some(dbias) = dbias {
        assert_eq!(dbias.len(), out_features, "dense: dbias length");
        sum_rows(dy, dbias);
    }
    if let Some(dx) = dx {
        assert_eq!(dx.len(), x.len(), "dense: dx length");
        sgemm(
            batch,
            in_features,
            out_features,
            dy,
            Trans::No,
            weight,
            Trans::No,
            dx,
            false,
            par,
        );
    }
}

/// Backward of [`forward_relu`]: `dy` holds the gradient with respect to
/// the relu's output `y` and is turned in place into the gradient with
/// respect to the pre-activation (`dy · [y > 0]`); then as [`backward`].
#[allow(clippy::too_many_arguments)]
pub fn backward_relu(
    x: &[f32],
    weight: &[f32],
    y: &[f32],
    dy: &mut [f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    batch: usize,
    in_features: usize,
    out_features: usize,
    par: &dyn Threads,
) {
    relu::backward_inplace(y, dy);
    backward(
        x,
        weight,
        dy,
        dx,
        dweight,
        dbias,
        batch,
        in_features,
        out_features,
        par,
    );
}

fn check_shapes(x: &[f32], weight: &[f32], y: &[f32], batch: usize, inf: usize, outf: usize) {
    assert_eq!(x.len(), batch * inf, "dense: x must be [batch, in]");
    assert_eq!(weight.len(), outf * inf, "dense: weight must be [out, in]");
    assert_eq!(y.len(), batch * outf, "dense: y/dy must be [batch, out]");
}
