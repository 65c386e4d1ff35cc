nnspec::model! {
    model M {
        input x: f32[4];
        let output = x -> dense(8);
    }
}

fn main() {}
