//! The stack's high-water mark, measured by painting: every free word
//! between the end of the static data and the stack pointer is filled with
//! a pattern before the model runs, and afterwards the lowest overwritten
//! word shows how deep the stack went. The ELF says how much RAM the
//! statics take; this says how much the stack adds.

/// What free stack words hold until the stack reaches them.
const PAINT: u32 = 0x5EED_57AC;
/// Left alone below the stack pointer when painting: the painting
/// function's own calls.
const MARGIN: usize = 256;

extern "C" {
    /// The top of the stack (the end of RAM), from cortex-m-rt's `link.x`.
    static _stack_start: u32;
    /// The lowest address the stack may grow to: the end of the statics.
    static _stack_end: u32;
}

/// The painted range, for [`used`].
pub struct Painted {
    top: usize,
    bottom: usize,
}

/// Paints the free stack below the current stack pointer.
#[inline(never)]
pub fn paint() -> Painted {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let sp = cortex_m::register::msp::read() as usize;
    let mut word = bottom;
    while word + 4 <= sp.saturating_sub(MARGIN) {
        // SAFETY: between the end of the statics and below the live
        // frames: memory no one uses yet, word-aligned (link.x asserts it).
        unsafe { core::ptr::write_volatile(word as *mut u32, PAINT) };
        word += 4;
    }
    Painted { top, bottom }
}

/// Bytes of stack used since [`paint`] (at least what was in use then).
pub fn used(painted: Painted) -> usize {
    let mut word = painted.bottom;
    // SAFETY: the range `paint` wrote; reading it disturbs nothing.
    while word < painted.top && unsafe { core::ptr::read_volatile(word as *const u32) } == PAINT {
        word += 4;
    }
    painted.top - word
}
