// Three independent mistakes: all three are reported, each at its tokens.
nnspec::model! {
    model M {
        input x: f32[4];
        let a = x -> dense(0);
        let b = x -> maxpool2d(2);
        output y = a + missing;
    }
}

fn main() {}
