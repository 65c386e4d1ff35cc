//! A seeded generator of valid `.nn` models: every layer of the language,
//! on vectors, `[C, L]` (also read as `[len, features]` sequences) and images, with residual sums, concatenations of
//! one value with another of its shape, reshapes, several inputs and
//! several outputs. The generator tracks shapes itself so every model it
//! writes checks (the tests assert that, so a drift between the two shows).
#![allow(dead_code)]

use nnspec::runtime::rng::Rng;

/// A named value and its per-sample shape.
#[derive(Clone)]
struct Var {
    name: String,
    shape: Vec<usize>,
}

struct Gen<'r> {
    rng: &'r mut Rng,
    vars: Vec<Var>,
    lines: Vec<String>,
    next: usize,
}

/// The source of one model called `name`, drawn from `rng`.
pub fn random_model(rng: &mut Rng, name: &str) -> String {
    let shape = match rng.below(3) {
        0 => vec![4 + rng.below(20)],
        1 => vec![1 + rng.below(4), 3 + rng.below(10)],
        _ => vec![1 + rng.below(3), 5 + rng.below(8), 5 + rng.below(8)],
    };
    let mut g = Gen {
        rng,
        vars: Vec::new(),
        lines: Vec::new(),
        next: 1,
    };
    let dims = list(&shape);
    g.lines.push(format!("    input x: f32{dims};"));
    g.vars.push(Var {
        name: "x".into(),
        shape: shape.clone(),
    });
    if g.rng.below(4) == 0 {
        g.lines.push(format!("    input x2: f32{dims};"));
        g.vars.push(Var {
            name: "x2".into(),
            shape,
        });
        g.bind("x + x2".into(), g.vars[0].shape.clone());
    }
    for _ in 0..3 + g.rng.below(6) {
        g.step();
    }
    let last = g.vars.last().expect("a value").name.clone();
    g.lines.push(format!("    output y = {last};"));
    if g.rng.below(3) == 0 {
        let other = g.vars[g.rng.below(g.vars.len())].name.clone();
        g.lines.push(format!("    output z = {other} -> relu;"));
    }
    if g.rng.below(4) == 0 {
        // An output whose value is another output's, and one that is a
        // dropout: both need their own tensor in a graph.
        g.lines
            .push(format!("    output w = {last} -> dropout(0.3);"));
    }
    // Some models read token ids: `x` becomes an embedding of an i64
    // input, of the same shape. Chosen by the name, not drawn, so adding
    // them left every other model (and the draws after it) unchanged.
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    if hash % 4 == 1 {
        let elements: usize = g.vars[0].shape.iter().product();
        let num = 2 + elements % 29;
        g.lines[0] = format!(
            "    input tokens: i64{dims};\n    let x = tokens -> embedding({num}, 1) -> reshape({dims});"
        );
    }
    format!("model {name} {{\n{}\n}}\n", g.lines.join("\n"))
}

fn list(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// Output size of a window (PyTorch's formula), if not empty.
fn window(
    size: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    (size + 2 * padding >= span).then(|| (size + 2 * padding - span) / stride + 1)
}

impl Gen<'_> {
    fn bind(&mut self, expr: String, shape: Vec<usize>) {
        let name = format!("v{}", self.next);
        self.next += 1;
        self.lines.push(format!("    let {name} = {expr};"));
        self.vars.push(Var { name, shape });
    }

    /// The latest value mostly, sometimes an earlier one (branches).
    fn pick(&mut self) -> Var {
        let n = self.vars.len();
        if self.rng.below(4) == 0 {
            self.vars[self.rng.below(n)].clone()
        } else {
            self.vars[n - 1].clone()
        }
    }

    fn float(&mut self, low: f32, high: f32) -> String {
        format!("{:.3}", self.rng.uniform(low, high))
    }

    fn step(&mut self) {
        let v = self.pick();
        let elements: usize = v.shape.iter().product();
        // Keep models small: a large value is flattened and shrunk.
        if elements > 1500 {
            let out = 4 + self.rng.below(12);
            return self.bind(format!("{} -> flatten -> dense({out})", v.name), vec![out]);
        }
        let rank = v.shape.len();
        // Images get windows often, so convolutions and pools meet many
        // geometries (padding in the average's divisor, strides, dilation).
        if rank == 3 && self.rng.below(2) == 0 {
            return match self.rng.below(3) {
                0 => self.pool(&v),
                _ => self.conv(&v),
            };
        }
        // `[C, L]` values get the 1-D windows the same way.
        if rank == 2 && self.rng.below(3) == 0 {
            return self.window_1d(&v);
        }
        let choice = self.rng.below(21);
        match (choice, rank) {
            (0, 1) => {
                let out = 2 + self.rng.below(15);
                let bias = self.rng.below(4) != 0;
                self.bind(
                    format!("{} -> dense({out}, bias: {bias})", v.name),
                    vec![out],
                );
            }
            (0, 3) | (1, 3) => self.conv(&v),
            (2, 3) => self.pool(&v),
            (1, _) | (2, _) | (0, _) => {
                let act = match self.rng.below(10) {
                    0 => "relu".to_string(),
                    1 => format!("leaky_relu({})", self.float(0.0, 0.5)),
                    2 => "sigmoid".to_string(),
                    3 => "gelu".to_string(),
                    4 => "gelu(approximate: tanh)".to_string(),
                    5 => "silu".to_string(),
                    6 => "hardswish".to_string(),
                    7 => format!("elu({})", self.float(0.1, 2.0)),
                    8 => {
                        let (beta, threshold) = (self.float(0.5, 3.0), self.float(0.5, 20.0));
                        format!("softplus(beta: {beta}, threshold: {threshold})")
                    }
                    _ => "tanh".to_string(),
                };
                self.bind(format!("{} -> {act}", v.name), v.shape.clone());
            }
            (3, _) => {
                let axis = self.rng.below(2 * rank) as i64 - rank as i64;
                self.bind(
                    format!("{} -> softmax(axis: {axis})", v.name),
                    v.shape.clone(),
                );
            }
            (4, _) => {
                let p = self.float(0.05, 0.9);
                self.bind(format!("{} -> dropout({p})", v.name), v.shape.clone());
            }
            (5, _) | (6, _) => {
                let eps = ["1e-5", "0.001", "0.1"][self.rng.below(3)];
                let expr = format!("{} -> batchnorm(eps: {eps})", v.name);
                self.bind(expr, v.shape.clone());
            }
            (7, _) | (8, _) => {
                let other = self.same_shape(&v);
                self.bind(format!("relu({} + {})", v.name, other), v.shape.clone());
            }
            (9, _) => {
                let other = self.same_shape(&v);
                let axis = self.rng.below(rank);
                let mut shape = v.shape.clone();
                shape[axis] *= 2;
                let expr = format!("concat({}, {other} -> tanh, axis: {axis})", v.name);
                self.bind(expr, shape);
            }
            (10, _) => self.bind(format!("{} -> flatten", v.name), vec![elements]),
            (13, 2..) => {
                let axis = self.rng.below(rank);
                let mut shape = v.shape.clone();
                shape.remove(axis);
                self.bind(format!("{} -> mean(axis: {axis})", v.name), shape);
            }
            (15, 2) => {
                let out = 2 + self.rng.below(10);
                let bias = self.rng.below(3) != 0;
                let expr = format!("{} -> dense({out}, bias: {bias})", v.name);
                self.bind(expr, vec![v.shape[0], out]);
            }
            (14, _) => {
                let other = self.same_shape(&v);
                let expr = format!("{} * {other} -> sigmoid", v.name);
                self.bind(expr, v.shape.clone());
            }
            (12, _) => {
                // Large: a row of near-equal values (a relu's
                // zeros and a small value) is scaled by up to 1/sqrt(eps),
                // and with it the last-bit differences of its input.
                let eps = ["0.1", "0.5"][self.rng.below(2)];
                let affine = self.rng.below(3) != 0;
                let expr = format!(
                    "{} -> layernorm(eps: {eps}, elementwise_affine: {affine})",
                    v.name
                );
                self.bind(expr, v.shape.clone());
            }
            (11, _) => self.reshape(&v, elements),
            (18, 2) => {
                // Self-attention on a sequence [len, features]: heads that
                // divide the features, the causal mask at times.
                let features = v.shape[1];
                let divisors: Vec<usize> = (1..=features)
                    .filter(|h| features.is_multiple_of(*h))
                    .collect();
                let heads = divisors[self.rng.below(divisors.len())];
                let causal = self.rng.below(2) == 0;
                let expr = format!("{} -> attention({heads}, causal: {causal})", v.name);
                self.bind(expr, v.shape.clone());
            }
            // A [len, features] value read as a sequence.
            (19, 2) => {
                let (hidden, layers) = (1 + self.rng.below(6), 1 + self.rng.below(2));
                let expr = format!("{} -> lstm({hidden}, layers: {layers})", v.name);
                self.bind(expr, vec![v.shape[0], hidden]);
            }
            (20, 2) => self.bind(format!("{} -> last", v.name), vec![v.shape[1]]),
            _ => {
                let out = 2 + self.rng.below(12);
                let expr = format!("{} -> flatten -> dense({out}) -> relu", v.name);
                self.bind(expr, vec![out]);
            }
        }
    }

    /// A value of `v`'s shape: another one if there is, else `v` itself.
    fn same_shape(&mut self, v: &Var) -> String {
        let same: Vec<String> = self
            .vars
            .iter()
            .filter(|o| o.shape == v.shape)
            .map(|o| o.name.clone())
            .collect();
        same[self.rng.below(same.len())].clone()
    }

    fn conv(&mut self, v: &Var) {
        let (c, h, w) = (v.shape[0], v.shape[1], v.shape[2]);
        // Grouped a third of the time (depthwise when the divisor drawn is
        // `c`), with one or two filters per group.
        let divisors: Vec<usize> = (1..=c).filter(|&d| c.is_multiple_of(d)).collect();
        let groups = match self.rng.below(3) {
            0 => divisors[self.rng.below(divisors.len())],
            _ => 1,
        };
        let out = match groups {
            1 => 1 + self.rng.below(4),
            g => g * (1 + self.rng.below(2)),
        };
        let grouping = match groups {
            1 => String::new(),
            g => format!(", groups: {g}"),
        };
        for _ in 0..8 {
            let kernel = [1 + self.rng.below(3), 1 + self.rng.below(3)];
            let stride = [1 + self.rng.below(2), 1 + self.rng.below(2)];
            let padding = [self.rng.below(kernel[0]), self.rng.below(kernel[1])];
            let dilation = [1 + self.rng.below(2), 1 + self.rng.below(2)];
            let (Some(oh), Some(ow)) = (
                window(h, kernel[0], stride[0], padding[0], dilation[0]),
                window(w, kernel[1], stride[1], padding[1], dilation[1]),
            ) else {
                continue;
            };
            let bias = self.rng.below(4) != 0;
            let expr = format!(
                "{} -> conv2d({out}, kernel: {}, stride: {}, padding: {}, dilation: {}, bias: {bias}{grouping})",
                v.name,
                list(&kernel),
                list(&stride),
                list(&padding),
                list(&dilation)
            );
            return self.bind(expr, vec![out, oh, ow]);
        }
        self.bind(format!("{} -> relu", v.name), v.shape.clone());
    }

    fn pool(&mut self, v: &Var) {
        let (c, h, w) = (v.shape[0], v.shape[1], v.shape[2]);
        if self.rng.below(5) == 0 {
            return self.bind(format!("{} -> global_avgpool2d", v.name), vec![c, 1, 1]);
        }
        if self.rng.below(5) == 0 {
            // Windows of one size (ONNX has no operator for others).
            let divisor = |rng: &mut Rng, n: usize| {
                let d: Vec<usize> = (1..=n).filter(|&d| n.is_multiple_of(d)).collect();
                d[rng.below(d.len())]
            };
            let out = [divisor(self.rng, h), divisor(self.rng, w)];
            let expr = format!("{} -> adaptive_avgpool2d({})", v.name, list(&out));
            return self.bind(expr, vec![c, out[0], out[1]]);
        }
        let kernel = [2 + self.rng.below(2), 2 + self.rng.below(2)];
        let stride = [1 + self.rng.below(2), 1 + self.rng.below(2)];
        let padding = [
            self.rng.below(kernel[0] / 2 + 1),
            self.rng.below(kernel[1] / 2 + 1),
        ];
        let (Some(oh), Some(ow)) = (
            window(h, kernel[0], stride[0], padding[0], 1),
            window(w, kernel[1], stride[1], padding[1], 1),
        ) else {
            return self.bind(format!("{} -> sigmoid", v.name), v.shape.clone());
        };
        let op = if self.rng.below(2) == 0 {
            "maxpool2d"
        } else {
            "avgpool2d"
        };
        let expr = format!(
            "{} -> {op}({}, stride: {}, padding: {})",
            v.name,
            list(&kernel),
            list(&stride),
            list(&padding)
        );
        self.bind(expr, vec![c, oh, ow]);
    }

    /// conv1d (twice as often), maxpool1d or avgpool1d on a `[C, L]` value.
    fn window_1d(&mut self, v: &Var) {
        let (c, len) = (v.shape[0], v.shape[1]);
        let kind = self.rng.below(4);
        let kernel = 1 + self.rng.below(4);
        let stride = 1 + self.rng.below(2);
        let (expr, channels, out) = if kind < 2 {
            let padding = self.rng.below(kernel);
            let dilation = 1 + self.rng.below(2);
            let out_channels = 1 + self.rng.below(4);
            let bias = self.rng.below(4) != 0;
            let expr = format!(
                "{} -> conv1d({out_channels}, kernel: {kernel}, stride: {stride}, padding: {padding}, dilation: {dilation}, bias: {bias})",
                v.name
            );
            (
                expr,
                out_channels,
                window(len, kernel, stride, padding, dilation),
            )
        } else {
            let padding = self.rng.below(kernel / 2 + 1);
            let op = if kind == 2 { "maxpool1d" } else { "avgpool1d" };
            let expr = format!(
                "{} -> {op}({kernel}, stride: {stride}, padding: {padding})",
                v.name
            );
            (expr, c, window(len, kernel, stride, padding, 1))
        };
        match out {
            Some(out) => self.bind(expr, vec![channels, out]),
            None => self.bind(format!("{} -> sigmoid", v.name), v.shape.clone()),
        }
    }

    /// `[n]` into two or three factors, with a `-1` sometimes.
    fn reshape(&mut self, v: &Var, elements: usize) {
        let divisors: Vec<usize> = (1..=elements)
            .filter(|&d| elements.is_multiple_of(d))
            .collect();
        let a = divisors[self.rng.below(divisors.len())];
        let shape = vec![a, elements / a];
        let text = if self.rng.below(2) == 0 {
            format!("[{a}, -1]")
        } else {
            list(&shape)
        };
        self.bind(format!("{} -> reshape({text})", v.name), shape);
    }
}
