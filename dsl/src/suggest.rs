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

/// Levenshtein distance over chars; names longer than 64 chars are never
/// typos of short keywords, so long inputs are cut short cheaply.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(65).collect();
    let b: Vec<char> = b.chars().take(65).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("dense", "dense"), 0);
        assert_eq!(edit_distance("dnese", "dense"), 2);
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
