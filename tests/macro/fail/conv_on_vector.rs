nnspec::model! {
    model M {
        input x: f32[784];
        output y = x -> conv2d(6, kernel: 5);
    }
}

fn main() {}
