//! What an alert or the digest says, once, and how each service wants it said.
//!
//! A [`Message`] is plain text: a title, a paragraph, named fields and an optional link to the
//! dashboard. Each service gets its documented body, escaped for its markup, so an asset name or a
//! number can never become formatting, a link or a mention:
//!
//! - Discord (`{"content", "embeds", "allowed_mentions"}`): Markdown and mention characters
//!   backslash-escaped,
//!   and `allowed_mentions.parse = []` so even an unescaped `@everyone` pings nobody;
//! - Slack incoming webhooks (`{"text", "blocks"}`): `&`, `<` and `>` as entities in `mrkdwn` text,
//!   which is all Slack parses for links and mentions;
//! - Telegram `sendMessage` with `parse_mode = "HTML"`: `&`, `<`, `>` and `"` as entities (HTML
//!   rather than MarkdownV2, whose eighteen reserved characters are easy to miss);
//! - the generic webhook: the JSON [`Message::payload`] (an alert or the digest as serialised).
//!
//! Every text is cut to the service's documented limit after escaping, never inside an entity.

use serde_json::{Value, json};

/// One alert or digest, service-neutral.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// One line: "Volume spike: BTC (Bitcoin)".
    pub title: String,
    /// The sentence with the numbers.
    pub text: String,
    pub fields: Vec<Field>,
    /// The dashboard view, when `alerts.dashboard_url` is set.
    pub link: Option<String>,
    /// What the generic webhook receives.
    pub payload: Value,
}

/// A named value (may span lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

impl Field {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Label of the dashboard link.
const LINK_LABEL: &str = "Open in the dashboard";

/// A Discord webhook execution body. An embed holds at most 6,000 characters in all: fields that
/// would pass it are left out.
pub fn discord(m: &Message) -> Value {
    let title = escape_within(&m.title, 256, discord_escape);
    let description = escape_within(&m.text, 2048, discord_escape);
    let mut room = 6000 - title.chars().count() - description.chars().count();
    let mut fields: Vec<Value> = Vec::new();
    for f in m.fields.iter().take(25) {
        let name = escape_within(&f.name, 256, discord_escape);
        let value = escape_within(non_empty(&f.value), 1024, discord_escape);
        let size = name.chars().count() + value.chars().count();
        if size > room {
            break;
        }
        room -= size;
        fields.push(json!({ "name": name, "value": value, "inline": false }));
    }
    let mut embed = json!({ "title": title, "description": description, "fields": fields });
    if let Some(link) = &m.link {
        embed["url"] = link.as_str().into();
    }
    json!({
        "content": escape_within(&m.title, 2000, discord_escape),
        "embeds": [embed],
        "allowed_mentions": { "parse": [] },
    })
}

/// A Slack incoming-webhook body: `text` (the sentence, which names the coin) is the notification
/// fallback, `blocks` what is shown.
pub fn slack(m: &Message) -> Value {
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": cut(&m.title, 150), "emoji": false },
        }),
        json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": escape_within(&m.text, 3000, slack_escape) },
        }),
    ];
    let fields: Vec<Value> = m
        .fields
        .iter()
        .take(10)
        .map(|f| {
            let name = escape_within(&f.name, 200, slack_escape);
            let value = escape_within(non_empty(&f.value), 1700, slack_escape);
            json!({ "type": "mrkdwn", "text": format!("*{name}*\n{value}") })
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    if let Some(link) = &m.link {
        let url = escape_within(link, 2900, slack_escape).replace('|', "%7C");
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!("<{url}|{LINK_LABEL}>") }],
        }));
    }
    json!({
        "text": escape_within(&m.text, 3000, slack_escape),
        "blocks": blocks,
    })
}

/// A Telegram `sendMessage` body in HTML parse mode.
pub fn telegram(m: &Message, chat_id: &str) -> Value {
    let mut text = format!(
        "<b>{}</b>\n{}",
        escape_within(&m.title, 300, html_escape),
        escape_within(&m.text, 1500, html_escape)
    );
    for f in &m.fields {
        text.push_str(&format!(
            "\n\n<b>{}</b>\n{}",
            escape_within(&f.name, 100, html_escape),
            escape_within(non_empty(&f.value), 600, html_escape)
        ));
    }
    if let Some(link) = &m.link {
        text.push_str(&format!(
            "\n\n<a href=\"{}\">{LINK_LABEL}</a>",
            html_escape_all(link)
        ));
    }
    // Telegram counts the limit after entity parsing; staying under it before parsing is safe.
    if text.chars().count() > 4096 {
        text = format!(
            "<b>{}</b>\n{}",
            escape_within(&m.title, 300, html_escape),
            escape_within(&m.text, 3000, html_escape)
        );
    }
    json!({
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": { "is_disabled": true },
    })
}

fn non_empty(value: &str) -> &str {
    if value.trim().is_empty() {
        "—"
    } else {
        value
    }
}

/// Discord Markdown: a backslash before a formatting, link or mention character shows it literally.
/// Headings, lists and emoji need a line start or a `:name:` pair, which no asset name is given.
fn discord_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '\\' => "\\\\",
        '*' => "\\*",
        '_' => "\\_",
        '~' => "\\~",
        '`' => "\\`",
        '|' => "\\|",
        '>' => "\\>",
        '<' => "\\<",
        '[' => "\\[",
        ']' => "\\]",
        '@' => "\\@",
        _ => return None,
    })
}

/// Slack `mrkdwn`: the three characters Slack asks to be sent as entities.
fn slack_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '&' => "&amp;",
        '<' => "&lt;",
        '>' => "&gt;",
        _ => return None,
    })
}

/// Telegram HTML: the entities its parser knows.
fn html_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '&' => "&amp;",
        '<' => "&lt;",
        '>' => "&gt;",
        '"' => "&quot;",
        _ => return None,
    })
}

fn html_escape_all(text: &str) -> String {
    escape_within(text, usize::MAX, html_escape)
}

/// `text` escaped by `escape`, at most `limit` characters; a cut text ends in `…` and never splits
/// an escape.
fn escape_within(text: &str, limit: usize, escape: fn(char) -> Option<&'static str>) -> String {
    let mut out = String::new();
    let mut len = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let piece_len = escape(c).map_or(1, |e| e.chars().count());
        // Room for this piece, and for the ellipsis if more follows.
        let reserve = usize::from(chars.peek().is_some());
        if len + piece_len + reserve > limit {
            out.push('…');
            return out;
        }
        match escape(c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
        len += piece_len;
    }
    out
}

/// Plain text cut to `limit` characters.
fn cut(text: &str, limit: usize) -> String {
    escape_within(text, limit, |_| None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(name: &str) -> Message {
        Message {
            title: format!("Volume spike: {name}"),
            text: format!("{name}: 80 posts by 80 people against 9.4 an hour before"),
            fields: vec![Field::new("Hour", "2021-01-05 00:00 UTC")],
            link: Some("https://dash.example/#asset=bitcoin&range=24h".into()),
            payload: json!({}),
        }
    }

    #[test]
    fn discord_suppresses_mentions_and_escapes_markdown() {
        let body = discord(&message("@everyone *PUMP* (PMP)"));
        assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));
        let content = body["content"].as_str().unwrap();
        assert_eq!(content, "Volume spike: \\@everyone \\*PUMP\\* (PMP)");
        let embed = &body["embeds"][0];
        assert!(embed["title"].as_str().unwrap().contains("\\@everyone"));
        assert!(
            embed["description"]
                .as_str()
                .unwrap()
                .contains("\\*PUMP\\*")
        );
        assert_eq!(embed["fields"][0]["name"], "Hour");
        assert_eq!(embed["fields"][0]["value"], "2021-01-05 00:00 UTC");
        assert_eq!(
            embed["url"],
            "https://dash.example/#asset=bitcoin&range=24h"
        );
    }

    #[test]
    fn slack_escapes_entities_and_links_the_dashboard() {
        let body = slack(&message("<!channel> & <b>"));
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("&lt;!channel&gt; &amp; &lt;b&gt;: 80 posts"),
            "{text}"
        );
        assert!(!text.contains("<!channel>"), "{text}");
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        assert!(
            blocks[1]["text"]["text"]
                .as_str()
                .unwrap()
                .starts_with("&lt;!channel&gt; &amp; &lt;b&gt;:")
        );
        assert_eq!(
            blocks[2]["fields"][0]["text"],
            "*Hour*\n2021-01-05 00:00 UTC"
        );
        assert_eq!(
            blocks[3]["elements"][0]["text"],
            "<https://dash.example/#asset=bitcoin&amp;range=24h|Open in the dashboard>"
        );
    }

    #[test]
    fn telegram_escapes_html_and_names_the_chat() {
        let body = telegram(&message("<script>&\"x\""), "-100123");
        assert_eq!(body["chat_id"], "-100123");
        assert_eq!(body["parse_mode"], "HTML");
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("<b>Volume spike: &lt;script&gt;&amp;&quot;x&quot;</b>\n"),
            "{text}"
        );
        assert!(!text.contains("<script>"), "{text}");
        assert!(text.ends_with(
            "<a href=\"https://dash.example/#asset=bitcoin&amp;range=24h\">Open in the dashboard</a>"
        ));
    }

    #[test]
    fn long_texts_are_cut_to_the_limit_without_splitting_an_escape() {
        let cut = escape_within(&"&".repeat(100), 12, slack_escape);
        // Two entities (10 characters) and the ellipsis: a third would not fit.
        assert_eq!(cut, "&amp;&amp;…");
        assert_eq!(escape_within("abc", 3, slack_escape), "abc");
        assert_eq!(escape_within("abcd", 3, slack_escape), "ab…");
        let long = message(&"x".repeat(5000));
        let body = discord(&long);
        assert_eq!(body["content"].as_str().unwrap().chars().count(), 2000);
        let many = Message {
            fields: vec![Field::new("n", "v".repeat(2000)); 25],
            ..long.clone()
        };
        let embed = &discord(&many)["embeds"][0];
        let size = |v: &Value| v.as_str().unwrap().chars().count();
        let fields = embed["fields"].as_array().unwrap();
        let total = size(&embed["title"])
            + size(&embed["description"])
            + fields
                .iter()
                .map(|f| size(&f["name"]) + size(&f["value"]))
                .sum::<usize>();
        assert!(!fields.is_empty() && total <= 6000, "{total}");
        let body = slack(&long);
        assert!(
            body["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= 150
        );
        let body = telegram(&long, "1");
        assert!(body["text"].as_str().unwrap().chars().count() <= 4096);
    }
}
