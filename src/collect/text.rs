//! Small text helpers for sources that send HTML (Mastodon statuses, error pages, YouTube titles).
//!
//! A full HTML parser is not needed for what these APIs send: a status is a few `<p>`, `<br>`, `<a>`
//! and `<span>` elements. Block ends become newlines, tags are dropped and the common entities decoded.

/// Plain text of an HTML fragment.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..start]));
        let Some(end) = rest[start..].find('>') else {
            // An unclosed `<` is text.
            out.push_str(&decode_entities(&rest[start..]));
            return out.trim().to_owned();
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name == "br" || (tag.starts_with('/') && (name == "p" || name == "div" || name == "li"))
        {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(&decode_entities(rest));
    out.trim().to_owned()
}

/// Decodes `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and numeric entities.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_and_keeps_paragraphs() {
        let html = r#"<p>Buy <a href="https://x.example/?a=1&amp;b=2"><span>#</span>BTC</a> &amp; hold</p><p>line<br>two &#128640;</p>"#;
        assert_eq!(html_to_text(html), "Buy #BTC & hold\nline\ntwo 🚀");
    }

    #[test]
    fn lone_ampersand_and_angle_survive() {
        assert_eq!(html_to_text("a & b < c"), "a & b < c");
        assert_eq!(decode_entities("&bogus; &#x41;"), "&bogus; A");
    }
}
