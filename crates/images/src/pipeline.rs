//! The engine tying discovery, hashing, the Docker engine, the registry and the lock
//! together, and the plan (`cargo xtask images`): what is up to date, what must be built
//! (and why), what must be pushed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
        let mut keys: HashMap<String, String> = HashMap::new();
        let mut plans: Vec<Option<ImagePlan>> = vec![None; specs.len()];
        for idx in order {
            let spec = &specs[idx];
            let plan = match &spec.kind {
                ImageKind::Build(_) => self.plan_build(spec, specs, lock, &keys).await?,
                ImageKind::Mirror(m) => self.plan_mirror(spec, &m.source, lock).await,
            };
            if let Some(k) = &plan.key {
                keys.insert(spec.name.clone(), k.clone());
            }
            plans[idx] = Some(plan);
        }
        if let Err(e) = self.cache.save() {
            self.emit(ImageEvent::Warning {
                image: String::new(),
                message: format!("file-hash cache not saved (next run hashes again): {e}"),
            });
        }
        Ok(plans.into_iter().flatten().collect())
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

    async fn plan_build(
        &self,
        spec: &ImageSpec,
        specs: &[ImageSpec],
        lock: &Lock,
        keys: &HashMap<String, String>,
    ) -> Result<ImagePlan> {
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
        let key = prepared.key.clone();
        let local_image = self.docker.images_with_key(&key).await?.into_iter().next();
        let (registry_digest, registry_error) =
            self.registry_digest_for_key(spec, lock, &key).await;

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
        Ok(ImagePlan {
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
        })
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

    /// The registry digest when the lock says this key was pushed and the registry still
    /// has that manifest.
    async fn registry_digest_for_key(
        &self,
        spec: &ImageSpec,
        lock: &Lock,
        key: &str,
    ) -> (Option<String>, Option<String>) {
        let Some(entry) = lock.get(&spec.name) else {
            return (None, None);
        };
        if entry.key.as_deref() != Some(key) || entry.reference != spec.reference {
            return (None, None);
        }
        self.registry_has(spec, &entry.digest).await
    }

    /// (digest, error): the manifest `digest` of `spec.reference` is in the registry.
    async fn registry_has(
        &self,
        spec: &ImageSpec,
        digest: &str,
    ) -> (Option<String>, Option<String>) {
        let Some(reg) = &self.registry else {
            return (None, None);
        };
        let reference = match ImageRef::parse(&spec.reference, &spec.describe()) {
            Ok(r) => r.to_oci(),
            Err(e) => return (None, Some(e.to_string())),
        };
        match reg
            .manifest_digest(&reference.clone_with_digest(digest.to_string()))
            .await
        {
            Ok(Some(d)) if d == digest => (Some(d), None),
            Ok(_) => (None, None),
            Err(e) => {
                self.emit(ImageEvent::Warning {
                    image: spec.name.clone(),
                    message: format!("could not check the registry: {e}"),
                });
                (None, Some(e.to_string()))
            }
        }
    }

    async fn plan_mirror(&self, spec: &ImageSpec, source: &str, lock: &Lock) -> ImagePlan {
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
            Some(e) => match self.registry_has(spec, &e.digest).await {
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
