//! Seeded allocation of a total over parents with per-parent bounds.
//!
//! The plant's exact totals (228 machines, 1,716 sensors, ...) are hit by construction: every
//! parent starts at its lower bound and the remainder is handed out one unit at a time to a
//! random parent that still has room. The result always respects every bound and sums to the
//! total, or the request is refused as infeasible.

use rand::Rng as _;

use crate::rng::Rng;

/// Splits `total` over parents whose counts must lie in `bounds[i].0..=bounds[i].1`.
///
/// Returns `Err((min, max))` with the feasible totals when `total` cannot be reached.
pub fn allocate(rng: &mut Rng, bounds: &[(usize, usize)], total: usize) -> Result<Vec<usize>, (usize, usize)> {
    let min: usize = bounds.iter().map(|b| b.0).sum();
    let max: usize = bounds.iter().map(|b| b.1).sum();
    if total < min || total > max || bounds.iter().any(|b| b.0 > b.1) {
        return Err((min, max));
    }
    let mut counts: Vec<usize> = bounds.iter().map(|b| b.0).collect();
    let mut open: Vec<usize> = (0..bounds.len()).filter(|&i| bounds[i].0 < bounds[i].1).collect();
    for _ in 0..total - min {
        let k = rng.random_range(0..open.len());
        let i = open[k];
        counts[i] += 1;
        if counts[i] == bounds[i].1 {
            open.swap_remove(k);
        }
    }
    Ok(counts)
}

/// Splits `total` by per-mille weights with the largest-remainder method (exact, no RNG).
pub fn by_share(total: usize, per_mille: &[u32]) -> Vec<usize> {
    let sum: u64 = per_mille.iter().map(|&w| u64::from(w)).sum();
    let mut counts: Vec<usize> = Vec::with_capacity(per_mille.len());
    let mut rema: Vec<(u64, usize)> = Vec::with_capacity(per_mille.len());
    for (i, &w) in per_mille.iter().enumerate() {
        let exact = total as u64 * u64::from(w);
        counts.push((exact / sum) as usize);
        rema.push((exact % sum, i));
    }
    let short = total - counts.iter().sum::<usize>();
    rema.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in rema.iter().take(short) {
        counts[i] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn allocation_respects_bounds_and_sums(seed in any::<u64>(), parents in 1usize..40, lo in 0usize..6, width in 0usize..8, pick in 0.0f64..=1.0) {
            let bounds: Vec<(usize, usize)> = (0..parents).map(|i| (lo + i % 2, lo + i % 2 + width)).collect();
            let min: usize = bounds.iter().map(|b| b.0).sum();
            let max: usize = bounds.iter().map(|b| b.1).sum();
            let total = min + ((max - min) as f64 * pick) as usize;
            let counts = allocate(&mut stream(seed, &[1]), &bounds, total).unwrap();
            prop_assert_eq!(counts.iter().sum::<usize>(), total);
            for (c, b) in counts.iter().zip(&bounds) {
                prop_assert!(b.0 <= *c && *c <= b.1, "count {} outside {:?}", c, b);
            }
        }

        #[test]
        fn shares_sum_exactly(total in 0usize..100_000) {
            let w = [450, 150, 100, 80, 70, 50, 40, 30, 20, 10];
            prop_assert_eq!(by_share(total, &w).iter().sum::<usize>(), total);
        }
    }

    #[test]
    fn infeasible_totals_are_refused_with_the_feasible_range() {
        let bounds = [(4, 6); 4];
        assert_eq!(allocate(&mut stream(1, &[]), &bounds, 25), Err((16, 24)));
        assert_eq!(allocate(&mut stream(1, &[]), &bounds, 15), Err((16, 24)));
    }
}
