//! The Plan's text form, which the plan snapshots show.

// Every step must print: no catch-all arm (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::*;

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |id: &BufferId| format!("%{}", id.0);
        let p = |id: &ParamId| self.params[id.index()].name.clone();
        let opt_p = |id: &Option<ParamId>| id.as_ref().map_or("-".to_string(), p);
        let opt_b = |id: &Option<BufferId>| id.as_ref().map_or("-".to_string(), b);
        writeln!(f, "plan {} {{", self.model)?;
        writeln!(f, "  buffers:")?;
        for (i, buffer) in self.buffers.iter().enumerate() {
            let size = match buffer.size {
                Size::PerSample(n) => format!("N×{n}"),
                Size::Fixed(n) => format!("{n}"),
            };
            let ty = match buffer.ty {
                BufferType::F32 => "f32",
                BufferType::U32 => "u32",
            };
            let alias = buffer
                .alias_of
                .map_or(String::new(), |a| format!(" = view of %{}", a.0));
            writeln!(f, "    %{i} {}: {ty}[{size}]{alias}", buffer.name)?;
        }
        writeln!(f, "  params:")?;
        for param in &self.params {
            let init = match param.init {
                Init::Uniform { bound } => format!("uniform(±{bound:.6})"),
                Init::Constant(c) => format!("constant({c})"),
                Init::Normal { std } => format!("normal(0, {std})"),
            };
            let kind = match param.kind {
                ParamKind::Trainable => "",
                ParamKind::State => " state",
                ParamKind::Counter => " counter",
            };
            writeln!(f, "    {}: {:?} {init}{kind}", param.name, param.shape)?;
        }
        let inputs: Vec<String> = self.inputs.iter().map(b).collect();
        writeln!(f, "  inputs: {}", inputs.join(", "))?;
        writeln!(f, "  forward:")?;
        for step in &self.forward {
            let line = match step {
                Step::Dense {
                    x,
                    weight,
                    bias,
                    y,
                    in_features,
                    out_features,
                    relu,
                } => format!(
                    "{} = dense{}({}, {}, {}) {in_features}->{out_features}",
                    b(y),
                    if *relu { "_relu" } else { "" },
                    b(x),
                    p(weight),
                    opt_p(bias)
                ),
                Step::Conv2d {
                    x,
                    weight,
                    bias,
                    y,
                    shape,
                    relu,
                } => format!(
                    "{} = {}({}, {}, {}) {}",
                    b(y),
                    if *relu { "conv2d_relu" } else { "conv2d" },
                    b(x),
                    p(weight),
                    opt_p(bias),
                    conv_text(shape)
                ),
                Step::GroupedConv2d {
                    x,
                    weight,
                    bias,
                    y,
                    shape,
                    groups,
                    relu,
                } => format!(
                    "{} = {}({}, {}, {}) {} groups {groups}",
                    b(y),
                    if *relu { "conv2d_relu" } else { "conv2d" },
                    b(x),
                    p(weight),
                    opt_p(bias),
                    conv_text(shape)
                ),
                Step::MaxPool2d {
                    x,
                    y,
                    indices,
                    shape,
                } => {
                    format!(
                        "{}, {} = maxpool2d({}) {}",
                        b(y),
                        b(indices),
                        b(x),
                        pool_text(shape)
                    )
                }
                Step::AvgPool2d { x, y, shape } => {
                    format!("{} = avgpool2d({}) {}", b(y), b(x), pool_text(shape))
                }
                Step::AdaptiveAvgPool2d {
                    x,
                    y,
                    channels,
                    in_hw,
                    out_hw,
                } => format!(
                    "{} = adaptive_avgpool2d({}) [{channels}, {}, {}] -> {out_hw:?}",
                    b(y),
                    b(x),
                    in_hw[0],
                    in_hw[1]
                ),
                Step::Relu { x, y } => format!("{} = relu({})", b(y), b(x)),
                Step::LeakyRelu {
                    x,
                    y,
                    negative_slope,
                } => {
                    format!("{} = leaky_relu({}, {negative_slope})", b(y), b(x))
                }
                Step::Sigmoid { x, y } => format!("{} = sigmoid({})", b(y), b(x)),
                Step::Tanh { x, y } => format!("{} = tanh({})", b(y), b(x)),
                Step::Gelu { x, y, approximate } => {
                    format!("{} = gelu({}, {approximate:?})", b(y), b(x))
                }
                Step::Silu { x, y } => format!("{} = silu({})", b(y), b(x)),
                Step::Hardswish { x, y } => format!("{} = hardswish({})", b(y), b(x)),
                Step::Elu { x, y, alpha } => format!("{} = elu({}, {alpha})", b(y), b(x)),
                Step::Softplus {
                    x,
                    y,
                    beta,
                    threshold,
                } => format!("{} = softplus({}, {beta}, {threshold})", b(y), b(x)),
                Step::Softmax {
                    x,
                    y,
                    outer,
                    axis_len,
                    inner,
                } => format!(
                    "{} = softmax({}) over [{outer}, {axis_len}, {inner}]",
                    b(y),
                    b(x)
                ),
                Step::Dropout { x, y, mask, p } => {
                    format!("{}, {} = dropout({}, p: {p})", b(y), b(mask), b(x))
                }
                Step::BatchNorm {
                    x,
                    y,
                    weight,
                    bias,
                    running_mean,
                    running_var,
                    num_batches_tracked,
                    save_mean,
                    save_invstd,
                    channels,
                    spatial,
                    eps,
                    momentum,
                } => format!(
                    "{}, {}, {} = batchnorm({}, {}, {}, {}, {}, {}) [{channels}×{spatial}] eps {eps} momentum {momentum}",
                    b(y),
                    b(save_mean),
                    b(save_invstd),
                    b(x),
                    p(weight),
                    p(bias),
                    p(running_mean),
                    p(running_var),
                    p(num_batches_tracked)
                ),
                Step::Add { a, b: rhs, y } => format!("{} = add({}, {})", b(y), b(a), b(rhs)),
                Step::Mul { a, b: rhs, y } => format!("{} = mul({}, {})", b(y), b(a), b(rhs)),
                Step::LayerNorm {
                    x,
                    y,
                    weight,
                    bias,
                    save_mean,
                    save_rstd,
                    width,
                    eps,
                } => format!(
                    "{}, {}, {} = layernorm({}, {}, {}) over {width} eps {eps}",
                    b(y),
                    b(save_mean),
                    b(save_rstd),
                    b(x),
                    opt_p(weight),
                    opt_p(bias)
                ),
                Step::Mean {
                    x,
                    y,
                    outer,
                    axis_len,
                    inner,
                } => format!("{} = mean({}) [{outer}×{axis_len}×{inner}]", b(y), b(x)),
                Step::Concat {
                    inputs,
                    lens,
                    outer,
                    inner,
                    y,
                } => {
                    let xs: Vec<String> = inputs.iter().map(b).collect();
                    format!(
                        "{} = concat({}) lens {lens:?} outer {outer} inner {inner}",
                        b(y),
                        xs.join(", ")
                    )
                }
                Step::Attention {
                    x,
                    params,
                    heads,
                    probs,
                    ctx,
                    y,
                    shape,
                } => format!(
                    "{}, {}, {}, {} = attention({}, {}) {}",
                    b(y),
                    b(heads),
                    b(probs),
                    b(ctx),
                    b(x),
                    params.iter().map(p).collect::<Vec<_>>().join(", "),
                    attention_text(shape)
                ),
                Step::Lstm {
                    x, y, saved, shape, ..
                } => {
                    let saved: Vec<String> = saved.iter().map(b).collect();
                    let s = shape;
                    format!(
                        "{} = lstm({}) len {} {} -> {} layers {} saves {}",
                        b(y),
                        b(x),
                        s.len,
                        s.input,
                        s.hidden,
                        s.layers,
                        saved.join(", ")
                    )
                }
                Step::Last { x, y, .. } => format!("{} = last({})", b(y), b(x)),
                Step::Embedding { ids, weight, y, .. } => {
                    format!("{} = embedding({}, {})", b(y), p(weight), b(ids))
                }
            };
            writeln!(f, "    {line}")?;
        }
        for (name, id, shape) in &self.outputs {
            writeln!(f, "  output {name} = {} {shape:?}", b(id))?;
        }
        if let Some(loss) = &self.loss {
            let kind = match loss.kind {
                LossKind::CrossEntropy {
                    classes,
                    label_smoothing,
                } => {
                    let mut text = format!("cross_entropy over {classes} classes");
                    if label_smoothing != 0.0 {
                        text += &format!(", label smoothing {label_smoothing}");
                    }
                    if let Some(weight) = &loss.weight {
                        text += &format!(", weights {weight:?}");
                    }
                    text
                }
                LossKind::Mse { len } => format!("mse over {len}"),
                LossKind::L1 { len } => format!("l1 over {len}"),
                LossKind::SmoothL1 { len, beta } => format!("smooth_l1 over {len}, beta {beta}"),
                LossKind::BceWithLogits { len } => format!("bce_with_logits over {len}"),
            };
            writeln!(
                f,
                "  loss: {} = grad of {kind} at {}",
                b(&loss.grad),
                b(&loss.output)
            )?;
        }
        if !self.backward.is_empty() {
            writeln!(f, "  backward:")?;
        }
        for step in &self.backward {
            let line = match step {
                GradStep::Dense {
                    x,
                    weight,
                    bias,
                    dy,
                    dx,
                    relu_y,
                    ..
                } => format!(
                    "{}, d {}, d {} = dense_backward(x {}, dy {}{})",
                    opt_b(dx),
                    p(weight),
                    opt_p(bias),
                    b(x),
                    b(dy),
                    relu_y.map_or(String::new(), |y| format!(", relu mask {}", b(&y)))
                ),
                GradStep::Conv2d {
                    x,
                    weight,
                    bias,
                    dy,
                    dx,
                    relu_y,
                    ..
                } => format!(
                    "{}, d {}, d {} = conv2d_backward(x {}, dy {}{})",
                    opt_b(dx),
                    p(weight),
                    opt_p(bias),
                    b(x),
                    b(dy),
                    relu_y.map_or(String::new(), |y| format!(", relu mask {}", b(&y)))
                ),
                GradStep::GroupedConv2d {
                    x,
                    weight,
                    bias,
                    dy,
                    dx,
                    relu_y,
                    groups,
                    ..
                } => format!(
                    "{}, d {}, d {} = conv2d_backward(x {}, dy {}{}) groups {groups}",
                    opt_b(dx),
                    p(weight),
                    opt_p(bias),
                    b(x),
                    b(dy),
                    relu_y.map_or(String::new(), |y| format!(", relu mask {}", b(&y)))
                ),
                GradStep::MaxPool2d {
                    dy, indices, dx, ..
                } => {
                    format!(
                        "{} = maxpool2d_backward(dy {}, indices {})",
                        b(dx),
                        b(dy),
                        b(indices)
                    )
                }
                GradStep::AdaptiveAvgPool2d { dy, dx, .. } => {
                    format!("{} = adaptive_avgpool2d_backward(dy {})", b(dx), b(dy))
                }
                GradStep::AvgPool2d { dy, dx, .. } => {
                    format!("{} = avgpool2d_backward(dy {})", b(dx), b(dy))
                }
                GradStep::Relu { y, dy, dx } => {
                    format!("{} = relu_backward(y {}, dy {})", b(dx), b(y), b(dy))
                }
                GradStep::LeakyRelu { x, dy, dx, .. } => {
                    format!("{} = leaky_relu_backward(x {}, dy {})", b(dx), b(x), b(dy))
                }
                GradStep::Sigmoid { y, dy, dx } => {
                    format!("{} = sigmoid_backward(y {}, dy {})", b(dx), b(y), b(dy))
                }
                GradStep::Tanh { y, dy, dx } => {
                    format!("{} = tanh_backward(y {}, dy {})", b(dx), b(y), b(dy))
                }
                GradStep::Gelu { x, dy, dx, .. } => {
                    format!("{} = gelu_backward(x {}, dy {})", b(dx), b(x), b(dy))
                }
                GradStep::Silu { x, dy, dx } => {
                    format!("{} = silu_backward(x {}, dy {})", b(dx), b(x), b(dy))
                }
                GradStep::Hardswish { x, dy, dx } => {
                    format!("{} = hardswish_backward(x {}, dy {})", b(dx), b(x), b(dy))
                }
                GradStep::Elu { x, dy, dx, .. } => {
                    format!("{} = elu_backward(x {}, dy {})", b(dx), b(x), b(dy))
                }
                GradStep::Softplus { x, dy, dx, .. } => {
                    format!("{} = softplus_backward(x {}, dy {})", b(dx), b(x), b(dy))
                }
                GradStep::Softmax { y, dy, dx, .. } => {
                    format!("{} = softmax_backward(y {}, dy {})", b(dx), b(y), b(dy))
                }
                GradStep::Dropout { mask, dy, dx } => {
                    format!(
                        "{} = dropout_backward(mask {}, dy {})",
                        b(dx),
                        b(mask),
                        b(dy)
                    )
                }
                GradStep::BatchNorm {
                    x,
                    dy,
                    dx,
                    weight,
                    bias,
                    ..
                } => format!(
                    "{}, d {}, d {} = batchnorm_backward(x {}, dy {})",
                    opt_b(dx),
                    p(weight),
                    p(bias),
                    b(x),
                    b(dy)
                ),
                GradStep::LayerNorm {
                    x, dy, dx, weight, ..
                } => format!(
                    "{}, d {} = layernorm_backward(x {}, dy {})",
                    opt_b(dx),
                    opt_p(weight),
                    b(x),
                    b(dy)
                ),
                GradStep::Mul {
                    a,
                    b: rhs,
                    dy,
                    da,
                    db,
                } => format!(
                    "{}, {} = mul_backward(a {}, b {}, dy {})",
                    opt_b(da),
                    opt_b(db),
                    b(a),
                    b(rhs),
                    b(dy)
                ),
                GradStep::Mean { dy, dx, .. } => {
                    format!("{} = mean_backward(dy {})", b(dx), b(dy))
                }
                GradStep::Concat { dy, dxs, .. } => {
                    let outs: Vec<String> = dxs.iter().map(opt_b).collect();
                    format!("{} = concat_backward(dy {})", outs.join(", "), b(dy))
                }
                GradStep::Attention {
                    x,
                    params,
                    heads,
                    probs,
                    ctx,
                    dy,
                    dx,
                    shape,
                } => format!(
                    "{}, d {} = attention_backward(x {}, saved {}, {}, {}, dy {}) {}",
                    opt_b(dx),
                    params.iter().map(p).collect::<Vec<_>>().join(", d "),
                    b(x),
                    b(heads),
                    b(probs),
                    b(ctx),
                    b(dy),
                    attention_text(shape)
                ),
                GradStep::Lstm { dy, dx, params, .. } => {
                    let ps: Vec<String> = params.iter().map(|id| format!("d {}", p(id))).collect();
                    format!(
                        "{}, {} = lstm_backward(dy {})",
                        opt_b(dx),
                        ps.join(", "),
                        b(dy)
                    )
                }
                GradStep::Last { dy, dx, .. } => {
                    format!("{} = last_backward(dy {})", b(dx), b(dy))
                }
                GradStep::Copy { from, to } => format!("{} = copy({})", b(to), b(from)),
                GradStep::Accumulate { into, from } => format!("{} += {}", b(into), b(from)),
                GradStep::Embedding {
                    ids, dy, weight, ..
                } => format!(
                    "d.{} = embedding_backward(ids {}, dy {})",
                    p(weight),
                    b(ids),
                    b(dy)
                ),
            };
            writeln!(f, "    {line}")?;
        }
        if let Some(optimizer) = &self.optimizer {
            writeln!(f, "  update: {optimizer:?}")?;
        }
        writeln!(f, "}}")
    }
}

fn attention_text(s: &AttentionShape) -> String {
    format!(
        "[{}, {}] heads {}{}",
        s.len,
        s.dim,
        s.heads,
        if s.causal { " causal" } else { "" }
    )
}

fn conv_text(s: &ConvShape) -> String {
    format!(
        "[{}, {}, {}] -> {} kernel {:?} stride {:?} padding {:?} dilation {:?}",
        s.in_channels, s.in_h, s.in_w, s.out_channels, s.kernel, s.stride, s.padding, s.dilation
    )
}

fn pool_text(s: &PoolShape) -> String {
    format!(
        "[{}, {}, {}] kernel {:?} stride {:?} padding {:?}",
        s.channels, s.in_h, s.in_w, s.kernel, s.stride, s.padding
    )
}
