nnspec::model! {
    model M {
        input x: f32[4]
        output y = x -> dense(8);
    }
}

fn main() {}
