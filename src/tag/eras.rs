//! Eras: the periods over which the registry's answer to "which coin is `TON`?" stays the same.
//!
//! Two things change that answer over time: market-cap rankings (in 2021 `TON` was Tokamak Network,
//! ranked 297 in 2022; by 2025 Toncoin ranked 37) and curated aliases valid for a period (`LUNA` meant
//! Terra Classic until Terra's relaunch on 2022-05-28). An era starts at every such change: at each
//! alias date, and halfway between two consecutive rankings, because a post belongs to the ranking
//! taken **nearest** to its time (a 2021 post to the 2022 ranking, a 2025 post to the 2025 one). Before
//! the first boundary the first ranking applies, after the last the latest one, so posts of today use
//! the newest ranking.
//!
//! A coin missing from the ranking nearest a post keeps its rank of the latest earlier ranking that
//! lists it: rankings are incomplete (the 2025 one could not map Polkadot), so absence is not read as
//! the coin being gone. A coin first ranked after that ranking claims nothing there: it did not exist
//! yet or nobody traded it, so Toncoin (unranked in 2022) does not take `TON` from Tokamak Network in
//! a 2021 post, and `$TSLA` in a 2021 tweet is not a 2025 memecoin. Curated coins (those with aliases)
//! count as unranked there instead, since an alias says the form meant them (`DATA` = Streamr).

/// Era boundaries and the ranking that applies in each era.
#[derive(Debug, Clone)]
pub struct Eras {
    /// Start of each era in Unix seconds, ascending; the first is `i64::MIN`.
    starts: Vec<i64>,
    /// Index of the ranking nearest each era (into the list's rankings), `None` without rankings.
    ranking: Vec<Option<usize>>,
}

impl Eras {
    /// Eras for rankings taken at `rankings` (Unix seconds, ascending) and aliases changing meaning
    /// at `alias_changes`.
    pub fn new(rankings: &[i64], alias_changes: impl IntoIterator<Item = i64>) -> Eras {
        let mut starts = vec![i64::MIN];
        starts.extend(rankings.windows(2).map(|w| w[0] + (w[1] - w[0]) / 2));
        starts.extend(
            alias_changes
                .into_iter()
                .filter(|&t| t != i64::MIN && t != i64::MAX),
        );
        starts.sort_unstable();
        starts.dedup();
        let ranking = starts
            .iter()
            .map(|&start| nearest(rankings, start))
            .collect();
        Eras { starts, ranking }
    }

    /// How many eras there are (at least one).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Always false: there is at least one era.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The era of an instant (Unix seconds).
    pub fn at(&self, t: i64) -> usize {
        self.starts.partition_point(|&s| s <= t) - 1
    }

    /// The era of today's posts.
    pub fn latest(&self) -> usize {
        self.starts.len() - 1
    }

    /// Where era `era` starts (Unix seconds; `i64::MIN` for the first).
    pub fn start(&self, era: usize) -> i64 {
        self.starts[era]
    }

    /// The ranking that applies in era `era`.
    pub fn ranking(&self, era: usize) -> Option<usize> {
        self.ranking[era]
    }
}

/// Index of the ranking nearest `t`; ties go to the later one.
fn nearest(rankings: &[i64], t: i64) -> Option<usize> {
    let after = rankings.partition_point(|&r| r <= t);
    match (
        after.checked_sub(1),
        (after < rankings.len()).then_some(after),
    ) {
        (Some(b), Some(a)) => {
            let (db, da) = (t.saturating_sub(rankings[b]), rankings[a].saturating_sub(t));
            Some(if da <= db { a } else { b })
        }
        (Some(b), None) => Some(b),
        (None, a) => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn a_post_takes_the_nearest_ranking() {
        let eras = Eras::new(&[100 * DAY, 300 * DAY], []);
        assert_eq!(eras.len(), 2);
        assert_eq!(eras.ranking(eras.at(0)), Some(0));
        assert_eq!(eras.ranking(eras.at(199 * DAY)), Some(0));
        assert_eq!(eras.ranking(eras.at(200 * DAY)), Some(1));
        assert_eq!(eras.ranking(eras.at(10_000 * DAY)), Some(1));
        assert_eq!(eras.latest(), 1);
    }

    #[test]
    fn alias_dates_split_eras() {
        let eras = Eras::new(&[100 * DAY], [50 * DAY, i64::MAX]);
        assert_eq!(eras.len(), 2);
        assert_eq!(eras.at(49 * DAY), 0);
        assert_eq!(eras.at(50 * DAY), 1);
        assert_eq!(eras.ranking(0), Some(0));
        assert_eq!(eras.start(1), 50 * DAY);
    }

    #[test]
    fn without_rankings_there_is_one_era() {
        let eras = Eras::new(&[], []);
        assert_eq!(
            (eras.len(), eras.ranking(0), eras.at(i64::MIN)),
            (1, None, 0)
        );
    }
}
