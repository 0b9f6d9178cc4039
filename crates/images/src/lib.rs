//! Images of a workspace: discovery of `containers/*/Dockerfile`, build context hashing
//! with Docker's `.dockerignore` rules, builds through the Docker Engine API (skipped when
//! an image with the same key exists), pushes through the OCI distribution API (only
//! missing blobs), mirrors of third-party images, and the lock file `images.lock` that
//! pins what workflows run.
//!
//! UI-agnostic: progress is a stream of [`ImageEvent`]s given to an [`Events`] callback.
//!
//! ```no_run
//! # async fn demo(settings: &kit_config::Settings) -> Result<(), kit_images::Error> {
//! use kit_images::*;
//! let ws = Workspace::new(settings.workspace_root.clone().unwrap_or_else(|| ".".into()));
//! let registry_cfg = RegistryConfig::from_settings(settings);
//! let specs = ws.discover(registry_cfg.as_ref(), &MirrorConfig::from_settings(settings))?;
//! let docker = DockerEngine::connect().await?;
//! let registry = Images::registry_from(registry_cfg.as_ref())?;
//! let (events, mut rx) = Events::channel();
//! tokio::spawn(async move { while let Some(e) = rx.recv().await { eprintln!("{e:?}") } });
//! let images = Images::new(ws.clone(), docker, registry, events);
//! let mut lock = Lock::load(&ws.lock_path)?;
//! let mut plans = images.plan(&specs, &lock).await?;
//! let opts = BuildOptions { parallelism: settings.build_parallelism.value, ..Default::default() };
//! let built = images.build_all(&mut plans, &opts).await;
//! let pushed = images.push_all(&mut plans, &mut lock, &PushOptions::default()).await?;
//! # let _ = (built, pushed); Ok(()) }
//! ```

mod build;
mod config;
mod context;
mod docker;
mod dockerfile;
mod dockerignore;
mod error;
mod events;
mod fsutil;
mod key;
mod lock;
mod mirror;
mod pipeline;
mod push;
mod reference;
pub mod refusal;
mod registry;
mod spec;

pub use build::{BuildOptions, BuildReport, BuiltImage};
pub use config::{MirrorConfig, RegistryConfig};
pub use context::{Context, ContextEntry, EntryKind, HashCache, scan as scan_context, write_tar};
pub use docker::{DockerEngine, KEY_LABEL, NAME_LABEL};
pub use dockerfile::{BaseImage, base_images, parse_step};
pub use dockerignore::DockerIgnore;
pub use error::{BuildFailure, Error, Refused, Result};
pub use events::{Events, ImageEvent};
pub use key::{BuildState, FileInput, KeyInputs};
pub use lock::{Lock, LockEntry};
pub use pipeline::{ImagePlan, Images, PlanState};
pub use push::{PushOptions, PushReport, PushedImage};
pub use reference::ImageRef;
pub use registry::{Mount, RegistryClient};
pub use spec::{
    BuildSpec, IMAGE_TOML, ImageKind, ImageSpec, LOCK_FILE, MirrorSpec, Workspace, name_matches,
};
