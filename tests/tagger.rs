//! Table-driven tests of every boundary and disambiguation rule, property tests of the spans, and the
//! dev-set score gate.

use std::sync::OnceLock;

use coinpulse::model::{Asset, MentionKind};
use coinpulse::tag::{MAX_MENTIONS, Policy, Tagger, registry::Words};
use proptest::prelude::*;

fn tagger() -> &'static Tagger {
    static T: OnceLock<Tagger> = OnceLock::new();
    T.get_or_init(|| Tagger::builtin().expect("builtin registry loads"))
}

/// Asset ids found in `text`, in text order.
fn ids(text: &str) -> Vec<String> {
    tagger().tag(text).into_iter().map(|m| m.asset).collect()
}

struct Case {
    rule: &'static str,
    text: &'static str,
    want: &'static [&'static str],
}

fn run(cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        let got = ids(c.text);
        if got != c.want {
            failures.push(format!(
                "[{}] {:?}: want {:?}, got {:?}",
                c.rule, c.text, c.want, got
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn boundaries() {
    run(&[
        Case {
            rule: "plain",
            text: "I bought BTC today",
            want: &["bitcoin"],
        },
        Case {
            rule: "inside a word",
            text: "somETHing wicked",
            want: &[],
        },
        Case {
            rule: "inside a word",
            text: "WBTCX and xbtc",
            want: &[],
        },
        Case {
            rule: "accented letter joins",
            text: "éBTC ist teuer",
            want: &[],
        },
        Case {
            rule: "accented letters around",
            text: "Heute habe ich 0,05 BTC gekauft – für München",
            want: &["bitcoin"],
        },
        Case {
            rule: "CJK is a boundary",
            text: "我买了BTC和ETH",
            want: &["bitcoin", "ethereum"],
        },
        Case {
            rule: "digit after joins",
            text: "BTC2 is not a coin here",
            want: &[],
        },
        Case {
            rule: "amount before upper symbol",
            text: "sent 0.5BTC to cold storage",
            want: &["bitcoin"],
        },
        Case {
            rule: "underscore joins",
            text: "my_btc_wallet",
            want: &[],
        },
        Case {
            rule: "hyphen joins ordinary words",
            text: "The neo-bank crypto app",
            want: &[],
        },
        Case {
            rule: "hyphen is a boundary for distinctive forms",
            text: "Bitcoin-based apps",
            want: &["bitcoin"],
        },
        Case {
            rule: "possessive",
            text: "Ethereum's merge and Bitcoin’s halving",
            want: &["ethereum", "bitcoin"],
        },
        Case {
            rule: "plural",
            text: "stacking bitcoins and BTCs",
            want: &["bitcoin", "bitcoin"],
        },
        Case {
            rule: "emoji before",
            text: "🚀BTC to the moon🌕",
            want: &["bitcoin"],
        },
        Case {
            rule: "emoji after",
            text: "DOGE🚀🚀",
            want: &["dogecoin"],
        },
        Case {
            rule: "keycap digit",
            text: "1️⃣ Buy #Bitcoin 2️⃣ HODL",
            want: &["bitcoin"],
        },
        Case {
            rule: "contraction",
            text: "bitcoin haven't changed",
            want: &["bitcoin"],
        },
        Case {
            rule: "camel case in hashtags",
            text: "#BitcoinAndBlackAmerica",
            want: &["bitcoin"],
        },
        Case {
            rule: "HTML entity",
            text: "BTC &amp; ETH",
            want: &["bitcoin", "ethereum"],
        },
    ]);
}

#[test]
fn longest_and_fallback() {
    run(&[
        Case {
            rule: "longest",
            text: "Bitcoin Cash is not Bitcoin",
            want: &["bitcoin-cash", "bitcoin"],
        },
        Case {
            rule: "longest",
            text: "Ethereum Classic forked from Ethereum",
            want: &["ethereum-classic", "ethereum"],
        },
        Case {
            rule: "longest",
            text: "I hold Shiba Inu and Binance Coin",
            want: &["shiba-inu", "binancecoin"],
        },
        Case {
            rule: "prefix fallback",
            text: "Bitcoin Cashback rewards",
            want: &["bitcoin"],
        },
        Case {
            rule: "binance the exchange",
            text: "Binance listed a new pair",
            want: &[],
        },
    ]);
}

#[test]
fn cashtags_hashtags_and_exclusions() {
    run(&[
        Case {
            rule: "cashtag",
            text: "$BTC up",
            want: &["bitcoin"],
        },
        Case {
            rule: "cashtag lower + period",
            text: "buy $eth.",
            want: &["ethereum"],
        },
        Case {
            rule: "cashtag of an ordinary word",
            text: "$ONE is pumping",
            want: &["harmony"],
        },
        Case {
            rule: "cashtag-only symbol",
            text: "$T looks strong",
            want: &["threshold-network-token"],
        },
        Case {
            rule: "cashtag after a longer cash-only form fails",
            text: "$XRP!",
            want: &["ripple"],
        },
        Case {
            rule: "hashtag",
            text: "#Bitcoin and #DOGE",
            want: &["bitcoin", "dogecoin"],
        },
        Case {
            rule: "url",
            text: "see https://bitcoin.org/en/ now",
            want: &[],
        },
        Case {
            rule: "domain",
            text: "bought on coinbase.com and cardano.org",
            want: &[],
        },
        Case {
            rule: "handle",
            text: "thanks @chainlink and @Cardano",
            want: &[],
        },
        Case {
            rule: "email",
            text: "write to info@ethereum.org",
            want: &[],
        },
        Case {
            rule: "subreddit",
            text: "posted in r/Bitcoin",
            want: &[],
        },
        Case {
            rule: "stock cashtag",
            text: "$TSLA $GME $AMC",
            want: &[],
        },
    ]);
}

#[test]
fn disambiguation() {
    run(&[
        Case {
            rule: "function words never bare",
            text: "THE CO IT A T YOU",
            want: &[],
        },
        Case {
            rule: "Word: ordinary use",
            text: "Understand ONE thing: link in bio",
            want: &[],
        },
        Case {
            rule: "Word: upper symbol in crypto post",
            text: "Bought more LINK and $ETH today",
            want: &["chainlink", "ethereum"],
        },
        Case {
            rule: "suffix that makes a word: etho+s, bitt+er",
            text: "the original ethos of crypto, a bitter pill, $ETH",
            want: &["ethereum"],
        },
        Case {
            rule: "suffix on a name: Bitcoiners, bitcoins",
            text: "Bitcoiners love bitcoins",
            want: &["bitcoin", "bitcoin"],
        },
        Case {
            rule: "lower-ranked coin named like a word: not in lower case",
            text: "this chart looks like a fractal of 2017 for $BTC",
            want: &["bitcoin"],
        },
        Case {
            rule: "lower-ranked coin named like a word: proper case in a crypto post",
            text: "Bought $ETH and Fractal today",
            want: &["ethereum", "fractal"],
        },
        Case {
            rule: "lower-ranked coin with a name nobody uses as a word: anywhere",
            text: "hegic is up",
            want: &["hegic"],
        },
        Case {
            rule: "Acronym: bare never, cashtag yes",
            text: "$ETH AMA at 5PM CET (4PM GMT), new ATH for $BTC, $AMA listed",
            want: &["ethereum", "bitcoin", "mrweb-finance"],
        },
        Case {
            rule: "Word: upper symbol outside crypto",
            text: "Click the LINK below",
            want: &[],
        },
        Case {
            rule: "Word: lower case never",
            text: "gas fees on eth are crazy",
            want: &["ethereum"],
        },
        Case {
            rule: "Word: name mid-sentence in crypto post",
            text: "I stake $ETH and some Harmony too",
            want: &["ethereum", "harmony"],
        },
        Case {
            rule: "Word: name at sentence start",
            text: "Compound interest beats $BTC",
            want: &["bitcoin"],
        },
        Case {
            rule: "Word: name inside a longer proper noun",
            text: "the Federal Reserve hates $BTC",
            want: &["bitcoin"],
        },
        Case {
            rule: "Word: multi-word name",
            text: "The Graph and $ETH",
            want: &["the-graph", "ethereum"],
        },
        Case {
            rule: "Word: multi-word lower case",
            text: "look at the graph of $BTC",
            want: &["bitcoin"],
        },
        Case {
            rule: "Weak: upper symbol alone",
            text: "ADA looks good",
            want: &["cardano"],
        },
        Case {
            rule: "Weak: lower in a list",
            text: "bitcoin, atom and tezos",
            want: &["bitcoin", "cosmos", "tezos"],
        },
        Case {
            rule: "Weak: lower not in a list",
            text: "every atom of my body loves bitcoin",
            want: &["bitcoin"],
        },
        Case {
            rule: "Weak: name in non-crypto post",
            text: "an avalanche of investors",
            want: &[],
        },
        Case {
            rule: "titled names are not coins",
            text: "Elon tweeted about $DOGE",
            want: &["dogecoin"],
        },
        Case {
            rule: "symbols in title case are words",
            text: "Swap your $ETH, Stake it",
            want: &["ethereum"],
        },
        Case {
            rule: "shouting",
            text: "MASK MANDATES NOW",
            want: &[],
        },
        Case {
            rule: "foreign words",
            text: "Ich bin Ethereum-Fan, aber Ethereum Classic ist mir zu riskant.",
            want: &["ethereum", "ethereum-classic"],
        },
        Case {
            rule: "alias",
            text: "I bought some Ether and sats",
            want: &["ethereum"],
        },
        Case {
            rule: "alias wins its form",
            text: "polygon and matic",
            want: &["matic-network", "matic-network"],
        },
        Case {
            rule: "context words are not coins",
            text: "NFT and HODL",
            want: &[],
        },
    ]);
}

#[test]
fn kinds_and_offsets() {
    let text = "Ça monte: $btc, #Ethereum et Ether 🚀";
    let m = tagger().tag(text);
    let got: Vec<_> = m
        .iter()
        .map(|m| (m.asset.as_str(), m.kind, &text[m.start..m.end]))
        .collect();
    assert_eq!(
        got,
        [
            ("bitcoin", MentionKind::Cashtag, "$btc"),
            ("ethereum", MentionKind::Hashtag, "#Ethereum"),
            ("ethereum", MentionKind::Alias, "Ether"),
        ]
    );
    assert!(m.iter().all(|m| m.surface == text[m.start..m.end]));
    assert_eq!(m[0].symbol, "BTC");
}

#[test]
fn policies_are_derived_from_the_word_list() {
    let w = Words::builtin();
    let table = [
        ("cardano", Policy::Always),
        ("eth", Policy::Always),
        ("bitcoin", Policy::Always),
        ("atom", Policy::Weak),
        ("link", Policy::Word),
        ("harmony", Policy::Word),
        ("one", Policy::CashtagOnly),
        ("co", Policy::CashtagOnly),
        ("the graph", Policy::Word),
        ("bitcoin cash", Policy::Always),
        // Tickers crypto posts write bare for something else, almost never as cashtags.
        ("ama", Policy::CashtagOnly),
        ("gmt", Policy::CashtagOnly),
        ("cet", Policy::CashtagOnly),
        // Real tickers written bare just as often stay matchable.
        ("ltc", Policy::Always),
        ("ada", Policy::Weak),
        ("ark", Policy::Weak),
    ];
    // Words listed only for lower-ranked coin names keep the policy of an unlisted word.
    assert_eq!(w.policy("fractal"), Policy::Always);
    assert!(!w.is_unused_word("fractal") && w.is_unused_word("hegic"));
    for (form, want) in table {
        assert_eq!(w.policy(form), want, "{form}");
    }
}

#[test]
fn shared_symbol_goes_to_best_rank() {
    let a = |id: &str, rank| Asset {
        id: id.into(),
        symbol: "WETH".into(),
        name: format!("Wrapped {id}"),
        aliases: vec![],
        rank: Some(rank),
    };
    let t = Tagger::from_assets(vec![a("weth-b", 900), a("weth", 20), a("weth-c", 400)]).unwrap();
    assert_eq!(t.tag("swap $WETH now")[0].asset, "weth");
}

#[test]
fn custom_lists_load_and_bad_ones_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    std::fs::write(&csv, "id,symbol,name,rank\nfoocoin,foo,Foocoin,1\n").unwrap();
    assert_eq!(
        Tagger::from_file(&csv).unwrap().tag("I like $FOO")[0].asset,
        "foocoin"
    );
    let json = dir.path().join("a.json");
    std::fs::write(
        &json,
        r#"[{"id": "barcoin", "symbol": "bar", "name": "Barcoin", "aliases": ["barrycoin"]}]"#,
    )
    .unwrap();
    assert_eq!(
        Tagger::from_file(&json).unwrap().tag("barrycoin!")[0].asset,
        "barcoin"
    );
    std::fs::write(&csv, "id,symbol,name,rank\nfoocoin,foo,Foocoin,first\n").unwrap();
    let err = Tagger::from_file(&csv).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("first"), "{err}");
    std::fs::write(&csv, "id,name\nfoocoin,Foocoin\n").unwrap();
    assert!(
        Tagger::from_file(&csv)
            .unwrap_err()
            .to_string()
            .contains("symbol")
    );
    assert!(Tagger::from_file(&dir.path().join("missing.csv")).is_err());
}

#[test]
fn full_coin_list_loads() {
    let t = Tagger::from_file(&coinpulse::shared::file("data/assets/coins.csv")).unwrap();
    assert!(t.assets().len() > 18_000);
    assert_eq!(t.tag("$BTC and Cardano")[1].asset, "cardano");
}

#[test]
fn builtin_covers_top_1000() {
    let t = tagger();
    let ranked = t
        .assets()
        .iter()
        .filter(|a| a.rank.is_some_and(|r| r <= 1000))
        .count();
    assert!(ranked >= 1000, "{ranked}");
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tagger>();
}

#[test]
fn dev_gold_scores() {
    let gold = coinpulse::tag::eval::read_gold(&coinpulse::shared::file("data/tagging/dev.jsonl"))
        .unwrap();
    let r = coinpulse::tag::eval::evaluate(tagger(), &gold);
    assert!(r.posts > 400);
    assert!(r.precision() >= 0.97, "precision {:.3}", r.precision());
    assert!(r.recall() >= 0.93, "recall {:.3}", r.recall());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn spans_slice_on_char_boundaries_and_never_overlap(
        parts in prop::collection::vec(prop_oneof![
            Just("BTC".to_string()), Just("$eth".to_string()), Just("#Bitcoin".to_string()), Just("Bitcoin Cash".to_string()), Just("ONE".to_string()), Just("link".to_string()),
            Just("é".to_string()), Just("比".to_string()), Just("🚀".to_string()), Just(" ".to_string()), Just("-".to_string()), Just("'s".to_string()), Just("$".to_string()), Just("#".to_string()),
            Just("Harmony".to_string()), Just("atom".to_string()), Just("https://".to_string()), Just("@".to_string()), Just(".".to_string()), Just("s".to_string()),
            "[a-zA-Z0-9 ]{0,6}", "\\PC{0,3}",
        ], 0..24)
    ) {
        let text: String = parts.concat();
        let mentions = tagger().tag(&text);
        let mut last_end = 0;
        for m in &mentions {
            prop_assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
            prop_assert!(m.start < m.end && m.end <= text.len());
            prop_assert!(m.start >= last_end, "overlap in {:?}: {:?}", text, mentions);
            prop_assert_eq!(&text[m.start..m.end], m.surface.as_str());
            last_end = m.end;
        }
    }

    #[test]
    fn a_reused_buffer_gives_what_a_fresh_one_gives(
        texts in prop::collection::vec(prop::collection::vec(prop_oneof![
            Just("$BTC ".to_string()), Just("Ethereum ".to_string()), Just("bitcoin cash, ".to_string()),
            Just("LINK ".to_string()), Just("é ".to_string()), "[a-zA-Z$# ]{0,8}",
        ], 0..12).prop_map(|p| p.concat()), 1..8)
    ) {
        let mut buf = Vec::new();
        for text in &texts {
            tagger().tag_into(text, &mut buf);
            prop_assert_eq!(&buf, &tagger().tag(text), "{:?}", text);
        }
    }
}

/// A post naming coins without end keeps the first [`MAX_MENTIONS`] of them, in text order.
#[test]
fn mentions_per_post_are_capped() {
    let text = "$BTC, $ETH, ".repeat(MAX_MENTIONS);
    let mentions = tagger().tag(&text);
    assert_eq!(mentions.len(), MAX_MENTIONS);
    assert_eq!(mentions[0].start, 0);
    assert_eq!(mentions[1].surface, "$ETH");
    assert_eq!(mentions.last().unwrap().end, text.len() / 2 - 2);
    // Without spaces, as in the post that once took two minutes to tag.
    assert_eq!(tagger().tag(&"$BTC,".repeat(1000)).len(), MAX_MENTIONS);
}

/// Asset ids found in `text` of a post written on `day` (YYYY-MM-DD).
fn ids_on(text: &str, day: &str) -> Vec<String> {
    let at = format!("{day}T12:00:00Z").parse().unwrap();
    tagger()
        .tag_at(text, at)
        .into_iter()
        .map(|m| m.asset)
        .collect()
}

#[test]
fn todays_majors() {
    run(&[
        Case {
            rule: "memecoin cashtags",
            text: "$WIF and $BONK",
            want: &["dogwifcoin", "bonk"],
        },
        Case {
            rule: "Toncoin",
            text: "Toncoin rally",
            want: &["the-open-network"],
        },
        Case {
            rule: "Sui symbol (a capital at the start of a sentence says nothing)",
            text: "Sui network and SUI price",
            want: &["sui"],
        },
        Case {
            rule: "PEPE upper case counts without context",
            text: "PEPE is pumping hard",
            want: &["pepe"],
        },
        Case {
            rule: "TON in a crypto post",
            text: "$TON and TON staking",
            want: &["the-open-network", "the-open-network"],
        },
        Case {
            rule: "names",
            text: "Celestia, Jupiter exchange, Hyperliquid, Ethena, Worldcoin, Bittensor, Starknet",
            want: &[
                "celestia",
                "jupiter-exchange-solana",
                "hyperliquid",
                "ethena",
                "worldcoin-wld",
                "bittensor",
                "starknet",
            ],
        },
        Case {
            rule: "tickers",
            text: "$TIA $JUP $HYPE $ENA $ONDO $WLD $TAO $SEI $PYTH $STRK $ARB $OP $APT $FLOKI $KAS $INJ $JTO $RENDER",
            want: &[
                "celestia",
                "jupiter-exchange-solana",
                "hyperliquid",
                "ethena",
                "ondo-finance",
                "worldcoin-wld",
                "bittensor",
                "sei-network",
                "pyth-network",
                "starknet",
                "arbitrum",
                "optimism",
                "aptos",
                "floki",
                "kaspa",
                "injective-protocol",
                "jito-governance-token",
                "render-token",
            ],
        },
        Case {
            rule: "the memecoin, as cashtag",
            text: "$TRUMP unlock next week",
            want: &["official-trump"],
        },
        Case {
            rule: "the memecoin, named so",
            text: "TRUMP memecoin holders are down 80%",
            want: &["official-trump"],
        },
        Case {
            rule: "dogwifhat",
            text: "dogwifhat still has a hat",
            want: &["dogwifcoin"],
        },
    ]);
}

#[test]
fn word_like_tickers_of_todays_majors() {
    run(&[
        Case {
            rule: "a ton of",
            text: "I have a ton of work, then some $BTC charts",
            want: &["bitcoin"],
        },
        Case {
            rule: "hyped",
            text: "everyone got hyped for the airdrop",
            want: &[],
        },
        Case {
            rule: "hype the word",
            text: "so much hype around this crypto launch",
            want: &[],
        },
        Case {
            rule: "sui generis",
            text: "his crypto takes are sui generis",
            want: &[],
        },
        Case {
            rule: "OP the poster",
            text: "OP is right, $ETH is cheap",
            want: &["ethereum"],
        },
        Case {
            rule: "arb bot",
            text: "running an arb bot on a dex",
            want: &[],
        },
        Case {
            rule: "my apt",
            text: "my apt lease ends, selling some ETH",
            want: &["ethereum"],
        },
        Case {
            rule: "Trump the politician",
            text: "Trump said the government keeps its bitcoin",
            want: &["bitcoin"],
        },
        Case {
            rule: "render the page",
            text: "it takes forever to render the page",
            want: &[],
        },
        Case {
            rule: "pepe the frog",
            text: "pepe the frog memes are old",
            want: &[],
        },
        Case {
            rule: "the Tao of",
            text: "the Tao of trading is patience",
            want: &[],
        },
    ]);
}

#[test]
fn digits_only_cashtags_are_prices() {
    run(&[
        Case {
            rule: "a price after a cashtag",
            text: "$ETH hourly close: $777",
            want: &["ethereum"],
        },
        Case {
            rule: "round prices",
            text: "bought $BTC at $100 and sold at $69k",
            want: &["bitcoin"],
        },
        Case {
            rule: "a ticker starting with a digit",
            text: "$1INCH volume up",
            want: &["1inch"],
        },
    ]);
    assert!(coinpulse::tag::registry::is_amount("777"));
    assert!(coinpulse::tag::registry::is_amount("69k"));
    assert!(coinpulse::tag::registry::is_amount("2.5m"));
    assert!(!coinpulse::tag::registry::is_amount("1inch"));
    assert!(!coinpulse::tag::registry::is_amount("0x0"));
}

#[test]
fn shared_tickers_resolve_by_the_rank_at_the_posts_time() {
    let cases = [
        ("$TON to the moon", "tokamak-network", "the-open-network"),
        ("$STRK is pumping", "strike", "starknet"),
        ("$JUP airdrop", "jupiter", "jupiter-exchange-solana"),
        ("$APT looks strong", "apricot", "aptos"),
        ("$LUNA is pumping", "terra-luna", "terra-luna-2"),
    ];
    for (text, then, now) in cases {
        assert_eq!(ids_on(text, "2021-01-15"), [then], "{text} in 2021");
        assert_eq!(ids_on(text, "2025-11-20"), [now], "{text} in 2025");
        // Undated: today's meaning.
        assert_eq!(ids(text), [now], "{text} today");
    }
    // The ranking nearest the post applies: mid-2022 is the 2022 ranking, 2025 the 2025 one.
    assert_eq!(ids_on("$TON", "2022-07-24"), ["tokamak-network"]);
    assert_eq!(ids_on("$TON", "2024-12-04"), ["the-open-network"]);
    // A curated alias valid until Terra's relaunch.
    assert_eq!(
        ids_on("LUNA and terra", "2022-05-27"),
        ["terra-luna", "terra-luna"]
    );
    assert_eq!(ids_on("$LUNA", "2022-05-28"), ["terra-luna-2"]);
}

#[test]
fn renamed_tickers_map_to_the_right_id() {
    run(&[
        Case {
            rule: "RNDR became RENDER, same id",
            text: "$RNDR is now $RENDER",
            want: &["render-token", "render-token"],
        },
        Case {
            rule: "MATIC became POL, a new id",
            text: "swapped $MATIC for $POL",
            want: &["matic-network", "polygon-ecosystem-token"],
        },
        Case {
            rule: "FTM became S (Sonic), a new id",
            text: "$FTM holders got $S 1:1",
            want: &["fantom", "sonic-3"],
        },
    ]);
    for day in ["2021-01-15", "2025-11-20"] {
        assert_eq!(ids_on("$RNDR", day), ["render-token"], "{day}");
        assert_eq!(ids_on("$MATIC", day), ["matic-network"], "{day}");
    }
}

#[test]
fn an_assets_file_extends_the_builtin_registry_or_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("mine.csv");
    std::fs::write(
        &csv,
        "id,symbol,name,rank,aliases\nfoocoin,foo,Foocoin,1,\nbitcoin,btc,Bitcoin,,orangecoin\n",
    )
    .unwrap();
    let text = "Foocoin and Bitcoin, orangecoin";
    let extended = Tagger::with_file(Some(&csv), false).unwrap();
    let got: Vec<_> = extended.tag(text).into_iter().map(|m| m.asset).collect();
    assert_eq!(got, ["foocoin", "bitcoin", "bitcoin"]);
    assert!(extended.assets().len() > 6_000);
    // The known id kept its rank and gained the alias.
    let btc = extended
        .assets()
        .iter()
        .find(|a| a.id == "bitcoin")
        .unwrap();
    assert_eq!(btc.rank, Some(1));
    assert!(btc.aliases.iter().any(|a| a == "orangecoin"));

    let replaced = Tagger::with_file(Some(&csv), true).unwrap();
    assert_eq!(replaced.assets().len(), 2);
    assert!(replaced.tag("$ETH and Ethereum").is_empty());

    std::fs::write(
        &csv,
        "id,symbol,name,rank_2025-11-19\nfoocoin,foo,Foocoin,1st\n",
    )
    .unwrap();
    let err = Tagger::with_file(Some(&csv), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("`rank_2025-11-19`") && err.contains("1st"),
        "{err}"
    );
    std::fs::write(
        &csv,
        "id,symbol,name,aliases\nfoocoin,foo,Foocoin,foo@2025-13-01..\n",
    )
    .unwrap();
    let err = Tagger::with_file(Some(&csv), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("`aliases`") && err.contains("2025-13-01"),
        "{err}"
    );
}

#[test]
fn modern_dev_scores() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tagging/modern_dev.jsonl");
    let gold = coinpulse::tag::eval::read_gold(&path).unwrap();
    assert!(gold.len() >= 60);
    let r = coinpulse::tag::eval::evaluate(tagger(), &gold);
    assert!(r.precision() >= 0.95, "precision {:.3}", r.precision());
    assert!(r.recall() >= 0.90, "recall {:.3}", r.recall());
}
