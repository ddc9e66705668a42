//! The `aurora` binary as a library: settings, wiring and start-up, so that tests start the same
//! application the binary does. This is the only crate that chooses implementations of ports.

pub mod chat;
pub mod commands;
pub mod connectors;
pub mod investigate;
pub mod knowledge;
pub mod settings;
pub mod sns;
pub mod startup;
pub mod streams;
pub mod telemetry;
pub mod worker;

/// Version and commit of this build.
pub const BUILD: aurora_server::BuildInfo = aurora_server::BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    commit: match option_env!("AURORA_BUILD_COMMIT") {
        Some(commit) => commit,
        None => "unknown",
    },
};

/// Selects ring as the process-wide TLS crypto provider. Several dependencies enable rustls with
/// different providers; rustls refuses to guess, so the choice is made once, at start-up.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
