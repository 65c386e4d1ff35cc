//! Generated `train_step` allocates nothing once warm: a counting global
//! allocator watches the calling thread during steps of every model with
//! a train block, each on one thread (`Serial`), on the x86 tiers. (The
//! first step may size the thread-local scratch `std` builds keep between
//! calls; that is the warm-up step. On the portable tier a `std` build's
//! matrix products are the `gemm` crate's, which allocates its own
//! workspace; a `no_std` build's portable tier does not.)

#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_of;
use nnspec_generated_check as generated;
use nnspec_runtime::rng::Rng;
use nnspec_runtime::threads::Serial;

macro_rules! no_alloc {
    ($m:ident, $ty:ident, $classes:expr) => {
        no_alloc!($m, $ty, $classes, X_LEN)
    };
    ($m:ident, $ty:ident, $classes:expr, $input:ident) => {{
        use generated::$m as m;
        let batch = 6;
        let mut rng = Rng::new(3);
        // A token model's ids are then not ids (NaN rows): allocation
        // does not depend on the values.
        let x: Vec<f32> = (0..batch * m::$input)
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let labels: Vec<u32> = (0..batch).map(|_| rng.below($classes) as u32).collect();
        let mut model = m::$ty::new(1);
        let mut state = m::training::state(1);
        let mut arena = vec![0.0f32; m::training::arena_len(batch, 1)];
        model.train_step(&x, &labels, &mut state, &mut arena, &Serial);
        let count = allocations_of(|| {
            for _ in 0..2 {
                std::hint::black_box(
                    model.train_step(&x, &labels, &mut state, &mut arena, &Serial),
                );
            }
        });
        if nnspec_runtime::cpu::tier() != nnspec_runtime::cpu::Tier::Portable {
            assert_eq!(count, 0, "{}: train_step allocated", stringify!($ty));
        }
    }};
}

#[test]
fn train_step_allocates_nothing() {
    // The counter sees an allocation on this thread.
    assert_eq!(
        allocations_of(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(10)))),
        1
    );
    no_alloc!(mnist_mlp, MnistMlp, 10);
    no_alloc!(digits_mlp, DigitsMlp, 10);
    no_alloc!(lenet, LeNet, 10);
    no_alloc!(digits_resnet, DigitsResNet, 10);
    no_alloc!(mini_inception, MiniInception, 10);
    no_alloc!(extras, Extras, 24);
    no_alloc!(residual_block, ResidualBlock, 64);
    no_alloc!(smooth, Smooth, 4);
    no_alloc!(seq_blocks, SeqBlocks, 4);
    no_alloc!(sequence1d, Sequence1d, 5);
    no_alloc!(attend, Attend, 4);
    no_alloc!(recurrent, Recurrent, 3);
    no_alloc!(tokens, Tokens, 3, TOKENS_LEN);
    no_alloc!(grouped, Grouped, 5);
}
