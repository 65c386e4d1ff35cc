//! Single-precision matrix multiply, the operation most of training time is spent in.
//!
//! Everything above this module calls [`sgemm`] only; which implementation sits
//! underneath follows the kernel tier ([`crate::cpu::tier`]) and was decided
//! by measurement (bench/README.md, "Matrix multiply"):
//!
//! * AVX-512 and AVX2 tiers: our own kernels (`avx512.rs`, `avx2.rs`), with no
//!   packing: an outer-product kernel (rows of `op(a)` broadcast against
//!   vectors of a row of `op(b)`) when `op(b)` has contiguous rows, and a
//!   dot-product kernel (vectors along `k`, reduced at the end) when both
//!   operands are contiguous along `k`, which is the `x · Wᵀ` of a dense
//!   layer. At the batch-100 shapes of a small network the packing that
//!   general libraries do costs as much as it saves.
//! * Portable tier: the `gemm` crate (`portable.rs`), one single-threaded
//!   call per thread; without the `std` feature (deploy builds), a
//!   plain-Rust kernel the compiler vectorizes (`Backend::Plain`).
//!
//! Either way the output is split into one block per thread of the caller's
//! [`Threads`], so no second thread pool competes for the cores.

use crate::cpu::{self, Tier};
use crate::threads::{Threads, split_range_aligned};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;
mod windows;

pub use windows::{sgemm_windows_nn, sgemm_windows_nt, windows_supported};

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    No,
    Yes,
}

/// Which implementation runs a product; only benchmarks and tests need
/// anything but [`Backend::Auto`]. A tier this CPU lacks runs the best one
/// it has instead (its instructions would fault).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The process's kernel tier, [`cpu::tier`].
    Auto,
    /// Our AVX-512 kernels.
    Avx512,
    /// Our AVX2 + FMA kernels.
    Avx2,
    /// The portable tier: the `gemm` crate, single-threaded per block of our
    /// own split.
    Portable,
    /// The `gemm` crate driving its own rayon pool (the first wrapper, kept
    /// for the benchmark's comparison).
    GemmCrateRayon,
    /// The plain-Rust kernel the portable tier runs without `std`.
    Plain,
}

impl From<Tier> for Backend {
    fn from(t: Tier) -> Backend {
        match t {
            Tier::Avx512 => Backend::Avx512,
            Tier::Avx2 => Backend::Avx2,
            Tier::Portable => Backend::Portable,
        }
    }
}

impl Backend {
    /// What actually runs for this choice on this CPU.
    fn resolve(self) -> Backend {
        let wanted = match self {
            Backend::Auto => cpu::tier(),
            Backend::Avx512 => Tier::Avx512,
            Backend::Avx2 => Tier::Avx2,
            Backend::Portable => Tier::Portable,
            Backend::GemmCrateRayon | Backend::Plain => return self,
        };
        Backend::from(wanted.min(cpu::best_supported()))
    }
}

/// Below this many multiply-adds a product runs on one thread: waking the
/// second thread and sharing cache lines costs more than it saves.
const PARALLEL_MIN_MACS: usize = 64 * 1024;

/// `c[m×n] = op(a) · op(b)`, or `c += op(a) · op(b)` when `accumulate`.
///
/// All matrices are dense row-major. `op(a)` is `m×k`: `a` is stored `m×k`
/// when `ta == Trans::No` and `k×m` when `ta == Trans::Yes`; likewise `op(b)`
/// is `k×n`. `par` says how many threads the product may use.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    accumulate: bool,
    par: &dyn Threads,
) {
    sgemm_with(Backend::Auto, m, n, k, a, ta, b, tb, c, accumulate, par);
}

/// Whether the AVX-512 kernels run in this process (the tier is AVX-512).
pub fn uses_avx512() -> bool {
    cpu::tier() == Tier::Avx512
}

/// [`sgemm`] with a chosen implementation.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
    backend: Backend,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    accumulate: bool,
    par: &dyn Threads,
) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "sgemm: slices too short for {m}x{k} . {k}x{n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let backend = backend.resolve();
    // Element (i, j) of op(x) sits at x[i * rs + j * cs].
    let (a_rs, a_cs) = match ta {
        Trans::No => (k, 1),
        Trans::Yes => (1, m),
    };
    let (b_rs, b_cs) = match tb {
        Trans::No => (n, 1),
        Trans::Yes => (1, k),
    };
    let p = Problem {
        m,
        n,
        k,
        a: a.as_ptr(),
        a_rs,
        a_cs,
        b: b.as_ptr(),
        b_rs,
        b_cs,
        b_windows: BWindows::Strided,
        c: c.as_mut_ptr(),
        ldc: n,
        accumulate,
    };
    if backend == Backend::GemmCrateRayon {
        // SAFETY: `p` describes exactly the slices checked above.
        unsafe { portable::gemm(&p, par.threads()) };
        return;
    }
    // SAFETY: `p` describes exactly the slices checked above.
    unsafe { run(backend, &p, par) };
}

/// Runs `p` on `backend` (resolved), split into one block of C per thread
/// when it is large enough.
///
/// # Safety
/// As for `run_block`.
unsafe fn run(backend: Backend, p: &Problem, par: &dyn Threads) {
    let (m, n, k) = (p.m, p.n, p.k);
    let threads = if m * n * k < PARALLEL_MIN_MACS {
        1
    } else {
        par.threads().min(m.max(n))
    };
    if threads == 1 {
        // SAFETY: forwarded.
        unsafe { run_block(backend, p) };
        return;
    }
    // Split the longer side of C; tiles along rows are `OUTER_MR` high, along
    // columns 16 wide (two AVX2 or one AVX-512 vector), so no thread gets a
    // ragged tile in the middle.
    let split_rows = m >= n;
    par.for_each_thread(&|t| {
        if t >= threads {
            // More threads than rows and columns: this one has no block.
            return;
        }
        let sub = if split_rows {
            let r = split_range_aligned(m, threads, t, OUTER_MR);
            p.rows(r.start, r.len())
        } else {
            let r = split_range_aligned(n, threads, t, 16);
            p.cols(r.start, r.len())
        };
        if sub.m > 0 && sub.n > 0 {
            // SAFETY: `sub` is a sub-block of `p`; blocks of different
            // threads cover disjoint rectangles of C and only read A and B.
            unsafe { run_block(backend, &sub) };
        }
    });
}

/// One product as raw strided views, so threads can take rectangles of C
/// that are not contiguous in memory.
#[derive(Clone, Copy)]
struct Problem {
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    b_rs: usize,
    b_cs: usize,
    /// Where op(b)'s rows or columns start when they are windows into one
    /// buffer (see `windows`); `b_rs`/`b_cs` say nothing then.
    b_windows: BWindows,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
}

/// The layout of op(b) beyond plain strides.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BWindows {
    /// Element (kk, j) at `b[kk·b_rs + j·b_cs]`.
    Strided,
    /// Row `kk` of op(b) is `b[t[kk]..]` (contiguous along `n`): the
    /// outer-product kernels read it.
    Rows(*const u32),
    /// Column `j` of op(b) is `b[t[j]..]` (contiguous along `k`): the
    /// dot-product kernels read it.
    Cols(*const u32),
}

/// Where the kernels find row (outer product) or column (dot product)
/// `r` of op(b), relative to `b`: a stride, or a table of offsets. Generic
/// so each kernel is compiled once per kind, with no branch inside. Only the
/// x86-64 kernels read them (other targets go to the portable product).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
trait Starts: Copy {
    /// # Safety
    /// `r` must be inside the table, for [`Table`].
    unsafe fn start(self, r: usize) -> usize;
}

#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Stride(usize);

impl Starts for Stride {
    #[inline(always)]
    unsafe fn start(self, r: usize) -> usize {
        r * self.0
    }
}

#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Table(*const u32);

impl Starts for Table {
    #[inline(always)]
    unsafe fn start(self, r: usize) -> usize {
        // SAFETY: the caller keeps `r` inside the table.
        unsafe { *self.0.add(r) as usize }
    }
}

// SAFETY: a `Problem` is shared between the threads of one `sgemm` call,
// which read A and B and write disjoint blocks of C (see `sgemm_with`).
unsafe impl Sync for Problem {}
// SAFETY: as for `Sync`.
unsafe impl Send for Problem {}

impl Problem {
    fn rows(&self, start: usize, len: usize) -> Problem {
        Problem {
            m: len,
            a: self.a.wrapping_add(start * self.a_rs),
            c: self.c.wrapping_add(start * self.ldc),
            ..*self
        }
    }

    fn cols(&self, start: usize, len: usize) -> Problem {
        let (b, b_windows) = match self.b_windows {
            BWindows::Cols(t) => (self.b, BWindows::Cols(t.wrapping_add(start))),
            BWindows::Rows(_) => (self.b.wrapping_add(start), self.b_windows),
            BWindows::Strided => (self.b.wrapping_add(start * self.b_cs), self.b_windows),
        };
        Problem {
            n: len,
            b,
            b_windows,
            c: self.c.wrapping_add(start),
            ..*self
        }
    }
}

/// # Safety
/// `p` must describe in-bounds, valid A, B and C (C not aliased by A or B);
/// `backend` must be resolved ([`Backend::resolve`]), so its instructions
/// exist on this CPU.
unsafe fn run_block(backend: Backend, p: &Problem) {
    debug_assert!(
        p.b_windows == BWindows::Strided || matches!(backend, Backend::Avx2 | Backend::Avx512),
        "only the x86 kernels read windows"
    );
    #[cfg(target_arch = "x86_64")]
    match backend {
        // SAFETY: a resolved `Avx512` means the CPU has AVX-512F/VL, AVX2
        // and FMA; the caller vouches for `p`.
        Backend::Avx512 => return unsafe { avx512::gemm(p) },
        // SAFETY: a resolved `Avx2` means the CPU has AVX2 and FMA.
        Backend::Avx2 => return unsafe { avx2::gemm(p) },
        _ => {}
    }
    if backend == Backend::Plain {
        // SAFETY: the caller vouches for `p`.
        return unsafe { portable::plain(p) };
    }
    // SAFETY: the caller vouches for `p`.
    unsafe { portable::gemm(p, 1) };
}

/// Rows of the outer-product tile of both x86 tiers (also the row alignment
/// of thread splits).
const OUTER_MR: usize = 6;

#[cfg(all(target_arch = "x86_64", feature = "std"))]
std::thread_local! {
    /// Scratch for a transposed copy of B when neither kernel can read it
    /// in place.
    static SCRATCH: core::cell::RefCell<alloc::vec::Vec<f32>> =
        const { core::cell::RefCell::new(alloc::vec::Vec::new()) };
}

/// Runs `f` on `p` with op(b) copied to contiguous `k×n` rows: the
/// outer-product kernels need rows of op(b), and a k-contiguous B that the
/// dot-product kernel cannot take (`TT`, or `NT` with a short `k`) has none.
///
/// # Safety
/// `p` must describe valid A, B and C.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
unsafe fn with_b_rows(p: &Problem, f: impl Fn(&Problem)) {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        s.clear();
        s.reserve(p.k * p.n);
        for kk in 0..p.k {
            for j in 0..p.n {
                // SAFETY: (kk, j) is inside op(b).
                s.push(unsafe { *p.b.add(kk * p.b_rs + j * p.b_cs) });
            }
        }
        f(&Problem {
            b: s.as_ptr(),
            b_rs: p.n,
            b_cs: 1,
            ..*p
        });
    });
}

/// Floats of the stack buffer [`with_b_rows`] copies op(b) into without
/// `std` (16 KiB).
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
const B_PANEL: usize = 4096;

/// Without `std` (no thread-local scratch, and no allocation): op(b) is
/// copied one panel of whole 64-column tiles at a time into a stack buffer
/// and `f` runs on each panel's columns of C. Each tile of the kernels
/// spans the whole `k` either way, so the results are the same as from one
/// copy. When `k` is too long for even one tile's panel, the block runs on
/// the portable kernel instead.
///
/// # Safety
/// `p` must describe valid A, B and C.
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
unsafe fn with_b_rows(p: &Problem, f: impl Fn(&Problem)) {
    const TILE: usize = 64;
    let width = (B_PANEL / p.k.max(1)) / TILE * TILE;
    if width == 0 {
        // SAFETY: the caller vouches for `p`.
        unsafe { portable::gemm(p, 1) };
        return;
    }
    let mut panel = [0.0f32; B_PANEL];
    let mut j0 = 0;
    while j0 < p.n {
        let cols = width.min(p.n - j0);
        for kk in 0..p.k {
            for j in 0..cols {
                // SAFETY: (kk, j0 + j) is inside op(b).
                panel[kk * cols + j] = unsafe { *p.b.add(kk * p.b_rs + (j0 + j) * p.b_cs) };
            }
        }
        let sub = p.cols(j0, cols);
        f(&Problem {
            b: panel.as_ptr(),
            b_rs: cols,
            b_cs: 1,
            ..sub
        });
        j0 += cols;
    }
}

/// Calls `f::<R, V, extra...>(args)` for run-time `r` and `v` taken from
/// the listed literals, so each tile shape gets its own fully unrolled
/// kernel.
#[cfg(target_arch = "x86_64")]
macro_rules! dispatch {
    ($f:ident, $extra:tt, $r:expr, $v:expr, [$($rr:literal),*], $vs:tt, $args:tt) => {
        match $r {
            $($rr => dispatch!(@cols $f, $extra, $rr, $v, $vs, $args),)*
            _ => unreachable!(),
        }
    };
    (@cols $f:ident, $extra:tt, $rr:literal, $v:expr, [$($vv:literal),*], $args:tt) => {
        match $v {
            $($vv => dispatch!(@call $f, $extra, $rr, $vv, $args),)*
            _ => unreachable!(),
        }
    };
    (@call $f:ident, [$($x:tt),*], $rr:literal, $vv:literal, ($($arg:expr),*)) => {
        $f::<$rr, $vv $(, $x)*>($($arg),*)
    };
}
#[cfg(target_arch = "x86_64")]
use dispatch;

#[cfg(test)]
mod tests;
