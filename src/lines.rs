//! One input line of the stdin filters (`coinpulse tag`, `coinpulse score`): plain text, or a JSON
//! object `{"id": ..., "text": ...}`. Both commands read a line the same way and report the same bad
//! line with the same output object, `{"id": <line number>, "line": <line number>, "error": "..."}`,
//! in place of its result, so a script handles either command's errors with one rule.

use std::borrow::Cow;

/// One post read from a line. The text is borrowed from the line unless it holds JSON escapes.
#[derive(Debug)]
pub struct Line<'a> {
    /// The object's `id`, else the line number.
    pub id: serde_json::Value,
    pub text: Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct Object<'a> {
    id: Option<serde_json::Value>,
    #[serde(borrow)]
    text: Option<Text<'a>>,
}

/// serde borrows a `Cow` only when it is a field of its own, not inside an `Option`.
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Reads line `number` (its newline, if any, already removed or not). The error is the reason the
/// line is bad, for [`error`].
pub fn parse(bytes: &[u8], number: u64) -> Result<Line<'_>, String> {
    let s = std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8: {e}"))?;
    let s = s.trim_end_matches(['\r', '\n']);
    if s.trim().is_empty() {
        return Err("empty line".into());
    }
    if !s.trim_start().starts_with('{') {
        return Ok(Line {
            id: number.into(),
            text: Cow::Borrowed(s),
        });
    }
    let object: Object = serde_json::from_str(s).map_err(|e| format!("invalid JSON: {e}"))?;
    let Text(text) = object
        .text
        .ok_or_else(|| "JSON object has no `text` field".to_string())?;
    Ok(Line {
        id: object.id.unwrap_or_else(|| number.into()),
        text,
    })
}

/// The output object standing for bad line `number`.
pub fn error(number: u64, reason: &str) -> serde_json::Value {
    serde_json::json!({"id": number, "line": number, "error": reason})
}

/// Logged once at the end of a stream with bad lines.
pub fn warn_skipped(skipped: u64) {
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "Some input lines were skipped; their output lines carry the error."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_lines_and_each_kind_of_bad_line() {
        let l = parse(b"plain $BTC\r\n", 3).unwrap();
        assert_eq!((l.id, l.text.as_ref()), (3.into(), "plain $BTC"));
        let l = parse(br#"{"id": "a", "text": "x"}"#, 4).unwrap();
        assert_eq!((l.id, l.text.as_ref()), ("a".into(), "x"));
        assert!(matches!(l.text, Cow::Borrowed(_)));
        let l = parse(br#"{"text": "caf\u00e9"}"#, 5).unwrap();
        assert_eq!((l.id, l.text.as_ref()), (5.into(), "café"));
        assert_eq!(parse(b"  \n", 1).unwrap_err(), "empty line");
        assert!(
            parse(b"\xff\xfe", 1)
                .unwrap_err()
                .starts_with("invalid UTF-8")
        );
        assert!(
            parse(b"{\"id\": 5, \"text\": ", 1)
                .unwrap_err()
                .starts_with("invalid JSON")
        );
        assert_eq!(
            parse(b"{\"id\": 9}", 1).unwrap_err(),
            "JSON object has no `text` field"
        );
        assert_eq!(
            error(7, "empty line"),
            serde_json::json!({"id": 7, "line": 7, "error": "empty line"})
        );
    }
}
