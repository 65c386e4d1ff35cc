//! Structured pruning's arithmetic: rank a layer's output units by the L2
//! norm of their incoming weights, keep the strongest, and cut any tensor
//! along the axis that indexes those units.
//!
//! L2, not L1: it is `torch.nn.utils.prune.ln_structured(n=2, dim=0)`'s
//! criterion, so a PyTorch user can reproduce the choice of units; the two
//! norms rank units the same way unless a unit's weight is concentrated in
//! a few large entries, which L2 (rightly, for a ReLU unit's reach) counts
//! as more important.

/// The L2 norm of each of the `units` slices of a weight whose leading
/// axis indexes output units (`[out, in]`, `[out, in, kh, kw]`), in f64.
pub fn unit_norms(weight: &[f32], units: usize) -> Vec<f64> {
    if units == 0 {
        return Vec::new();
    }
    let per_unit = weight.len() / units;
    weight
        .chunks(per_unit.max(1))
        .take(units)
        .map(|row| {
            row.iter()
                .map(|&w| f64::from(w) * f64::from(w))
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

/// The `keep` units with the largest norms, in increasing index order (the
/// order they keep in the smaller model). Ties keep the earlier unit.
pub fn strongest(norms: &[f64], keep: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..norms.len()).collect();
    order.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]).then(a.cmp(&b)));
    order.truncate(keep.min(norms.len()));
    order.sort_unstable();
    order
}

/// How to cut one tensor: along `axis`, whose length is `units · block`
/// (`block` > 1 where a flatten made each channel a run of `block`
/// features of a dense layer's input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub axis: usize,
    pub block: usize,
}

/// `data` (row-major, `shape`) with only the units `keep` along the cut's
/// axis; returns the new data and shape. `None` when the axis does not
/// exist or its length is not a multiple of the block.
pub fn select(
    data: &[f32],
    shape: &[usize],
    cut: Cut,
    keep: &[usize],
) -> Option<(Vec<f32>, Vec<usize>)> {
    let len = *shape.get(cut.axis)?;
    if cut.block == 0 || len % cut.block != 0 || keep.iter().any(|&u| u >= len / cut.block) {
        return None;
    }
    let outer: usize = shape[..cut.axis].iter().product();
    let inner: usize = shape[cut.axis + 1..].iter().product();
    let run = cut.block * inner;
    let mut out = Vec::with_capacity(outer * keep.len() * run);
    for o in 0..outer {
        let base = o * len * inner;
        for &unit in keep {
            let start = base + unit * run;
            out.extend_from_slice(&data[start..start + run]);
        }
    }
    let mut new_shape = shape.to_vec();
    new_shape[cut.axis] = keep.len() * cut.block;
    Some((out, new_shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_rank_and_cut_rows_and_column_blocks() {
        // Three units of two weights: norms 5, 0, 1.
        let w = [3.0, 4.0, 0.0, 0.0, 0.0, -1.0];
        let norms = unit_norms(&w, 3);
        assert_eq!(norms, vec![5.0, 0.0, 1.0]);
        let keep = strongest(&norms, 2);
        assert_eq!(keep, vec![0, 2]);
        let (rows, shape) = select(&w, &[3, 2], Cut { axis: 0, block: 1 }, &keep).unwrap();
        assert_eq!((rows, shape), (vec![3.0, 4.0, 0.0, -1.0], vec![2, 2]));
        // Columns in blocks of two: a [2, 6] weight reading 3 channels of 2.
        let next: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let (cols, shape) = select(&next, &[2, 6], Cut { axis: 1, block: 2 }, &keep).unwrap();
        assert_eq!(shape, vec![2, 4]);
        assert_eq!(cols, vec![0.0, 1.0, 4.0, 5.0, 6.0, 7.0, 10.0, 11.0]);
        assert!(select(&next, &[2, 6], Cut { axis: 1, block: 4 }, &keep).is_none());
        assert!(select(&next, &[2, 6], Cut { axis: 2, block: 1 }, &keep).is_none());
    }

    #[test]
    fn ties_keep_the_earlier_unit() {
        assert_eq!(strongest(&[1.0, 1.0, 1.0, 2.0], 2), vec![0, 3]);
        assert_eq!(strongest(&[0.0; 4], 1), vec![0]);
    }
}
