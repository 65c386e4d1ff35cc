// Every example model of examples/ inside `model!`: each expands to its
// generated module, and the models run.

nnspec::model! {
    model DigitsMlp {
        input x: f32[64];
        output logits = x -> dense(64) as fc1 -> relu -> dense(10) as fc2;
    }

    train DigitsMlp {
        loss: cross_entropy,
        optimizer: sgd(lr: 0.1, momentum: 0.9),
        batch: 32,
        epochs: 30,
    }

    model MnistMlp {
        input x: f32[784]; // per-sample shape; the batch dim is implicit
        output logits = x -> dense(128) as fc1 -> relu -> dense(10) as fc2;
    }

    model LeNet {
        input x: f32[1, 28, 28];
        let f = x -> conv2d(6, kernel: 5, padding: 2) -> relu -> maxpool2d(2)
                  -> conv2d(16, kernel: 5) -> relu -> maxpool2d(2);
        output logits = f -> flatten -> dense(120) -> relu -> dense(84) -> relu -> dense(10);
    }

    model Residual {
        input x: f32[64];
        let h = x -> dense(64) -> relu -> dense(64);
        output y = relu(h + x); // call form and `+` work too
    }

    model DigitsResNet {
        input x: f32[64];
        let a = x -> dense(64) as stem -> relu;
        let b = relu(a -> dense(64) -> relu -> dense(64) + a);
        let c = relu(b -> dense(64) -> relu -> dense(64) + b);
        output logits = c -> dense(10) as head;
    }

    /* A small inception-style CNN: two parallel branches joined with concat,
       batch normalization after each convolution, dropout before the head. */
    model MiniInception {
        input x: f32[1, 28, 28];
        let stem = x -> conv2d(16, kernel: 3, padding: 1) -> batchnorm -> relu -> maxpool2d(2);
        let narrow = stem -> conv2d(8, kernel: 1) -> batchnorm -> relu;
        let wide = stem -> conv2d(8, kernel: 5, padding: 2) -> batchnorm -> relu;
        let pooled = stem -> avgpool2d(3, stride: 1, padding: 1) -> conv2d(8, kernel: 1);
        let mixed = concat(narrow, wide, pooled, axis: 0) -> maxpool2d(2);
        output logits = mixed -> flatten -> dropout(0.25) -> dense(64) -> batchnorm
                              -> relu -> dense(10);
    }
}

fn finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

fn main() {
    assert!(finite(&DigitsMlp::new(1).forward(&[0.5; digits_mlp::X_LEN])));
    assert!(finite(&MnistMlp::new(1).forward(&[0.5; 784])));
    assert!(finite(&LeNet::new(1).forward(&[0.5; 784])));
    assert!(finite(&Residual::new(1).forward(&[0.5; 64])));
    assert!(finite(&DigitsResNet::new(1).forward(&[0.5; 64])));
    assert!(finite(&MiniInception::new(1).forward(&[0.5; 784])));
    // The weights are PyTorch's state_dict, by name.
    let mlp = MnistMlp::new(1);
    assert_eq!(mlp.param("fc1.weight").map(<[f32]>::len), Some(128 * 784));
    assert_eq!(mnist_mlp::params::ALL.len(), 4);

    // nalgebra in and out, the same numbers as arrays.
    use nnspec::nalgebra::{Const, Dyn, OMatrix, SVector};
    let x: Vec<f32> = (0..3 * 784).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect();
    let one: &[f32; 784] = x[..784].try_into().unwrap();
    let v = SVector::<f32, 784>::from_column_slice(one);
    assert_eq!(mlp.forward_vector(&v).as_slice(), mlp.forward(one).as_slice());
    // A column per sample is the row-major batch: sample 1 is column 1.
    let columns = OMatrix::<f32, Const<784>, Dyn>::from_column_slice(&x);
    let mut y = OMatrix::<f32, Const<10>, Dyn>::zeros(3);
    let mut arena = vec![0.0f32; mnist_mlp::arena_len(3, 1)];
    let serial = nnspec::runtime::threads::Serial;
    mlp.forward_columns(&columns, &mut y, &mut arena, &serial);
    let mut rows = [0.0f32; 30];
    mlp.forward_batch(&x, &mut rows, &mut arena, &serial);
    assert_eq!(y.as_slice(), &rows[..]);
    let column: Vec<f32> = y.column(1).iter().copied().collect();
    assert_eq!(column, &rows[10..20]);
    // One sample alone is a batch of one. (Not bit-equal to its row in a
    // batch of three on every kernel tier: the portable dense kernel sums
    // in another order for a single row.)
    let second: &[f32; 784] = x[784..2 * 784].try_into().unwrap();
    let mut alone = [0.0f32; 10];
    mlp.forward_batch(second, &mut alone, &mut arena, &serial);
    assert_eq!(alone, mlp.forward(second));
}
