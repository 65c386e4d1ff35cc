nnspec::model! {
    model M {
        input x: f32[4];
        output y = x -> dense(1.5);
    }
}

fn main() {}
