//! stack-harbor: a Harbor-like registry for the local test stack. Harbor's token
//! service plus an HTTPS reverse proxy in front of distribution (`docker-registry` with
//! `auth: token`) that answers refusals the way Harbor does. See README.md.

mod config;
mod jwt;
mod quota;
mod scope;
mod server;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "stack-harbor",
    version,
    about = "Harbor's token service and refusals in front of distribution, for tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the token service and the proxy until stopped.
    Serve {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a configuration (keys, certificates, password files) and print a summary.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print distribution's configuration (YAML) for the backend of this configuration.
    DistributionConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Where distribution keeps the images.
        #[arg(long, value_name = "DIR")]
        storage: PathBuf,
    },
    /// Print the libtrust key ID (JWT `kid`) of a certificate or public key (PEM).
    LibtrustKid {
        #[arg(value_name = "PEM")]
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stack-harbor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(async {
                tokio::select! {
                    r = server::serve(config) => r,
                    r = shutdown_signal() => r,
                }
            })
        }
        Command::CheckConfig { config } => {
            let config = Config::load(&config)?;
            let signer = jwt::Signer::load(&config.signing_key, &config.signing_cert)?;
            server::tls_config(&config)?;
            quota::Usage::load(&config.state_file)?;
            println!("{}: fine", config.path.display());
            println!(
                "listen {} (public {}), backend {}, realm {}, service {}, issuer {}, kid {}",
                config.listen,
                config.public_url,
                config.backend,
                config.realm,
                config.service,
                config.issuer,
                signer.kid()
            );
            for u in &config.users {
                let rights: Vec<String> = u
                    .rights
                    .iter()
                    .map(|(p, a)| {
                        let a: Vec<&str> = a.iter().map(|a| a.as_str()).collect();
                        format!("{p}:{}", a.join(","))
                    })
                    .collect();
                println!(
                    "user {}: {} (token {} s{})",
                    u.name,
                    rights.join(" "),
                    u.token_lifetime_secs,
                    u.token_uses
                        .map(|n| format!(", {n} uses"))
                        .unwrap_or_default()
                );
            }
            for p in &config.projects {
                match p.quota_bytes {
                    Some(q) => println!("project {}: quota {}", p.name, quota::human_size(q)),
                    None => println!("project {}: no quota", p.name),
                }
            }
            Ok(())
        }
        Command::DistributionConfig { config, storage } => {
            let config = Config::load(&config)?;
            print!("{}", distribution_config(&config, &storage)?);
            Ok(())
        }
        Command::LibtrustKid { file } => {
            println!("{}", jwt::kid_of_pem_file(&file)?);
            Ok(())
        }
    }
}

async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
    }
    println!("stack-harbor stopping");
    Ok(())
}

/// distribution's YAML for the backend: its address from `backend`, and token auth
/// trusting our signing certificate. No `http.host`: distribution then builds its
/// Location headers from the Host and X-Forwarded-Proto the proxy passes on, so a
/// client that reached the registry through another address (a test's cutting proxy)
/// is sent back to that address.
fn distribution_config(config: &Config, storage: &Path) -> Result<String> {
    let addr = config
        .backend
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .filter(|a| !a.is_empty())
        .with_context(|| format!("backend {} has no host:port", config.backend))?;
    let storage = std::path::absolute(storage)
        .with_context(|| format!("cannot resolve {}", storage.display()))?;
    // JSON strings are YAML strings: safe quoting for any path
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    Ok(format!(
        "# distribution behind stack-harbor, from {config_path}\n\
         version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n\
         auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {bundle}\n",
        config_path = config.path.display(),
        storage = q(&storage.to_string_lossy()),
        addr = q(addr),
        realm = q(&config.realm),
        service = q(&config.service),
        issuer = q(&config.issuer),
        bundle = q(&config.signing_cert.to_string_lossy()),
    ))
}
