//! The no_std inference call allocates nothing: a counting global
//! allocator watches the calling thread during the call.

mod common;

#[path = "../../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_of;

#[test]
fn inference_allocates_nothing() {
    // The counter sees an allocation on this thread.
    assert_eq!(
        allocations_of(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(10)))),
        1
    );
    // The kernel tier is chosen once per process, on first use; with the
    // std feature that reads NNSPEC_KERNELS, which allocates when it is
    // set. Choose it before counting, as any program's first call would.
    let tier = nnspec_runtime::cpu::tier();
    // This test links the std runtime, so the core has its `std` feature,
    // where the portable tier's products are the `gemm` crate's, which
    // allocates packing buffers. Our own kernels (AVX2, AVX-512) and the
    // plain portable kernel of a build without std allocate nothing.
    let gemm_crate = tier == nnspec_runtime::cpu::Tier::Portable;
    for (file, model) in [
        ("mnist_mlp.nn", "MnistMlp"),
        ("inception.nn", "MiniInception"),
    ] {
        let (plan, batch) = common::lower(file, model);
        let mut exec = common::executor(&plan, batch, 0);
        let x = exec.input_mut(batch).to_vec();
        let params = common::params(&exec);
        let mut arena = vec![0.0f32; nnspec_nostd_check::arena_len(&plan, batch)];
        let mut sum = 0.0f32;
        let count = allocations_of(|| {
            let out = nnspec_nostd_check::classify(&plan, &params, &mut arena, &x, batch);
            sum = out.iter().sum();
        });
        assert!(sum.is_finite(), "{model}");
        if gemm_crate {
            eprintln!("{model}: {count} allocations (the gemm crate's, portable tier with std)");
            continue;
        }
        assert_eq!(
            count, 0,
            "{model}: the inference call allocated {count} times"
        );
    }
}
