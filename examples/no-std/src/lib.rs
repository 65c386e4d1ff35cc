//! LeNet inference for a device without an operating system: `#![no_std]`,
//! no allocator needed, the weights borrowed from wherever the firmware
//! keeps them (flash, say) and the working memory one array of the
//! generated `ARENA_LEN` floats.
#![no_std]

// The whole generated API is included; this crate uses part of it.
#[allow(dead_code)]
mod lenet {
    include!(concat!(env!("OUT_DIR"), "/LeNet.rs"));
}

pub use lenet::{ARENA_LEN, WEIGHTS_LEN, X_LEN};

/// The class of one 28x28 image (scaled as `dslc train` scales images),
/// with LeNet's weights (`WEIGHTS_LEN` floats, `state_dict` order) and an
/// arena the caller owns, so nothing is allocated and the stack stays small.
pub fn classify(
    weights: &[f32],
    image: &[f32; X_LEN],
    arena: &mut [f32; ARENA_LEN],
) -> Option<usize> {
    let model = lenet::LeNet::from_weights(weights)?;
    let mut logits = [0.0f32; 10];
    model.forward_batch(
        image,
        &mut logits,
        arena,
        &nnspec_runtime_core::threads::Serial,
    );
    (0..10).max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_with_the_generated_models_outputs() {
        let mut weights = [0.0f32; WEIGHTS_LEN];
        lenet::init_weights(3, &mut weights);
        let image = [0.5f32; X_LEN];
        let mut arena = [0.0f32; ARENA_LEN];
        let class = classify(&weights, &image, &mut arena).expect("WEIGHTS_LEN floats");
        let logits = lenet::LeNet::from_weights(&weights[..])
            .unwrap()
            .forward(&image);
        let best = (0..10)
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap();
        assert_eq!(class, best);
        // Weights of another length are refused, not read past.
        assert_eq!(classify(&[0.0; 10], &image, &mut arena), None);
    }
}
