nnspec::model! {
    model M {
        input x: f32[4];
        output y = x -> dense(3);
    }

    train M {
        loss: cross_entropy,
        optimizer: sgdd(lr: 0.1),
    }
}

fn main() {}
