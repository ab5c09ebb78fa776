//! The server ranks as core does, to the bit, and swaps models without losing or mixing a
//! request.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cinerec_core::{decode, rank, WatchEvent};
use support::{get, post, Site};

/// A small seeded generator for the tests' histories.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn history_json(history: &[WatchEvent]) -> String {
    serde_json::to_string(&serde_json::json!({ "k": 10, "history": history })).unwrap()
}

fn expected(model: &cinerec_core::Model, history: &[WatchEvent]) -> (Vec<u64>, Vec<u32>) {
    let ranking = rank(model, history, 10).unwrap();
    (
        ranking
            .recommendations
            .iter()
            .map(|r| r.content_id)
            .collect(),
        ranking
            .recommendations
            .iter()
            .map(|r| r.score.to_bits())
            .collect(),
    )
}

fn random_history(draws: &mut Draws, catalog: &[u64]) -> Vec<WatchEvent> {
    let length = draws.next() % 25;
    (0..length)
        .map(|_| WatchEvent {
            // Now and then a movie the model does not know.
            content_id: if draws.next().is_multiple_of(10) {
                draws.next() % 100_000
            } else {
                catalog[(draws.next() % catalog.len() as u64) as usize]
            },
            // Repeated watch times (the page's three among them) make events repeat, so the
            // server's event cache is both hit and missed.
            watch_seconds: match draws.next() % 6 {
                0 => 0.0,
                1 => 1e9,
                2 => [900.0, 3600.0, 7200.0][(draws.next() % 3) as usize],
                _ => (draws.next() % 720_000) as f64 / 100.0,
            },
        })
        .collect()
}

#[test]
fn the_servers_ids_and_score_bits_equal_cores_for_random_histories() {
    let site = Site::new();
    let server = site.start(&site.args());
    let model = decode(&site.read("model.bin")).unwrap();
    let catalog: Vec<u64> = model.catalog().iter().map(|entry| entry.id).collect();
    let mut draws = Draws(0x5EED);
    for _ in 0..300 {
        let history = random_history(&mut draws, &catalog);
        let answer = post(&server.url("/batch-predict"), history_json(&history));
        assert_eq!(answer.status, 200, "{}", answer.text());
        let (ids, bits) = expected(&model, &history);
        assert_eq!(
            answer.json()["recommended_content_id"],
            serde_json::json!(ids)
        );
        assert_eq!(answer.score_bits(), bits, "{history:?}");
    }
}

#[test]
fn a_replaced_model_file_is_served_on_the_next_request_and_a_bad_one_is_refused() {
    let site = Site::new();
    let server = site.start(&site.args());
    let first = support::model_id(&site.read("model.bin"));
    // Asked for before the swap, so that the old model's answer is kept.
    assert_eq!(get(&server.url("/batch-predict?k=10")).unwrap().status, 200);
    let second = support::model_id(&site.read("other.bin"));
    assert!(server.wait_for_model(&first, Duration::from_secs(5)));

    support::replace_atomically(&site, &site.path("other.bin"), "model.bin");
    assert!(
        server.wait_for_model(&second, Duration::from_secs(10)),
        "the replaced file is picked up\n{}",
        server.log()
    );
    assert_eq!(
        get(&server.url("/model.bin")).unwrap().body,
        site.read("other.bin")
    );
    // The new visitor's answer, kept per model, went with the old one.
    let fresh = get(&server.url("/batch-predict?k=10")).unwrap();
    let (ids, bits) = expected(&decode(&site.read("other.bin")).unwrap(), &[]);
    assert_eq!(fresh.json()["model_id"], second.as_str());
    assert_eq!(
        fresh.json()["recommended_content_id"],
        serde_json::json!(ids)
    );
    assert_eq!(fresh.score_bits(), bits);

    // A broken file: refused, logged, counted; the model keeps serving.
    site.write("model.bin", b"<html>oops</html>");
    assert!(support::wait_until(Duration::from_secs(10), || {
        get(&server.url("/metrics"))
            .unwrap()
            .text()
            .contains("cinerec_model_reload_failures_total 1")
    }));
    assert!(server.wait_for_model(&second, Duration::from_secs(1)));
    assert!(
        support::wait_until(Duration::from_secs(5), || server
            .log()
            .contains("model refused")),
        "{}",
        server.log()
    );

    // SIGHUP reloads at once, without waiting for the next look at the file.
    let mut args_slow = site.args();
    args_slow.extend(["--watch-interval", "3600"].map(String::from));
    drop(server);
    site.write("model.bin", &site.read("other.bin"));
    let server = site.start(&args_slow);
    assert!(server.wait_for_model(&second, Duration::from_secs(5)));
    site.write("model.bin", &support::trained_model(1));
    server.signal("HUP");
    assert!(
        server.wait_for_model(&first, Duration::from_secs(10)),
        "{}",
        server.log()
    );
    let metrics = get(&server.url("/metrics")).unwrap().text();
    assert!(metrics.contains(&format!(r#"cinerec_model_info{{model_id="{first}"}} 1"#)));
}

#[test]
fn swapping_models_under_load_loses_no_request_and_never_mixes_two() {
    let site = Site::new();
    let mut args = site.args();
    args.extend(["--watch-interval", "0.05"].map(String::from));
    let server = site.start(&args);
    let models: Vec<_> = ["model.bin", "other.bin"]
        .iter()
        .map(|name| decode(&site.read(name)).unwrap())
        .collect();
    let catalog: Vec<u64> = models[0].catalog().iter().map(|entry| entry.id).collect();
    let stop = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for worker in 0..4u64 {
            let (server, models, catalog, stop, answered) =
                (&server, &models, &catalog, &stop, &answered);
            scope.spawn(move || {
                let mut draws = Draws(0xABCD + worker);
                while !stop.load(Ordering::Relaxed) {
                    let history = random_history(&mut draws, catalog);
                    let answer = post(&server.url("/batch-predict"), history_json(&history));
                    assert_eq!(answer.status, 200, "{}", answer.text());
                    let json = answer.json();
                    let model = models
                        .iter()
                        .find(|model| json["model_id"] == model.id())
                        .expect("a model the test knows");
                    // The ids and bits must be those of the very model the answer names.
                    let (ids, bits) = expected(model, &history);
                    assert_eq!(json["recommended_content_id"], serde_json::json!(ids));
                    assert_eq!(answer.score_bits(), bits);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for swap in 0..8 {
            std::thread::sleep(Duration::from_millis(150));
            let from = if swap % 2 == 0 {
                "other.bin"
            } else {
                "model.bin.orig"
            };
            if swap == 0 {
                std::fs::copy(site.path("model.bin"), site.path("model.bin.orig")).unwrap();
            }
            support::replace_atomically(&site, &site.path(from), "model.bin");
            let id = models[(swap + 1) % 2].id().to_string();
            assert!(
                server.wait_for_model(&id, Duration::from_secs(10)),
                "swap {swap}"
            );
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(answered.load(Ordering::Relaxed) > 50, "the load was real");
    let metrics = get(&server.url("/metrics")).unwrap().text();
    assert!(
        metrics.contains("cinerec_model_reloads_total 8"),
        "{metrics}"
    );
}
