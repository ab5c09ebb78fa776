//! TMDB credentials and settings from the environment or a git-ignored `.env`.
//!
//! `TMDB_ACCESS_TOKEN` (the v4 read token, sent as a bearer header) is preferred over
//! `TMDB_API_KEY` (sent as `api_key=`, as the original did). The process environment wins
//! over `.env`. A credential's value is never printed: [`Credential`]'s `Debug` hides it and
//! [`Credential::redact`] scrubs it from any text on its way out.

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

    /// `text` with every occurrence of the secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let secret = self.secret();
        if secret.is_empty() {
            text.to_string()
        } else {
            text.replace(secret, "***")
        }
    }
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
}
