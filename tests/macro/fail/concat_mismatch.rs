nnspec::model! {
    model M {
        input x: f32[3, 8, 8];
        let a = x -> conv2d(4, kernel: 3);
        output y = concat(a, x, axis: 0);
    }
}

fn main() {}
