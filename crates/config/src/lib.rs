//! Settings for the toolkit, resolved from several sources, each value with its origin.
//!
//! Highest first:
//!
//! 1. command-line flags ([`FlagOverrides`]);
//! 2. the environment ([`Inputs::env`], injected: this crate never reads the process
//!    environment itself except in [`Inputs::from_process`]);
//! 3. the env file: `--env-file`, else `./hera.bash` (see [`env_file`]);
//! 4. hera.config: the path in `ARGOCONFIG`, else `./hera.config`, else
//!    `~/hera.config` (see [`hera_config`]);
//! 5. the workspace TOML `xtask.toml`, nearest in the working directory or a parent,
//!    its active profile first (see the `workspace` module docs, reproduced on
//!    [`WORKSPACE_TOML_EXAMPLE`]);
//! 6. built-in defaults.
//!
//! An empty value in any source counts as unset, so the next source applies. Relative
//! paths are resolved against the folder of the file that holds them, or against the
//! working directory for flags and environment; a leading `~/` means the home folder.
//!
//! ```no_run
//! let mut inputs = kit_config::Inputs::from_process()?;
//! inputs.flags.argo_namespace = Some("vcity".into());
//! let resolved = kit_config::resolve(&inputs)?;
//! for missing in resolved.settings.missing_for(kit_config::Need::Run) {
//!     eprintln!("{missing}");
//! }
//! println!("{}", kit_config::render_table(&resolved));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
pub mod env_file;
mod error;
pub mod files;
pub mod hera_config;
mod k8s_name;
mod keys;
mod origin;
mod report;
mod resolve;
mod secret;
mod settings;
mod text;
mod workspace;

pub use check::{KUBECONFIG_HINT, Missing, Need};
pub use error::{ConfigError, Warning, cut, error_chain};
pub use k8s_name::{dns_label_problem, dns_subdomain_problem};
pub use keys::{ARGOCONFIG, MAX_DURATION_SECS, SETTINGS, SettingInfo, XTASK_PROFILE, env_vars};
pub use origin::{Origin, Sourced};
pub use report::{render_table, to_json};
pub use resolve::resolve;
pub use secret::Secret;
pub use settings::{
    DEFAULT_HERA_VERSION, FlagOverrides, Inputs, Mirror, RegistryRef, Resolved, Settings,
    SourceKind, SourceReport, SourceStatus, Timeouts, Via, WayIn,
};
pub use text::{FileEntry, ParsedFile};
pub use workspace::FILE_NAME as WORKSPACE_TOML;

/// A complete workspace TOML (`xtask.toml`), every key shown once; the tests load it.
///
#[doc = concat!("```toml\n", include_str!("../tests/fixtures/xtask.example.toml"), "```")]
pub const WORKSPACE_TOML_EXAMPLE: &str = include_str!("../tests/fixtures/xtask.example.toml");
