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
//! Per-channel reductions are split over channels, elementwise passes over
//! images, so each thread writes a contiguous part of every output. Each
//! channel is reduced in the same order however the work is split, so the
//! results do not depend on the thread count.

use crate::threads::Threads;
use crate::threads::run_items;

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

/// Channels handled together: their sums and coefficients live on the
/// stack, and with `spatial = 1` a block of one image is a contiguous run
/// the compiler can vectorize across channels.
const BLOCK: usize = 16;

/// Below this many elements, waking threads costs more than it saves
/// (measured on two cores: a 64K-element BatchNorm2d step went from 26 to
/// 16 µs forward and 35 to 19 µs backward; at 32K there was no gain).
const MIN_PARALLEL: usize = 1 << 16;

/// `par` when the input is large enough to split, else `None` (one thread).
fn effective<'p>(g: &BatchNormGeometry, par: &'p dyn Threads) -> Option<&'p dyn Threads> {
    (g.len() >= MIN_PARALLEL && par.threads() > 1).then_some(par)
}

/// Channels per reduction item and images per elementwise item: one item
/// per thread.
fn split(g: &BatchNormGeometry, par: Option<&dyn Threads>) -> (usize, usize) {
    let threads = par.map_or(1, |p| p.threads());
    (
        g.channels.div_ceil(threads).max(1),
        g.batch.div_ceil(threads).max(1),
    )
}

/// Runs `f` on each item, spread over `par`'s threads when there is one.
fn run<I: Iterator + Send>(par: Option<&dyn Threads>, items: I, f: impl Fn(I::Item) + Sync) {
    match par {
        Some(par) => run_items(par, items, f),
        None => items.for_each(f),
    }
}

/// Per-channel sums `Σ f(i, a, b)` over batch and spatial positions for the
/// channels `c0..c0 + out.len()` (`i` indexes that block), written to `out`.
fn channel_sums(
    g: &BatchNormGeometry,
    c0: usize,
    a: &[f32],
    b: &[f32],
    f: impl Fn(usize, f64, f64) -> f64,
    out: &mut [f64],
) {
    out.fill(0.0);
    let (s, len) = (g.spatial, out.len());
    for n in 0..g.batch {
        let base = (n * g.channels + c0) * s;
        let (ra, rb) = (&a[base..base + len * s], &b[base..base + len * s]);
        if s == 1 {
            for (i, (o, (&va, &vb))) in out.iter_mut().zip(ra.iter().zip(rb)).enumerate() {
                *o += f(i, va as f64, vb as f64);
            }
            continue;
        }
        let segments = ra.chunks_exact(s).zip(rb.chunks_exact(s));
        for (i, (o, (sa, sb))) in out.iter_mut().zip(segments).enumerate() {
            // Eight accumulators let the sum vectorize in a fixed order.
            let mut acc = [0.0f64; 8];
            let (a8, a_rest) = sa.as_chunks::<8>();
            let (b8, b_rest) = sb.as_chunks::<8>();
            for (ca, cb) in a8.iter().zip(b8) {
                for l in 0..8 {
                    acc[l] += f(i, ca[l] as f64, cb[l] as f64);
                }
            }
            let tail: f64 = a_rest
                .iter()
                .zip(b_rest)
                .map(|(&x, &y)| f(i, x as f64, y as f64))
                .sum();
            *o += acc.iter().sum::<f64>() + tail;
        }
    }
}

/// `out = op(coeff(channel), a, b)` elementwise over whole images (`a`,
/// `b` and `out` hold the same images). Channel blocks are the outer loop,
/// so each channel's coefficients are computed once per call.
fn map_channels<K: Copy + Default>(
    g: &BatchNormGeometry,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    coeff: impl Fn(usize) -> K,
    op: impl Fn(K, f32, f32) -> f32,
) {
    let (c, s) = (g.channels, g.spatial);
    let img = c * s;
    let images = out.len() / img;
    for c0 in (0..c).step_by(BLOCK) {
        let c1 = (c0 + BLOCK).min(c);
        let k: [K; BLOCK] = core::array::from_fn(|i| {
            if c0 + i < c1 {
                coeff(c0 + i)
            } else {
                K::default()
            }
        });
        let len = (c1 - c0) * s;
        for n in 0..images {
            let base = n * img + c0 * s;
            let (ra, rb) = (&a[base..base + len], &b[base..base + len]);
            let ro = &mut out[base..base + len];
            if s == 1 {
                for ((o, &ki), (&va, &vb)) in ro.iter_mut().zip(&k).zip(ra.iter().zip(rb)) {
                    *o = op(ki, va, vb);
                }
                continue;
            }
            let segments = ro
                .chunks_exact_mut(s)
                .zip(ra.chunks_exact(s).zip(rb.chunks_exact(s)));
            for (&ki, (so, (sa, sb))) in k.iter().zip(segments) {
                for (o, (&va, &vb)) in so.iter_mut().zip(sa.iter().zip(sb)) {
                    *o = op(ki, va, vb);
                }
            }
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
    par: &dyn Threads,
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
    let par = effective(g, par);
    let (per_c, per_n) = split(g, par);
    let items = save_mean
        .chunks_mut(per_c)
        .zip(save_invstd.chunks_mut(per_c))
        .zip(optional_chunks(running_mean, per_c))
        .zip(optional_chunks(running_var, per_c))
        .enumerate();
    let m = momentum as f64;
    run(
        par,
        items,
        |(item, (((mean, invstd), mut rmean), mut rvar))| {
            for b0 in (0..mean.len()).step_by(BLOCK) {
                let len = BLOCK.min(mean.len() - b0);
                let c0 = item * per_c + b0;
                let mut sum = [0.0f64; BLOCK];
                channel_sums(g, c0, x, x, |_, v, _| v, &mut sum[..len]);
                let mu = sum.map(|s| s / count as f64);
                let mut sq = [0.0f64; BLOCK];
                let deviation = |i: usize, v: f64, _| (v - mu[i]) * (v - mu[i]);
                channel_sums(g, c0, x, x, deviation, &mut sq[..len]);
                for i in 0..len {
                    let var = sq[i] / count as f64;
                    mean[b0 + i] = mu[i] as f32;
                    invstd[b0 + i] = (1.0 / crate::math::sqrt(var + eps as f64)) as f32;
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

    let (save_mean, save_invstd) = (&*save_mean, &*save_invstd);
    let x_img = c * g.spatial;
    let items = x.chunks(per_n * x_img).zip(y.chunks_mut(per_n * x_img));
    run(par, items, |(xs, ys)| {
        map_channels(
            g,
            xs,
            xs,
            ys,
            |ch| (save_mean[ch], save_invstd[ch] * gamma[ch], beta[ch]),
            // Subtracting first keeps the digits that a folded
            // `x·scale + shift` would cancel away when the mean is large.
            |(mu, scale, shift), v, _| (v - mu) * scale + shift,
        );
    });
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
    par: &dyn Threads,
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
    let par = effective(g, par);
    let (_, per_n) = split(g, par);
    let x_img = c * g.spatial;
    let items = x.chunks(per_n * x_img).zip(y.chunks_mut(per_n * x_img));
    run(par, items, |(xs, ys)| {
        map_channels(
            g,
            xs,
            xs,
            ys,
            |ch| {
                let scale =
                    gamma[ch] as f64 / crate::math::sqrt(running_var[ch] as f64 + eps as f64);
                (running_mean[ch], scale as f32, beta[ch])
            },
            |(mu, scale, shift), v, _| (v - mu) * scale + shift,
        );
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
    par: &dyn Threads,
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
    let par = effective(g, par);
    let (per_c, per_n) = split(g, par);
    let items = dgamma
        .chunks_mut(per_c)
        .zip(dbeta.chunks_mut(per_c))
        .enumerate();
    run(par, items, |(item, (dg, db))| {
        for b0 in (0..dg.len()).step_by(BLOCK) {
            let len = BLOCK.min(dg.len() - b0);
            let c0 = item * per_c + b0;
            let mu: [f64; BLOCK] =
                core::array::from_fn(|i| save_mean.get(c0 + i).map_or(0.0, |&m| m as f64));
            let mut sum_dy = [0.0f64; BLOCK];
            channel_sums(g, c0, dy, dy, |_, d, _| d, &mut sum_dy[..len]);
            let mut sum_dy_xmu = [0.0f64; BLOCK];
            let dy_xmu = |i: usize, d: f64, v: f64| d * (v - mu[i]);
            channel_sums(g, c0, dy, x, dy_xmu, &mut sum_dy_xmu[..len]);
            for i in 0..len {
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
    run(par, items, |((xs, dys), dxs)| {
        map_channels(
            g,
            xs,
            dys,
            dxs,
            |ch| {
                let invstd = save_invstd[ch] as f64;
                let a = gamma[ch] as f64 * invstd;
                let mean_dy = dbeta[ch] as f64 / m;
                let k = invstd * dgamma[ch] as f64 / m;
                (save_mean[ch], a as f32, mean_dy as f32, k as f32)
            },
            |(mu, a, mean_dy, k), v, d| a * (d - mean_dy - (v - mu) * k),
        );
    });
}

/// `Some(chunk)` per chunk of `s`, or endless `None`s when there is no `s`.
fn optional_chunks(s: Option<&mut [f32]>, size: usize) -> impl Iterator<Item = Option<&mut [f32]>> {
    let mut chunks = s.map(|s| s.chunks_mut(size));
    core::iter::from_fn(move || match &mut chunks {
        Some(it) => it.next().map(Some),
        None => Some(None),
    })
}
