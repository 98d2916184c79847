//! Each rule alone, the near-duplicate window, and the classify filter's per-line errors. Texts are
//! written for these tests (never copied from third-party posts).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::neardup::NearDupWindow;
use super::{Classifier, ClassifyConfig, PostClass, Reason};

fn at(hour: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap() + chrono::TimeDelta::hours(hour)
}

fn one(text: &str) -> (PostClass, Vec<Reason>) {
    let mut c = Classifier::new(&ClassifyConfig::default());
    let (r, _) = c.classify_text(text, Some("someone"), at(0));
    (r.class, r.reasons)
}

#[track_caller]
fn fires(text: &str, reason: Reason) {
    let (class, reasons) = one(text);
    assert_eq!(reasons, vec![reason], "{text}");
    assert_eq!(class, reason.class(), "{text}");
}

#[track_caller]
fn human(text: &str) {
    assert_eq!(one(text), (PostClass::Human, vec![]), "{text}");
}

#[test]
fn each_text_rule_fires_alone() {
    fires(
        "Win 20 USDT! Retweet this and follow us, winner picked Friday",
        Reason::RewardForAction,
    );
    fires(
        "Big giveaway coming for our holders next month",
        Reason::Giveaway,
    );
    fires(
        "Token PRESALE is open now, 1 ETH = 500 FOO",
        Reason::Presale,
    );
    fires(
        "Want in early? Join our Telegram for the signals",
        Reason::JoinGroup,
    );
    fires(
        "Sign up on the exchange with my referral and get 10% off fees",
        Reason::Referral,
    );
    fires(
        "New featured project of the week, details in the link",
        Reason::PaidPromotion,
    );
    fires(
        "$AAA $BBB $CCC $DDD $EEE $FFF $GGG $HHH $III $JJJ moon soon",
        Reason::TagStuffing,
    );
    fires(
        "Top 10 mentions in the last hour $AAA $BBB $CCC $DDD $EEE $FFF $GGG $HHH $III $JJJ",
        Reason::TickerList,
    );
    fires(
        "Your post was removed. *I am a bot, and this action was performed automatically.*",
        Reason::BotDisclaimer,
    );
    fires("[removed]", Reason::RemovedPlaceholder);
    fires(
        "5,000 #ETH (9,000,000 USD) transferred from unknown wallet to unknown wallet",
        Reason::TransferAlert,
    );
    fires(
        "FOOCHAIN GITHUB UPDATE v1.2.3 published",
        Reason::ReleaseFeed,
    );
    fires(
        "Yesterday: Foo Holders: 1,000 Today: Foo Holders: 1,020",
        Reason::CountTicker,
    );
    fires(
        "Daily update: net assets under management 3.1 billion",
        Reason::FundUpdate,
    );
    fires(
        "#SomeExchange New Trading Pairs: $AAA/$BTC $BBB/$ETH",
        Reason::ListingFeed,
    );
}

/// Steps numbered with keycap emoji (`1⃣`, whose combining mark is a Unicode word character) still
/// start a word: the rules' word boundaries are ASCII ones.
#[test]
fn a_cue_glued_to_an_emoji_still_counts() {
    fires(
        "Gas fee airdrop, $300 in total 1\u{20e3}Follow @someproject 2\u{20e3}Join the form",
        Reason::RewardForAction,
    );
    fires(
        "Market notes for the week 4\u{fe0f}\u{20e3}Join their Telegram for more",
        Reason::JoinGroup,
    );
}

#[test]
fn ordinary_speech_with_trigger_words_stays_human() {
    human("I follow the chart, not the hype. $BTC looks strong here");
    human("RT if you're still holding $DOGE");
    human("Airdrop season again and everyone is a genius");
    human("My bags: $ETH $LINK $AAVE $SNX $UNI $CRV. Long term.");
    human("Bitcoin at 100k in 2021? Outrageous to some, obvious to others https://example.com/a");
    human("Our hackathon starts tomorrow, join us at 13:00 UTC #FooChain");
}

#[test]
fn a_platform_bot_account_is_automated() {
    let mut c = Classifier::new(&ClassifyConfig::default());
    let (r, _) = c.classify_text(
        "Please read the rules before posting.",
        Some("AutoModerator"),
        at(0),
    );
    assert_eq!(
        (r.class, r.reasons),
        (PostClass::Automated, vec![Reason::BotAccount])
    );
}

#[test]
fn an_authors_numbered_template_becomes_automated_on_its_fourth_copy() {
    let mut c = Classifier::new(&ClassifyConfig::default());
    let post =
        |n: i64| format!("The price of Foo is up ${n},000 ({n}1.5%) since the famous bear sold");
    for n in 1..=3 {
        let (r, f) = c.classify_text(&post(n), Some("ticker"), at(n));
        assert_eq!(r.class, PostClass::Human, "copy {n}");
        assert_eq!(f.echoes.same_author, (n - 1) as usize);
    }
    let (r, _) = c.classify_text(&post(4), Some("ticker"), at(4));
    assert_eq!(
        (r.class, r.reasons),
        (PostClass::Automated, vec![Reason::AuthorTemplate])
    );
    // Another author saying the same thing is not that author's template.
    let (r, f) = c.classify_text(&post(5), Some("someone else"), at(5));
    assert_eq!(r.class, PostClass::Human);
    assert_eq!(f.echoes.other_authors, 1);
    // A person counting days repeats words but has one number: not a template.
    for day in 1..=5 {
        let (r, _) = c.classify_text(
            &format!("tweeting about foo at the ceo every day until he replies. day {day}"),
            Some("fan"),
            at(10 + day),
        );
        assert_eq!(r.class, PostClass::Human);
    }
}

const CAMPAIGN: &str =
    "I support the proposal to make network fees fair and predictable for every single user";

#[test]
fn near_duplicates_across_authors_make_a_campaign() {
    let mut c = Classifier::new(&ClassifyConfig::default());
    for i in 0..4 {
        let (r, _) = c.classify_text(
            &format!("{CAMPAIGN} https://x.example/{i}"),
            Some(format!("a{i}").as_str()),
            at(i),
        );
        assert_eq!(
            r.class,
            PostClass::Human,
            "copy {i} has {i} earlier authors"
        );
    }
    // Small edits (a handle, a link, a word) are still near-duplicates.
    let (r, f) = c.classify_text(&format!("{CAMPAIGN} @someone"), Some("a9"), at(5));
    assert_eq!(f.echoes.other_authors, 4);
    assert_eq!(
        (r.class, r.reasons),
        (PostClass::Promotional, vec![Reason::CopyCampaign])
    );
    // A different text does not match.
    let (_, f) = c.classify_text(
        "Fees were fine yesterday, today they are terrible again for every single user of the chain",
        Some("b"),
        at(6),
    );
    assert_eq!(f.echoes.other_authors, 0);
}

#[test]
fn near_duplicates_only_count_inside_the_window() {
    let config = ClassifyConfig {
        window: Duration::from_secs(24 * 3600),
        window_posts: 1000,
    };
    let mut c = Classifier::new(&config);
    for i in 0..4 {
        c.classify_text(CAMPAIGN, Some(format!("a{i}").as_str()), at(i));
    }
    // 25 hours after the last copy, every copy has left the 24 h span.
    let (_, f) = c.classify_text(CAMPAIGN, Some("late"), at(3 + 25));
    assert_eq!(f.echoes.other_authors, 0);

    // The post bound: a window of 3 posts forgets the fourth-newest.
    let mut small = NearDupWindow::new(3, Duration::from_secs(365 * 24 * 3600));
    for i in 0..10 {
        small.observe(CAMPAIGN, Some(format!("a{i}").as_str()), at(i));
        assert!(small.len() <= 3);
    }
    let echoes = small.observe(CAMPAIGN, Some("z"), at(11));
    assert_eq!(echoes.other_authors, 3);
}

#[test]
fn a_window_rebuilt_from_stored_posts_decides_like_the_live_one() {
    let config = ClassifyConfig::default();
    let history: Vec<(String, String)> = (0..6)
        .map(|i| (format!("{CAMPAIGN} #{i}"), format!("author{i}")))
        .collect();
    let mut live = Classifier::new(&config);
    for (i, (text, author)) in history.iter().enumerate() {
        live.classify_text(text, Some(author.as_str()), at(i as i64));
    }
    let mut restarted = Classifier::new(&config);
    for (i, (text, author)) in history.iter().enumerate() {
        restarted.remember(text, Some(author.as_str()), at(i as i64));
    }
    assert_eq!(restarted.window_len(), live.window_len());
    let next = format!("{CAMPAIGN} again");
    let a = live.classify_text(&next, Some("new"), at(7));
    let b = restarted.classify_text(&next, Some("new"), at(7));
    assert_eq!(a, b);
    assert_eq!(b.0.reasons, vec![Reason::CopyCampaign]);
    // Without the rebuild, the campaign would go unnoticed.
    let (cold, _) = Classifier::new(&config).classify_text(&next, Some("new"), at(7));
    assert_eq!(cold.class, PostClass::Human);
}

#[test]
fn classify_reports_malformed_lines_and_goes_on() {
    let input = concat!(
        "{\"id\":\"a\",\"text\":\"Retweet and follow to win 50 USDT\",\"author\":\"x\",\"platform\":\"twitter\",\"created_at\":\"2021-01-01T00:00:00Z\"}\n",
        "{\"id\":\"b\",\"text\":\n",
        "{\"id\":\"c\",\"text\":\"hello\",\"created_at\":\"yesterday\"}\n",
        "{\"id\":\"d\",\"text\":\"hello\",\"platform\":\"myspace\"}\n",
        "\n",
        "plain text about $BTC\n",
    );
    let mut bytes = input.as_bytes().to_vec();
    bytes.extend_from_slice(b"\xff\xfe\n");
    let mut c = Classifier::new(&ClassifyConfig::default());
    let mut out = Vec::new();
    let errors = super::cli::classify_stream(&mut c, &bytes[..], &mut out, false).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(errors, 5);
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["class"], "promotional");
    assert_eq!(
        lines[0]["reasons"],
        serde_json::json!(["reward_for_action"])
    );
    for (i, line) in lines.iter().enumerate().skip(1).take(4) {
        assert_eq!(line["id"], i + 1, "{line}");
        assert!(
            line["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("line {}", i + 1)),
            "{line}"
        );
    }
    assert!(lines[2]["error"].as_str().unwrap().contains("created_at"));
    assert!(lines[3]["error"].as_str().unwrap().contains("platform"));
    assert_eq!(
        lines[5],
        serde_json::json!({"id": 6, "class": "human", "reasons": []})
    );
    assert!(lines[6]["error"].as_str().unwrap().contains("UTF-8"));
}
