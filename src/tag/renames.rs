//! Coins that changed ticker and got a new CoinGecko id with it: two assets for one project.
//!
//! A rename that kept its id (RNDR → RENDER, `render-token`) needs nothing here: both tickers tag the
//! same asset and its reports are one history. A rename that got a new id (MATIC → POL, FTM → S)
//! leaves two assets, each tagged by its own ticker, because their prices and market caps are two
//! series at CoinGecko too. Reports cannot join them honestly, so they say where the rest of the
//! history is.

/// One project known under two CoinGecko ids, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rename {
    pub old_id: &'static str,
    pub old_symbol: &'static str,
    pub new_id: &'static str,
    pub new_symbol: &'static str,
    /// When the new token replaced the old one (the migration's start), where it is a single day.
    pub on: Option<&'static str>,
}

/// Renames with a new id among the registry's coins (see `data/assets.README.md`).
pub const RENAMES: &[Rename] = &[
    Rename {
        old_id: "matic-network",
        old_symbol: "MATIC",
        new_id: "polygon-ecosystem-token",
        new_symbol: "POL",
        on: Some("2024-09-04"),
    },
    Rename {
        old_id: "fantom",
        old_symbol: "FTM",
        new_id: "sonic-3",
        new_symbol: "S",
        on: None,
    },
];

/// A sentence for a report about `id` when it is one side of a rename with a new id: where the other
/// part of its history is, and the flag that asks for it.
pub fn history_note(id: &str) -> Option<String> {
    let r = RENAMES.iter().find(|r| r.old_id == id || r.new_id == id)?;
    let when = r.on.map(|d| format!(" on {d}")).unwrap_or_default();
    Some(if id == r.new_id {
        format!(
            "{new} ({new_id}) replaced {old} ({old_id}){when} under a new CoinGecko id, so this is \
             {new}'s history only; posts and prices from before the switch are under --asset {old}.",
            new = r.new_symbol,
            new_id = r.new_id,
            old = r.old_symbol,
            old_id = r.old_id,
        )
    } else {
        format!(
            "{old} ({old_id}) was replaced by {new} ({new_id}){when} under a new CoinGecko id, so \
             this history stops there; what followed is under --asset {new}.",
            new = r.new_symbol,
            new_id = r.new_id,
            old = r.old_symbol,
            old_id = r.old_id,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_of_a_rename_points_to_the_other() {
        let pol = history_note("polygon-ecosystem-token").unwrap();
        assert!(
            pol.contains("replaced MATIC (matic-network) on 2024-09-04"),
            "{pol}"
        );
        assert!(pol.contains("--asset MATIC"), "{pol}");
        let matic = history_note("matic-network").unwrap();
        assert!(matic.contains("--asset POL"), "{matic}");
        let ftm = history_note("fantom").unwrap();
        assert!(ftm.contains("replaced by S (sonic-3) under"), "{ftm}");
        // Kept its id: one history, nothing to say.
        assert_eq!(history_note("render-token"), None);
        assert_eq!(history_note("bitcoin"), None);
    }

    /// Both ids of every rename are registry coins with the tickers named here.
    #[test]
    fn the_renamed_coins_are_in_the_registry() {
        let list = crate::tag::registry::builtin_list().unwrap();
        for r in RENAMES {
            for (id, symbol) in [(r.old_id, r.old_symbol), (r.new_id, r.new_symbol)] {
                let asset = list.assets.iter().find(|a| a.id == id);
                assert_eq!(
                    asset.map(|a| a.symbol.to_uppercase()),
                    Some(symbol.to_string()),
                    "{id}"
                );
            }
        }
    }
}
