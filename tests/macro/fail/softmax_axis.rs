nnspec::model! {
    model M {
        input x: f32[10];
        output y = x -> softmax(axis: 3);
    }
}

fn main() {}
