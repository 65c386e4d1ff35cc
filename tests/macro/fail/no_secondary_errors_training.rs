// A model with a train block and an error; code training it shows no error
// of its own (train_step, fit and the training module are stand-ins).
nnspec::model! {
    model M {
        input x: f32[4];
        output y = x -> dense(0);
    }

    train M {
        loss: cross_entropy,
        optimizer: sgd(lr: 0.1),
        batch: 8,
        epochs: 1,
    }
}

#[allow(dead_code)]
fn train(m: &mut M, data: &nnspec::runtime::data::Dataset) -> f64 {
    let mut state = m::training::state(m::training::SEED);
    let mut arena = vec![0.0; m::training::arena_len(m::training::BATCH, 1)];
    let serial = nnspec::runtime::threads::Serial;
    let step = m.train_step(&[0.0; 4], &[0], &mut state, &mut arena, &serial);
    let records = m.fit(data, None, &mut state, &serial).unwrap();
    step.loss + records[0].train_loss
}

fn main() {}
