//! Which int8 kernels run: [`Int8Tier`], chosen once per process like the
//! f32 tiers of [`crate::cpu`], and detected without `std` the same way
//! (CPUID and XGETBV).
//!
//! The choice, in order:
//! 1. [`force_int8_tier`], if the program called it (tests, no_std
//!    programs): that tier, or the best this CPU runs below it.
//! 2. Otherwise the environment variable `NNSPEC_INT8_KERNELS` (`std`
//!    builds only): `portable`, `avx2`, `avxvnni`, `avx512vnni`, any case;
//!    `auto` or empty means the best. An unknown value, or a tier this CPU
//!    cannot run, prints one warning and the best supported tier runs, as
//!    with `NNSPEC_KERNELS`.
//! 3. Either way without a forced tier, the f32 tier caps the int8 one, so
//!    `NNSPEC_KERNELS` (or [`crate::cpu::force_tier`]) keeps its meaning
//!    of "no wider vectors than this":
//!
//!    | f32 tier   | int8 tiers allowed                  |
//!    |------------|-------------------------------------|
//!    | `portable` | `portable`                          |
//!    | `avx2`     | up to `avxvnni` (256-bit registers) |
//!    | `avx512`   | all                                 |

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::cpu::{self, Tier};

/// An instruction-set level for the int8 kernels, from the least demanding.
/// Every tier computes the same integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Int8Tier {
    /// Plain Rust (what the compiler makes of it for the target).
    Portable,
    /// AVX2: `vpmaddubsw` (`u8 × i8` pairs into `i16`, exact because
    /// activations are 7-bit) then `vpmaddwd` against ones into `i32`.
    Avx2,
    /// 256-bit `vpdpbusd`: AVX-VNNI (VEX) where the CPU has it, else
    /// AVX512-VNNI with AVX512-VL (EVEX).
    AvxVnni,
    /// 512-bit `vpdpbusd` (AVX512-VNNI).
    Avx512Vnni,
}

/// The environment variable that picks an int8 tier.
pub const ENV_VAR: &str = "NNSPEC_INT8_KERNELS";

impl Int8Tier {
    /// Every tier, the most capable first.
    pub const ALL: [Int8Tier; 4] = [
        Int8Tier::Avx512Vnni,
        Int8Tier::AvxVnni,
        Int8Tier::Avx2,
        Int8Tier::Portable,
    ];

    /// The name `NNSPEC_INT8_KERNELS` accepts for this tier.
    pub fn name(self) -> &'static str {
        match self {
            Int8Tier::Avx512Vnni => "avx512vnni",
            Int8Tier::AvxVnni => "avxvnni",
            Int8Tier::Avx2 => "avx2",
            Int8Tier::Portable => "portable",
        }
    }

    /// A tier from its name, ignoring case and surrounding blanks.
    pub fn parse(name: &str) -> Option<Int8Tier> {
        let name = name.trim();
        Int8Tier::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Whether this CPU can run the tier (tiers nest).
    pub fn is_supported(self) -> bool {
        self <= best_supported()
    }

    /// The most capable int8 tier an f32 tier allows (the table above).
    pub fn cap_for(f32_tier: Tier) -> Int8Tier {
        match f32_tier {
            Tier::Portable => Int8Tier::Portable,
            Tier::Avx2 => Int8Tier::AvxVnni,
            Tier::Avx512 => Int8Tier::Avx512Vnni,
        }
    }
}

impl core::fmt::Display for Int8Tier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The tier the int8 kernels run at now.
#[inline]
pub fn int8_tier() -> Int8Tier {
    let forced = FORCED.load(Ordering::Relaxed);
    if forced != UNSET {
        return from_u8(forced);
    }
    let requested = match REQUESTED.load(Ordering::Relaxed) {
        UNSET => init_requested(),
        t => from_u8(t),
    };
    requested.min(Int8Tier::cap_for(cpu::tier()))
}

/// Makes the int8 kernels run `requested` from now on, whatever the
/// environment says (the best supported tier below it, returned, when this
/// CPU cannot run it).
pub fn force_int8_tier(requested: Int8Tier) -> Int8Tier {
    let t = requested.min(best_supported());
    FORCED.store(t as u8, Ordering::Relaxed);
    t
}

/// Forgets [`force_int8_tier`]: the environment and the f32 tier decide
/// again.
pub fn unforce_int8_tier() {
    FORCED.store(UNSET, Ordering::Relaxed);
}

/// The tiers this CPU runs, the most capable first.
pub fn supported_int8_tiers() -> impl Iterator<Item = Int8Tier> {
    Int8Tier::ALL.into_iter().filter(|t| t.is_supported())
}

/// The most capable int8 tier this CPU runs.
pub fn best_supported() -> Int8Tier {
    match BEST.load(Ordering::Relaxed) {
        UNSET => {
            let t = detect().best();
            BEST.store(t as u8, Ordering::Relaxed);
            t
        }
        t => from_u8(t),
    }
}

/// Whether the 256-bit VNNI tier uses the VEX encoding (AVX-VNNI) rather
/// than the EVEX one (AVX512-VNNI + VL).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) fn vex_vnni() -> bool {
    match VEX.load(Ordering::Relaxed) {
        UNSET => {
            let v = detect().avx_vnni;
            VEX.store(v as u8, Ordering::Relaxed);
            v
        }
        v => v != 0,
    }
}

/// What runs when `requested` (the environment variable's value, if set)
/// is asked for on a CPU whose best tier is `best`, and the warning to print
/// when the request cannot be honoured.
pub fn choose(requested: Option<&str>, best: Int8Tier) -> (Int8Tier, Option<String>) {
    let Some(value) = requested else {
        return (best, None);
    };
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("auto") {
        return (best, None);
    }
    match Int8Tier::parse(trimmed) {
        Some(t) if t <= best => (t, None),
        Some(t) => (
            best,
            Some(format!(
                "warning: {ENV_VAR}={value}: this CPU does not support the {t} int8 kernels; \
                 running the {best} int8 kernels instead"
            )),
        ),
        None => (
            best,
            Some(format!(
                "warning: {ENV_VAR}={value} is not one of avx512vnni, avxvnni, avx2, portable, \
                 auto; running the {best} int8 kernels instead"
            )),
        ),
    }
}

const UNSET: u8 = u8::MAX;
static FORCED: AtomicU8 = AtomicU8::new(UNSET);
static REQUESTED: AtomicU8 = AtomicU8::new(UNSET);
static BEST: AtomicU8 = AtomicU8::new(UNSET);
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
static VEX: AtomicU8 = AtomicU8::new(UNSET);
static WARNED: AtomicBool = AtomicBool::new(false);

fn from_u8(t: u8) -> Int8Tier {
    match t {
        0 => Int8Tier::Portable,
        1 => Int8Tier::Avx2,
        2 => Int8Tier::AvxVnni,
        _ => Int8Tier::Avx512Vnni,
    }
}

#[cold]
fn init_requested() -> Int8Tier {
    let (t, warning) = choose(requested_tier().as_deref(), best_supported());
    if let Some(w) = warning
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        warn(&w);
    }
    REQUESTED.store(t as u8, Ordering::Relaxed);
    t
}

/// The int8-relevant features of this CPU (each one also needs the
/// operating system to save the registers it uses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Features {
    pub avx2: bool,
    /// AVX-VNNI (VEX-encoded 256-bit `vpdpbusd`).
    pub avx_vnni: bool,
    /// AVX512-VNNI with AVX512-F and VL.
    pub avx512_vnni: bool,
}

impl Features {
    fn best(self) -> Int8Tier {
        if self.avx2 && self.avx512_vnni {
            Int8Tier::Avx512Vnni
        } else if self.avx2 && self.avx_vnni {
            Int8Tier::AvxVnni
        } else if self.avx2 {
            Int8Tier::Avx2
        } else {
            Int8Tier::Portable
        }
    }
}

// ---- std or not ----

fn requested_tier() -> Option<String> {
    crate::cpu::env_value(ENV_VAR)
}

#[cfg(feature = "std")]
fn detect() -> Features {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma");
        return Features {
            avx2,
            avx_vnni: has!("avxvnni"),
            avx512_vnni: has!("avx512f") && has!("avx512vl") && has!("avx512vnni"),
        };
    }
    #[allow(unreachable_code)]
    Features::default()
}

#[cfg(not(feature = "std"))]
fn detect() -> Features {
    #[cfg(target_arch = "x86_64")]
    {
        return x86::features();
    }
    #[allow(unreachable_code)]
    Features::default()
}

/// CPUID and XGETBV, for builds without `is_x86_feature_detected!`.
#[cfg(target_arch = "x86_64")]
#[cfg_attr(feature = "std", allow(dead_code))]
pub(super) mod x86 {
    use super::Features;
    use crate::cpu::x86::xcr0;
    use core::arch::x86_64::{__cpuid, __cpuid_count};

    pub(in super::super) fn features() -> Features {
        // SAFETY: CPUID exists on every x86-64 CPU.
        #[allow(unused_unsafe)]
        let (max_leaf, leaf1) = unsafe { (__cpuid(0).eax, __cpuid(1)) };
        let fma = leaf1.ecx & (1 << 12) != 0;
        let osxsave = leaf1.ecx & (1 << 27) != 0;
        let avx = leaf1.ecx & (1 << 28) != 0;
        if max_leaf < 7 || !osxsave || !avx {
            return Features::default();
        }
        // SAFETY: OSXSAVE is set, so XGETBV is available and enabled.
        let xcr0 = unsafe { xcr0() };
        if xcr0 & 0b110 != 0b110 {
            return Features::default();
        }
        // SAFETY: leaf 7 exists (`max_leaf >= 7`).
        #[allow(unused_unsafe)]
        let (leaf7, leaf7_1) = unsafe { (__cpuid_count(7, 0), __cpuid_count(7, 1)) };
        let avx2 = leaf7.ebx & (1 << 5) != 0 && fma;
        let avx512f = leaf7.ebx & (1 << 16) != 0;
        let avx512vl = leaf7.ebx & (1 << 31) != 0;
        let avx512vnni = leaf7.ecx & (1 << 11) != 0;
        let avx_vnni = leaf7_1.eax & (1 << 4) != 0;
        let zmm_saved = xcr0 & 0b1110_0000 == 0b1110_0000;
        Features {
            avx2,
            avx_vnni: avx2 && avx_vnni,
            avx512_vnni: avx2 && avx512f && avx512vl && avx512vnni && zmm_saved,
        }
    }
}

use crate::cpu::warn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_warn() {
        for t in Int8Tier::ALL {
            assert_eq!(Int8Tier::parse(&t.name().to_uppercase()), Some(t));
        }
        assert_eq!(choose(Some("AVX2"), Int8Tier::Avx512Vnni).0, Int8Tier::Avx2);
        let (t, w) = choose(Some("avx512vnni"), Int8Tier::Avx2);
        assert_eq!(t, Int8Tier::Avx2);
        assert!(w.unwrap().contains("avx2 int8 kernels instead"));
        let (t, w) = choose(Some("neon"), Int8Tier::Portable);
        assert_eq!(t, Int8Tier::Portable);
        assert!(w.unwrap().contains("NNSPEC_INT8_KERNELS=neon"));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn direct_detection_matches_std() {
        use std::arch::is_x86_feature_detected as has;
        let f = x86::features();
        assert_eq!(f.avx2, has!("avx2") && has!("fma"));
        assert_eq!(f.avx_vnni, f.avx2 && has!("avxvnni"));
        assert_eq!(
            f.avx512_vnni,
            f.avx2 && has!("avx512f") && has!("avx512vl") && has!("avx512vnni")
        );
    }

    #[test]
    fn the_f32_tier_caps_the_int8_one() {
        assert_eq!(Int8Tier::cap_for(Tier::Portable), Int8Tier::Portable);
        assert_eq!(Int8Tier::cap_for(Tier::Avx2), Int8Tier::AvxVnni);
        assert_eq!(Int8Tier::cap_for(Tier::Avx512), Int8Tier::Avx512Vnni);
    }
}
