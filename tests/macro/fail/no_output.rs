nnspec::model! {
    model M {
        input x: f32[4];
        let h = x -> dense(8);
    }
}

fn main() {}
