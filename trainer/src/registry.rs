//! `registry`: register trained models, list and show them, promote one to serve (through
//! the promotion gate, `gate`), roll back. The layout and its checks are
//! `cinerec-registry`'s; this module decides and prints.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cinerec_registry::{
    Action, Checked, Entry, LogFile, Registered, Registry, MAX_MODEL, SERVED_MAX_MODEL,
};

use crate::gate;
use crate::inputs::read_watch_log;
use crate::output::read;

/// Flags of `registry`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// `registry`'s subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a model.bin to the registry, with its provenance and (given a held-out watch log)
    /// its evaluation beside the baselines.
    Register(RegisterArgs),
    /// The registered models, newest first; `*` marks the one promoted to serve.
    List(RegistryArg),
    /// One entry's record and its history.
    Show(ShowArgs),
    /// Make an entry the one served, if the gate finds it no worse than the serving model
    /// beyond noise (or with --force and a reason).
    Promote(PromoteArgs),
    /// Serve again the entry promoted before the current one.
    Rollback(RollbackArgs),
}

/// The registry's folder.
#[derive(Debug, clap::Args)]
pub struct RegistryArg {
    /// The registry's folder.
    #[arg(long)]
    pub registry: PathBuf,
}

/// Flags of `registry register`.
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub registry: RegistryArg,
    /// The model.bin to register.
    #[arg(long)]
    pub model: PathBuf,
    /// A held-out watch log (viewers the model never saw) to evaluate it on; recorded, and
    /// used by the gate when `promote` is given none.
    #[arg(long)]
    pub watch_log: Option<PathBuf>,
}

/// Flags of `registry show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub registry: RegistryArg,
    /// The entry's model id.
    pub id: String,
}

/// Flags of `registry promote`.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub registry: RegistryArg,
    /// The entry's model id.
    pub id: String,
    /// The held-out watch log to compare on [default: the one recorded in the entry].
    #[arg(long)]
    pub watch_log: Option<PathBuf>,
    /// Promote whatever the gate says (the gate still runs when it can, and its figures are
    /// recorded beside the reason).
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the promotion is forced; recorded in history.jsonl.
    #[arg(long, requires = "force")]
    pub reason: Option<String>,
}

/// Flags of `registry rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub registry: RegistryArg,
    /// Why; recorded in history.jsonl.
    #[arg(long)]
    pub reason: Option<String>,
}

/// Who registers, as `entry.json` records it.
const REGISTERED_BY: &str = concat!("cinerec-trainer ", env!("CARGO_PKG_VERSION"));

/// `registry`.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        Command::Register(args) => {
            let registered = register(
                &args.registry.registry,
                &args.model,
                args.watch_log.as_deref(),
            )?;
            print_registered(&args.registry.registry, &registered)
        }
        Command::List(args) => list(&Registry::open(&args.registry)?),
        Command::Show(args) => show(&Registry::open(&args.registry.registry)?, &args.id),
        Command::Promote(args) => promote(args),
        Command::Rollback(args) => {
            let registry = Registry::open(&args.registry.registry)?;
            let event = registry.rollback(args.reason.clone())?;
            outln!(
                "rolled back: {} serves again (was {})",
                event.entry,
                event.previous.as_deref().unwrap_or("nothing")
            )?;
            Ok(())
        }
    }
}

/// Registers `model` into the registry at `root` (made if needed); with `watch_log`, evaluates
/// it there first and records both.
pub fn register(root: &Path, model: &Path, watch_log: Option<&Path>) -> Result<Registered> {
    let bytes = read(model)?;
    let (held_out_log, evaluation) = match watch_log {
        Some(path) => {
            let evaluation = crate::evaluate::evaluate(model, path, None)?;
            // The file was read twice: both reads must be the same model.
            let id = cinerec_core::decode(&bytes)
                .with_context(|| format!("loading model {}", model.display()))?
                .id()
                .to_string();
            if evaluation.model_id != id {
                bail!(
                    "{} changed while it was being registered ({id}, then {}); try again",
                    model.display(),
                    evaluation.model_id
                );
            }
            (
                Some(log_file(path)?),
                Some(serde_json::to_value(&evaluation)?),
            )
        }
        None => (None, None),
    };
    Registry::create(root)?
        .register(&bytes, held_out_log, evaluation, REGISTERED_BY)
        .with_context(|| format!("registering {} in {}", model.display(), root.display()))
}

/// Says what [`register`] did.
pub fn print_registered(root: &Path, registered: &Registered) -> Result<()> {
    let id = &registered.entry.model_id;
    if registered.new {
        outln!("registered {id} in {}", root.display())?;
    } else {
        outln!(
            "{id} was already registered in {} (at {}); its record stays",
            root.display(),
            registered.entry.registered_at
        )?;
    }
    Ok(())
}

/// Promotes `id` if the registry has no promoted entry yet; returns whether it did.
pub fn promote_if_first(root: &Path, id: &str) -> Result<bool> {
    let registry = Registry::open(root)?;
    if registry.current()?.is_some() {
        return Ok(false);
    }
    promote_first(&registry, id, None)?;
    Ok(true)
}

/// The first promotion: nothing to compare with. Forced when given a reason, so the reason
/// is recorded as such.
fn promote_first(registry: &Registry, id: &str, reason: Option<String>) -> Result<()> {
    let action = if reason.is_some() {
        Action::ForcedPromote
    } else {
        Action::Promote
    };
    let gate = serde_json::json!({ "note": "no model was serving: nothing to compare with" });
    registry.promote(id, action, None, reason, Some(gate))?;
    Ok(())
}

fn log_file(path: &Path) -> Result<LogFile> {
    let absolute =
        std::fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))?;
    Ok(LogFile {
        sha256: read_watch_log(path)?.sha256,
        path: absolute,
    })
}

fn promote(args: &PromoteArgs) -> Result<()> {
    let registry = Registry::open(&args.registry.registry)?;
    let candidate = registry.load(&args.id, MAX_MODEL)?;
    if candidate.bytes.len() as u64 > SERVED_MAX_MODEL {
        errln!(
            "promote: {} is {} bytes, more than the {SERVED_MAX_MODEL} cinerec-site loads by \
             default: start the replicas with a --max-model-bytes at least that large, or they \
             refuse it and keep serving the previous model",
            args.id,
            candidate.bytes.len()
        );
    }
    let current = registry.current()?;
    let Some(serving_id) = current.as_deref() else {
        promote_first(&registry, &args.id, args.reason.clone())?;
        outln!(
            "promoted {}: nothing was serving, so there was nothing to compare with",
            args.id
        )?;
        return Ok(());
    };
    if serving_id == args.id {
        bail!("{} is already the promoted entry", args.id);
    }
    let serving = registry
        .load(serving_id, MAX_MODEL)
        .with_context(|| format!("the serving entry {serving_id} (to compare with)"))?;
    let comparison = compare(&candidate, &serving, args.watch_log.as_deref());
    if args.force {
        let gate = match &comparison {
            Ok(comparison) => serde_json::to_value(comparison)?,
            Err(error) => serde_json::json!({ "not_compared": format!("{error:#}") }),
        };
        registry.promote(
            &args.id,
            Action::ForcedPromote,
            Some(serving_id),
            args.reason.clone(),
            Some(gate),
        )?;
        match comparison {
            Ok(comparison) => outln!(
                "promoted {} by force (the gate {}: {})",
                args.id,
                if comparison.passed {
                    "passed it"
                } else {
                    "refused it"
                },
                comparison.describe()
            )?,
            Err(error) => outln!("promoted {} by force (no comparison: {error:#})", args.id)?,
        }
        return Ok(());
    }
    let comparison = match comparison {
        Ok(comparison) => comparison,
        Err(error) => {
            let reason = format!("{error:#}");
            registry.refuse(&args.id, reason.clone(), None)?;
            bail!("refused {}: {reason}", args.id);
        }
    };
    let gate = serde_json::to_value(&comparison)?;
    if !comparison.passed {
        let reason = format!(
            "worse than the serving model beyond noise (mean paired NDCG@10 difference below \
             -{} standard errors) {}",
            gate::Z,
            comparison.describe()
        );
        registry.refuse(&args.id, reason.clone(), Some(gate))?;
        bail!(
            "refused {}: {reason}; to promote it anyway: registry promote {} --force --reason TEXT",
            args.id,
            args.id
        );
    }
    registry.promote(
        &args.id,
        Action::Promote,
        Some(serving_id),
        None,
        Some(gate),
    )?;
    outln!(
        "promoted {} (was {serving_id}): {}",
        args.id,
        comparison.describe()
    )?;
    Ok(())
}

/// The gate on `watch_log`, or on the log recorded in the candidate's entry (which must not
/// have changed since).
fn compare(
    candidate: &Checked,
    serving: &Checked,
    watch_log: Option<&Path>,
) -> Result<gate::Comparison> {
    let (path, expected) = match (watch_log, &candidate.entry.held_out_log) {
        (Some(path), _) => (path.to_path_buf(), None),
        (None, Some(recorded)) => (recorded.path.clone(), Some(&recorded.sha256)),
        (None, None) => bail!(
            "no held-out watch log to compare on: give --watch-log, or register the candidate \
             with one"
        ),
    };
    let log = read_watch_log(&path)?;
    if let Some(expected) = expected {
        if &log.sha256 != expected {
            bail!(
                "{}: sha256 {}, but entry {} recorded {expected}: the held-out log changed \
                 since; give --watch-log",
                path.display(),
                log.sha256,
                candidate.entry.model_id
            );
        }
    }
    gate::compare(&candidate.model, &serving.model, &path, &log)
}

fn list(registry: &Registry) -> Result<()> {
    let current = registry.current()?;
    let listed = registry.list()?;
    if listed.is_empty() {
        outln!("{}: no entries", registry.root().display())?;
        return Ok(());
    }
    outln!(
        "  {:<16}  {:<19}  {:<9}  {:>4}  {:>7}  {:>10}  measured on",
        "model_id",
        "registered (UTC)",
        "objective",
        "seed",
        "NDCG@10",
        "HitRate@10"
    )?;
    for (id, checked) in &listed {
        let mark = if current.as_deref() == Some(id.as_str()) {
            '*'
        } else {
            ' '
        };
        match checked {
            Ok(checked) => outln!("{mark} {}", row(&checked.entry)?)?,
            Err(error) => outln!("{mark} {id:<16}  refused: {error:#}")?,
        }
    }
    outln!()?;
    match current {
        Some(id) => outln!(
            "* serving: {id} (as {} names it)",
            registry.root().join("current").display()
        )?,
        None => outln!(
            "nothing promoted yet: registry promote --registry {} ID",
            registry.root().display()
        )?,
    }
    Ok(())
}

fn row(entry: &Entry) -> Result<String> {
    let figure = |name: &str| {
        entry
            .evaluation
            .as_ref()
            .and_then(|evaluation| evaluation[name].as_f64())
            .map_or("-".to_string(), |value| format!("{value:.4}"))
    };
    let measured = match (&entry.held_out_log, &entry.evaluation) {
        (Some(log), Some(evaluation)) => format!(
            "{} ({} viewers)",
            log.path.file_name().map_or_else(
                || log.path.display().to_string(),
                |name| name.to_string_lossy().into_owned()
            ),
            evaluation["users"]
        ),
        _ => "not evaluated".to_string(),
    };
    Ok(format!(
        "{:<16}  {:<19}  {:<9}  {:>4}  {:>7}  {:>10}  {measured}",
        entry.model_id,
        entry
            .registered_at
            .get(..19)
            .unwrap_or(&entry.registered_at)
            .replace('T', " "),
        serde_json::to_value(entry.config.objective)?
            .as_str()
            .unwrap_or("?"),
        entry.config.seed,
        figure("ndcg_at_10"),
        figure("hit_rate_at_10"),
    ))
}

fn show(registry: &Registry, id: &str) -> Result<()> {
    let checked = registry.load(id, MAX_MODEL)?;
    let serving = registry.current()?.as_deref() == Some(id);
    outln!("{}", serde_json::to_string_pretty(&checked.entry)?)?;
    outln!()?;
    outln!(
        "{id}: {}; model.bin checked (length, sha256, decodes, id)",
        if serving {
            "serving (promoted)"
        } else {
            "not serving"
        }
    )?;
    let history = registry.history()?;
    let mine: Vec<_> = history
        .iter()
        .filter(|event| event.entry == id || event.previous.as_deref() == Some(id))
        .collect();
    if mine.is_empty() {
        outln!("history: never promoted")?;
    }
    for event in mine {
        outln!("history: {}", serde_json::to_string(event)?)?;
    }
    Ok(())
}
