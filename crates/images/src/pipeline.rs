//! The engine tying discovery, hashing, the Docker engine, the registry and the lock
//! together, and the plan (`cargo xtask images`): what is up to date, what must be built
//! (and why), what must be pushed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use crate::config::RegistryConfig;
use crate::context::{Context, HashCache};
use crate::docker::DockerEngine;
use crate::dockerfile::{BaseImage, base_images};
use crate::error::{Error, Result};
use crate::events::{Events, ImageEvent};
use crate::key::{KeyInputs, StateStore, UNRESOLVED};
use crate::lock::Lock;
use crate::reference::ImageRef;
use crate::registry::RegistryClient;
use crate::spec::{ImageKind, ImageSpec, Workspace};

/// Most file changes listed in a rebuild reason before summarizing.
const MAX_FILE_REASONS: usize = 10;

/// Registry checks a plan makes at once.
const REGISTRY_CHECKS_AT_ONCE: usize = 8;

/// Whether the registry holds the manifest the lock file names for an image.
#[derive(Debug)]
enum Presence {
    /// Yes, with this digest.
    Present(String),
    /// No (or another manifest).
    Absent,
    /// The registry could not be asked: why.
    Unknown(String),
}

/// Images of one workspace, with the engine, the registry (optional: builds work
/// without one) and where progress goes.
pub struct Images {
    pub(crate) ws: Workspace,
    pub(crate) docker: DockerEngine,
    pub(crate) registry: Option<RegistryClient>,
    pub(crate) events: Events,
    pub(crate) cache: Arc<HashCache>,
    pub(crate) states: StateStore,
}

impl Images {
    /// Sets up the engine; the file-hash cache is loaded from the workspace state folder.
    pub fn new(
        ws: Workspace,
        docker: DockerEngine,
        registry: Option<RegistryClient>,
        events: Events,
    ) -> Self {
        let cache = Arc::new(HashCache::load(&ws.state_dir.join("hash-cache.json")));
        let states = StateStore::new(&ws.state_dir);
        Images {
            ws,
            docker,
            registry,
            events,
            cache,
            states,
        }
    }

    /// Convenience: the registry client from a registry configuration, if any.
    pub fn registry_from(cfg: Option<&RegistryConfig>) -> Result<Option<RegistryClient>> {
        cfg.map(RegistryClient::from_config).transpose()
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    /// The registry, when one is configured.
    pub fn registry(&self) -> Option<&RegistryClient> {
        self.registry.as_ref()
    }

    /// The engine.
    pub fn docker(&self) -> &DockerEngine {
        &self.docker
    }

    pub(crate) fn emit(&self, e: ImageEvent) {
        self.events.emit(e)
    }

    /// Where the build log of `image` is kept.
    pub fn log_path(&self, image: &str) -> std::path::PathBuf {
        self.ws.state_dir.join("logs").join(format!("{image}.log"))
    }

    /// Decides, for each image, whether it is up to date, must be built (with reasons) or
    /// must be pushed. Registry trouble does not fail the plan: it is recorded in
    /// `registry_error` and the image counts as not in the registry.
    pub async fn plan(&self, specs: &[ImageSpec], lock: &Lock) -> Result<Vec<ImagePlan>> {
        let order = build_order(specs)?;
        // Three things at once: the keys (file scans), the engine's keyed images, and the
        // registry's answer for what the lock file names (one round trip per image, the
        // bulk of a plan where nothing changed). The registry's answer counts only for
        // the images whose key is still the lock's.
        let (prepared, local, mut found) = futures::join!(
            self.prepare_in_order(specs, order),
            self.docker.images_by_key(),
            self.registry_lookups(specs, lock),
        );
        let mut prepared = prepared?;
        let local = local?;
        specs
            .iter()
            .enumerate()
            .map(|(idx, spec)| {
                let presence = found.remove(&spec.name);
                match (&spec.kind, prepared.remove(&idx)) {
                    (ImageKind::Mirror(m), _) => {
                        Ok(self.plan_mirror(spec, &m.source, lock, presence))
                    }
                    (ImageKind::Build(_), Some(p)) => {
                        let image = local.get(&p.key).and_then(|ids| ids.first()).cloned();
                        Ok(self.plan_build(spec, lock, p, image, presence))
                    }
                    (ImageKind::Build(_), None) => Err(Error::InvalidValue {
                        what: "image",
                        value: spec.name.clone(),
                        origin: spec.describe(),
                        why: "not reached in build order".into(),
                    }),
                }
            })
            .collect()
    }

    /// The build images prepared in build order (an image's key holds those of its
    /// workspace bases), by index in `specs`.
    async fn prepare_in_order(
        &self,
        specs: &[ImageSpec],
        order: Vec<usize>,
    ) -> Result<HashMap<usize, Prepared>> {
        let mut keys: HashMap<String, String> = HashMap::new();
        let mut prepared = HashMap::new();
        for idx in order {
            let spec = &specs[idx];
            if let ImageKind::Build(_) = &spec.kind {
                let p = self.prepare_for_plan(spec, specs, &keys).await?;
                keys.insert(spec.name.clone(), p.key.clone());
                prepared.insert(idx, p);
            }
        }
        if let Err(e) = self.cache.save() {
            self.emit(ImageEvent::Warning {
                image: String::new(),
                message: format!("file-hash cache not saved (next run hashes again): {e}"),
            });
        }
        Ok(prepared)
    }

    /// For each image the lock file names at its current reference: whether the registry
    /// still has that manifest, asked side by side.
    async fn registry_lookups(
        &self,
        specs: &[ImageSpec],
        lock: &Lock,
    ) -> HashMap<String, Presence> {
        let Some(reg) = &self.registry else {
            return HashMap::new();
        };
        let asked = specs.iter().filter_map(|spec| {
            let entry = lock
                .get(&spec.name)
                .filter(|e| e.reference == spec.reference)?;
            Some(async move {
                let presence = match ImageRef::parse(&spec.reference, &spec.describe()) {
                    Err(e) => Presence::Unknown(e.to_string()),
                    Ok(r) => {
                        let pinned = r.to_oci().clone_with_digest(entry.digest.clone());
                        match reg.manifest_digest(&pinned).await {
                            Ok(Some(d)) if d == entry.digest => Presence::Present(d),
                            Ok(_) => Presence::Absent,
                            Err(e) => Presence::Unknown(e.to_string()),
                        }
                    }
                };
                (spec.name.clone(), presence)
            })
        });
        futures::stream::iter(asked)
            .buffer_unordered(REGISTRY_CHECKS_AT_ONCE)
            .collect()
            .await
    }

    /// Scans the context and computes the key of one build image. Bases that are other
    /// workspace images enter the key through their own key (`keys`).
    pub(crate) async fn prepare(
        &self,
        spec: &ImageSpec,
        specs: &[ImageSpec],
        keys: &HashMap<String, String>,
    ) -> Result<Prepared> {
        let Some(build) = spec.build() else {
            return Err(Error::InvalidValue {
                what: "image",
                value: spec.name.clone(),
                origin: spec.describe(),
                why: "a mirror has no build context".into(),
            });
        };
        let text = std::fs::read_to_string(&build.dockerfile)
            .map_err(|e| Error::io("read", &build.dockerfile, e))?;
        let bases = base_images(&text, &build.args);
        let cache = Arc::clone(&self.cache);
        let build_spec = build.clone();
        let ctx: Context =
            tokio::task::spawn_blocking(move || crate::context::scan(&build_spec, &cache))
                .await
                .map_err(|e| Error::file(&build.context, format!("context scan stopped: {e}")))??;

        let mut base_ids = BTreeMap::new();
        let mut unresolved = Vec::new();
        let mut deps = Vec::new();
        for base in &bases {
            if let Some(dep) = workspace_image_for(&base.reference, specs) {
                let key = keys.get(&dep.name).cloned().unwrap_or_default();
                base_ids.insert(base.reference.clone(), format!("key:{key}"));
                deps.push(dep.name.clone());
                continue;
            }
            match self.docker.image_id(&base.reference).await? {
                Some(id) => {
                    base_ids.insert(base.reference.clone(), id);
                }
                None => {
                    base_ids.insert(base.reference.clone(), UNRESOLVED.to_string());
                    unresolved.push(base.clone());
                }
            }
        }
        let inputs = KeyInputs::new(&ctx, &build.args, build.target.as_deref(), base_ids);
        let key = inputs.key();
        let mut prefix = self.ws.display(&build.context);
        prefix = if prefix == "." {
            String::new()
        } else {
            format!("{prefix}/")
        };
        Ok(Prepared {
            ctx,
            inputs,
            key,
            bases,
            deps,
            unresolved,
            prefix,
        })
    }

    /// `prepare`, with the context's warnings told (paths relative to the workspace).
    async fn prepare_for_plan(
        &self,
        spec: &ImageSpec,
        specs: &[ImageSpec],
        keys: &HashMap<String, String>,
    ) -> Result<Prepared> {
        let mut prepared = self.prepare(spec, specs, keys).await?;
        let root = format!("{}/", self.ws.root.display());
        for w in prepared.ctx.warnings.iter_mut() {
            *w = w.replace(&root, "");
        }
        for w in &prepared.ctx.warnings {
            self.emit(ImageEvent::Warning {
                image: spec.name.clone(),
                message: w.clone(),
            });
        }
        Ok(prepared)
    }

    /// The plan of a build image whose key is known and whose local image (with that
    /// key) was looked up: the registry's answer for the lock's manifest counts when the
    /// lock's key is this key.
    fn plan_build(
        &self,
        spec: &ImageSpec,
        lock: &Lock,
        prepared: Prepared,
        local_image: Option<String>,
        presence: Option<Presence>,
    ) -> ImagePlan {
        let key = prepared.key.clone();
        let same_key = lock
            .get(&spec.name)
            .is_some_and(|e| e.key.as_deref() == Some(key.as_str()));
        let (registry_digest, registry_error) = match presence.filter(|_| same_key) {
            Some(p) => self.registry_answer(spec, p),
            None => (None, None),
        };

        let state = match (&local_image, &registry_digest) {
            (_, Some(_)) => PlanState::UpToDate,
            (Some(_), None) => PlanState::MustPush {
                reason: match (&self.registry, lock.get(&spec.name)) {
                    (None, _) => "built locally; no registry configured".into(),
                    (Some(_), Some(_)) => "built locally; the registry has an older build".into(),
                    (Some(_), None) => "built locally; never pushed".into(),
                },
            },
            (None, None) => PlanState::MustBuild {
                reasons: self.rebuild_reasons(spec, &prepared),
            },
        };
        // Without a registry, a local image with the key is all there is to have.
        let state = match (&self.registry, state) {
            (None, PlanState::MustPush { .. }) => PlanState::UpToDate,
            (_, s) => s,
        };
        ImagePlan {
            name: spec.name.clone(),
            reference: spec.reference.clone(),
            kind: spec.kind.name(),
            state,
            key: Some(key),
            local_image,
            pinned: registry_digest
                .as_ref()
                .map(|d| crate::lock::pinned(&spec.reference, d)),
            registry_digest,
            registry_error,
            warnings: prepared.ctx.warnings.clone(),
            deps: prepared.deps.clone(),
            spec: spec.clone(),
            prepared: Some(Arc::new(prepared)),
        }
    }

    pub(crate) fn rebuild_reasons(&self, spec: &ImageSpec, prepared: &Prepared) -> Vec<String> {
        let mut reasons = Vec::new();
        for b in &prepared.unresolved {
            reasons.push(format!(
                "base image {} is not present locally (it will be pulled)",
                b.reference
            ));
        }
        match self.states.load(&spec.name) {
            None => reasons.push("never built".into()),
            Some(prev) if prev.key == prepared.key => reasons.push(
                "the image built from these inputs is no longer in the Docker engine nor in the registry".into(),
            ),
            Some(prev) => {
                let mut r = prepared
                    .inputs
                    .reasons_since(&prev.inputs, &prepared.prefix, MAX_FILE_REASONS);
                // "unresolved" bases already have their own reason
                r.retain(|x| !prepared.unresolved.iter().any(|b| x == &format!("base image {} changed", b.reference)));
                if r.is_empty() && reasons.is_empty() {
                    r.push("build inputs changed".into());
                }
                reasons.extend(r);
            }
        }
        reasons
    }

    /// (digest, error) from the registry's answer; a failed check is told as a warning.
    fn registry_answer(
        &self,
        spec: &ImageSpec,
        presence: Presence,
    ) -> (Option<String>, Option<String>) {
        match presence {
            Presence::Present(d) => (Some(d), None),
            Presence::Absent => (None, None),
            Presence::Unknown(e) => {
                self.emit(ImageEvent::Warning {
                    image: spec.name.clone(),
                    message: format!("could not check the registry: {e}"),
                });
                (None, Some(e))
            }
        }
    }

    fn plan_mirror(
        &self,
        spec: &ImageSpec,
        source: &str,
        lock: &Lock,
        presence: Option<Presence>,
    ) -> ImagePlan {
        let entry = lock.get(&spec.name);
        let (registry_digest, registry_error, state) = match entry {
            None => (
                None,
                None,
                PlanState::MustPush {
                    reason: "never mirrored".into(),
                },
            ),
            Some(e) if e.source.as_deref() != Some(source) => (
                None,
                None,
                PlanState::MustPush {
                    reason: format!(
                        "mirror source changed from {} to {source}",
                        e.source.as_deref().unwrap_or("a built image")
                    ),
                },
            ),
            Some(e) if e.reference != spec.reference => (
                None,
                None,
                PlanState::MustPush {
                    reason: format!("target changed from {}", e.reference),
                },
            ),
            Some(_) => match self.registry_answer(spec, presence.unwrap_or(Presence::Absent)) {
                (Some(d), _) => (Some(d), None, PlanState::UpToDate),
                (None, err) => (
                    None,
                    err,
                    PlanState::MustPush {
                        reason: "not in the registry".into(),
                    },
                ),
            },
        };
        ImagePlan {
            name: spec.name.clone(),
            reference: spec.reference.clone(),
            kind: spec.kind.name(),
            state,
            key: None,
            local_image: None,
            pinned: registry_digest
                .as_ref()
                .map(|d| crate::lock::pinned(&spec.reference, d)),
            registry_digest,
            registry_error,
            warnings: Vec::new(),
            deps: Vec::new(),
            spec: spec.clone(),
            prepared: None,
        }
    }
}

/// The workspace image a FROM line names by its full reference, if any.
pub(crate) fn workspace_image_for<'a>(base: &str, specs: &'a [ImageSpec]) -> Option<&'a ImageSpec> {
    let wanted = ImageRef::parse(base, "Dockerfile").ok()?;
    specs.iter().find(|s| {
        ImageRef::parse(&s.reference, "spec").is_ok_and(|have| {
            have.registry == wanted.registry
                && have.repository == wanted.repository
                && have.tag_or_latest() == wanted.tag_or_latest()
                && wanted.digest.is_none()
        })
    })
}

/// Indexes of `specs` so that an image comes after the workspace images it is built FROM.
pub(crate) fn build_order(specs: &[ImageSpec]) -> Result<Vec<usize>> {
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); specs.len()];
    for (i, spec) in specs.iter().enumerate() {
        if let Some(b) = spec.build() {
            let text = std::fs::read_to_string(&b.dockerfile)
                .map_err(|e| Error::io("read", &b.dockerfile, e))?;
            for base in base_images(&text, &b.args) {
                if let Some(dep) = workspace_image_for(&base.reference, specs) {
                    let j = specs.iter().position(|s| s.name == dep.name).unwrap_or(i);
                    if j == i {
                        return Err(Error::file(
                            &b.dockerfile,
                            format!(
                                "line {}: the image is built FROM itself ({})",
                                base.line, base.reference
                            ),
                        ));
                    }
                    deps[i].push(j);
                }
            }
        }
    }
    let mut order = Vec::new();
    let mut state = vec![0u8; specs.len()]; // 0 new, 1 in progress, 2 done
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        order: &mut Vec<usize>,
        specs: &[ImageSpec],
    ) -> Result<()> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let path = specs[i]
                    .build()
                    .map(|b| b.dockerfile.clone())
                    .unwrap_or_default();
                return Err(Error::file(
                    path,
                    format!(
                        "images are built FROM each other in a cycle through {}",
                        specs[i].name
                    ),
                ));
            }
            _ => {}
        }
        state[i] = 1;
        for &d in &deps[i] {
            visit(d, deps, state, order, specs)?;
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..specs.len() {
        visit(i, &deps, &mut state, &mut order, specs)?;
    }
    Ok(order)
}

/// A scanned context with its key, kept from planning to building.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub ctx: Context,
    pub inputs: KeyInputs,
    pub key: String,
    #[allow(dead_code)]
    pub bases: Vec<BaseImage>,
    pub deps: Vec<String>,
    pub unresolved: Vec<BaseImage>,
    pub prefix: String,
}

/// What has to happen to one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PlanState {
    /// In the registry with the current key (or, without a registry, built locally).
    UpToDate,
    /// Built locally (or a mirror) but not in the registry.
    MustPush { reason: String },
    /// Neither local nor in the registry with the current key.
    MustBuild { reasons: Vec<String> },
}

/// One image's status, serializable for `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct ImagePlan {
    pub name: String,
    /// `host/project/name:tag`.
    pub reference: String,
    /// "build" or "mirror": [`crate::ImageKind::name`].
    pub kind: &'static str,
    #[serde(flatten)]
    pub state: PlanState,
    /// Cache key of built images.
    pub key: Option<String>,
    /// Local image ID with that key.
    pub local_image: Option<String>,
    /// Manifest digest in the registry when up to date.
    pub registry_digest: Option<String>,
    /// `reference@digest` when up to date.
    pub pinned: Option<String>,
    /// Why the registry could not be checked.
    pub registry_error: Option<String>,
    pub warnings: Vec<String>,
    /// Workspace images this one is built FROM.
    pub deps: Vec<String>,
    #[serde(skip)]
    pub spec: ImageSpec,
    #[serde(skip)]
    pub(crate) prepared: Option<Arc<Prepared>>,
}

impl ImagePlan {
    /// Base images (FROM) that neither the Docker engine nor this workspace has: building
    /// would pull them.
    pub fn missing_bases(&self) -> Vec<String> {
        self.prepared
            .as_ref()
            .map(|p| p.unresolved.iter().map(|b| b.reference.clone()).collect())
            .unwrap_or_default()
    }

    /// A one-line summary: "must build: containers/x/a.py changed, never built".
    pub fn summary(&self) -> String {
        match &self.state {
            PlanState::UpToDate => "up to date".into(),
            PlanState::MustPush { reason } => format!("must push: {reason}"),
            PlanState::MustBuild { reasons } => format!("must build: {}", reasons.join(", ")),
        }
    }
}
