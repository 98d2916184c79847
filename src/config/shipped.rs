//! The shipped `config.toml` claims to show every default: these tests hold it to that. Its values
//! must be `Config::default()`'s, and every key of the typed configuration must appear in it, set or
//! commented out (`# url = ...` for keys that are unset by default).

use std::path::Path;

use super::Config;

fn shipped_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    std::fs::read_to_string(path).expect("config.toml ships with the repository")
}

#[test]
fn shipped_config_toml_equals_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let shipped = Config::load_from(&path, true, std::iter::empty()).expect("config.toml parses");
    assert_eq!(
        format!("{shipped:#?}"),
        format!("{:#?}", Config::default()),
        "config.toml and Config::default() disagree"
    );
}

/// The file with its commented-out settings (`# key = value`, `# [section]`) switched on, so that a
/// key documented as "unset by default" counts as present.
fn every_documented_key() -> toml::Table {
    let text: String = shipped_text()
        .lines()
        .map(|line| {
            let uncommented = line.trim_start_matches("# ");
            let is_setting = uncommented.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            });
            let is_section = uncommented.starts_with('[') && uncommented.ends_with(']');
            if line.starts_with("# ") && (is_setting || is_section) {
                uncommented.to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    toml::from_str(&text).expect("config.toml with its examples switched on still parses")
}

/// Key paths of the defaults, read from their pretty `Debug` output (one field per line, four
/// spaces per level).
fn default_key_paths() -> Vec<Vec<String>> {
    let debug = format!("{:#?}", Config::default());
    let mut stack: Vec<String> = Vec::new();
    let mut paths = Vec::new();
    for line in debug.lines() {
        let indent = line.len() - line.trim_start().len();
        let Some((name, value)) = line.trim_start().split_once(": ") else {
            continue;
        };
        if indent % 4 != 0 || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        let depth = indent / 4;
        if depth == 0 || depth > stack.len() + 1 {
            continue;
        }
        stack.truncate(depth - 1);
        let mut path = stack.clone();
        path.push(name.to_string());
        paths.push(path);
        if value.ends_with('{') {
            stack.push(name.to_string());
        }
    }
    paths
}

/// Keys documented in a comment rather than as a setting: the `[sources]` header explains `track`
/// as `top = N` or `assets = [...]`, and each source shows one of the two.
const DOCUMENTED_IN_COMMENTS: &[&str] = &["track.assets"];

#[test]
fn every_key_of_the_defaults_is_in_config_toml() {
    let documented = every_documented_key();
    let paths = default_key_paths();
    assert!(
        paths.len() > 50,
        "expected the whole configuration, got {paths:?}"
    );
    let missing: Vec<String> = paths
        .iter()
        .filter(|path| {
            let mut table = &documented;
            for (i, key) in path.iter().enumerate() {
                match table.get(key.as_str()) {
                    Some(toml::Value::Table(t)) => table = t,
                    Some(_) if i + 1 == path.len() => return false,
                    _ => return true,
                }
            }
            false
        })
        .map(|path| path.join("."))
        .filter(|key| !DOCUMENTED_IN_COMMENTS.iter().any(|k| key.ends_with(k)))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from config.toml: {missing:?}"
    );
}
