//! The layout's promises on the two golden models of `core/tests/data`.

use super::*;

const FEATURES_MODEL: &[u8] = include_bytes!("../../core/tests/data/model.bin");
const NEXT_MODEL: &[u8] = include_bytes!("../../core/tests/data/model_next.bin");

fn registry() -> (tempfile::TempDir, Registry) {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::create(&folder.path().join("registry")).unwrap();
    (folder, registry)
}

fn register(registry: &Registry, bytes: &[u8]) -> String {
    let registered = registry.register(bytes, None, None, "test").unwrap();
    assert!(registered.new);
    registered.entry.model_id
}

/// Registers both golden models and promotes the first.
fn two_with_the_first_promoted(registry: &Registry) -> (String, String) {
    let first = register(registry, FEATURES_MODEL);
    let second = register(registry, NEXT_MODEL);
    registry
        .promote(&first, Action::Promote, None, None, None)
        .unwrap();
    (first, second)
}

fn error_of<T: std::fmt::Debug>(result: Result<T>) -> String {
    format!("{:#}", result.unwrap_err())
}

#[test]
fn a_registered_model_loads_back_with_its_provenance() {
    let (_folder, registry) = registry();
    let id = register(&registry, FEATURES_MODEL);
    let checked = registry.load(&id, MAX_MODEL).unwrap();
    assert_eq!(checked.model.id(), id);
    assert_eq!(checked.bytes, FEATURES_MODEL);
    assert_eq!(checked.entry.model_bytes, FEATURES_MODEL.len() as u64);
    assert_eq!(
        checked.entry.training_data_sha256,
        checked.model.metadata().training_data_sha256
    );
    let again = registry
        .register(FEATURES_MODEL, None, None, "test")
        .unwrap();
    assert!(!again.new, "the same model is registered once");
    assert_eq!(again.entry, checked.entry);
}

#[test]
fn promotions_stack_and_rollbacks_take_them_off() {
    let (_folder, registry) = registry();
    let first = register(&registry, FEATURES_MODEL);
    let second = register(&registry, NEXT_MODEL);
    assert_eq!(registry.current().unwrap(), None);
    assert!(error_of(registry.rollback(None)).contains("nothing was ever promoted"));
    registry
        .promote(&first, Action::Promote, None, None, None)
        .unwrap();
    assert!(error_of(registry.rollback(None)).contains("is the only entry ever promoted"));
    registry
        .promote(&second, Action::Promote, Some(&first), None, None)
        .unwrap();
    assert_eq!(registry.current().unwrap().as_deref(), Some(&*second));
    let event = registry.rollback(Some("bad night".into())).unwrap();
    assert_eq!((event.action, &*event.entry), (Action::Rollback, &*first));
    assert_eq!(event.previous.as_deref(), Some(&*second));
    assert_eq!(registry.current().unwrap().as_deref(), Some(&*first));
    let actions: Vec<Action> = registry
        .history()
        .unwrap()
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [Action::Promote, Action::Promote, Action::Rollback]
    );
}

#[test]
fn a_promotion_decided_against_a_pointer_that_moved_is_refused() {
    let (_folder, registry) = registry();
    let (first, second) = two_with_the_first_promoted(&registry);
    let error = error_of(registry.promote(&second, Action::Promote, None, None, None));
    assert!(
        error.contains(&format!("moved from nothing to {first}")),
        "{error}"
    );
    let error =
        error_of(registry.promote(&second, Action::ForcedPromote, Some(&first), None, None));
    assert!(error.contains("needs a reason"), "{error}");
}

#[test]
fn a_corrupt_entry_is_refused_naming_the_file_and_the_problem() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage); 5] = [
        ("bytes, but entry.json records", |folder| {
            let path = folder.join(MODEL_FILE);
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("the file was changed", |folder| {
            let path = folder.join(MODEL_FILE);
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        }),
        ("entry.json: not a valid entry", |folder| {
            std::fs::write(folder.join(ENTRY_FILE), "{\"model_id\": ").unwrap();
        }),
        ("but the entry's folder is", |folder| {
            let path = folder.join(ENTRY_FILE);
            let text = std::fs::read_to_string(&path).unwrap();
            let id = folder.file_name().unwrap().to_str().unwrap();
            std::fs::write(&path, text.replace(id, "0123456789abcdef")).unwrap();
        }),
        ("does not decode", |folder| {
            // Length and sha256 recorded for bytes that are not a model: a check of the
            // record alone would let it through.
            let junk = vec![7u8; 100];
            let path = folder.join(ENTRY_FILE);
            let mut entry: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            entry["model_bytes"] = 100.into();
            entry["model_sha256"] = sha256_hex(&junk).into();
            std::fs::write(&path, entry.to_string()).unwrap();
            std::fs::write(folder.join(MODEL_FILE), junk).unwrap();
        }),
    ];
    for (needle, damage) in cases {
        let (_folder, registry) = registry();
        let id = register(&registry, FEATURES_MODEL);
        damage(&registry.entry_folder(&id));
        let error = error_of(registry.load(&id, MAX_MODEL));
        assert!(error.contains(needle), "{needle}: {error}");
        assert!(error.contains(&id), "names the entry: {error}");
        let error = error_of(registry.promote(&id, Action::Promote, None, None, None));
        assert!(error.contains(needle), "{needle}: {error}");
        assert_eq!(
            registry.current().unwrap(),
            None,
            "{needle}: never promoted"
        );
        let listed = registry.list().unwrap();
        assert!(listed[0].1.is_err(), "{needle}: listed as broken");
    }
}

#[test]
fn a_rollback_never_returns_to_a_corrupt_entry() {
    let (_folder, registry) = registry();
    let (first, second) = two_with_the_first_promoted(&registry);
    registry
        .promote(&second, Action::Promote, Some(&first), None, None)
        .unwrap();
    std::fs::write(registry.entry_folder(&first).join(MODEL_FILE), b"").unwrap();
    let error = error_of(registry.rollback(None));
    assert!(
        error.contains(&format!("cannot roll back to entry {first}")),
        "{error}"
    );
    assert!(error.contains("0 bytes"), "{error}");
    assert_eq!(registry.current().unwrap().as_deref(), Some(&*second));
}

#[test]
fn ids_that_are_not_model_ids_never_become_paths() {
    let (_folder, registry) = registry();
    for id in ["../../etc", "0123456789ABCDEF", "0123", ""] {
        assert!(error_of(registry.load(id, MAX_MODEL)).contains("is not a model id"));
    }
    std::fs::write(registry.root().join(CURRENT), "../x\n").unwrap();
    let error = error_of(registry.current());
    assert!(
        error.contains("current: the pointer is not valid"),
        "{error}"
    );
}

#[test]
fn a_refusal_is_recorded_and_moves_nothing() {
    let (_folder, registry) = registry();
    let (first, second) = two_with_the_first_promoted(&registry);
    registry
        .refuse(
            &second,
            "worse".into(),
            Some(serde_json::json!({"z": -3.0})),
        )
        .unwrap();
    assert_eq!(registry.current().unwrap().as_deref(), Some(&*first));
    let history = registry.history().unwrap();
    assert_eq!(history[1].action, Action::Refused);
    assert_eq!(history[1].previous.as_deref(), Some(&*first));
    assert_eq!(history[1].gate.as_ref().unwrap()["z"], -3.0);
    // A refusal is no promotion: still nothing to roll back to.
    assert!(error_of(registry.rollback(None)).contains("only entry ever promoted"));
}
