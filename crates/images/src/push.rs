//! Pushing an image that lives in the Docker engine, uploading only what the registry lacks.
//!
//! The image's config gives its layer diffIDs (uncompressed digests) without exporting.
//! A local map diffID -> gzip digest/size, kept between runs, lets us ask the registry
//! which blobs it has. Only when something is missing (or unknown) is the image exported;
//! the export is read as a stream and only the missing layers are compressed (gzip with a
//! fixed header, so the same layer always gives the same digest) and uploaded, several at
//! a time. An interrupted push resumes: blobs that arrived are found by the next run.
//! A layer missing from the target repository but pushed before to another repository
//! of the same registry (the map remembers where) is mounted from there, not uploaded:
//! images on a shared base upload the base once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use oci_client::Reference;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, docker_message};
use crate::events::{Events, ImageEvent};
use crate::fsutil::{read_json, write_json};
use crate::lock::{Lock, LockEntry};
use crate::pipeline::{ImagePlan, Images, PlanState};
use crate::reference::ImageRef;
use crate::registry::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, Mount, RegistryClient};

/// Upload chunk size; also the progress granularity.
const UPLOAD_CHUNK: usize = 1024 * 1024;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs uploaded at once for one image.
    pub layer_parallelism: usize,
    /// Images pushed at once: exporting from the daemon, compressing and uploading
    /// one image overlaps with the others'.
    pub image_parallelism: usize,
    /// Where layers are spooled and compressed; default `<state_dir>/tmp`.
    pub temp_dir: Option<PathBuf>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            layer_parallelism: 3,
            image_parallelism: 3,
            temp_dir: None,
        }
    }
}

/// An image now in the registry.
#[derive(Debug, Clone, Serialize)]
pub struct PushedImage {
    pub name: String,
    /// `host/project/name:tag`.
    pub reference: String,
    /// Manifest digest.
    pub digest: String,
    /// `reference@digest`.
    pub pinned: String,
    /// Bytes of blobs sent (compressed layers and config).
    pub uploaded_bytes: u64,
    pub uploaded_blobs: usize,
    /// Blobs the registry already had.
    pub existing_blobs: usize,
    /// Blobs linked in from another repository of the registry instead of uploaded,
    /// and their compressed size.
    pub mounted_blobs: usize,
    pub mounted_bytes: u64,
    /// "daemon" or "registry" (mirrors copied registry to registry).
    pub via: String,
    pub seconds: f64,
}

/// What `push_all` did.
#[derive(Debug, Default)]
pub struct PushReport {
    pub pushed: Vec<PushedImage>,
    pub failed: Vec<(String, Error)>,
    /// Images already in the registry.
    pub up_to_date: Vec<String>,
}

impl PushReport {
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
    }
}

/// diffID -> compressed blob, image ID -> config size, and blob -> the repositories it
/// was pushed to; `<state_dir>/layers.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct LayerMap {
    #[serde(default)]
    layers: BTreeMap<String, Blob>,
    #[serde(default)]
    configs: BTreeMap<String, u64>,
    /// Blob digest -> `host/repository` where a manifest naming it was pushed, the
    /// latest first: the sources of cross-repository mounts.
    #[serde(default)]
    repositories: BTreeMap<String, Vec<String>>,
}

/// Repositories remembered per blob: enough to find a source that still holds it.
const SOURCES_PER_BLOB: usize = 8;

impl LayerMap {
    /// Other repositories of `target`'s registry known to hold `digest`, latest first.
    fn mount_sources(&self, target: &Reference, digest: &str) -> Vec<String> {
        let prefix = format!("{}/", target.registry());
        let own = format!("{prefix}{}", target.repository());
        self.repositories
            .get(digest)
            .into_iter()
            .flatten()
            .filter(|place| **place != own)
            .filter_map(|place| place.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// Remembers that `target`'s repository holds `digest`.
    fn held_by(&mut self, target: &Reference, digest: &str) {
        let place = format!("{}/{}", target.registry(), target.repository());
        let places = self.repositories.entry(digest.to_string()).or_default();
        places.retain(|p| *p != place);
        places.insert(0, place);
        places.truncate(SOURCES_PER_BLOB);
    }
}

/// Where a layer the image needs stands in the target repository.
enum Placement {
    /// Already there.
    Present,
    /// Mounted from another repository just now.
    Mounted,
    /// To upload.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Blob {
    digest: String,
    size: u64,
}

pub(crate) struct LayerStore {
    path: PathBuf,
    map: Mutex<LayerMap>,
}

impl LayerStore {
    pub(crate) fn load(state_dir: &Path) -> Self {
        let path = state_dir.join("layers.json");
        let map = read_json(&path).ok().flatten().unwrap_or_default();
        LayerStore {
            path,
            map: Mutex::new(map),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LayerMap> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self) -> Result<()> {
        let snapshot = self.lock().clone();
        write_json(&self.path, &snapshot)
    }
}

/// Something the export reader found.
enum ExportItem {
    Layer {
        diff_id: String,
        file: tempfile::NamedTempFile,
        digest: String,
        size: u64,
    },
    Config(Vec<u8>),
}

impl Images {
    /// Pushes every image whose plan says `MustPush`: built images from the engine,
    /// mirrors by copy. The credentials are checked once before any upload. The lock is
    /// saved (atomically) after each image pushed.
    pub async fn push_all(
        &self,
        plans: &mut [ImagePlan],
        lock: &mut Lock,
        opts: &PushOptions,
    ) -> Result<PushReport> {
        let mut report = PushReport::default();
        let todo: Vec<usize> = plans
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.state, PlanState::MustPush { .. }))
            .map(|(i, _)| i)
            .collect();
        for p in plans.iter() {
            if p.state == PlanState::UpToDate {
                report.up_to_date.push(p.name.clone());
            }
        }
        if todo.is_empty() {
            return Ok(report);
        }
        let Some(reg) = &self.registry else {
            return Err(Error::NoRegistry {
                image: plans[todo[0]].name.clone(),
            });
        };
        let first = ImageRef::parse(&plans[todo[0]].reference, "plan")?;
        reg.check_access(&first.repository, true).await?;

        let layers = LayerStore::load(&self.ws.state_dir);
        // Each push works on its own copy of the plan; results are applied (and the
        // lock file saved) one at a time, as each image completes.
        let layers_ref = &layers;
        let todo = todo
            .into_iter()
            .map(|i| (i, plans[i].name.clone(), plans[i].deps.clone()))
            .collect();
        for wave in waves(todo) {
            let jobs: Vec<(usize, ImagePlan)> = wave
                .into_iter()
                .map(|idx| (idx, plans[idx].clone()))
                .collect();
            let mut pushes =
                futures::stream::iter(jobs.into_iter().map(|(idx, plan)| async move {
                    (idx, self.push_one(&plan, reg, layers_ref, opts).await)
                }))
                .buffer_unordered(opts.image_parallelism.max(1));
            while let Some((idx, result)) = pushes.next().await {
                let name = plans[idx].name.clone();
                if let Err(e) = layers.save() {
                    self.emit(ImageEvent::Warning {
                        image: name.clone(),
                        message: format!(
                            "layer map not saved (the next push compresses again): {e}"
                        ),
                    });
                }
                match result {
                    Ok((pushed, source_digest)) => {
                        let plan = &mut plans[idx];
                        let source = match &plan.spec.kind {
                            crate::spec::ImageKind::Mirror(m) => Some(m.source.clone()),
                            crate::spec::ImageKind::Build(_) => None,
                        };
                        let mut next = lock.clone();
                        next.insert(
                            name.clone(),
                            LockEntry {
                                reference: plan.reference.clone(),
                                digest: pushed.digest.clone(),
                                key: plan.key.clone(),
                                source,
                                source_digest,
                                pushed_at: chrono::Utc::now()
                                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            },
                        );
                        if let Err(e) = next.save(&self.ws.lock_path) {
                            self.emit(ImageEvent::Failed {
                                image: name.clone(),
                                error: e.to_string(),
                            });
                            report.failed.push((name, e));
                            continue;
                        }
                        *lock = next;
                        plan.state = PlanState::UpToDate;
                        plan.registry_digest = Some(pushed.digest.clone());
                        plan.pinned = Some(pushed.pinned.clone());
                        self.emit(ImageEvent::Pushed {
                            image: name,
                            reference: pushed.pinned.clone(),
                        });
                        report.pushed.push(pushed);
                    }
                    Err(e) => {
                        self.emit(ImageEvent::Failed {
                            image: name.clone(),
                            error: e.to_string(),
                        });
                        report.failed.push((name, e));
                    }
                }
            }
        }
        Ok(report)
    }

    /// Pushes one planned image: a mirror from its source, a build from the daemon.
    async fn push_one(
        &self,
        plan: &ImagePlan,
        reg: &RegistryClient,
        layers: &LayerStore,
        opts: &PushOptions,
    ) -> Result<(PushedImage, Option<String>)> {
        if plan.kind == "mirror" {
            return self.mirror_one(plan, reg, layers, opts).await;
        }
        let Some(id) = &plan.local_image else {
            return Err(Error::Docker {
                action: format!("push {}", plan.name),
                message: "no local image with the current key: build it first".into(),
            });
        };
        let target = ImageRef::parse(&plan.reference, "plan")?.to_oci();
        self.push_from_daemon(&plan.name, id, &target, reg, layers, opts)
            .await
            .map(|p| (p, None))
    }

    pub(crate) fn temp_dir(&self, opts: &PushOptions) -> PathBuf {
        opts.temp_dir
            .clone()
            .unwrap_or_else(|| self.ws.state_dir.join("tmp"))
    }

    /// Pushes local image `image_id` as `target`.
    pub(crate) async fn push_from_daemon(
        &self,
        name: &str,
        image_id: &str,
        target: &Reference,
        reg: &RegistryClient,
        store: &LayerStore,
        opts: &PushOptions,
    ) -> Result<PushedImage> {
        let started = Instant::now();
        let inspect = self
            .docker
            .docker
            .inspect_image(image_id)
            .await
            .map_err(|e| Error::docker(format!("inspect image {image_id} of {name}"), &e))?;
        let config_digest = inspect.id.clone().unwrap_or_else(|| image_id.to_string());
        let diff_ids: Vec<String> = inspect.root_fs.and_then(|r| r.layers).unwrap_or_default();

        // What the registry lacks, as far as the map tells.
        let mut missing_known: HashMap<String, Blob> = HashMap::new();
        let mut unknown: HashSet<String> = HashSet::new();
        let mut existing = 0usize;
        let (mut mounted, mut mounted_bytes) = (0usize, 0u64);
        let mut checked: HashSet<&str> = HashSet::new();
        for diff in &diff_ids {
            if !checked.insert(diff) {
                continue;
            }
            let known = store.lock().layers.get(diff).cloned();
            match known {
                Some(blob) => match self.place(name, reg, target, store, &blob).await? {
                    Placement::Present => existing += 1,
                    Placement::Mounted => {
                        mounted += 1;
                        mounted_bytes += blob.size;
                    }
                    Placement::Missing => {
                        missing_known.insert(diff.clone(), blob);
                    }
                },
                None => {
                    unknown.insert(diff.clone());
                }
            }
        }
        let config_size = store.lock().configs.get(&config_digest).copied();
        let config_present = match config_size {
            Some(_) => reg.blob_exists(target, &config_digest).await?,
            None => false,
        };
        self.emit(ImageEvent::PushStarted {
            image: name.to_string(),
            reference: target.whole(),
            layers: checked.len(),
            missing: missing_known.len() + unknown.len(),
        });

        let mut uploaded_bytes = 0u64;
        let mut uploaded_blobs = 0usize;
        let mut config_bytes: Option<Vec<u8>> = None;
        let need_export = !missing_known.is_empty() || !unknown.is_empty() || !config_present;
        if need_export {
            let wanted: HashSet<String> = missing_known
                .keys()
                .chain(unknown.iter())
                .cloned()
                .collect();
            let tmp = self.temp_dir(opts);
            std::fs::create_dir_all(&tmp).map_err(|e| Error::Export {
                image: name.to_string(),
                dir: tmp.clone(),
                message: e.to_string(),
            })?;
            let (item_tx, mut item_rx) = tokio::sync::mpsc::channel::<ExportItem>(2);
            let (chunk_tx, chunk_rx) =
                tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(16);
            let docker = self.docker.docker.clone();
            let id_for_export = config_digest.clone();
            let forward = tokio::spawn(async move {
                let mut s = docker.export_image(&id_for_export);
                while let Some(chunk) = s.next().await {
                    let item = chunk.map_err(|e| std::io::Error::other(docker_message(&e)));
                    let failed = item.is_err();
                    if chunk_tx.send(item).await.is_err() || failed {
                        break;
                    }
                }
            });
            let want_config = (!config_present).then(|| config_digest.clone());
            let tmp_for_reader = tmp.clone();
            let reader = tokio::task::spawn_blocking(move || {
                read_export(
                    ChannelReader::new(chunk_rx),
                    wanted,
                    want_config,
                    &tmp_for_reader,
                    &item_tx,
                )
            });

            let mut uploads = FuturesUnordered::new();
            let parallel = opts.layer_parallelism.max(1);
            let mut items_done = false;
            loop {
                tokio::select! {
                    item = item_rx.recv(), if !items_done && uploads.len() < parallel => {
                        match item {
                            None => items_done = true,
                            Some(ExportItem::Config(bytes)) => config_bytes = Some(bytes),
                            Some(ExportItem::Layer { diff_id, file, digest, size }) => {
                                let blob = Blob { digest: digest.clone(), size };
                                store.lock().layers.insert(diff_id, blob.clone());
                                match self.place(name, reg, target, store, &blob).await? {
                                    Placement::Present => existing += 1,
                                    Placement::Mounted => {
                                        mounted += 1;
                                        mounted_bytes += size;
                                    }
                                    Placement::Missing => uploads.push(upload_file(reg, target, file, digest, size, self.events.clone(), name.to_string())),
                                }
                            }
                        }
                    }
                    done = uploads.next(), if !uploads.is_empty() => {
                        if let Some(r) = done {
                            uploaded_bytes += r?;
                            uploaded_blobs += 1;
                        }
                    }
                    else => break,
                }
            }
            let read_result = reader.await.map_err(|e| Error::Export {
                image: name.to_string(),
                dir: tmp.clone(),
                message: e.to_string(),
            })?;
            forward.abort();
            read_result.map_err(|message| Error::Export {
                image: name.to_string(),
                dir: tmp.clone(),
                message,
            })?;
        }

        // Layers whose compressed form was known but absent: they came through the export.
        let mut manifest_layers = Vec::with_capacity(diff_ids.len());
        for diff in &diff_ids {
            let blob = store
                .lock()
                .layers
                .get(diff)
                .cloned()
                .ok_or_else(|| Error::Export {
                    image: name.to_string(),
                    dir: self.temp_dir(opts),
                    message: format!("layer {diff} was not found in the export"),
                })?;
            manifest_layers.push(blob);
        }

        let config_size = match (config_bytes, config_size) {
            (Some(bytes), _) => {
                let size = bytes.len() as u64;
                store.lock().configs.insert(config_digest.clone(), size);
                if !config_present {
                    reg.push_blob(target, bytes::Bytes::from(bytes), &config_digest)
                        .await?;
                    uploaded_bytes += size;
                    uploaded_blobs += 1;
                }
                size
            }
            (None, Some(size)) => size,
            (None, None) => {
                return Err(Error::Export {
                    image: name.to_string(),
                    dir: self.temp_dir(opts),
                    message: format!(
                        "the image config {config_digest} was not found in the export"
                    ),
                });
            }
        };
        if config_present {
            existing += 1;
        }

        let manifest = docker_manifest(&config_digest, config_size, &manifest_layers);
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
        reg.push_manifest(target, bytes::Bytes::from(manifest), DOCKER_MANIFEST)
            .await?;
        {
            let mut map = store.lock();
            for blob in &manifest_layers {
                map.held_by(target, &blob.digest);
            }
        }
        let reference = target.whole();
        Ok(PushedImage {
            name: name.to_string(),
            pinned: crate::lock::pinned(&reference, &digest),
            reference,
            digest,
            uploaded_bytes,
            uploaded_blobs,
            existing_blobs: existing,
            mounted_blobs: mounted,
            mounted_bytes,
            via: "daemon".into(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

impl Images {
    /// Whether layer `blob` is in `target`'s repository; when it is not, a mount from
    /// another repository the map knows to hold it (the latest few are tried: one may
    /// have been deleted since).
    async fn place(
        &self,
        name: &str,
        reg: &RegistryClient,
        target: &Reference,
        store: &LayerStore,
        blob: &Blob,
    ) -> Result<Placement> {
        if reg.blob_exists(target, &blob.digest).await? {
            self.emit(ImageEvent::LayerExists {
                image: name.to_string(),
                layer_digest: blob.digest.clone(),
            });
            return Ok(Placement::Present);
        }
        let sources = store.lock().mount_sources(target, &blob.digest);
        for from in sources.into_iter().take(MOUNT_TRIES) {
            if reg.mount_blob(target, &from, &blob.digest).await == Mount::Mounted {
                store.lock().held_by(target, &blob.digest);
                self.emit(ImageEvent::LayerMounted {
                    image: name.to_string(),
                    layer_digest: blob.digest.clone(),
                    size: blob.size,
                    from,
                });
                return Ok(Placement::Mounted);
            }
        }
        Ok(Placement::Missing)
    }
}

/// The images to push (index, name, the workspace images it is built FROM) in waves: an
/// image comes after those of its bases that are pushed too, so that their layers are in
/// the registry to be mounted, not uploaded a second time.
fn waves(todo: Vec<(usize, String, Vec<String>)>) -> Vec<Vec<usize>> {
    let mut left = todo;
    let mut waves = Vec::new();
    while !left.is_empty() {
        let waiting: HashSet<String> = left.iter().map(|(_, name, _)| name.clone()).collect();
        let (ready, rest): (Vec<_>, Vec<_>) = left
            .into_iter()
            .partition(|(_, _, deps)| deps.iter().all(|d| !waiting.contains(d)));
        if ready.is_empty() {
            // a cycle cannot have been built; whatever is left goes together
            waves.push(rest.into_iter().map(|(i, _, _)| i).collect());
            break;
        }
        waves.push(ready.into_iter().map(|(i, _, _)| i).collect());
        left = rest;
    }
    waves
}

/// Mount sources tried per layer before uploading it.
const MOUNT_TRIES: usize = 3;

/// A Docker image manifest (schema 2) for a config and gzip layers.
fn docker_manifest(config_digest: &str, config_size: u64, layers: &[Blob]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Desc<'a> {
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        size: u64,
        digest: &'a str,
    }
    #[derive(Serialize)]
    struct Manifest<'a> {
        #[serde(rename = "schemaVersion")]
        schema_version: u32,
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        config: Desc<'a>,
        layers: Vec<Desc<'a>>,
    }
    let m = Manifest {
        schema_version: 2,
        media_type: DOCKER_MANIFEST,
        config: Desc {
            media_type: DOCKER_CONFIG,
            size: config_size,
            digest: config_digest,
        },
        layers: layers
            .iter()
            .map(|b| Desc {
                media_type: DOCKER_LAYER_GZIP,
                size: b.size,
                digest: &b.digest,
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&m).unwrap_or_default()
}

/// Uploads a spooled blob, reporting progress; returns the bytes sent.
pub(crate) async fn upload_file(
    reg: &RegistryClient,
    target: &Reference,
    file: tempfile::NamedTempFile,
    digest: String,
    size: u64,
    events: Events,
    image: String,
) -> Result<u64> {
    let path = file.path().to_path_buf();
    // Opened anew for each attempt: a token refused mid-upload starts it over.
    let open = || {
        let path = path.clone();
        let (events, image, digest) = (events.clone(), image.clone(), digest.clone());
        async move {
            let f = tokio::fs::File::open(&path)
                .await
                .map_err(|e| Error::io("read the compressed layer", &path, e))?;
            Ok(progress_stream(
                futures::stream::unfold(f, |mut f| async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = vec![0u8; UPLOAD_CHUNK];
                    match f.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((Ok(bytes::Bytes::from(buf)), f))
                        }
                        Err(e) => Some((Err(e), f)),
                    }
                }),
                events,
                image,
                digest,
                size,
            ))
        }
    };
    reg.push_blob_stream(target, open, &digest, size).await?;
    drop(file);
    events.emit(ImageEvent::LayerPushed {
        image,
        layer_digest: digest,
        size,
    });
    Ok(size)
}

/// Turns a byte stream into an upload stream that reports how much went through.
pub(crate) fn progress_stream<S>(
    inner: S,
    events: Events,
    image: String,
    digest: String,
    total: u64,
) -> impl futures::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static
where
    S: futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
{
    let mut done = 0u64;
    inner.map(move |chunk| {
        let chunk = chunk.map_err(oci_client::errors::OciDistributionError::IoError)?;
        done += chunk.len() as u64;
        events.emit(ImageEvent::LayerProgress {
            image: image.clone(),
            layer_digest: digest.clone(),
            done,
            total,
        });
        Ok(chunk)
    })
}

/// A blocking `Read` over the chunks of an async stream.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl ChannelReader {
    fn new(rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>) -> Self {
        ChannelReader {
            rx,
            current: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Reads a `docker save` stream (classic `<id>/layer.tar` layout or OCI `blobs/sha256/`),
/// and sends the wanted layers compressed, and the config if wanted. Stops as soon as
/// everything wanted was found.
fn read_export(
    reader: impl Read,
    mut wanted: HashSet<String>,
    mut want_config: Option<String>,
    tmp: &Path,
    items: &tokio::sync::mpsc::Sender<ExportItem>,
) -> std::result::Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the export: {e}"))?;
    for entry in entries {
        if wanted.is_empty() && want_config.is_none() {
            return Ok(());
        }
        let mut entry = entry.map_err(|e| format!("reading the export: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("reading the export: {e}"))?
            .to_string_lossy()
            .into_owned();
        let blob_hex = path.strip_prefix("blobs/sha256/").map(str::to_string);
        let config_hex = want_config
            .as_deref()
            .and_then(|c| c.strip_prefix("sha256:"))
            .map(str::to_string);
        let is_config = config_hex.as_ref().is_some_and(|hex| {
            path == format!("{hex}.json") || blob_hex.as_deref() == Some(hex.as_str())
        });
        if is_config {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| format!("reading the image config from the export: {e}"))?;
            want_config = None;
            if items.blocking_send(ExportItem::Config(bytes)).is_err() {
                return Ok(());
            }
            continue;
        }
        let layer_candidate = match &blob_hex {
            Some(hex) => wanted.contains(&format!("sha256:{hex}")),
            None => path.ends_with("/layer.tar"),
        };
        if !layer_candidate {
            continue;
        }
        // The classic layout names layers by a v1 ID: hash while spooling to learn the
        // diffID, and compress only if it is wanted.
        let mut spool = tempfile::Builder::new()
            .prefix("layer-")
            .tempfile_in(tmp)
            .map_err(|e| format!("cannot create a file in {}: {e}", tmp.display()))?;
        let diff_id = copy_hashing(&mut entry, spool.as_file_mut())
            .map_err(|e| format!("spooling {path} to {}: {e}", tmp.display()))?;
        if !wanted.remove(&diff_id) {
            continue;
        }
        let gz = tempfile::Builder::new()
            .prefix("layer-")
            .suffix(".tar.gz")
            .tempfile_in(tmp)
            .map_err(|e| format!("cannot create a file in {}: {e}", tmp.display()))?;
        let (digest, size) = compress(spool.path(), gz.as_file())
            .map_err(|e| format!("compressing layer {diff_id} into {}: {e}", tmp.display()))?;
        drop(spool);
        let item = ExportItem::Layer {
            diff_id,
            file: gz,
            digest,
            size,
        };
        if items.blocking_send(item).is_err() {
            return Ok(());
        }
    }
    if let Some(d) = wanted.iter().next() {
        return Err(format!("layer {d} is not in the export of the image"));
    }
    Ok(())
}

fn copy_hashing(src: &mut impl Read, dst: &mut std::fs::File) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut out = std::io::BufWriter::new(dst);
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// Deterministic gzip (no name, mtime 0, fixed OS byte and level): same input, same digest.
pub(crate) fn compress(src: &Path, dst: &std::fs::File) -> std::io::Result<(String, u64)> {
    struct HashingWriter<W> {
        inner: W,
        hash: Sha256,
        size: u64,
    }
    impl<W: Write> Write for HashingWriter<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hash.update(&buf[..n]);
            self.size += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let mut input = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(src)?);
    let sink = HashingWriter {
        inner: std::io::BufWriter::new(dst),
        hash: Sha256::new(),
        size: 0,
    };
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(sink, flate2::Compression::new(6));
    std::io::copy(&mut input, &mut gz)?;
    let mut sink = gz.finish()?;
    sink.flush()?;
    sink.inner.get_ref().sync_all()?;
    Ok((
        format!("sha256:{}", hex::encode(sink.hash.finalize())),
        sink.size,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_pushed_after_their_workspace_bases() {
        let item = |i: usize, name: &str, deps: &[&str]| {
            let deps = deps.iter().map(|d| d.to_string()).collect();
            (i, name.to_string(), deps)
        };
        // tiler FROM base, app FROM tiler; tools FROM a base that is up to date already
        let todo = vec![
            item(0, "app", &["tiler"]),
            item(1, "base", &[]),
            item(2, "tiler", &["base"]),
            item(3, "tools", &["uptodate"]),
        ];
        assert_eq!(waves(todo), vec![vec![1, 3], vec![2], vec![0]]);
        assert!(waves(Vec::new()).is_empty());
        // a cycle does not loop forever
        let cycle = vec![
            item(0, "a", &["b"]),
            item(1, "b", &["a"]),
            item(2, "c", &[]),
        ];
        assert_eq!(waves(cycle), vec![vec![2], vec![0, 1]]);
    }

    #[test]
    fn mount_sources_are_other_repositories_of_the_same_registry_latest_first() {
        let at = |r: &str| r.parse::<Reference>().unwrap();
        let base = "sha256:aaaa";
        let mut map = LayerMap::default();
        map.held_by(&at("harbor.example:5000/vcity/base:1"), base);
        map.held_by(&at("other.example/vcity/base:1"), base);
        map.held_by(&at("harbor.example:5000/vcity/tiler:2"), base);
        let target = at("harbor.example:5000/vcity/new:latest");
        assert_eq!(
            map.mount_sources(&target, base),
            ["vcity/tiler", "vcity/base"],
            "the other registry's repository is no source"
        );
        // the target's own repository is not a source of itself
        let own = at("harbor.example:5000/vcity/base:2");
        assert_eq!(map.mount_sources(&own, base), ["vcity/tiler"]);
        assert!(map.mount_sources(&target, "sha256:unknown").is_empty());

        // pushed again: moves to the front, not repeated
        map.held_by(&at("harbor.example:5000/vcity/base:3"), base);
        assert_eq!(
            map.mount_sources(&target, base),
            ["vcity/base", "vcity/tiler"]
        );

        // a bounded memory per blob
        for i in 0..20 {
            map.held_by(&at(&format!("harbor.example:5000/p/r{i}:t")), base);
        }
        let sources = map.mount_sources(&target, base);
        assert_eq!(sources.len(), SOURCES_PER_BLOB);
        assert_eq!(sources[0], "p/r19");

        // kept in layers.json, and read from a map written before mounts existed
        let text = serde_json::to_string(&map).unwrap();
        let back: LayerMap = serde_json::from_str(&text).unwrap();
        assert_eq!(back.mount_sources(&target, base), sources);
        let old: LayerMap = serde_json::from_str(r#"{"layers":{},"configs":{}}"#).unwrap();
        assert!(old.mount_sources(&target, base).is_empty());
    }

    #[test]
    fn gzip_is_deterministic() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("layer.tar");
        std::fs::write(&src, b"some layer content ".repeat(1000)).unwrap();
        let a = tempfile::NamedTempFile::new_in(d.path()).unwrap();
        let b = tempfile::NamedTempFile::new_in(d.path()).unwrap();
        let ra = compress(&src, a.as_file()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let rb = compress(&src, b.as_file()).unwrap();
        assert_eq!(ra, rb);
        assert_eq!(
            std::fs::read(a.path()).unwrap(),
            std::fs::read(b.path()).unwrap()
        );
        let bytes = std::fs::read(a.path()).unwrap();
        assert_eq!(ra.1, bytes.len() as u64);
        assert_eq!(
            ra.0,
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
        // header: magic, deflate, no flags, mtime 0
        assert_eq!(&bytes[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, std::fs::read(&src).unwrap());
    }

    #[test]
    fn manifest_shape() {
        let m = docker_manifest(
            "sha256:c",
            10,
            &[Blob {
                digest: "sha256:l".into(),
                size: 5,
            }],
        );
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], DOCKER_MANIFEST);
        assert_eq!(v["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(v["config"]["size"], 10);
        assert_eq!(v["layers"][0]["mediaType"], DOCKER_LAYER_GZIP);
        assert_eq!(v["layers"][0]["digest"], "sha256:l");
    }

    fn export_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, p, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    #[test]
    fn reads_classic_export_and_only_wanted_layers() {
        let l1 = b"layer one".as_slice();
        let l2 = b"layer two".as_slice();
        let cfg = b"{\"config\":1}".as_slice();
        let cfg_id = sha(cfg);
        let cfg_name = format!("{}.json", cfg_id.trim_start_matches("sha256:"));
        let tar = export_tar(&[
            ("aaa/layer.tar", l1),
            ("aaa/json", b"{}"),
            ("bbb/layer.tar", l2),
            (&cfg_name, cfg),
            ("manifest.json", b"[]"),
        ]);
        let d = tempfile::tempdir().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(10);
        let wanted: HashSet<String> = [sha(l2)].into_iter().collect();
        read_export(&tar[..], wanted, Some(cfg_id), d.path(), &tx).unwrap();
        drop(tx);
        let mut layers = Vec::new();
        let mut config = None;
        while let Some(item) = rx.blocking_recv() {
            match item {
                ExportItem::Layer { diff_id, file, .. } => {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(std::fs::File::open(file.path()).unwrap())
                        .read_to_end(&mut out)
                        .unwrap();
                    assert_eq!(out, l2);
                    layers.push(diff_id)
                }
                ExportItem::Config(c) => config = Some(c),
            }
        }
        assert_eq!(layers, vec![sha(l2)]);
        assert_eq!(config.as_deref(), Some(cfg));
        // only the compressed wanted layer was left behind... and it is gone once dropped
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn reads_oci_layout_export_and_reports_missing() {
        let l1 = b"oci layer".as_slice();
        let name = format!("blobs/sha256/{}", sha(l1).trim_start_matches("sha256:"));
        let tar = export_tar(&[(&name, l1), ("index.json", b"{}")]);
        let d = tempfile::tempdir().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(10);
        let wanted: HashSet<String> = [sha(l1), sha(b"absent")].into_iter().collect();
        let err = read_export(&tar[..], wanted, None, d.path(), &tx).unwrap_err();
        assert!(err.contains("not in the export"), "{err}");
        drop(tx);
        assert!(matches!(rx.blocking_recv(), Some(ExportItem::Layer { .. })));
    }

    #[test]
    fn export_into_unwritable_dir_fails_with_the_dir() {
        let l1 = b"x".as_slice();
        let tar = export_tar(&[("a/layer.tar", l1)]);
        let (tx, _rx) = tokio::sync::mpsc::channel(10);
        let wanted: HashSet<String> = [sha(l1)].into_iter().collect();
        let err =
            read_export(&tar[..], wanted, None, Path::new("/nonexistent/tmp"), &tx).unwrap_err();
        assert!(err.contains("/nonexistent/tmp"), "{err}");
    }

    #[test]
    fn layer_map_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let s = LayerStore::load(d.path());
        s.lock().layers.insert(
            "sha256:d".into(),
            Blob {
                digest: "sha256:g".into(),
                size: 3,
            },
        );
        s.save().unwrap();
        let s = LayerStore::load(d.path());
        assert_eq!(s.lock().layers["sha256:d"].size, 3);
    }
}
