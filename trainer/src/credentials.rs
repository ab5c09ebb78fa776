//! TMDB credentials and settings from the environment or a git-ignored `.env`.
//!
//! `TMDB_ACCESS_TOKEN` (the v4 read token, sent as a bearer header) is preferred over
//! `TMDB_API_KEY` (sent as `api_key=`, as the original did). The process environment wins
//! over `.env`. A credential's value is never printed: [`Credential`]'s `Debug` hides it and
//! [`Credential::redact`] scrubs it from any text on its way out, in every form a URL, a form
//! or a JSON document can give it (see [`Credential::redact`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Result};

/// How requests authenticate.
#[derive(Clone, PartialEq)]
pub enum Credential {
    /// v4 read access token: `Authorization: Bearer …`.
    Bearer(String),
    /// v3 API key: `?api_key=…`.
    ApiKey(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(<hidden>)"),
            Credential::ApiKey(_) => f.write_str("ApiKey(<hidden>)"),
        }
    }
}

impl Credential {
    /// The secret itself, for the request and nothing else.
    pub fn secret(&self) -> &str {
        match self {
            Credential::Bearer(secret) | Credential::ApiKey(secret) => secret,
        }
    }

    /// `text` with every occurrence of the secret replaced by `***`, in any of the forms it
    /// takes on its way through a request and back:
    ///
    /// - as it is;
    /// - percent-encoded (`%2B`, `%2b`, `%20`), as in a URL, whichever bytes are encoded;
    /// - form-encoded (`+` for a space), as reqwest puts `api_key=` in the query string;
    /// - JSON-escaped (`\"`, `\/`, `\u00e9`, surrogate pairs), as a server echoing it in a
    ///   JSON body would send it.
    ///
    /// Each character of the secret may take any of its forms independently, so mixtures
    /// (a server that decodes some escapes and not others) are caught too.
    pub fn redact(&self, text: &str) -> String {
        let secret = self.secret();
        let bytes = text.as_bytes();
        if secret.is_empty() {
            return text.to_string();
        }
        let mut redacted = Vec::with_capacity(bytes.len());
        let (mut start, mut copied) = (0, 0);
        while start < bytes.len() {
            match longest_match(bytes, start, secret) {
                Some(end) => {
                    redacted.extend_from_slice(&bytes[copied..start]);
                    redacted.extend_from_slice(b"***");
                    (start, copied) = (end, end);
                }
                None => start += 1,
            }
        }
        redacted.extend_from_slice(&bytes[copied..]);
        // Matches start and end on character boundaries (every form begins with ASCII or with
        // the secret's own leading byte), so the text stays valid UTF-8.
        String::from_utf8_lossy(&redacted).into_owned()
    }

    /// Whether `bytes` (a page, an image) hold the secret in any form [`Credential::redact`]
    /// knows.
    pub fn appears_in(&self, bytes: &[u8]) -> bool {
        let secret = self.secret();
        !secret.is_empty()
            && (0..bytes.len()).any(|start| longest_match(bytes, start, secret).is_some())
    }
}

/// The end of the longest occurrence of `secret` starting at `start`, in any of its forms.
///
/// A small NFA: the set of positions reachable after each character of the secret. Every
/// form of a character is a handful of bytes, so the sets stay tiny.
fn longest_match(text: &[u8], start: usize, secret: &str) -> Option<usize> {
    // Every form starts with the secret's first byte, `%`, `\\` or (for a space) `+`: most
    // starts are over at once, which keeps scanning a whole page cheap.
    let first = *secret.as_bytes().first()?;
    let &at_start = text.get(start)?;
    if !(at_start == first
        || at_start == b'%'
        || at_start == b'\\'
        || (first == b' ' && at_start == b'+'))
    {
        return None;
    }
    let mut positions = vec![start];
    for character in secret.chars() {
        let mut next = Vec::new();
        for &position in &positions {
            character_ends(text, position, character, &mut next);
        }
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return None;
        }
        positions = next;
    }
    positions.into_iter().max()
}

/// Pushes where `character` ends if it starts at `position` in any form.
fn character_ends(text: &[u8], position: usize, character: char, ends: &mut Vec<usize>) {
    // Byte by byte: raw, percent-encoded, or `+` for a space.
    let mut buffer = [0u8; 4];
    let mut positions = vec![position];
    for &byte in character.encode_utf8(&mut buffer).as_bytes() {
        let mut next = Vec::new();
        for &at in &positions {
            if text.get(at) == Some(&byte) || (byte == b' ' && text.get(at) == Some(&b'+')) {
                next.push(at + 1);
            }
            if text.get(at) == Some(&b'%') && hex_value(text, at + 1, 2) == Some(u32::from(byte)) {
                next.push(at + 3);
            }
        }
        positions = next;
    }
    ends.extend(positions);
    // JSON: a short escape, or `\uXXXX` (a surrogate pair beyond the BMP).
    let short = match character {
        '"' => Some(b'"'),
        '\\' => Some(b'\\'),
        '/' => Some(b'/'),
        '\n' => Some(b'n'),
        '\r' => Some(b'r'),
        '\t' => Some(b't'),
        '\u{8}' => Some(b'b'),
        '\u{c}' => Some(b'f'),
        _ => None,
    };
    if let Some(letter) = short {
        if text.get(position) == Some(&b'\\') && text.get(position + 1) == Some(&letter) {
            ends.push(position + 2);
        }
    }
    let mut units = [0u16; 2];
    let mut at = position;
    for &unit in character.encode_utf16(&mut units).iter() {
        let escaped = text.get(at) == Some(&b'\\')
            && text.get(at + 1) == Some(&b'u')
            && hex_value(text, at + 2, 4) == Some(u32::from(unit));
        if !escaped {
            return;
        }
        at += 6;
    }
    ends.push(at);
}

/// The value of `digits` hex digits (either case) at `at`, if they are there.
fn hex_value(text: &[u8], at: usize, digits: usize) -> Option<u32> {
    let slice = text.get(at..at + digits)?;
    slice.iter().try_fold(0u32, |value, &byte| {
        Some(value * 16 + char::from(byte).to_digit(16)?)
    })
}

/// What the crawler reads from the environment.
#[derive(Debug)]
pub struct Settings {
    /// The credential to use.
    pub credential: Credential,
    /// `TMDB_BASE_URL`, if set.
    pub base_url: Option<String>,
}

/// Reads settings from the process environment, then `dotenv` (the `.env` file's path).
pub fn load(dotenv: &Path) -> Result<Settings> {
    let file = match std::fs::read_to_string(dotenv) {
        Ok(text) => parse_dotenv(&text),
        Err(_) => HashMap::new(),
    };
    settings(|name| {
        std::env::var(name)
            .ok()
            .or_else(|| file.get(name).cloned())
            .filter(|value| !value.trim().is_empty())
    })
}

fn settings(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings> {
    let credential = match (lookup("TMDB_ACCESS_TOKEN"), lookup("TMDB_API_KEY")) {
        (Some(token), _) => Credential::Bearer(token.trim().to_string()),
        (None, Some(key)) => Credential::ApiKey(key.trim().to_string()),
        (None, None) => bail!(
            "no TMDB credentials: set TMDB_ACCESS_TOKEN (the API read access token) or \
             TMDB_API_KEY in the environment or in a .env file; both are on \
             https://www.themoviedb.org/settings/api after signing up. Without a key, \
             `cinerec-trainer demo-catalog` writes a built-in catalog instead"
        ),
    };
    Ok(Settings {
        credential,
        base_url: lookup("TMDB_BASE_URL"),
    })
}

/// `KEY=VALUE` lines; `export `, quotes, blank lines and `#` comments are understood.
/// Malformed lines are skipped (their text is never echoed: it may hold a secret).
fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut values = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => match value[1..].find(quote) {
                Some(end) => &value[1..1 + end],
                None => &value[1..],
            },
            // An unquoted value ends at a ` #` comment.
            _ => value.split(" #").next().unwrap_or("").trim_end(),
        };
        values.insert(key.trim().to_string(), value.to_string());
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        settings(|name| map.get(name).cloned())
    }

    #[test]
    fn the_access_token_is_preferred_over_the_api_key() {
        let settings = from(&[("TMDB_API_KEY", "k"), ("TMDB_ACCESS_TOKEN", "t")]).unwrap();
        assert_eq!(settings.credential, Credential::Bearer("t".into()));
        let settings = from(&[("TMDB_API_KEY", "k")]).unwrap();
        assert_eq!(settings.credential, Credential::ApiKey("k".into()));
    }

    #[test]
    fn missing_credentials_say_how_to_get_them_and_what_works_without() {
        let message = from(&[]).unwrap_err().to_string();
        assert!(message.contains("TMDB_ACCESS_TOKEN") && message.contains("TMDB_API_KEY"));
        assert!(message.contains("themoviedb.org/settings/api"));
        assert!(message.contains("demo-catalog"));
    }

    #[test]
    fn dotenv_lines_are_read_like_the_originals_env_file() {
        let values = parse_dotenv(
            "# TMDB\nTMDB_BASE_URL=https://api.themoviedb.org/3/movie\nexport TMDB_API_KEY=\"abc123\"\n\
             OTHER='x y' \nBROKEN LINE\nPLAIN=value # comment\n",
        );
        assert_eq!(
            values["TMDB_BASE_URL"],
            "https://api.themoviedb.org/3/movie"
        );
        assert_eq!(values["TMDB_API_KEY"], "abc123");
        assert_eq!(values["OTHER"], "x y");
        assert_eq!(values["PLAIN"], "value");
        assert_eq!(values.len(), 4);
    }

    #[test]
    fn secrets_are_hidden_from_debug_and_redacted_from_text() {
        let credential = Credential::ApiKey("s3cret".into());
        assert_eq!(format!("{credential:?}"), "ApiKey(<hidden>)");
        assert_eq!(
            credential.redact("GET /3/movie/popular?api_key=s3cret&page=2"),
            "GET /3/movie/popular?api_key=***&page=2"
        );
    }

    #[test]
    fn every_encoding_of_the_secret_is_redacted_and_nothing_else() {
        let credential = Credential::ApiKey("a b+c/é&\"".into());
        for (form, text) in [
            ("raw", "a b+c/é&\""),
            ("form", "a+b%2Bc%2F%C3%A9%26%22"),
            ("percent", "a%20b%2bc%2f%c3%a9%26%22"),
            ("json", "a b+c\\/\\u00e9&\\\""),
            ("mixed", "a+b+c%2F\\u00E9%26\""),
        ] {
            assert_eq!(
                credential.redact(&format!("key={text}; next")),
                "key=***; next",
                "{form}"
            );
            assert!(credential.appears_in(text.as_bytes()), "{form}");
        }
        let innocent = "a b c / é & % + \\u0041 %2";
        assert_eq!(credential.redact(innocent), innocent);
        assert!(!credential.appears_in(innocent.as_bytes()));
        let astral = Credential::Bearer("x🎬y".into());
        assert_eq!(astral.redact("t=x\\ud83c\\udfacy."), "t=***.");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;
        use std::fmt::Write as _;

        /// `key` as reqwest puts it in a query string: the crawl's own encoding.
        fn as_reqwest_sends_it(key: &str) -> String {
            let url = reqwest::Url::parse("http://127.0.0.1/3/movie/popular").unwrap();
            let request = reqwest::blocking::Request::new(reqwest::Method::GET, url);
            let mut request =
                reqwest::blocking::RequestBuilder::from_parts(shared_client(), request)
                    .query(&[("api_key", key)])
                    .build()
                    .unwrap();
            let query = request.url_mut().query().unwrap().to_string();
            query.strip_prefix("api_key=").unwrap().to_string()
        }

        fn shared_client() -> reqwest::blocking::Client {
            static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> =
                std::sync::OnceLock::new();
            CLIENT.get_or_init(reqwest::blocking::Client::new).clone()
        }

        /// One character in the form `choice` picks: raw, %XX, %xx, `+` for a space, or a
        /// JSON escape.
        fn encode_char(character: char, choice: u8, out: &mut String) {
            let mut buffer = [0u8; 4];
            let bytes = character.encode_utf8(&mut buffer).as_bytes();
            match choice % 5 {
                0 => out.push(character),
                1 => bytes.iter().for_each(|b| write!(out, "%{b:02X}").unwrap()),
                2 => bytes.iter().for_each(|b| write!(out, "%{b:02x}").unwrap()),
                3 if character == ' ' => out.push('+'),
                3 => out.push(character),
                _ => {
                    let mut units = [0u16; 2];
                    for unit in character.encode_utf16(&mut units) {
                        write!(out, "\\u{unit:04x}").unwrap();
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever the key and however it was encoded on its way (as reqwest sends it,
            /// percent-encoded in either case, JSON-escaped, or a mixture, character by
            /// character), a message holding it comes out with `***` in its place.
            #[test]
            fn no_encoding_of_the_key_survives_redaction(
                key in "[a-zA-Z0-9 ~!@#$%^&*()_+={}|:;'<>,.?/\"\\\\가-힣é🎬-]{8,32}",
                choices in proptest::collection::vec(any::<u8>(), 32),
            ) {
                let key = key.trim().to_string();
                prop_assume!(key.chars().count() >= 8);
                let credential = Credential::ApiKey(key.clone());
                let mut mixed = String::new();
                for (character, choice) in key.chars().zip(choices.iter().cycle()) {
                    encode_char(character, *choice, &mut mixed);
                }
                let json = serde_json::to_string(&key).unwrap();
                let forms = [
                    key.clone(),
                    as_reqwest_sends_it(&key),
                    key.chars().fold(String::new(), |mut s, c| { encode_char(c, 1, &mut s); s }),
                    key.chars().fold(String::new(), |mut s, c| { encode_char(c, 2, &mut s); s }),
                    key.chars().fold(String::new(), |mut s, c| { encode_char(c, 4, &mut s); s }),
                    json[1..json.len() - 1].to_string(),
                    mixed,
                ];
                for form in &forms {
                    // The brackets are in no form of any key: exactly the key goes.
                    let message = format!("⟨{form}⟩ and again ⟨{form}⟩");
                    prop_assert_eq!(credential.redact(&message), "⟨***⟩ and again ⟨***⟩");
                    prop_assert!(credential.appears_in(message.as_bytes()));
                    let bearer = Credential::Bearer(key.clone());
                    prop_assert_eq!(bearer.redact(&message), "⟨***⟩ and again ⟨***⟩");
                }
            }
        }
    }
}
