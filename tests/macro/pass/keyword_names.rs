// Names that are Rust keywords give code that compiles; the checkpoint
// (`state_dict`) keeps the names as written.

nnspec::model! {
    model Net {
        input type: f32[8];
        let fn = type -> dense(4) as match -> relu;
        let self = fn -> dense(4) as loop;
        output struct = self + fn;
    }
}

fn main() {
    let net = Net::new(3);
    let y = net.forward(&[1.0; net::TYPE_LEN]);
    assert_eq!(y.len(), net::STRUCT_LEN);
    assert!(y.iter().all(|v| v.is_finite()));
    assert!(net.param("match.weight").is_some());
    assert!(net.param("loop.bias").is_some());
}
