nnspec::model! {
    model M {
        input x: f32[4];
        output y = x -> dense(8) as fc -> relu -> dense(2) as fc;
    }
}

fn main() {}
