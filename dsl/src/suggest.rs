//! "Did you mean ...?" for misspelled names.

/// The candidate closest to `name` by edit distance, if it is close enough
/// to be a plausible typo (at most a third of the name's length, and at
/// least one edit allowed); ties go to the earliest candidate.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    // Every one- or two-letter name is one edit from every other: no signal.
    if name.chars().count() < 3 {
        return None;
    }
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.to_string())
}

/// Edit distance over chars counting a swap of neighbours as one edit
/// (optimal string alignment), since `desne` is one slip from `dense`.
/// Names longer than 64 chars are never typos of short keywords, so long
/// inputs are cut short cheaply.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(65).collect();
    let b: Vec<char> = b.chars().take(65).collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("dense", "dense"), 0);
        assert_eq!(edit_distance("dnese", "dense"), 1);
        assert_eq!(edit_distance("dnse", "dense"), 1);
        assert_eq!(edit_distance("abc", "cba"), 2);
        assert_eq!(edit_distance("desne", "dense"), 1);
        assert_eq!(edit_distance("conv2", "conv2d"), 1);
        assert_eq!(edit_distance("", "relu"), 4);
    }

    #[test]
    fn suggests_close_names_only() {
        let layers = ["dense", "conv2d", "relu", "maxpool2d"];
        assert_eq!(did_you_mean("desne", layers).as_deref(), Some("dense"));
        assert_eq!(did_you_mean("conv2", layers).as_deref(), Some("conv2d"));
        assert_eq!(
            did_you_mean("maxpool", layers).as_deref(),
            Some("maxpool2d")
        );
        assert_eq!(did_you_mean("transformer", layers), None);
    }
}
