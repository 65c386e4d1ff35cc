// Names that are Rust keywords give code that compiles; the checkpoint
// (`state_dict`) keeps the names as written.

nnspec::model! {
    model Net {
        input type: f32[8];
        let fn = type -> dense(4) as match -> relu;
        let self = fn -> dense(4) as loop;
        output struct = self + fn;
    }

    // Lowercase and keyword model names: types `Tiny` and `Match`, modules
    // `tiny` and `match_`.
    model tiny {
        input x: f32[2];
        output y = x -> dense(3);
    }

    model match {
        input x: f32[2];
        output y = x -> dense(3);
    }
}

fn main() {
    let net = Net::new(3);
    let y = net.forward(&[1.0; net::TYPE_LEN]);
    assert_eq!(y.len(), net::STRUCT_LEN);
    assert!(y.iter().all(|v| v.is_finite()));
    assert!(net.param("match.weight").is_some());
    assert!(net.param("loop.bias").is_some());
    assert_eq!(Tiny::new(1).forward(&[1.0; tiny::X_LEN]).len(), 3);
    assert_eq!(Match::new(1).forward(&[1.0; match_::X_LEN]).len(), 3);
}
