//! The int8 kernels on every tier this CPU runs (forced one after another
//! with `force_int8_tier`) against a naive reference computed in `i64`
//! from the unpacked weights and the scheme's scalar requantization:
//! random dense shapes (ragged `n` and `k`, `k` up to 3000, 1..70 rows,
//! zero points 0/63/127, ReLU on and off, multipliers and shifts over their
//! whole range), the all-127 activations against ±127 weights that would
//! saturate a careless `vpmaddubsw`, convolutions with stride, padding and
//! dilation, and quantize / dequantize / max pooling against their scalar
//! definitions. Each tier must give exactly the reference's integers.

use nnspec_runtime::cpu::{self, Tier};
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::plan::{ConvShape, PoolShape};
use nnspec_runtime::rng::Rng;
use nnspec_runtime::threads::{Serial, Threads};
use nnspec_runtime_core::quant::kernels::{
    self, Int8Tier, PackedLayer, force_int8_tier, int8_tier, portable, supported_int8_tiers,
    unforce_int8_tier,
};
use nnspec_runtime_core::quant::{ACT_MAX, QuantParams, Requant};
use std::sync::Mutex;

/// The tier is process-wide: tests that force one take turns.
static TIER_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    TIER_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A layer with its unpacked weight, as the reference reads it.
struct Layer {
    n: usize,
    k: usize,
    weight: Vec<i8>,
    packed: Vec<i8>,
    sums: Vec<i32>,
    bias: Vec<i32>,
    requant: Vec<Requant>,
}

impl Layer {
    fn new(n: usize, k: usize, weight: Vec<i8>, rng: &mut Rng) -> Layer {
        let bias = (0..n)
            .map(|_| match rng.below(4) {
                0 => 0,
                // Large enough to saturate the left shift of big multipliers.
                1 => rng.next_u64() as i32 >> 1,
                _ => (rng.next_u64() % 2_000_001) as i32 - 1_000_000,
            })
            .collect();
        let requant = (0..n).map(|_| random_requant(rng)).collect();
        Layer {
            n,
            k,
            packed: kernels::pack_weights(&weight, n, k),
            sums: kernels::weight_sums(&weight, n, k),
            weight,
            bias,
            requant,
        }
    }

    fn packed(&self) -> PackedLayer<'_> {
        PackedLayer {
            n: self.n,
            k: self.k,
            packed: &self.packed,
            weight_sums: &self.sums,
            bias: &self.bias,
            requant: &self.requant,
        }
    }

    /// Output `c` for the window `x` (length `k`): the scheme written out.
    fn reference(&self, x: &[u8], c: usize, x_zp: u8, y_zp: u8, relu: bool) -> u8 {
        let w = &self.weight[c * self.k..(c + 1) * self.k];
        let dot: i64 = x.iter().zip(w).map(|(&a, &b)| a as i64 * b as i64).sum();
        let sum_w: i64 = w.iter().map(|&b| b as i64).sum();
        let v = dot - x_zp as i64 * sum_w + self.bias[c] as i64;
        // The kernels' accumulators are i32 (wrapping), as the scheme says.
        let q = self.requant[c].apply(v as i32) as i64 + y_zp as i64;
        let lo = if relu { y_zp as i64 } else { 0 };
        q.clamp(lo, ACT_MAX as i64) as u8
    }
}

/// Real multipliers as calibration makes them, and raw ones over the whole
/// representable range (every shift from −31 to 30, the zero multiplier).
fn random_requant(rng: &mut Rng) -> Requant {
    match rng.below(3) {
        0 => Requant::from_real(10f64.powf(rng.uniform(-5.0, 0.7) as f64)),
        1 => Requant {
            multiplier: ((1u64 << 30) + rng.next_u64() % (1u64 << 30)) as i32,
            shift: rng.below(62) as i32 - 31,
        },
        _ => Requant {
            multiplier: if rng.below(8) == 0 { 0 } else { i32::MAX },
            shift: rng.below(5) as i32 - 2,
        },
    }
}

fn random_weight(len: usize, rng: &mut Rng) -> Vec<i8> {
    (0..len)
        .map(|_| (rng.below(255) as i32 - 127) as i8)
        .collect()
}

fn random_acts(len: usize, rng: &mut Rng) -> Vec<u8> {
    (0..len)
        .map(|_| rng.below(ACT_MAX as usize + 1) as u8)
        .collect()
}

fn run_dense(
    layer: &Layer,
    x: &[u8],
    rows: usize,
    zps: (u8, u8),
    relu: bool,
    par: &dyn Threads,
) -> Vec<u8> {
    let mut y = vec![0xEEu8; rows * layer.n];
    kernels::dense(x, rows, &layer.packed(), zps.0, zps.1, relu, &mut y, par);
    y
}

/// Every tier, on one thread and on two, equals the reference on `x`.
fn check_dense(layer: &Layer, x: &[u8], rows: usize, zps: (u8, u8), relu: bool, what: &str) {
    let (n, k) = (layer.n, layer.k);
    let want: Vec<u8> = (0..rows * n)
        .map(|i| layer.reference(&x[i / n * k..][..k], i % n, zps.0, zps.1, relu))
        .collect();
    let mut portable_y = vec![0u8; rows * n];
    portable::dense(
        x,
        rows,
        &layer.packed(),
        zps.0,
        zps.1,
        relu,
        &mut portable_y,
    );
    assert_eq!(portable_y, want, "portable::dense, {what}");
    let two = Parallel::new(2);
    for tier in supported_int8_tiers() {
        assert_eq!(force_int8_tier(tier), tier);
        for (threads, par) in [(1, &Serial as &dyn Threads), (2, &two)] {
            let got = run_dense(layer, x, rows, zps, relu, par);
            if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                panic!(
                    "{tier} on {threads} thread(s), {what}: output [{}, {}] is {}, want {} ({:?})",
                    i / n,
                    i % n,
                    got[i],
                    want[i],
                    layer.requant[i % n]
                );
            }
        }
    }
}

#[test]
fn dense_matches_the_reference_on_every_tier() {
    let _guard = lock();
    let mut rng = Rng::new(12);
    let mut shapes = vec![
        (1, 128, 784),
        (1, 10, 128),
        (70, 128, 784),
        (1, 1, 1),
        (3, 17, 5),
    ];
    for _ in 0..40 {
        let n = 1 + rng.below(70);
        let k = if rng.below(4) == 0 {
            1 + rng.below(3000)
        } else {
            1 + rng.below(300)
        };
        shapes.push((1 + rng.below(70), n, k));
    }
    for (i, &(rows, n, k)) in shapes.iter().enumerate() {
        let layer = Layer::new(n, k, random_weight(n * k, &mut rng), &mut rng);
        let x = random_acts(rows * k, &mut rng);
        let x_zp = [0, 63, 127][i % 3];
        let y_zp = [0, 63, 127][(i / 3) % 3];
        let relu = i % 2 == 0;
        check_dense(
            &layer,
            &x,
            rows,
            (x_zp, y_zp),
            relu,
            &format!("{rows}x{k} -> {n}, zero points {x_zp}/{y_zp}, relu {relu}"),
        );
    }
    unforce_int8_tier();
}

/// 127 everywhere against ±127 weights: pairs of products reach ±32 258,
/// next to `vpmaddubsw`'s i16 limit; a saturating kernel would differ.
#[test]
fn extreme_values_never_saturate() {
    let _guard = lock();
    let mut rng = Rng::new(7);
    for (rows, n, k) in [(1, 33, 3000), (13, 16, 2999), (64, 5, 1024)] {
        let patterns: [Box<dyn Fn(usize) -> i8>; 3] = [
            Box::new(|_| 127),
            Box::new(|_| -127),
            Box::new(|i| if (i / 2) % 2 == 0 { 127 } else { -127 }),
        ];
        for (p, pattern) in patterns.iter().enumerate() {
            let weight: Vec<i8> = (0..n * k).map(pattern).collect();
            let mut layer = Layer::new(n, k, weight, &mut rng);
            // A small multiplier so the huge sums land inside 0..=127
            // rather than all clamping to the same value.
            for r in &mut layer.requant {
                *r = Requant::from_real(60.0 / (127.0 * 127.0 * k as f64));
            }
            layer.bias.iter_mut().for_each(|b| *b = 0);
            let x = vec![ACT_MAX; rows * k];
            check_dense(
                &layer,
                &x,
                rows,
                (0, 64),
                false,
                &format!("pattern {p}, {rows}x{k} -> {n}"),
            );
        }
    }
    unforce_int8_tier();
}

/// A direct convolution from the unpacked weight, padding reading `x_zp`.
fn conv_reference(layer: &Layer, x: &[u8], s: &ConvShape, zps: (u8, u8), relu: bool) -> Vec<u8> {
    let out = |size: usize, i: usize| {
        (size + 2 * s.padding[i] - s.dilation[i] * (s.kernel[i] - 1) - 1) / s.stride[i] + 1
    };
    let (oh, ow) = (out(s.in_h, 0), out(s.in_w, 1));
    let mut y = vec![0u8; s.out_channels * oh * ow];
    let mut window = vec![0u8; layer.k];
    for oy in 0..oh {
        for ox in 0..ow {
            for ci in 0..s.in_channels {
                for dy in 0..s.kernel[0] {
                    for dx in 0..s.kernel[1] {
                        let iy = (oy * s.stride[0] + dy * s.dilation[0]) as isize
                            - s.padding[0] as isize;
                        let ix = (ox * s.stride[1] + dx * s.dilation[1]) as isize
                            - s.padding[1] as isize;
                        let inside =
                            iy >= 0 && ix >= 0 && (iy as usize) < s.in_h && (ix as usize) < s.in_w;
                        window[(ci * s.kernel[0] + dy) * s.kernel[1] + dx] = if inside {
                            x[(ci * s.in_h + iy as usize) * s.in_w + ix as usize]
                        } else {
                            zps.0
                        };
                    }
                }
            }
            for c in 0..s.out_channels {
                y[(c * oh + oy) * ow + ox] = layer.reference(&window, c, zps.0, zps.1, relu);
            }
        }
    }
    y
}

#[test]
fn conv2d_matches_the_reference_on_every_tier() {
    let _guard = lock();
    let mut rng = Rng::new(5);
    let lenet = ConvShape {
        in_channels: 1,
        in_h: 28,
        in_w: 28,
        out_channels: 6,
        kernel: [5, 5],
        stride: [1, 1],
        padding: [2, 2],
        dilation: [1, 1],
    };
    let mut shapes = vec![lenet];
    for _ in 0..12 {
        let kernel = [1 + rng.below(4), 1 + rng.below(4)];
        let dilation = [1 + rng.below(2), 1 + rng.below(2)];
        let reach = |i: usize| dilation[i] * (kernel[i] - 1) + 1;
        shapes.push(ConvShape {
            in_channels: 1 + rng.below(5),
            in_h: reach(0) + rng.below(9),
            in_w: reach(1) + rng.below(9),
            out_channels: 1 + rng.below(40),
            kernel,
            stride: [1 + rng.below(3), 1 + rng.below(3)],
            padding: [rng.below(3), rng.below(3)],
            dilation,
        });
    }
    let two = Parallel::new(2);
    for (i, s) in shapes.iter().enumerate() {
        let k = s.in_channels * s.kernel[0] * s.kernel[1];
        let layer = Layer::new(
            s.out_channels,
            k,
            random_weight(s.out_channels * k, &mut rng),
            &mut rng,
        );
        let batch = 1 + rng.below(4);
        let in_len = s.in_channels * s.in_h * s.in_w;
        let x = random_acts(batch * in_len, &mut rng);
        let zps = ([0, 63, 127][i % 3], [0, 63, 127][(i + 1) % 3]);
        let relu = i % 2 == 1;
        let want: Vec<u8> = x
            .chunks(in_len)
            .flat_map(|image| conv_reference(&layer, image, s, zps, relu))
            .collect();
        for tier in supported_int8_tiers() {
            force_int8_tier(tier);
            for par in [&Serial as &dyn Threads, &two] {
                let mut y = vec![0xEEu8; want.len()];
                let mut scratch = vec![0u8; kernels::conv2d_scratch_len(s)];
                kernels::conv2d(
                    &x,
                    batch,
                    s,
                    &layer.packed(),
                    zps.0,
                    zps.1,
                    relu,
                    &mut y,
                    &mut scratch,
                    par,
                );
                assert!(
                    y == want,
                    "{tier}, {} threads, batch {batch}, {s:?}",
                    par.threads()
                );
            }
        }
    }
    unforce_int8_tier();
}

#[test]
fn quantize_dequantize_and_maxpool_match_the_scalar_definitions() {
    let _guard = lock();
    let mut rng = Rng::new(3);
    let mut x: Vec<f32> = (0..1003).map(|_| rng.uniform(-3.0, 3.0)).collect();
    x.extend([
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.5,
        1.5,
        2.5,
        -2.5,
        1e30,
        -1e30,
    ]);
    // Exact halves of the scale, where rounding to even matters.
    x.extend((0..40).map(|i| (i as f32 - 20.0 + 0.5) * 0.02));
    let pool = PoolShape {
        channels: 3,
        in_h: 9,
        in_w: 8,
        kernel: [2, 3],
        stride: [2, 2],
        padding: [0, 0],
    };
    let padded = PoolShape {
        padding: [1, 1],
        ..pool
    };
    let acts = random_acts(2 * 3 * 9 * 8, &mut rng);
    for tier in supported_int8_tiers() {
        force_int8_tier(tier);
        for q in [
            QuantParams::from_range(-1.0, 1.5),
            QuantParams {
                scale: 0.02,
                zero_point: 63,
            },
            QuantParams {
                scale: 0.1,
                zero_point: 0,
            },
        ] {
            let mut y = vec![0u8; x.len()];
            kernels::quantize(&x, q, &mut y);
            for (i, (&v, &got)) in x.iter().zip(&y).enumerate() {
                assert_eq!(got, q.quantize(v), "{tier}: quantize({v}) at {i}, {q:?}");
            }
            let mut back = vec![0f32; y.len()];
            kernels::dequantize(&y, q, &mut back);
            for (&v, &got) in y.iter().zip(&back) {
                assert_eq!(
                    got.to_bits(),
                    q.dequantize(v).to_bits(),
                    "{tier}: dequantize({v})"
                );
            }
        }
        for shape in [pool, padded] {
            let out = |i: usize, size: usize| {
                (size + 2 * shape.padding[i] - shape.kernel[i]) / shape.stride[i] + 1
            };
            let len = 2 * 3 * out(0, 9) * out(1, 8);
            let (mut got, mut want) = (vec![0u8; len], vec![0u8; len]);
            kernels::maxpool2d(&acts, 2, &shape, &mut got);
            portable::maxpool2d(&acts, 2, &shape, &mut want);
            // An independent check of one window: the top-left maximum.
            let first = (0..2)
                .flat_map(|dy| (0..2).map(move |dx| (dy, dx)))
                .filter(|&(dy, dx)| shape.padding == [0, 0] || (dy > 0 && dx > 0))
                .map(|(dy, dx)| acts[(dy - shape.padding[0]) * 8 + dx - shape.padding[1]])
                .max();
            if shape.padding == [1, 1] {
                assert_eq!(Some(want[0]), first, "padded pool's first window");
            }
            assert_eq!(got, want, "{tier}: maxpool {shape:?}");
        }
    }
    unforce_int8_tier();
}

#[test]
fn the_chosen_tier_is_reported_and_impossible_tiers_fall_back() {
    let _guard = lock();
    let supported: Vec<Int8Tier> = supported_int8_tiers().collect();
    let best = supported[0];
    eprintln!(
        "int8 tiers this CPU runs: {supported:?}; f32 tier {}",
        cpu::tier()
    );
    assert_eq!(supported.last(), Some(&Int8Tier::Portable));
    for t in Int8Tier::ALL {
        let got = force_int8_tier(t);
        assert_eq!(got, t.min(best), "forcing {t}");
        assert_eq!(int8_tier(), got);
        assert_eq!(Int8Tier::parse(int8_tier().name()), Some(got));
    }
    // Without a forced tier the f32 tier caps the int8 one.
    unforce_int8_tier();
    let f32_tier = cpu::tier();
    assert!(int8_tier() <= Int8Tier::cap_for(f32_tier));
    for t in cpu::supported_tiers() {
        cpu::force_tier(t);
        assert!(
            int8_tier() <= Int8Tier::cap_for(t),
            "f32 tier {t}: int8 {}",
            int8_tier()
        );
    }
    cpu::force_tier(Tier::Portable);
    assert_eq!(int8_tier(), Int8Tier::Portable);
    cpu::force_tier(f32_tier);
}

/// The environment variables, read once per process: this test runs its
/// own binary again with them set and the tier it should then report.
#[test]
fn environment_variables_pick_and_cap_the_tier() {
    if let Ok(want) = std::env::var("INT8_TIER_EXPECTED") {
        assert_eq!(int8_tier().name(), want);
        return;
    }
    let best = supported_int8_tiers().next().unwrap();
    let f32_best = cpu::supported_tiers().next().unwrap();
    let cases = [
        (Some("avx2"), None, Int8Tier::Avx2.min(best), false),
        (
            Some("auto"),
            None,
            best.min(Int8Tier::cap_for(f32_best)),
            false,
        ),
        (Some(" AvxVnni "), None, Int8Tier::AvxVnni.min(best), false),
        (
            Some("neon"),
            None,
            best.min(Int8Tier::cap_for(f32_best)),
            true,
        ),
        (None, Some("portable"), Int8Tier::Portable, false),
        (None, Some("avx2"), best.min(Int8Tier::AvxVnni), false),
        (
            Some("avx512vnni"),
            Some("avx2"),
            best.min(Int8Tier::AvxVnni),
            false,
        ),
    ];
    for (int8, f32, want, warns) in cases {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "environment_variables_pick_and_cap_the_tier",
            "--nocapture",
        ])
        .env("INT8_TIER_EXPECTED", want.name())
        .env_remove("NNSPEC_INT8_KERNELS")
        .env_remove("NNSPEC_KERNELS");
        if let Some(v) = int8 {
            cmd.env("NNSPEC_INT8_KERNELS", v);
        }
        if let Some(v) = f32 {
            cmd.env("NNSPEC_KERNELS", v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{int8:?}/{f32:?}: want {want}\n{stderr}"
        );
        // The child ran this very test (a filter matching nothing passes too).
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
        assert_eq!(
            stderr.contains("warning: NNSPEC_INT8_KERNELS="),
            warns,
            "{int8:?}/{f32:?}: {stderr}"
        );
    }
}
