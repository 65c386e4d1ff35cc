//! Firmware written by `dslc deploy --target thumbv7em-none-eabihf`: the
//! model's generated inference module (`model.rs`; with `--int8` also the
//! int8 module `model_int8.rs`, declared in `glue.rs`), its trained weights and
//! a few samples as static data in flash (`weights.rs`, `samples.rs`), and
//! this program, which runs every sample and prints the outputs through
//! semihosting, then ends the run with a semihosting exit.
//!
//! Each output line reads `f32 SAMPLE BITS... argmax CLASS`, every output
//! an f32's bits in hex, so the host compares them exactly; with an int8
//! module (`dslc deploy --int8`), `u8 SAMPLE HEX... argmax CLASS` follow,
//! the integers the int8 outputs are dequantized from. Run it on
//! QEMU's emulated MPS2-AN386 (Cortex-M4F) with `cargo run --release`
//! (see `.cargo/config.toml`), or flash it to a Cortex-M4F board whose
//! memory map `memory.x` describes.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprint, hprintln};
use nnspec_runtime_core::threads::Serial;
use panic_semihosting as _;

mod glue;
#[allow(dead_code, unused_imports, clippy::all)]
mod model;
mod samples;
mod stack;
mod weights;

/// The runtime core links `alloc`, so the firmware must name an allocator;
/// the generated inference allocates nothing (its working memory is the
/// static arena below), so this one refuses every request: an allocation
/// would panic with a message rather than take memory nobody planned for.
struct NoHeap;

unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[global_allocator]
static HEAP: NoHeap = NoHeap;

#[entry]
fn main() -> ! {
    // The model's working memory, in .bss (cortex-m-rt hands the entry
    // function its `static mut`s as `&'static mut`, once).
    static mut ARENA: [f32; model::ARENA_LEN] = [0.0; model::ARENA_LEN];

    let stack_guard = stack::paint();
    let net = match glue::Net::from_weights(&weights::WEIGHTS[..]) {
        Some(net) => net,
        None => fail("the weights are not WEIGHTS_LEN floats"),
    };
    hprintln!(
        "nnspec firmware: model {}, {} weights, {} arena floats, {} samples",
        glue::MODEL,
        model::WEIGHTS_LEN,
        model::ARENA_LEN,
        samples::SAMPLES.len()
    );
    for (i, sample) in samples::SAMPLES.iter().enumerate() {
        let mut outputs = [0.0f32; glue::OUTPUT_LEN];
        net.forward_batch(&sample[..], &mut outputs, &mut ARENA[..], &Serial);
        hprint!("f32 {}", i);
        for value in outputs {
            hprint!(" {:08x}", value.to_bits());
        }
        hprintln!(" argmax {}", argmax(&outputs));
    }

    // The int8 module, when deployed with `--int8`: the same samples, the
    // u8 integers its outputs are dequantized from.
    for (i, sample) in samples::SAMPLES.iter().enumerate() {
        let Some(outputs) = glue::int8(sample) else {
            break;
        };
        hprint!("u8 {}", i);
        for value in outputs {
            hprint!(" {:02x}", value);
        }
        hprintln!(" argmax {}", argmax_u8(&outputs));
    }

    hprintln!("stack {} bytes", stack::used(stack_guard));
    hprintln!("done");
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// The first largest output (NaN never wins).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// The first largest integer.
fn argmax_u8(values: &[u8]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Reports `why` and ends the run with a failure.
fn fail(why: &str) -> ! {
    hprintln!("error: {}", why);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
