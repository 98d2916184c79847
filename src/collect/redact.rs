//! Known secrets kept out of every message that leaves the process.
//!
//! An upstream error body is untrusted text: a misconfigured proxy or a hostile server can echo the
//! request back, `Authorization` header and all, and error messages travel on to the logs and to the
//! unauthenticated `/readyz`. So each collector registers the credentials it sends (and the forms it
//! sends them in: Reddit's basic auth is base64 of `id:secret`, its access tokens change every hour),
//! and every [`CollectError`](super::CollectError) message goes through [`scrub`]: each known secret
//! becomes `[REDACTED]`, and the message is cut to [`MAX_MESSAGE`] characters, so a megabyte of
//! echoed body never reaches a log line either.
//!
//! The registry is process-wide because errors are built in many places (the HTTP layer, payload
//! decoders, each collector) and all of them must be covered, including ones added later. Secrets
//! shorter than [`MIN_SECRET`] bytes are not registered: no real credential is that short, and
//! redacting `id` would mangle every message.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use std::sync::RwLock;

use secrecy::{ExposeSecret, SecretString};

/// Longest message, in characters, that an error carries; the rest is replaced by `…`.
pub const MAX_MESSAGE: usize = 1000;

/// Shortest secret that is redacted, in bytes.
pub const MIN_SECRET: usize = 8;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets by the slot that registered them (`twitter.bearer`), so a renewed token replaces the old
/// one instead of piling up.
static SECRETS: RwLock<Option<HashMap<String, Vec<SecretString>>>> = RwLock::new(None);

/// Registers the forms of one secret under `slot`, replacing what the slot held.
pub fn register(slot: &str, forms: impl IntoIterator<Item = String>) {
    let forms: Vec<SecretString> = forms
        .into_iter()
        .filter(|f| f.len() >= MIN_SECRET)
        .map(SecretString::from)
        .collect();
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    secrets
        .get_or_insert_with(HashMap::new)
        .insert(slot.to_owned(), forms);
}

/// Registers `secret` as sent verbatim (a bearer token, an API key in a header or a query string;
/// its percent-encoded form too, where that differs).
pub fn register_secret(slot: &str, secret: &SecretString) {
    let raw = secret.expose_secret();
    let encoded: String = raw
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    register(slot, [raw.to_owned(), encoded]);
}

/// Registers HTTP basic credentials: the secret itself and the base64 `user:secret` the header carries.
pub fn register_basic(slot: &str, user: &SecretString, secret: &SecretString) {
    let pair = format!("{}:{}", user.expose_secret(), secret.expose_secret());
    register(
        slot,
        [
            secret.expose_secret().to_owned(),
            base64(pair.as_bytes()),
            base64(pair.as_bytes()).trim_end_matches('=').to_owned(),
        ],
    );
}

/// `text` with every registered secret replaced by [`REDACTED`], cut to [`MAX_MESSAGE`] characters.
pub fn scrub(text: &str) -> String {
    let mut out = {
        let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        let forms: Vec<&str> = secrets
            .iter()
            .flat_map(|m| m.values())
            .flatten()
            .map(|f| f.expose_secret())
            // A "secret" inside the marker itself (a recorded fixture's token is literally
            // `REDACTED`) cannot be told from the marker, and would nest it on a second scrub.
            .filter(|f| text.contains(f) && !REDACTED.contains(f))
            .collect();
        // One pass over the original text, longest secret first where two overlap: replacing one
        // secret after another would rescan the inserted `[REDACTED]`, and a registered secret that
        // happens to be a substring of it (a recorded fixture's token is literally `REDACTED`)
        // would nest the marker.
        match AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&forms)
        {
            Ok(secrets) if !forms.is_empty() => {
                secrets.replace_all(text, &vec![REDACTED; forms.len()])
            }
            _ => text.to_owned(),
        }
    };
    if let Some((cut, _)) = out.char_indices().nth(MAX_MESSAGE) {
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Standard base64 with padding (what `reqwest` sends for basic auth).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        // RFC 4648 test vectors.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn registered_secrets_are_redacted_in_every_form() {
        let token = SecretString::from("tok/en+with=odd chars-1234");
        register_secret("test.redact.token", &token);
        let (id, secret) = (
            SecretString::from("client-id-5678"),
            SecretString::from("client-secret-9012"),
        );
        register_basic("test.redact.basic", &id, &secret);
        let basic = base64(b"client-id-5678:client-secret-9012");
        let text = format!(
            "echo: Bearer tok/en+with=odd chars-1234 ?key=tok%2Fen%2Bwith%3Dodd%20chars-1234 \
             Basic {basic} secret=client-secret-9012"
        );
        let clean = scrub(&text);
        assert!(!clean.contains("tok/en"), "{clean}");
        assert!(!clean.contains("tok%2Fen"), "{clean}");
        assert!(!clean.contains(&basic), "{clean}");
        assert!(!clean.contains("client-secret-9012"), "{clean}");
        assert_eq!(clean.matches(REDACTED).count(), 4, "{clean}");
        // The client id alone is not a secret.
        assert!(scrub("client-id-5678").contains("client-id-5678"));
    }

    #[test]
    fn a_renewed_secret_replaces_the_old_one_and_short_ones_are_ignored() {
        register("test.redact.renew", ["first-token-aaaa".to_owned()]);
        register("test.redact.renew", ["second-token-bbbb".to_owned()]);
        assert_eq!(scrub("first-token-aaaa"), "first-token-aaaa");
        assert_eq!(scrub("second-token-bbbb"), REDACTED);
        register("test.redact.short", ["id".to_owned()]);
        assert_eq!(scrub("valid id"), "valid id");
    }

    #[test]
    fn a_secret_inside_the_marker_does_not_nest_it() {
        // Another source's token may be any string, `REDACTED` included (recorded fixtures carry
        // exactly that); redacting one secret must not expose the marker to the next, and scrubbing
        // twice changes nothing more.
        register("test.redact.marker", ["REDACTED".to_owned()]);
        register("test.redact.outer", ["outer-secret-9f8e".to_owned()]);
        let once = scrub("Bearer outer-secret-9f8e");
        assert_eq!(once, "Bearer [REDACTED]");
        assert_eq!(scrub(&once), once);
        register("test.redact.marker", []);
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "é".repeat(MAX_MESSAGE + 50);
        let cut = scrub(&long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(scrub("short"), "short");
    }
}
