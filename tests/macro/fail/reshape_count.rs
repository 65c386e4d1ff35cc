nnspec::model! {
    model M {
        input x: f32[12];
        output y = x -> reshape([5, 2]);
    }
}

fn main() {}
