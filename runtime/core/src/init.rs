//! How a parameter starts: the one definition the training executor and
//! generated code share, so a generated model's `new(seed)` holds the
//! weights `dslc train --seed` starts from.

use crate::plan::Init;
use crate::rng::Rng;

/// FNV-1a: a stable hash of a parameter name, to seed its stream.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Fills `values`, the parameter named `name` (its PyTorch `state_dict`
/// name), as `init` says, drawing from a stream of its own seeded by
/// `seed` and the name.
pub fn fill(values: &mut [f32], init: Init, name: &str, seed: u64) {
    match init {
        Init::Constant(c) => values.fill(c),
        Init::Uniform { bound } => {
            let mut rng = Rng::new(seed ^ name_hash(name));
            values
                .iter_mut()
                .for_each(|v| *v = rng.uniform(-bound, bound));
        }
        Init::Normal { std } => {
            let mut rng = Rng::new(seed ^ name_hash(name));
            values.iter_mut().for_each(|v| *v = std * rng.normal());
        }
    }
}
