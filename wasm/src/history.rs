//! What the page remembers in `localStorage`, and the rules for reading it back.
//!
//! - `cinerec.history`: the visitor's watch events, oldest first, at most core's
//!   `MAX_HISTORY` of them, as a JSON array of `{"content_id": <id>, "watch_seconds":
//!   <seconds>}`: exactly core's `WatchEvent` as serde writes it, the `history` of a
//!   `POST /batch-predict` body, so the server can be asked for the same ranking. Read and
//!   written only here ([`from_json`], [`to_json`]), through the browser's own JSON (a serde
//!   parser would double the page's download).
//! - `cinerec.name`: the name in the heading (the original's "000" until changed).
//! - `cinerec.catalog`: the last catalog a model brought (id, title, poster of each movie),
//!   so that a page whose model cannot be loaded can still show posters.
//!
//! Storage is the visitor's to edit: entries that are not a whole content id with a finite,
//! non-negative watch time are skipped, not trusted.

// The page that uses these exists only in the browser; natively they are built for the tests.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

use cinerec_core::{WatchEvent, MAX_HISTORY};

/// The `localStorage` key of the watch history.
pub(crate) const HISTORY_KEY: &str = "cinerec.history";
/// The `localStorage` key of the visitor's name.
pub(crate) const NAME_KEY: &str = "cinerec.name";
/// The `localStorage` key of the last good catalog.
pub(crate) const CATALOG_KEY: &str = "cinerec.catalog";
/// The longest name shown.
const MAX_NAME: usize = 20;

/// How much of a movie the visitor says they watched, asked on each click.
///
/// The model was trained on viewers who watch what they like longer, so the choice matters:
/// "all of it" says "more like this", "a little" says much less. "All of it" is the default:
/// a click on a recommendation mostly means the visitor wanted to watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchTime {
    /// Watched it all: 90 minutes.
    All,
    /// Watched a little: 10 minutes.
    Little,
}

impl WatchTime {
    /// Seconds recorded for the choice.
    pub(crate) fn seconds(self) -> f64 {
        match self {
            WatchTime::All => 5400.0,
            WatchTime::Little => 600.0,
        }
    }

    /// The choice named by a radio button's value.
    pub(crate) fn from_value(value: &str) -> WatchTime {
        if value == "little" {
            WatchTime::Little
        } else {
            WatchTime::All
        }
    }

    /// How the watched strip describes an event of `seconds`.
    pub(crate) fn describe(seconds: f64) -> &'static str {
        if seconds >= WatchTime::All.seconds() {
            "다 봤어요"
        } else {
            "조금 봤어요"
        }
    }
}

/// A stored event, if it is one: a whole content id below 2^53 (exact in JavaScript) and a
/// finite, non-negative watch time.
pub(crate) fn event(content_id: f64, watch_seconds: f64) -> Option<WatchEvent> {
    let whole = content_id.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&content_id);
    let time = watch_seconds.is_finite() && watch_seconds >= 0.0;
    (whole && time).then_some(WatchEvent {
        content_id: content_id as u64,
        watch_seconds,
    })
}

/// Appends `event`, dropping the oldest beyond [`MAX_HISTORY`]: the longest history kept is
/// what the server accepts in one request.
pub(crate) fn record(history: &mut Vec<WatchEvent>, event: WatchEvent) {
    history.push(event);
    keep_latest(history);
}

fn keep_latest(history: &mut Vec<WatchEvent>) {
    if history.len() > MAX_HISTORY {
        history.drain(..history.len() - MAX_HISTORY);
    }
}

/// The stored history: the events of the JSON array `text` (entries that are not events
/// skipped), the latest [`MAX_HISTORY`] of them; none when it is not an array.
#[cfg(target_family = "wasm")]
pub(crate) fn from_json(text: &str) -> Vec<WatchEvent> {
    use wasm_bindgen::{JsCast, JsValue};
    let Some(entries) = js_sys::JSON::parse(text)
        .ok()
        .and_then(|parsed| parsed.dyn_into::<js_sys::Array>().ok())
    else {
        return Vec::new();
    };
    let number = |entry: &JsValue, key: &str| {
        js_sys::Reflect::get(entry, &key.into())
            .ok()
            .and_then(|value| value.as_f64())
            .unwrap_or(f64::NAN)
    };
    let mut events: Vec<WatchEvent> = entries
        .iter()
        .filter_map(|entry| {
            event(
                number(&entry, "content_id"),
                number(&entry, "watch_seconds"),
            )
        })
        .collect();
    keep_latest(&mut events);
    events
}

/// `history` as the stored JSON array.
#[cfg(target_family = "wasm")]
pub(crate) fn to_json(history: &[WatchEvent]) -> String {
    use wasm_bindgen::JsValue;
    let events = js_sys::Array::new();
    for event in history {
        let object = js_sys::Object::new();
        let _ = js_sys::Reflect::set(
            &object,
            &"content_id".into(),
            &JsValue::from_f64(event.content_id as f64),
        );
        let _ = js_sys::Reflect::set(
            &object,
            &"watch_seconds".into(),
            &JsValue::from_f64(event.watch_seconds),
        );
        events.push(&object);
    }
    js_sys::JSON::stringify(&events).map_or_else(|_| "[]".to_string(), String::from)
}

/// The name to show for a stored one: trimmed, at most 20 characters, "000" when empty.
pub(crate) fn name(stored: Option<&str>) -> String {
    let trimmed: String = stored.unwrap_or("").trim().chars().take(MAX_NAME).collect();
    if trimmed.is_empty() {
        "000".to_string()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_ids_and_sane_watch_times_are_events() {
        assert_eq!(
            event(550.0, 5400.0),
            Some(WatchEvent {
                content_id: 550,
                watch_seconds: 5400.0
            })
        );
        for (id, seconds) in [
            (1.5, 10.0),
            (-1.0, 10.0),
            (1e300, 10.0),
            (f64::NAN, 10.0),
            (5.0, -1.0),
            (5.0, f64::INFINITY),
            (5.0, f64::NAN),
        ] {
            assert_eq!(event(id, seconds), None, "{id} {seconds}");
        }
    }

    #[test]
    fn the_history_keeps_the_latest_events_up_to_the_servers_limit() {
        let seen = |content_id: u64| WatchEvent {
            content_id,
            watch_seconds: 600.0,
        };
        let mut history = Vec::new();
        for id in 0..MAX_HISTORY as u64 + 5 {
            record(&mut history, seen(id));
        }
        assert_eq!(history.len(), MAX_HISTORY);
        assert_eq!(history[0], seen(5));
        assert_eq!(history.last(), Some(&seen(MAX_HISTORY as u64 + 4)));
    }

    #[test]
    fn names_default_trim_and_stay_short() {
        assert_eq!(name(None), "000");
        assert_eq!(name(Some("   ")), "000");
        assert_eq!(name(Some("  지은 ")), "지은");
        assert_eq!(name(Some(&"가".repeat(40))).chars().count(), 20);
    }

    #[test]
    fn watch_times_are_chosen_by_value_with_all_as_the_default() {
        assert_eq!(WatchTime::from_value("little"), WatchTime::Little);
        assert_eq!(WatchTime::from_value("all"), WatchTime::All);
        assert_eq!(WatchTime::from_value("anything"), WatchTime::All);
        assert_eq!(
            WatchTime::describe(WatchTime::Little.seconds()),
            "조금 봤어요"
        );
        assert_eq!(WatchTime::describe(WatchTime::All.seconds()), "다 봤어요");
    }
}
