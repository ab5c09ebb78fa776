//! Command-line flags, each also read from an environment variable (for systemd and Docker).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

/// Serves the cinerec page and its ranking API.
#[derive(Debug, Clone, Parser)]
#[command(name = "cinerec-site", version, about, long_about = None)]
pub struct Args {
    /// The model to serve (reloaded on SIGHUP and when the file is replaced).
    #[arg(
        long,
        env = "CINEREC_MODEL",
        required_unless_present = "registry",
        conflicts_with = "registry"
    )]
    pub model: Option<PathBuf>,
    /// A model registry (`cinerec-trainer registry`) instead of --model: serves the entry
    /// its `current` names, and follows it when it moves (checked like the model file, and
    /// on SIGHUP).
    #[arg(long, env = "CINEREC_REGISTRY")]
    pub registry: Option<PathBuf>,
    /// The page's folder: index.html, the stylesheet, sw.js, the wasm package in pkg/.
    #[arg(long = "static", env = "CINEREC_STATIC")]
    pub static_dir: PathBuf,
    /// The posters' folder, served under /posters/.
    #[arg(long, env = "CINEREC_POSTERS")]
    pub posters: Option<PathBuf>,
    /// The largest model file loaded, in bytes; a larger one is refused before it is read
    /// (and so is anything that is not a regular file: a FIFO, a device).
    #[arg(long, env = "CINEREC_MAX_MODEL_BYTES", default_value_t = cinerec_registry::SERVED_MAX_MODEL, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_model_bytes: u64,
    /// A watch log whose users `GET /batch-predict?user_id=U` can rank for, with
    /// --allow-user-id (at most 1 GiB).
    #[arg(long, env = "CINEREC_WATCH_LOG")]
    pub watch_log: Option<PathBuf>,
    /// Lets `GET /batch-predict?user_id=U` rank for the users of --watch-log. Off by default:
    /// anyone who can reach the server could read every user's personal ranking; without it
    /// such requests get 403.
    #[arg(long, env = "CINEREC_ALLOW_USER_ID", requires = "watch_log")]
    pub allow_user_id: bool,
    /// Address to listen on.
    #[arg(long, env = "CINEREC_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// An origin allowed to call the API from another site (repeat for several; `*` lets
    /// every origin GET, as the original did). Without it, only the page's own origin.
    #[arg(
        long = "cors-origin",
        env = "CINEREC_CORS_ORIGIN",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Seconds a client has to send a request's headers, and its body (slow clients are cut
    /// off, so they cannot hold connections).
    #[arg(long, env = "CINEREC_REQUEST_TIMEOUT", default_value_t = 10.0, value_parser = seconds)]
    pub request_timeout: f64,
    /// The most connections served at once. When all are taken, the connection idle the
    /// longest (a keep-alive client between requests) is closed to make room; only when
    /// every one is in the middle of a request does a new one wait.
    #[arg(long, env = "CINEREC_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// The most connections from one IP address (0: no cap, the default: behind a proxy or a
    /// NAT every visitor shares one). At the cap, that address's own connection idle the
    /// longest is closed for its newcomer; if all are busy, the newcomer is closed at once.
    #[arg(long, env = "CINEREC_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: u32,
    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "CINEREC_SHUTDOWN_GRACE", default_value_t = 10.0, value_parser = seconds)]
    pub shutdown_grace: f64,
    /// How often the model file (or the registry's pointer) is checked for a replacement, in
    /// seconds.
    #[arg(long, env = "CINEREC_WATCH_INTERVAL", default_value_t = 1.0, value_parser = seconds)]
    pub watch_interval: f64,
    /// Starts a private A/B test of this candidate model against the served one (README,
    /// "Private A/B tests"); loaded once, never reloaded while the experiment runs.
    #[arg(
        long,
        env = "CINEREC_EXPERIMENT_MODEL",
        requires = "experiment_name",
        group = "candidate"
    )]
    pub experiment_model: Option<PathBuf>,
    /// With --registry: the candidate is this registry entry (checked as a promotion is),
    /// instead of --experiment-model's file; loaded once, at start.
    #[arg(
        long,
        env = "CINEREC_EXPERIMENT_ENTRY",
        requires_all = ["experiment_name", "registry"],
        group = "candidate"
    )]
    pub experiment_entry: Option<String>,
    /// The experiment's name (letters, digits, '.', '_', '-'): a new name draws every
    /// device's arm again.
    #[arg(long, env = "CINEREC_EXPERIMENT_NAME", requires = "candidate")]
    pub experiment_name: Option<String>,
    /// The share of devices in the candidate's arm.
    #[arg(long, env = "CINEREC_EXPERIMENT_SHARE", default_value_t = 0.1)]
    pub experiment_share: f64,
    /// The smallest true difference in the metric (a share, 0.1 = ten points) the test is
    /// built to find; it sets the reports each arm needs.
    #[arg(long, env = "CINEREC_EXPERIMENT_EFFECT", default_value_t = 0.1)]
    pub experiment_effect: f64,
    /// The test's false-winner rate (two-sided).
    #[arg(long, env = "CINEREC_EXPERIMENT_ALPHA", default_value_t = 0.05)]
    pub experiment_alpha: f64,
    /// The test's power at the smallest effect.
    #[arg(long, env = "CINEREC_EXPERIMENT_POWER", default_value_t = 0.8)]
    pub experiment_power: f64,
    /// The most reports one network (an IPv4 address, an IPv6 /64) may send per day, and ten
    /// times that for a wider one (an IPv4 /24, an IPv6 /48); 0 for no limit (behind a proxy
    /// every visitor shares its address: see --trusted-proxy).
    #[arg(
        long,
        env = "CINEREC_EXPERIMENT_REPORTS_PER_NETWORK",
        default_value_t = 10
    )]
    pub experiment_reports_per_network: u32,
    /// Proxies in front of this server, as addresses or networks (`127.0.0.1` for HAProxy on
    /// the same host, `10.0.0.0/16` for a load balancer's subnets; repeat or separate with
    /// commas). For a request from one of them, the experiment reports' per-network limit
    /// counts the address the proxy appended last to `X-Forwarded-For`; nothing else reads
    /// that header, and it is never logged.
    #[arg(long = "trusted-proxy", env = "CINEREC_TRUSTED_PROXIES", value_delimiter = ',', value_parser = Network::parse)]
    pub trusted_proxies: Vec<Network>,
}

/// An address with a prefix length: a network (`10.0.0.0/16`), or one address without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// `ADDRESS` or `ADDRESS/PREFIX`.
    pub fn parse(text: &str) -> Result<Network, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{address:?} is not an IP address"))?;
        let address = address.to_canonical();
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("/{prefix} is not a prefix length of 0 to {bits}"))?,
        };
        Ok(Network { address, prefix })
    }

    /// Whether this is every address of its family (`/0`).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    /// Whether `address` is in this network (an IPv4 address mapped into IPv6 counts as the
    /// IPv4 one).
    pub fn contains(&self, address: IpAddr) -> bool {
        let masked = |bits: u128, width: u32| {
            let shift = width - u32::from(self.prefix);
            bits.checked_shr(shift).unwrap_or(0)
        };
        match (self.address, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(other)) => {
                masked(u32::from(net).into(), 32) == masked(u32::from(other).into(), 32)
            }
            (IpAddr::V6(net), IpAddr::V6(other)) => {
                masked(u128::from(net), 128) == masked(u128::from(other), 128)
            }
            _ => false,
        }
    }
}

/// Where the served model comes from.
pub enum Source<'a> {
    /// `--model FILE`.
    Model(&'a Path),
    /// `--registry DIR`.
    Registry(&'a Path),
}

impl Args {
    /// `--model` or `--registry` (clap lets exactly one through).
    pub fn source(&self) -> Source<'_> {
        match (&self.registry, &self.model) {
            (Some(registry), _) => Source::Registry(registry),
            (None, Some(model)) => Source::Model(model),
            (None, None) => unreachable!("clap requires --model unless --registry is given"),
        }
    }

    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout)
    }
}

/// Parses the command line (clap prints help and errors, exiting 2 on a bad flag).
pub fn parse() -> Args {
    Args::parse()
}

/// A positive number of seconds, at most a day (`Duration` cannot hold every float).
fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if value > 0.0 && value <= 86_400.0 {
        Ok(value)
    } else {
        Err(format!(
            "{text} must be more than 0 and at most 86400 seconds"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_must_be_positive_finite_and_at_most_a_day() {
        assert_eq!(seconds("2.5"), Ok(2.5));
        for bad in ["0", "-1", "NaN", "inf", "1e300", "x"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_flag_has_an_environment_variable() {
        let command = <Args as clap::CommandFactory>::command();
        for argument in command.get_arguments() {
            let id = argument.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert!(
                argument.get_env().is_some(),
                "--{id} has no environment variable"
            );
        }
    }

    #[test]
    fn networks_parse_and_contain_their_addresses() {
        let net = |text| Network::parse(text).unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(net("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(net("10.0.0.0/16").contains(ip("10.0.255.7")));
        assert!(net("10.0.0.0/16").contains(ip("::ffff:10.0.3.4")));
        assert!(!net("10.0.0.0/16").contains(ip("10.1.0.1")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        for (bad, message) in [
            ("10.0.0.0/33", "/33 is not a prefix length of 0 to 32"),
            ("10.0.0.0/x", "/x is not a prefix length"),
            ("proxy", "\"proxy\" is not an IP address"),
        ] {
            let error = Network::parse(bad).unwrap_err();
            assert!(error.contains(message), "{error}");
        }
    }
}
