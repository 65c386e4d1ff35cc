//! Which kernel tier runs: the instruction-set level the hand-written
//! kernels (`gemm`, and the loops `multiversion!` compiles more than once)
//! are dispatched to at run time.
//!
//! A tier is chosen once per process: the best the CPU supports, unless the
//! `NNSPEC_KERNELS` environment variable names another (`avx512`, `avx2`,
//! `portable`, any case; `auto` or empty means the best). A value that is
//! unknown, or names a tier this CPU cannot run, prints one warning to
//! stderr and the best supported tier runs instead, so a job script written
//! for one machine still trains on another.
//!
//! Without the `std` feature (a deploy build) there is no environment: the
//! best supported tier runs unless the program calls [`force_tier`], and
//! the CPU is asked directly (CPUID, and XGETBV for the registers the
//! operating system saves) instead of through `is_x86_feature_detected!`.
//! Everything that differs sits in the functions under "std or not" at the
//! end.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// An instruction-set level for the kernels, from the least demanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Code for the target's baseline (SSE2 on x86-64, NEON on aarch64);
    /// matrix products go to the `gemm` crate, which picks its own SIMD
    /// level (see `gemm::portable`).
    Portable,
    /// AVX2 and FMA (x86-64): 8-wide vectors, 16 registers.
    Avx2,
    /// AVX-512F and VL on top of AVX2 and FMA: 16-wide vectors, 32 registers.
    Avx512,
}

/// The environment variable that picks a tier.
pub const ENV_VAR: &str = "NNSPEC_KERNELS";

impl Tier {
    /// Every tier, the most capable first.
    pub const ALL: [Tier; 3] = [Tier::Avx512, Tier::Avx2, Tier::Portable];

    /// The name `NNSPEC_KERNELS` accepts for this tier.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Avx512 => "avx512",
            Tier::Avx2 => "avx2",
            Tier::Portable => "portable",
        }
    }

    /// A tier from its name, ignoring case and surrounding blanks.
    pub fn parse(name: &str) -> Option<Tier> {
        let name = name.trim();
        Tier::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Whether this CPU can run the tier. Tiers nest: a CPU that runs one
    /// runs every tier below it.
    pub fn is_supported(self) -> bool {
        self <= best_supported()
    }
}

impl core::fmt::Display for Tier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The tier the kernels run at in this process (computed on first use).
#[inline]
pub fn tier() -> Tier {
    match CHOSEN.load(Ordering::Relaxed) {
        UNSET => init_tier(),
        t => from_u8(t),
    }
}

/// Makes the kernels run `requested` from now on (the best supported tier
/// instead, returned, when this CPU cannot run it). For programs without
/// an environment to read `NNSPEC_KERNELS` from; call it before the first
/// kernel runs, as kernels running meanwhile may use either tier.
pub fn force_tier(requested: Tier) -> Tier {
    let t = requested.min(best_supported());
    CHOSEN.store(t as u8, Ordering::Relaxed);
    t
}

/// Whether this process's kernels may use `t`'s instructions: its tier is
/// at least `t`, and the CPU has them. The one test before calling a
/// kernel written for a tier.
pub fn runs_at_least(t: Tier) -> bool {
    tier().min(best_supported()) >= t
}

/// The tiers this CPU can run, the most capable first.
pub fn supported_tiers() -> impl Iterator<Item = Tier> {
    Tier::ALL.into_iter().filter(|t| t.is_supported())
}

/// The most capable tier this CPU runs.
pub fn best_supported() -> Tier {
    match BEST.load(Ordering::Relaxed) {
        UNSET => {
            let t = detect_best_tier();
            BEST.store(t as u8, Ordering::Relaxed);
            t
        }
        t => from_u8(t),
    }
}

/// What runs when `requested` (the environment variable's value, if set)
/// is asked for on a CPU whose best tier is `best`, and the warning to print
/// when the request cannot be honoured.
pub fn choose(requested: Option<&str>, best: Tier) -> (Tier, Option<String>) {
    let Some(value) = requested else {
        return (best, None);
    };
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("auto") {
        return (best, None);
    }
    match Tier::parse(trimmed) {
        Some(t) if t <= best => (t, None),
        Some(t) => (
            best,
            Some(format!(
                "warning: {ENV_VAR}={value}: this CPU does not support the {t} kernels; \
                 running the {best} kernels instead"
            )),
        ),
        None => (
            best,
            Some(format!(
                "warning: {ENV_VAR}={value} is not one of avx512, avx2, portable, auto; \
                 running the {best} kernels instead"
            )),
        ),
    }
}

// Atomics rather than `OnceLock` so the cache works without `std`; `UNSET`
// is not a `Tier` discriminant.
const UNSET: u8 = u8::MAX;
static CHOSEN: AtomicU8 = AtomicU8::new(UNSET);
static BEST: AtomicU8 = AtomicU8::new(UNSET);
static WARNED: AtomicBool = AtomicBool::new(false);

fn from_u8(t: u8) -> Tier {
    match t {
        0 => Tier::Portable,
        1 => Tier::Avx2,
        _ => Tier::Avx512,
    }
}

#[cold]
fn init_tier() -> Tier {
    let requested = requested_tier();
    let (t, warning) = choose(requested.as_deref(), best_supported());
    // Threads racing here compute the same tier; only one prints.
    if let Some(w) = warning
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        warn(&w);
    }
    CHOSEN.store(t as u8, Ordering::Relaxed);
    t
}

// ---- std or not ----

/// The value of `NNSPEC_KERNELS`, if set.
fn requested_tier() -> Option<String> {
    env_value(ENV_VAR)
}

/// The value of environment variable `name`, if set (a non-Unicode value
/// is passed on as its lossy text, so it is reported rather than ignored).
/// Without `std` there is no environment (except in this crate's own unit
/// tests, so CI can run the no_std code paths under every tier). The int8
/// tiers read theirs through it too.
pub(crate) fn env_value(name: &str) -> Option<String> {
    #[cfg(any(feature = "std", test))]
    {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
    #[cfg(not(any(feature = "std", test)))]
    {
        let _ = name;
        None
    }
}

/// The best tier the CPU runs, from CPUID (and the OS's register saving,
/// which `is_x86_feature_detected!` also checks).
#[cfg(feature = "std")]
fn detect_best_tier() -> Tier {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        // A virtual machine may hide any flag, so each one the kernels are
        // compiled for is checked rather than implied. AVX-512VL: the
        // AVX-512 kernels use 256-bit masked moves, and without VL LLVM kept
        // their accumulators in zmm0-15 and spilled.
        let avx2 = has!("avx2") && has!("fma");
        if avx2 && has!("avx512f") && has!("avx512vl") {
            return Tier::Avx512;
        }
        if avx2 {
            return Tier::Avx2;
        }
    }
    Tier::Portable
}

/// The best tier the CPU runs, asked of the CPU directly (the same flags
/// `is_x86_feature_detected!` checks).
#[cfg(not(feature = "std"))]
fn detect_best_tier() -> Tier {
    #[cfg(target_arch = "x86_64")]
    {
        return x86::best_tier();
    }
    #[allow(unreachable_code)]
    Tier::Portable
}

/// CPUID and XGETBV, for builds without `is_x86_feature_detected!`.
#[cfg(target_arch = "x86_64")]
#[cfg_attr(feature = "std", allow(dead_code))]
pub(crate) mod x86 {
    use super::Tier;
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};

    /// The tier whose every flag the CPU reports and whose registers the
    /// operating system saves on a context switch.
    pub(super) fn best_tier() -> Tier {
        // SAFETY: CPUID exists on every x86-64 CPU.
        #[allow(unused_unsafe)]
        let (max_leaf, leaf1) = unsafe { (__cpuid(0).eax, __cpuid(1)) };
        let fma = leaf1.ecx & (1 << 12) != 0;
        let osxsave = leaf1.ecx & (1 << 27) != 0;
        let avx = leaf1.ecx & (1 << 28) != 0;
        if max_leaf < 7 || !osxsave || !avx {
            return Tier::Portable;
        }
        // SAFETY: OSXSAVE is set, so XGETBV is available and enabled.
        let xcr0 = unsafe { xcr0() };
        // SSE and AVX (ymm) state.
        if xcr0 & 0b110 != 0b110 {
            return Tier::Portable;
        }
        // SAFETY: leaf 7 exists (`max_leaf >= 7`).
        #[allow(unused_unsafe)]
        let leaf7 = unsafe { __cpuid_count(7, 0) };
        let avx2 = leaf7.ebx & (1 << 5) != 0 && fma;
        let avx512f = leaf7.ebx & (1 << 16) != 0;
        let avx512vl = leaf7.ebx & (1 << 31) != 0;
        // Opmask, upper halves of zmm0-15, and zmm16-31.
        let zmm_saved = xcr0 & 0b1110_0000 == 0b1110_0000;
        if avx2 && avx512f && avx512vl && zmm_saved {
            Tier::Avx512
        } else if avx2 {
            Tier::Avx2
        } else {
            Tier::Portable
        }
    }

    /// The registers the operating system saves (XCR0); the int8 tiers'
    /// detection reads it too.
    ///
    /// # Safety
    /// The CPU must report OSXSAVE.
    #[target_feature(enable = "xsave")]
    pub(crate) unsafe fn xcr0() -> u64 {
        // SAFETY: the caller checked OSXSAVE.
        unsafe { _xgetbv(0) }
    }
}

/// Prints a warning about the tier on stderr (without `std`, nowhere: the
/// best supported tier runs, as with it). The int8 tiers' too.
pub(crate) fn warn(message: &str) {
    #[cfg(any(feature = "std", test))]
    std::eprintln!("{message}");
    #[cfg(not(any(feature = "std", test)))]
    let _ = message;
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    #[test]
    fn names_round_trip_in_any_case() {
        for t in Tier::ALL {
            assert_eq!(Tier::parse(t.name()), Some(t));
            assert_eq!(Tier::parse(&t.name().to_uppercase()), Some(t));
            assert_eq!(t.to_string(), t.name());
        }
        assert_eq!(Tier::parse(" AvX2 "), Some(Tier::Avx2));
        assert_eq!(Tier::parse("sse"), None);
    }

    #[test]
    fn choice_honours_supported_requests_and_warns_otherwise() {
        assert_eq!(choose(None, Tier::Avx512), (Tier::Avx512, None));
        assert_eq!(choose(Some(""), Tier::Avx2), (Tier::Avx2, None));
        assert_eq!(choose(Some("Auto"), Tier::Avx2), (Tier::Avx2, None));
        assert_eq!(choose(Some("AVX2"), Tier::Avx512), (Tier::Avx2, None));
        assert_eq!(choose(Some("portable"), Tier::Avx2), (Tier::Portable, None));
        let (t, w) = choose(Some("avx512"), Tier::Avx2);
        assert_eq!(t, Tier::Avx2);
        let w = w.unwrap();
        assert!(
            w.contains("NNSPEC_KERNELS=avx512") && w.contains("avx2 kernels instead"),
            "{w}"
        );
        let (t, w) = choose(Some("neon"), Tier::Portable);
        assert_eq!(t, Tier::Portable);
        let w = w.unwrap();
        assert!(
            w.contains("NNSPEC_KERNELS=neon") && w.contains("portable kernels instead"),
            "{w}"
        );
    }

    /// The CPUID/XGETBV detection of deploy builds picks the tier
    /// `is_x86_feature_detected!` does.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn direct_detection_matches_std() {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma");
        let want = if avx2 && has!("avx512f") && has!("avx512vl") {
            Tier::Avx512
        } else if avx2 {
            Tier::Avx2
        } else {
            Tier::Portable
        };
        assert_eq!(x86::best_tier(), want);
    }

    #[test]
    fn supported_tiers_nest_and_include_the_chosen_one() {
        let tiers: Vec<Tier> = supported_tiers().collect();
        assert_eq!(tiers[0], best_supported());
        assert_eq!(tiers.last(), Some(&Tier::Portable));
        assert!(tiers.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(tiers.len(), best_supported() as usize + 1);
        assert!(tiers.contains(&tier()));
    }
}
