//! Batch normalization with PyTorch `nn.BatchNorm1d` / `nn.BatchNorm2d`
//! semantics.
//!
//! Both are viewed as `[batch, channels, spatial]`: BatchNorm1d on
//! `[batch, features]` has `spatial = 1` (PyTorch's `[N, C, L]` form has
//! `spatial = L`), BatchNorm2d on `[N, C, H, W]` has `spatial = H·W`.
//! Statistics are per channel over the batch and spatial positions, summed
//! in f64 with two passes (mean, then squared deviations) so that large
//! means do not swamp the variance.
//!
//! Per-channel reductions are split over channel blocks, elementwise passes
//! over images, so both touch contiguous memory for either layout.

use crate::kernels::conv2d::run_items;
use crate::parallel::Parallel;

/// The `[batch, channels, spatial]` view of a batch-norm input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchNormGeometry {
    pub batch: usize,
    pub channels: usize,
    /// Elements per (image, channel): 1 for BatchNorm1d on `[N, C]`, `H·W`
    /// for BatchNorm2d.
    pub spatial: usize,
}

impl BatchNormGeometry {
    /// Elements of `x`, `y`, `dx`, `dy`: `batch·channels·spatial`.
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values each channel's statistics are taken over: `batch·spatial`.
    fn count(&self) -> usize {
        self.batch * self.spatial
    }
}

/// Channels per reduction block: their running sums stay in registers or on
/// the stack, and with `spatial = 1` one block reads whole cache lines of a
/// row.
const BLOCK: usize = 16;

/// Below this many elements, waking threads costs more than it saves.
const MIN_PARALLEL: usize = 1 << 15;

fn threads_for(g: &BatchNormGeometry, par: &Parallel) -> usize {
    if g.len() < MIN_PARALLEL {
        1
    } else {
        par.threads()
    }
}

/// Channels per reduction item (a multiple of [`BLOCK`] unless it is all
/// channels) and images per elementwise item.
fn split(g: &BatchNormGeometry, par: &Parallel) -> (usize, usize) {
    let threads = threads_for(g, par);
    let channels = if threads == 1 {
        g.channels
    } else {
        g.channels
            .div_ceil(threads)
            .next_multiple_of(BLOCK)
            .min(g.channels)
    };
    (channels.max(1), g.batch.div_ceil(threads).max(1))
}

/// `Σ f(a[i], b[i])` in f64 with eight independent accumulators, so the
/// sum vectorizes without reassociating anyone's rounding.
fn sum_f64(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    for (ca, cb) in a8.iter().zip(b8) {
        for l in 0..8 {
            acc[l] += f(ca[l] as f64, cb[l] as f64);
        }
    }
    let tail: f64 = a_rest
        .iter()
        .zip(b_rest)
        .map(|(&x, &y)| f(x as f64, y as f64))
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// Per-channel sums `Σ f(a, b)` over batch and spatial positions for the
/// channels `c0..c0 + out.len()`, written to `out`.
fn channel_sums(
    g: &BatchNormGeometry,
    c0: usize,
    a: &[f32],
    b: &[f32],
    f: impl Fn(usize, f64, f64) -> f64,
    out: &mut [f64],
) {
    out.fill(0.0);
    let s = g.spatial;
    for n in 0..g.batch {
        let base = (n * g.channels + c0) * s;
        for (i, o) in out.iter_mut().enumerate() {
            let range = base + i * s..base + (i + 1) * s;
            *o += sum_f64(&a[range.clone()], &b[range], |x, y| f(i, x, y));
        }
    }
}

/// Training-mode forward: normalizes with the batch statistics.
///
/// Shapes: `x`, `y` `[batch, channels, spatial]` (`y` overwritten); `gamma`,
/// `beta`, `save_mean`, `save_invstd` `[channels]`. `y = (x - mean)·invstd·
/// gamma + beta` with the biased batch variance, `invstd = 1/√(var + eps)`.
/// `save_mean` and `save_invstd` receive the batch mean and `invstd` for
/// [`batch_norm_backward`]. For an affine-free layer pass ones and zeros.
///
/// `running` is `(running_mean, running_var)`, each `[channels]`, updated in
/// place as `running = (1 - momentum)·running + momentum·stat` with the
/// *unbiased* batch variance, as PyTorch; `None` for a layer created with
/// `track_running_stats=False`. PyTorch's `momentum=None` (cumulative
/// average) is `momentum = 1/num_batches_tracked`, counted by the caller.
///
/// Panics if a channel has a single value (`batch·spatial == 1`), which
/// PyTorch refuses in training too.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_train(
    g: &BatchNormGeometry,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    momentum: f32,
    running: Option<(&mut [f32], &mut [f32])>,
    y: &mut [f32],
    save_mean: &mut [f32],
    save_invstd: &mut [f32],
    par: &Parallel,
) {
    let c = g.channels;
    assert_eq!(x.len(), g.len(), "batch_norm_forward_train: x length");
    assert_eq!(y.len(), g.len(), "batch_norm_forward_train: y length");
    for (what, len) in [
        ("gamma", gamma.len()),
        ("beta", beta.len()),
        ("save_mean", save_mean.len()),
        ("save_invstd", save_invstd.len()),
    ] {
        assert_eq!(len, c, "batch_norm_forward_train: {what} length");
    }
    let count = g.count();
    assert!(
        count > 1 || c == 0,
        "batch_norm_forward_train: expected more than 1 value per channel when training"
    );
    if c == 0 {
        return;
    }
    let (running_mean, running_var) = match running {
        Some((m, v)) => {
            assert_eq!(m.len(), c, "batch_norm_forward_train: running_mean length");
            assert_eq!(v.len(), c, "batch_norm_forward_train: running_var length");
            (Some(m), Some(v))
        }
        None => (None, None),
    };
    let (per_c, per_n) = split(g, par);
    let items = save_mean
        .chunks_mut(per_c)
        .zip(save_invstd.chunks_mut(per_c))
        .zip(optional_chunks(running_mean, per_c))
        .zip(optional_chunks(running_var, per_c))
        .enumerate();
    let stat_par = if threads_for(g, par) == 1 {
        &Parallel::single()
    } else {
        par
    };
    run_items(
        stat_par,
        items,
        |(item, (((mean, invstd), mut rmean), mut rvar))| {
            let item_c0 = item * per_c;
            for b0 in (0..mean.len()).step_by(BLOCK) {
                let b1 = (b0 + BLOCK).min(mean.len());
                let c0 = item_c0 + b0;
                let mut sum = [0.0f64; BLOCK];
                channel_sums(g, c0, x, x, |_, v, _| v, &mut sum[..b1 - b0]);
                let mut mu = [0.0f64; BLOCK];
                for (m, s) in mu.iter_mut().zip(&sum) {
                    *m = s / count as f64;
                }
                let mut sq = [0.0f64; BLOCK];
                channel_sums(
                    g,
                    c0,
                    x,
                    x,
                    |i, v, _| (v - mu[i]) * (v - mu[i]),
                    &mut sq[..b1 - b0],
                );
                for i in 0..b1 - b0 {
                    let var = sq[i] / count as f64;
                    mean[b0 + i] = mu[i] as f32;
                    invstd[b0 + i] = (1.0 / (var + eps as f64).sqrt()) as f32;
                    let m = momentum as f64;
                    if let Some(rm) = rmean.as_deref_mut() {
                        rm[b0 + i] = ((1.0 - m) * rm[b0 + i] as f64 + m * mu[i]) as f32;
                    }
                    if let Some(rv) = rvar.as_deref_mut() {
                        let unbiased = sq[i] / (count - 1) as f64;
                        rv[b0 + i] = ((1.0 - m) * rv[b0 + i] as f64 + m * unbiased) as f32;
                    }
                }
            }
        },
    );
    normalize(g, x, save_mean, save_invstd, gamma, beta, y, per_n, par);
}

/// Eval-mode forward: normalizes with the running statistics.
///
/// Shapes: `x`, `y` `[batch, channels, spatial]` (`y` overwritten); `gamma`,
/// `beta`, `running_mean`, `running_var` `[channels]`.
/// `y = (x - running_mean)/√(running_var + eps)·gamma + beta`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_eval(
    g: &BatchNormGeometry,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    eps: f32,
    y: &mut [f32],
    par: &Parallel,
) {
    let c = g.channels;
    assert_eq!(x.len(), g.len(), "batch_norm_forward_eval: x length");
    assert_eq!(y.len(), g.len(), "batch_norm_forward_eval: y length");
    for (what, len) in [
        ("gamma", gamma.len()),
        ("beta", beta.len()),
        ("running_mean", running_mean.len()),
        ("running_var", running_var.len()),
    ] {
        assert_eq!(len, c, "batch_norm_forward_eval: {what} length");
    }
    if g.is_empty() {
        return;
    }
    let (_, per_n) = split(g, par);
    let x_img = c * g.spatial;
    let items = x.chunks(per_n * x_img).zip(y.chunks_mut(per_n * x_img));
    let par = if threads_for(g, par) == 1 {
        &Parallel::single()
    } else {
        par
    };
    run_items(par, items, |(xs, ys)| {
        for (xn, yn) in xs.chunks_exact(x_img).zip(ys.chunks_exact_mut(x_img)) {
            let segments = xn
                .chunks_exact(g.spatial)
                .zip(yn.chunks_exact_mut(g.spatial));
            for (ch, (xs, ys)) in segments.enumerate() {
                let scale =
                    (gamma[ch] as f64 / (running_var[ch] as f64 + eps as f64).sqrt()) as f32;
                let (mu, shift) = (running_mean[ch], beta[ch]);
                for (o, &v) in ys.iter_mut().zip(xs) {
                    *o = (v - mu) * scale + shift;
                }
            }
        }
    });
}

/// `y = (x - mean)·(invstd·gamma) + beta` for every element.
#[allow(clippy::too_many_arguments)]
fn normalize(
    g: &BatchNormGeometry,
    x: &[f32],
    mean: &[f32],
    invstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    per_n: usize,
    par: &Parallel,
) {
    let x_img = g.channels * g.spatial;
    let items = x.chunks(per_n * x_img).zip(y.chunks_mut(per_n * x_img));
    let par = if threads_for(g, par) == 1 {
        &Parallel::single()
    } else {
        par
    };
    run_items(par, items, |(xs, ys)| {
        for (xn, yn) in xs.chunks_exact(x_img).zip(ys.chunks_exact_mut(x_img)) {
            let segments = xn
                .chunks_exact(g.spatial)
                .zip(yn.chunks_exact_mut(g.spatial));
            for (ch, (xs, ys)) in segments.enumerate() {
                let (mu, scale, shift) = (mean[ch], invstd[ch] * gamma[ch], beta[ch]);
                for (o, &v) in ys.iter_mut().zip(xs) {
                    *o = (v - mu) * scale + shift;
                }
            }
        }
    });
}

/// Gradients of [`batch_norm_forward_train`] given `dy = dL/dy`.
///
/// Shapes: `x`, `dy`, `dx` `[batch, channels, spatial]`; `gamma`,
/// `save_mean`, `save_invstd`, `dgamma`, `dbeta` `[channels]`. `save_mean`
/// and `save_invstd` are what the forward saved. `dx`, `dgamma` and `dbeta`
/// are overwritten: `dbeta = Σ dy`, `dgamma = Σ dy·x̂` and
/// `dx = gamma·invstd·(dy - dbeta/M - x̂·dgamma/M)` with `x̂ = (x - mean)·invstd`
/// and `M = batch·spatial`, the batch statistics being functions of `x`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    g: &BatchNormGeometry,
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    save_mean: &[f32],
    save_invstd: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    par: &Parallel,
) {
    let c = g.channels;
    for (what, len) in [("x", x.len()), ("dy", dy.len()), ("dx", dx.len())] {
        assert_eq!(len, g.len(), "batch_norm_backward: {what} length");
    }
    for (what, len) in [
        ("gamma", gamma.len()),
        ("save_mean", save_mean.len()),
        ("save_invstd", save_invstd.len()),
        ("dgamma", dgamma.len()),
        ("dbeta", dbeta.len()),
    ] {
        assert_eq!(len, c, "batch_norm_backward: {what} length");
    }
    if g.is_empty() {
        dgamma.fill(0.0);
        dbeta.fill(0.0);
        return;
    }
    let (per_c, per_n) = split(g, par);
    let par = if threads_for(g, par) == 1 {
        &Parallel::single()
    } else {
        par
    };
    let items = dgamma
        .chunks_mut(per_c)
        .zip(dbeta.chunks_mut(per_c))
        .enumerate();
    run_items(par, items, |(item, (dg, db))| {
        let item_c0 = item * per_c;
        for b0 in (0..dg.len()).step_by(BLOCK) {
            let b1 = (b0 + BLOCK).min(dg.len());
            let c0 = item_c0 + b0;
            let mu: [f64; BLOCK] =
                std::array::from_fn(|i| save_mean.get(c0 + i).map_or(0.0, |&m| m as f64));
            let mut sum_dy = [0.0f64; BLOCK];
            channel_sums(g, c0, dy, dy, |_, d, _| d, &mut sum_dy[..b1 - b0]);
            let mut sum_dy_xmu = [0.0f64; BLOCK];
            channel_sums(
                g,
                c0,
                dy,
                x,
                |i, d, v| d * (v - mu[i]),
                &mut sum_dy_xmu[..b1 - b0],
            );
            for i in 0..b1 - b0 {
                db[b0 + i] = sum_dy[i] as f32;
                dg[b0 + i] = (sum_dy_xmu[i] * save_invstd[c0 + i] as f64) as f32;
            }
        }
    });

    let m = g.count() as f64;
    let x_img = c * g.spatial;
    let items = x
        .chunks(per_n * x_img)
        .zip(dy.chunks(per_n * x_img))
        .zip(dx.chunks_mut(per_n * x_img));
    let (dgamma, dbeta) = (&*dgamma, &*dbeta);
    run_items(par, items, |((xs, dys), dxs)| {
        let images = xs.chunks_exact(x_img).zip(dys.chunks_exact(x_img));
        for ((xn, dyn_), dxn) in images.zip(dxs.chunks_exact_mut(x_img)) {
            let segments = xn.chunks_exact(g.spatial).zip(dyn_.chunks_exact(g.spatial));
            for (ch, ((xs, dys), dxs)) in segments.zip(dxn.chunks_exact_mut(g.spatial)).enumerate()
            {
                let invstd = save_invstd[ch] as f64;
                let a = (gamma[ch] as f64 * invstd) as f32;
                let mean_dy = (dbeta[ch] as f64 / m) as f32;
                let k = (invstd * dgamma[ch] as f64 / m) as f32;
                let mu = save_mean[ch];
                for ((o, &v), &d) in dxs.iter_mut().zip(xs).zip(dys) {
                    *o = a * (d - mean_dy - (v - mu) * k);
                }
            }
        }
    });
}

/// `Some(chunk)` per chunk of `s`, or endless `None`s when there is no `s`.
fn optional_chunks(s: Option<&mut [f32]>, size: usize) -> impl Iterator<Item = Option<&mut [f32]>> {
    let mut chunks = s.map(|s| s.chunks_mut(size));
    std::iter::from_fn(move || match &mut chunks {
        Some(it) => it.next().map(Some),
        None => Some(None),
    })
}
