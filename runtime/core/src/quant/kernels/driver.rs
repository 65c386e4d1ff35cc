//! The blocked `u8 × i8` GEMM every tier shares: the output is cut into
//! panels of a few packed blocks (16 channels each) and, within a panel,
//! tiles of a few rows; a tier's micro-kernel computes one tile in
//! registers (`rows × blocks` accumulators, the activations of a row
//! broadcast four bytes at a time, each weight vector reused by every row
//! of the tile, as in fbgemm's and MLAS's QGEMM) and requantizes it on the
//! way out. A panel's requantization constants are gathered once and
//! serve all its tiles.
// Constant index loops over the accumulator arrays unroll into code that
// keeps every sum in a register; iterator chains did not always.
#![allow(clippy::needless_range_loop)]

use super::epilogue::Epi;
use super::{BLOCK_N, GROUP_K, PackedLayer};

/// The widest panel any tier uses, in blocks.
pub(super) const MAX_NB: usize = 8;

/// One micro-kernel call: `rows` rows from `x` times the panel's blocks
/// from `w`, requantized into `out`.
pub(super) struct Tile {
    /// The tile's first row; row `r` at `x + r·x_stride`, `k` bytes.
    pub x: *const u8,
    pub x_stride: usize,
    pub k: usize,
    /// The panel's first packed block; block `b` at `w + b·w_stride`.
    pub w: *const i8,
    pub w_stride: usize,
    /// One [`Epi`] per block of the panel.
    pub epi: *const Epi,
    /// Output `(r, j)` (`j` counted from the panel's first channel) at
    /// `out + r·out_rows + j·out_cols`.
    pub out: *mut u8,
    pub out_rows: usize,
    pub out_cols: usize,
    /// Channels of the panel that exist (the rest are padding).
    pub cols: usize,
    pub y_zp: u8,
    pub lo: u8,
}

/// A micro-kernel for one (rows, blocks) shape.
///
/// # Safety
/// Every pointer in the tile must cover what it describes.
pub(super) type TileFn = unsafe fn(&Tile);

/// A tier's micro-kernels.
pub(super) struct Kernel {
    /// Rows per tile.
    pub mr: usize,
    /// Blocks per panel for tiles of `rows` rows (never increasing in
    /// `rows`, at most [`MAX_NB`]).
    pub nb: fn(usize) -> usize,
    /// The micro-kernel for `(rows, blocks)`.
    pub tile: fn(usize, usize) -> TileFn,
}

/// Where a GEMM's output goes: element `(r, c)` at `ptr + r·rows + c·cols`.
#[derive(Clone, Copy)]
pub(super) struct Out {
    pub ptr: *mut u8,
    pub rows: usize,
    pub cols: usize,
}

/// `rows` rows of `x` (contiguous, `layer.k` each) through `layer` into
/// `out`.
///
/// # Safety
/// `x` holds `rows · layer.k` bytes, `layer`'s slices are as long as
/// [`super::check_layer`] demands, and `out` covers `rows × layer.n`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn run(
    kernel: &Kernel,
    x: &[u8],
    rows: usize,
    layer: &PackedLayer<'_>,
    x_zp: u8,
    y_zp: u8,
    lo: u8,
    out: Out,
) {
    let (n, k) = (layer.n, layer.k);
    if rows == 0 || n == 0 {
        return;
    }
    let w_stride = k.div_ceil(GROUP_K) * BLOCK_N * GROUP_K;
    let blocks = n.div_ceil(BLOCK_N);
    let nb = (kernel.nb)(rows.min(kernel.mr)).min(blocks);
    let mut epi = [Epi::ZERO; MAX_NB];
    let mut b0 = 0;
    while b0 < blocks {
        let nb_here = nb.min(blocks - b0);
        for (i, e) in epi.iter_mut().take(nb_here).enumerate() {
            *e = Epi::new(layer, b0 + i, x_zp);
        }
        let col0 = b0 * BLOCK_N;
        let mut r0 = 0;
        while r0 < rows {
            let rows_here = kernel.mr.min(rows - r0);
            let tile = Tile {
                x: x[r0 * k..].as_ptr(),
                x_stride: k,
                k,
                w: layer.packed[b0 * w_stride..].as_ptr(),
                w_stride,
                epi: epi.as_ptr(),
                out: out.ptr.wrapping_add(r0 * out.rows + col0 * out.cols),
                out_rows: out.rows,
                out_cols: out.cols,
                cols: (n - col0).min(nb_here * BLOCK_N),
                y_zp,
                lo,
            };
            // SAFETY: the tile lies inside the problem (the caller's
            // contract); `nb(rows_here) >= nb_here` as `nb` never increases.
            unsafe { (kernel.tile)(rows_here, nb_here)(&tile) };
            r0 += rows_here;
        }
        b0 += nb_here;
    }
}

/// `match (rows, blocks)` over the listed shapes, to monomorphized
/// micro-kernels.
macro_rules! pick {
    ($f:ident, $rows:expr, $nb:expr; $($mr:literal => [$($b:literal),*]);* $(;)?) => {
        match ($rows, $nb) {
            $($(($mr, $b) => $f::<$mr, $b> as $crate::quant::kernels::driver::TileFn,)*)*
            (r, b) => unreachable!("int8 micro-kernel {r}x{b}"),
        }
    };
}
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
pub(super) use pick;

/// The portable tier's micro-kernel: plain Rust the compiler vectorizes
/// for the target's baseline. Each of a group's 64 packed bytes is
/// multiplied element-wise by its row's activation (the group's four
/// bytes repeated), so the hot loop has no horizontal step; the four
/// partial sums of a channel are added once at the end (exact integers,
/// so the order does not matter).
///
/// # Safety
/// As [`TileFn`].
pub(super) unsafe fn portable_tile<const MR: usize, const NB: usize>(t: &Tile) {
    const W: usize = BLOCK_N * GROUP_K;
    let mut acc = [[[0i32; W]; NB]; MR];
    let groups = t.k.div_ceil(GROUP_K);
    for g in 0..groups {
        let mut xs = [[0i16; W]; MR];
        for (r, xr) in xs.iter_mut().enumerate() {
            let mut word = [0i16; GROUP_K];
            for (j, v) in word.iter_mut().enumerate() {
                let i = g * GROUP_K + j;
                if i < t.k {
                    // SAFETY: row r has k bytes.
                    *v = unsafe { *t.x.add(r * t.x_stride + i) } as i16;
                }
            }
            for (j, v) in xr.iter_mut().enumerate() {
                *v = word[j % GROUP_K];
            }
        }
        for b in 0..NB {
            // SAFETY: every block has `groups` groups of 64 bytes.
            let w: &[i8; W] = unsafe { &*(t.w.add(b * t.w_stride + g * W) as *const [i8; W]) };
            for r in 0..MR {
                for i in 0..W {
                    // |x·w| <= 127·127 fits i16.
                    acc[r][b][i] += (xs[r][i] * w[i] as i16) as i32;
                }
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        for (b, acc_rb) in acc_r.iter().enumerate() {
            // SAFETY: one Epi per block of the panel.
            let e = unsafe { &*t.epi.add(b) };
            for lane in 0..BLOCK_N {
                let j = b * BLOCK_N + lane;
                if j < t.cols {
                    let sum = acc_rb[lane * GROUP_K..][..GROUP_K].iter().sum();
                    // SAFETY: the output covers the tile's valid channels.
                    unsafe {
                        *t.out.add(r * t.out_rows + j * t.out_cols) =
                            e.finish(lane, sum, t.y_zp, t.lo)
                    };
                }
            }
        }
    }
}

pub(super) static PORTABLE: Kernel = Kernel {
    mr: 2,
    nb: |rows| if rows == 1 { 2 } else { 1 },
    tile: |rows, nb| pick!(portable_tile, rows, nb; 1 => [1, 2]; 2 => [1]),
};
