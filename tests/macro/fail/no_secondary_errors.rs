// The model has an error; code using it shows no error of its own.
nnspec::model! {
    model M {
        input x: f32[4];
        output y = x -> dense(-3);
    }
}

#[allow(dead_code)]
fn predict(m: &M) -> f32 {
    m.forward(&[0.0; 4])[0]
}

fn main() {}
