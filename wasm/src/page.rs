//! The page, rendered from Rust through web-sys: the heading with the visitor's name, ten
//! recommendations ranked on the visitor's device, the watched strip, and the controls.
//!
//! The bootstrap script fetches `model.bin` (through the service worker, so offline too) and
//! hands its bytes to [`run`]: fetching is the browser's business, everything after is Rust.
//!
//! A click on a card (Enter or Space on it: cards are buttons) records a watch event with the
//! chosen watch time, re-ranks at once and re-renders; nothing leaves the device. The history,
//! the name and the last good catalog live in `localStorage` (see `history` for the format).
//! When `model.bin` cannot be used, [`run`] returns the reason and the bootstrap script
//! (`app.js`) shows it with random posters: one fallback, for a missing or broken model and a
//! broken WebAssembly module alike.

use std::cell::RefCell;
use std::rc::Rc;

use cinerec_core::{decode, rank, Model, Ranking, Recommendation, WatchEvent};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    Document, Element, HtmlElement, HtmlImageElement, HtmlInputElement, Storage, Window,
};

use crate::history::{self, WatchTime, CATALOG_KEY, HISTORY_KEY, NAME_KEY};

/// Cards shown, as the original page had.
const K: usize = 10;

/// Everything the page's handlers share.
struct Page {
    window: Window,
    document: Document,
    storage: Option<Storage>,
    model: Model,
    history: Vec<WatchEvent>,
}

/// Decodes `model` and renders the page; `Err` says why the model could not be used.
pub(crate) fn run(model: &[u8]) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let document = window.document().ok_or("no document")?;
    let storage = window.local_storage().ok().flatten();
    show_name(&document, storage.as_ref());
    let model = decode(model).map_err(|error| format!("model.bin: {error}"))?;
    let page = Rc::new(RefCell::new(Page {
        history: load_history(storage.as_ref()),
        window,
        document,
        storage,
        model,
    }));
    page.borrow().remember_catalog();
    wire(&page)?;
    page.borrow().render();
    Ok(())
}

impl Page {
    fn element(&self, id: &str) -> Option<Element> {
        self.document.get_element_by_id(id)
    }

    /// Ranks the history and redraws the grid, the watched strip and the info line.
    fn render(&self) {
        let performance = self.window.performance();
        let started = performance.as_ref().map_or(0.0, |p| p.now());
        let ranking = rank(&self.model, &self.history, K);
        let elapsed = performance.as_ref().map_or(0.0, |p| p.now()) - started;
        match ranking {
            Ok(ranking) => {
                self.fill_grid(&ranking);
                self.set_status(&self.summary(&ranking));
            }
            // Stored events are checked on load, so this is a model that cannot rank them.
            Err(message) => self.set_status(&format!("추천을 계산하지 못했어요: {message}")),
        }
        self.fill_watched();
        if let Some(info) = self.element("info") {
            let timing = if elapsed < 0.1 {
                "0.1 ms 미만".to_string()
            } else {
                format!("{} ms", one_decimal(elapsed))
            };
            info.set_text_content(Some(&format!(
                "모델 {} · 추천할 수 있는 작품 {}편 · 이 기기에서 순위 계산 {timing}",
                self.model.id(),
                self.model.classes().len()
            )));
        }
    }

    fn summary(&self, ranking: &Ranking) -> String {
        let known = self.history.len() - ranking.ignored.len();
        let mut text = if self.history.is_empty() {
            "처음 오셨네요. 많은 분이 좋아한 작품부터 보여드려요. 본 작품을 누르면 취향에 맞춰 바로 다시 골라드려요.".to_string()
        } else {
            format!("본 작품 {known}편을 바탕으로 이 기기에서 골랐어요.")
        };
        if !ranking.ignored.is_empty() {
            text.push_str(&format!(
                " 지금 모델이 모르는 작품 {}편은 기록에 남겨 두되 계산에서는 뺐어요.",
                ranking.ignored.len()
            ));
        }
        text
    }

    fn set_status(&self, text: &str) {
        if let Some(status) = self.element("status") {
            status.set_text_content(Some(text));
        }
    }

    fn fill_grid(&self, ranking: &Ranking) {
        let Some(grid) = self.element("recommendations") else {
            return;
        };
        grid.set_text_content(None);
        let _ = grid.remove_attribute("data-fallback");
        for recommendation in &ranking.recommendations {
            if let Ok(card) = self.card(recommendation) {
                let _ = grid.append_child(&card);
            }
        }
    }

    /// One recommendation: a button with the poster, the title and the rating; its content id
    /// and score bits are in data attributes, for the end-to-end test's comparison with the
    /// server.
    fn card(&self, recommendation: &Recommendation) -> Result<Element, JsValue> {
        let Recommendation {
            content_id,
            score,
            movie,
        } = recommendation;
        let title = &movie.title;
        let card = self.document.create_element("button")?;
        card.set_class_name("card");
        card.set_attribute("type", "button")?;
        card.set_attribute("data-content-id", &content_id.to_string())?;
        card.set_attribute("data-score-bits", &score.to_bits().to_string())?;
        let rating = one_decimal(movie.vote_average);
        card.set_attribute(
            "aria-label",
            &format!("{title}, 평점 {rating}. 봤어요로 기록하기"),
        )?;
        let image: HtmlImageElement = self.document.create_element("img")?.dyn_into()?;
        image.set_src(&format!("posters/{}", movie.poster));
        image.set_alt(title);
        image.set_width(164);
        image.set_height(250);
        image.set_attribute("loading", "lazy")?;
        image.set_attribute("decoding", "async")?;
        card.append_child(&image)?;
        let name = self.document.create_element("span")?;
        name.set_class_name("title");
        name.set_text_content(Some(title));
        card.append_child(&name)?;
        let score = self.document.create_element("span")?;
        score.set_class_name("rating");
        score.set_text_content(Some(&format!("★ {rating}")));
        score.set_attribute("aria-hidden", "true")?;
        card.append_child(&score)?;
        Ok(card)
    }

    /// The watched strip, newest first.
    fn fill_watched(&self) {
        let Some(list) = self.element("watched") else {
            return;
        };
        list.set_text_content(None);
        let model = &self.model;
        for event in self.history.iter().rev() {
            let Ok(item) = self.document.create_element("li") else {
                continue;
            };
            let text = match model.catalog_entry(event.content_id) {
                Some(movie) => format!(
                    "{} · {}",
                    movie.title,
                    WatchTime::describe(event.watch_seconds)
                ),
                None => format!(
                    "알 수 없는 작품 #{} (지금 모델에는 없어요)",
                    event.content_id
                ),
            };
            item.set_text_content(Some(&text));
            let _ = list.append_child(&item);
        }
        if let Some(section) = self.element("watched-section") {
            let _ = section.toggle_attribute_with_force("hidden", self.history.is_empty());
        }
    }

    /// Records a watch of `content_id` with the chosen watch time, then re-ranks.
    fn watch(&mut self, content_id: u64) {
        let seconds = self
            .document
            .query_selector("input[name=watch-time]:checked")
            .ok()
            .flatten()
            .and_then(|input| input.dyn_into::<HtmlInputElement>().ok())
            .map_or(WatchTime::All, |input| {
                WatchTime::from_value(&input.value())
            })
            .seconds();
        history::record(
            &mut self.history,
            WatchEvent {
                content_id,
                watch_seconds: seconds,
            },
        );
        self.save_history();
        self.render();
    }

    fn reset(&mut self) {
        self.history.clear();
        self.save_history();
        self.render();
    }

    fn save_history(&self) {
        if let Some(storage) = &self.storage {
            // A full or disabled storage only means the history lasts this visit.
            let _ = storage.set_item(HISTORY_KEY, &history::to_json(&self.history));
        }
    }

    /// Keeps the catalog for the fallback, should a later model fail to load.
    fn remember_catalog(&self) {
        let Some(storage) = &self.storage else {
            return;
        };
        let catalog = js_sys::Array::new();
        for movie in self.model.catalog() {
            let entry = js_sys::Array::of3(
                &JsValue::from_f64(movie.id as f64),
                &JsValue::from_str(&movie.title),
                &JsValue::from_str(&movie.poster),
            );
            catalog.push(&entry);
        }
        if let Ok(text) = js_sys::JSON::stringify(&catalog) {
            let _ = storage.set_item(CATALOG_KEY, &String::from(text));
        }
    }
}

/// `7.46` as `7.5`: by integer arithmetic, which keeps float formatting (a sizeable part of a
/// WebAssembly download) out of the page.
fn one_decimal(value: f64) -> String {
    let tenths = (value * 10.0).round() as i64;
    format!("{}.{}", tenths / 10, (tenths % 10).abs())
}

/// The stored history, skipping entries that are not events (see `history`).
fn load_history(storage: Option<&Storage>) -> Vec<WatchEvent> {
    storage
        .and_then(|s| s.get_item(HISTORY_KEY).ok().flatten())
        .map_or_else(Vec::new, |text| history::from_json(&text))
}

fn show_name(document: &Document, storage: Option<&Storage>) {
    let stored = storage.and_then(|s| s.get_item(NAME_KEY).ok().flatten());
    let name = history::name(stored.as_deref());
    if let Some(element) = document.get_element_by_id("name") {
        element.set_text_content(Some(&name));
    }
    document.set_title(&format!("{name} 님이 좋아할 만한 콘텐츠 · cinerec"));
}

/// Connects the grid, the reset button and the name form to the page.
fn wire(page: &Rc<RefCell<Page>>) -> Result<(), String> {
    let document = page.borrow().document.clone();
    let grid = document
        .get_element_by_id("recommendations")
        .ok_or("the page has no #recommendations")?;
    let shared = page.clone();
    listen(&grid, "click", move |event: web_sys::Event| {
        let card = event
            .target()
            .and_then(|target| target.dyn_into::<Element>().ok())
            .and_then(|element| element.closest("[data-content-id]").ok().flatten());
        let id = card
            .and_then(|card| card.get_attribute("data-content-id"))
            .and_then(|id| id.parse::<u64>().ok());
        if let Some(id) = id {
            shared.borrow_mut().watch(id);
        }
    });
    if let Some(reset) = document.get_element_by_id("reset") {
        let shared = page.clone();
        listen(&reset, "click", move |_| shared.borrow_mut().reset());
    }
    wire_name(&document, page.borrow().storage.clone());
    Ok(())
}

fn wire_name(document: &Document, storage: Option<Storage>) {
    let (Some(rename), Some(form), Some(input)) = (
        document.get_element_by_id("rename"),
        document.get_element_by_id("name-form"),
        document.get_element_by_id("name-input"),
    ) else {
        return;
    };
    let Ok(input) = input.dyn_into::<HtmlInputElement>() else {
        return;
    };
    let (opened, field) = (form.clone(), input.clone());
    let name = document
        .get_element_by_id("name")
        .and_then(|element| element.text_content())
        .unwrap_or_default();
    listen(&rename, "click", move |_| {
        let _ = opened.toggle_attribute_with_force("hidden", false);
        field.set_value(&name);
        if let Ok(field) = field.clone().dyn_into::<HtmlElement>() {
            let _ = field.focus();
        }
    });
    let document = document.clone();
    let closing = form.clone();
    listen(&form, "submit", move |event: web_sys::Event| {
        event.prevent_default();
        let name = history::name(Some(&input.value()));
        if let Some(storage) = &storage {
            let _ = storage.set_item(NAME_KEY, &name);
        }
        show_name(&document, storage.as_ref());
        let _ = closing.toggle_attribute_with_force("hidden", true);
    });
}

/// Adds an event listener that lives as long as the page.
fn listen(target: &Element, kind: &str, handler: impl FnMut(web_sys::Event) + 'static) {
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(handler);
    let _ = target.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
    // The page never removes its handlers: leaking the closure keeps it alive for good.
    closure.forget();
}
