//! `cargo xtask fetch-results`: copies a folder of the PVC into a local folder,
//! verified and resumable, through `exec` in a pod that mounts the claim.
//!
//! 1. A pod: a short-lived helper ([`HelperSpec`]) or a running pod of the user's
//!    ([`PodChoice::Existing`]), checked to mount the whole claim.
//! 2. A listing in the pod: size and modification time of every regular file
//!    ([`Listing`]).
//! 3. A plan against the target folder and its manifest ([`FetchPlan`]): files the
//!    manifest verified, unchanged on both sides since, are skipped without hashing;
//!    other same-size files are hashed in the pod and compared; only new or changed
//!    files are transferred.
//! 4. `tar` of those files in the pod, streamed over the exec WebSocket and extracted
//!    as it arrives, while `cksum` (or `sha256sum`, see `transfer_check`) reads the
//!    same files in the pod in a second exec; each file lands under a temporary name
//!    and is renamed once its checksum matches the pod's ([`tar_safety`] decides what
//!    may be written).
//! 5. The manifest `.xtask-manifest.json`, written atomically, even after an error, so
//!    that a re-run fetches only what is missing.
//!
//! Where commands see the claim: in a real pod at its mount path. Under kwok (the local
//! stack), exec runs on the host in the folder that backs the claim, so commands must
//! work relative to their working directory: [`ExecRoot::WorkingDirectory`].

mod cksum;
mod compress;
mod error;
mod extract;
pub mod helper_pod;
pub mod listing;
pub mod manifest;
pub mod offline;
pub mod plan;
pub mod tar_safety;
mod transfer;

use std::collections::{BTreeSet, HashMap};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kit_config::Settings;
use kube::api::Api;
use serde::Serialize;

pub use compress::{Choice, Codec, Compression, LinkSample, PodTools, choose as choose_codec};
pub use error::FetchError;
pub use extract::Mismatch;
pub use helper_pod::{HELPER_SELECTOR, HelperSpec, cleanup_helper_pods, delete_helper_pod};
pub use listing::{Listing, PathKind, RemoteFile, RemotePath, TreeRow};
pub use manifest::{MANIFEST_FILE, Manifest, ManifestEntry, ManifestSource};
pub use plan::{Action, Conflict, FetchPlan, PlannedFile};

use extract::{ExtractError, ExtractEvent, FsStore, LateSums, RemoteSum};
use helper_pod::HelperGuard;
use transfer::{PodExec, SumTool};

/// Which pod runs the commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodChoice {
    /// Create a helper pod, delete it afterwards.
    Helper(HelperSpec),
    /// A running pod that mounts the claim (`--pod NAME`); its mount path is read from
    /// its spec.
    Existing(String),
}

/// Where commands in the pod find the claim's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecRoot {
    /// At the pod's mount path: any real cluster.
    #[default]
    MountPath,
    /// In the command's working directory: kwok's ClusterExec, which runs commands on
    /// the host in the folder backing the claim.
    WorkingDirectory,
}

/// How to reach the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOptions {
    pub namespace: String,
    pub claim: String,
    /// Where a helper mounts the claim (`pvc_mount_path`, default `/data`); also how
    /// absolute paths given by the user are read.
    pub mount_path: String,
    pub exec_root: ExecRoot,
    pub pod: PodChoice,
}

impl RemoteOptions {
    /// From the resolved settings: namespace, claim and mount path.
    pub fn from_settings(settings: &Settings, pod: PodChoice) -> Result<Self, FetchError> {
        let claim = settings
            .volume_claim_name
            .as_ref()
            .ok_or(FetchError::NoClaim)?
            .value
            .clone();
        Ok(RemoteOptions {
            namespace: settings.argo_namespace.value.clone(),
            claim,
            mount_path: settings.pvc_mount_path.value.clone(),
            exec_root: ExecRoot::MountPath,
            pod,
        })
    }
}

/// The default helper image: `busybox:1` in the configured registry's project (the
/// workspace mirrors it there), else Docker Hub's.
pub fn default_helper_image(settings: &Settings) -> String {
    match &settings.registry {
        Some(r) => r.value.image("busybox", "1"),
        None => "docker.io/library/busybox:1".into(),
    }
}

/// Everything `fetch` needs.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub remote: RemoteOptions,
    /// The path on the PVC as the user gave it (relative, or absolute under the mount
    /// path).
    pub path: String,
    /// The local folder receiving the content of `path`; created if missing.
    pub to: PathBuf,
    pub compression: Compression,
    /// Hash every local file instead of trusting the manifest's size and time.
    pub verify_local: bool,
    /// Plan only: list, compare, report; transfer nothing.
    pub dry_run: bool,
}

/// Progress, for the CLI to render.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchEvent {
    /// Remember the name: after a cancellation (the future dropped), the pod is
    /// deleted by a spawned task, which needs the runtime a moment longer; or call
    /// [`delete_helper_pod`] with it.
    HelperCreated {
        pod: String,
    },
    HelperRunning {
        pod: String,
        waited: Duration,
    },
    UsingPod {
        pod: String,
        container: String,
        mount_path: String,
    },
    Listed {
        path: String,
        files: usize,
        bytes: u64,
        skipped_links: usize,
    },
    Planned {
        fetch_files: usize,
        fetch_bytes: u64,
        unchanged_files: usize,
        unchanged_bytes: u64,
    },
    /// Content bytes received so far out of the total to fetch: rate and ETA.
    Progress {
        done_bytes: u64,
        total_bytes: u64,
    },
    FileDone {
        path: String,
        size: u64,
    },
    /// How the transfer travels, and why (see [`Compression`]).
    Compressing {
        codec: Codec,
        reason: String,
        sample: Option<LinkSample>,
    },
    Warning(String),
    HelperDeleted {
        pod: String,
    },
}

/// What a fetch did.
#[derive(Debug, Clone, Serialize)]
pub struct FetchReport {
    pub pod: String,
    pub source: ManifestSource,
    pub target: PathBuf,
    pub manifest: PathBuf,
    pub files_total: usize,
    pub bytes_total: u64,
    pub files_fetched: usize,
    /// File content bytes written.
    pub bytes_fetched: u64,
    /// Bytes that came over the connection (less than `bytes_fetched` when compressed).
    pub wire_bytes: u64,
    pub files_unchanged: usize,
    /// Files of the same size hashed in the pod to tell unchanged from changed: those
    /// the quick check (manifest, sizes and times) could not settle.
    pub files_hashed_remote: usize,
    /// The program that checksummed transferred files in the pod: `cksum` (POSIX CRC)
    /// by default, `sha256sum` with `--verify` or when the pod has no usable `cksum`.
    pub transfer_check: Option<&'static str>,
    pub compressed: bool,
    /// The codec the transfer used, and why.
    pub codec: Codec,
    pub codec_reason: String,
    /// The link as measured by `--compress auto` (none when nothing was sampled).
    pub link_sample: Option<LinkSample>,
    pub skipped_links: Vec<String>,
    pub dry_run: bool,
    pub plan: FetchPlan,
    #[serde(with = "secs")]
    pub elapsed: Duration,
}

/// The program that checks transferred files in the pod. `cksum` costs a twentieth of
/// `sha256sum` there (see [`cksum`]); `--verify` keeps SHA-256 on both sides, and
/// names holding a line break need `sha256sum`'s escaping.
fn transfer_check(listing: &Listing, plan: &FetchPlan, verify: bool) -> SumTool {
    let cksum_reads_names = plan.to_fetch().all(|f| !f.path.contains('\n'));
    if listing.cksum && !verify && cksum_reads_names {
        SumTool::Cksum
    } else {
        SumTool::Sha256sum
    }
}

/// What a delete removed.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    pub pod: String,
    pub path: String,
    pub files_deleted: usize,
    pub bytes_deleted: u64,
    /// The folder still exists (something not fetched was added meanwhile).
    pub folder_remains: bool,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// A pod to run commands in, with the claim's content at a known folder. Open it once
/// to list, fetch and delete; [`Remote::close`] deletes a helper pod.
pub struct Remote {
    exec: PodExec,
    claim: String,
    namespace: String,
    /// Where absolute user paths are read from.
    mount_path: String,
    /// Where commands `cd` to reach the claim's root.
    root: String,
    helper: Option<HelperGuard>,
}

impl Remote {
    /// Creates and waits for the helper pod, or checks the given one.
    pub async fn open(
        client: &kube::Client,
        options: &RemoteOptions,
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<Remote, FetchError> {
        let api: Api<Pod> = Api::namespaced(client.clone(), &options.namespace);
        let (pod, container, mount_path, helper) = match &options.pod {
            PodChoice::Helper(spec) => {
                let (guard, waited) = helper_pod::start_helper(
                    client,
                    &options.namespace,
                    &options.claim,
                    &options.mount_path,
                    spec,
                    &mut |name| {
                        progress(FetchEvent::HelperCreated {
                            pod: name.to_string(),
                        })
                    },
                )
                .await?;
                let name = guard.name().to_string();
                progress(FetchEvent::HelperRunning {
                    pod: name.clone(),
                    waited,
                });
                (
                    name,
                    helper_pod::HELPER_CONTAINER.to_string(),
                    options.mount_path.clone(),
                    Some(guard),
                )
            }
            PodChoice::Existing(name) => {
                let (container, mount) =
                    helper_pod::existing_pod(client, &options.namespace, name, &options.claim)
                        .await?;
                (name.clone(), container, mount, None)
            }
        };
        progress(FetchEvent::UsingPod {
            pod: pod.clone(),
            container: container.clone(),
            mount_path: mount_path.clone(),
        });
        let root = match options.exec_root {
            ExecRoot::MountPath => mount_path.clone(),
            ExecRoot::WorkingDirectory => ".".into(),
        };
        Ok(Remote {
            exec: PodExec {
                api,
                namespace: options.namespace.clone(),
                pod,
                container,
            },
            claim: options.claim.clone(),
            namespace: options.namespace.clone(),
            mount_path,
            root,
            helper,
        })
    }

    pub fn pod(&self) -> &str {
        &self.exec.pod
    }

    /// Reads a user's path against this pod's mount path.
    pub fn path(&self, input: &str) -> Result<RemotePath, FetchError> {
        Ok(RemotePath::parse(input, &self.mount_path)?)
    }

    /// Lists regular files under `path` with sizes, and SHA-256 when `hash`.
    pub async fn list(&self, path: &RemotePath, hash: bool) -> Result<Listing, FetchError> {
        let out = self
            .exec
            .capture(listing::listing_command(&self.root, path, hash))
            .await?;
        let mut listing = listing::parse_listing(path, &out.stdout).map_err(|source| {
            let source = match source {
                listing::ListingError::NoRoot { .. } => listing::ListingError::NoRoot {
                    root: self.root.clone(),
                },
                listing::ListingError::NotRun { head } if head.is_empty() => {
                    listing::ListingError::NotRun {
                        head: exec_detail(&out.stderr, out.status.as_ref()),
                    }
                }
                other => other,
            };
            FetchError::Listing {
                pod: self.exec.pod.clone(),
                path: path.to_string(),
                source,
            }
        })?;
        listing.warnings = out
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        Ok(listing)
    }

    /// Fails when the pod lacks a tool that fetching needs.
    fn require(&self, present: bool, tool: &'static str) -> Result<(), FetchError> {
        if present {
            return Ok(());
        }
        Err(FetchError::Exec {
            pod: self.exec.pod.clone(),
            what: tool,
            detail: format!(
                "the pod's image has no `{tool}`: use a helper pod (omit --pod) or an image with busybox or coreutils"
            ),
        })
    }

    /// SHA-256 of files under `base` (relative names), hashed in the pod. Like a
    /// transfer, one command reads at most [`transfer::MAX_BATCH_CONTENT`] bytes, so a
    /// pod lost while hashing gigabytes is noticed at the next command.
    async fn hash_remote(
        &self,
        base: &str,
        names: &[String],
        listing: &Listing,
    ) -> Result<HashMap<String, String>, FetchError> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let sizes: HashMap<&str, u64> = listing
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.size))
            .collect();
        let size_of = |name: &str| sizes.get(name).copied().unwrap_or(0);
        let passing = listing.name_passing();
        let mut hashes = HashMap::new();
        for batch in passing
            .batches(&names)
            .into_iter()
            .flat_map(|b| transfer::by_content(b, size_of))
        {
            let late = LateSums::default();
            let tool = SumTool::Sha256sum;
            self.exec
                .feed_sums(
                    transfer::sum_command(&self.root, base, &batch, tool, passing),
                    tool,
                    &late,
                )
                .await;
            let (sums, failure) = late.into_parts();
            let found: HashMap<String, String> = sums
                .into_iter()
                .filter_map(|(name, sum)| match sum {
                    RemoteSum::Sha256(hash) => Some((name, hash)),
                    RemoteSum::Cksum(_) => None,
                })
                .collect();
            if let Some(missing) = batch.iter().find(|n| !found.contains_key(**n)) {
                return Err(FetchError::Exec {
                    pod: self.exec.pod.clone(),
                    what: "hashing files (sha256sum)",
                    detail: format!(
                        "no SHA-256 for {missing}: {}",
                        failure.unwrap_or_else(|| "sha256sum did not list it".into())
                    ),
                });
            }
            hashes.extend(found);
        }
        Ok(hashes)
    }

    /// The codec of this transfer: the one asked for, or chosen from a timed sample.
    async fn choose_codec(
        &self,
        asked: Compression,
        listing: &Listing,
        plan: &FetchPlan,
        base: &str,
    ) -> Choice {
        let tools = PodTools {
            gzip: listing.gzip,
            zstd: listing.zstd,
        };
        let bytes = plan.bytes_to_fetch();
        let mut why_none = String::new();
        let mut sample = None;
        if asked == Compression::Auto && (tools.gzip || tools.zstd) {
            if bytes < compress::SAMPLE_WORTH_FROM {
                why_none = format!(
                    "only {:.1} MB to fetch: not worth measuring the link",
                    bytes as f64 / 1e6
                );
            } else {
                match self.sample_link(plan, base).await {
                    Ok(s) => sample = Some(s),
                    Err(e) => {
                        why_none =
                            format!("the link could not be measured ({e}): transferring as is")
                    }
                }
            }
        }
        compress::choose(asked, tools, sample.as_ref(), &why_none)
    }

    /// Times the first MiBs of the files to fetch as they arrive uncompressed.
    async fn sample_link(&self, plan: &FetchPlan, base: &str) -> Result<LinkSample, String> {
        let files: Vec<(&str, u64)> = plan.to_fetch().map(|f| (f.path.as_str(), f.size)).collect();
        let captured = self
            .exec
            .capture(compress::sample_command(&self.root, base, &files))
            .await
            .map_err(|e| e.to_string())?;
        let (Some((first, first_len)), Some(last)) = (captured.first_chunk, captured.last_chunk)
        else {
            return Err(format!("no data came: {}", captured.stderr.trim()));
        };
        Ok(LinkSample {
            bytes: (captured.stdout.len() - first_len) as u64,
            seconds: last.duration_since(first).as_secs_f64(),
            ratio: compress::ratio_of(&captured.stdout),
        })
    }

    /// Fetches `path` into `to` (see the module documentation).
    pub async fn fetch(
        &self,
        path: &RemotePath,
        to: &Path,
        compression: Compression,
        verify_local: bool,
        dry_run: bool,
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<FetchReport, FetchError> {
        let started = Instant::now();
        let target = prepare_target(to)?;
        let swept = extract::sweep_temp_files(&target);
        if swept > 0 {
            progress(FetchEvent::Warning(format!(
                "removed {swept} partial file(s) left by an interrupted fetch"
            )));
        }
        let mut listing = self.list(path, false).await?;
        progress(FetchEvent::Listed {
            path: path.to_string(),
            files: listing.files.len(),
            bytes: listing.total_bytes(),
            skipped_links: listing.skipped_links.len(),
        });
        for warning in &listing.warnings {
            progress(FetchEvent::Warning(format!(
                "the listing in pod {} reported (files there are not fetched): {warning}",
                self.exec.pod
            )));
        }
        if !listing.skipped_links.is_empty() {
            progress(FetchEvent::Warning(format!(
                "{} symbolic link(s) on the PVC are not copied (only regular files are): {}",
                listing.skipped_links.len(),
                listing
                    .skipped_links
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let previous = match manifest::read(&target) {
            manifest::ManifestRead::Found(m) => Some(m),
            manifest::ManifestRead::Absent => None,
            manifest::ManifestRead::Unusable(why) => {
                progress(FetchEvent::Warning(format!(
                    "manifest ignored, local files are hashed instead: {why}"
                )));
                None
            }
        };
        let local = plan::inspect_local(&target, &listing, previous.as_ref(), verify_local)
            .map_err(|e| FetchError::LocalRead {
                path: e.path,
                source: e.source,
            })?;
        let base = match listing.kind {
            PathKind::Dir => path.dotted(),
            PathKind::File => path.split_last().0,
        };
        let undecided = plan::needs_remote_hash(&listing, &local);
        if !undecided.is_empty() {
            self.require(listing.sha256sum, "sha256sum")?;
            let hashes = self.hash_remote(&base, &undecided, &listing).await?;
            for file in &mut listing.files {
                if let Some(hash) = hashes.get(&file.path) {
                    file.sha256 = Some(hash.clone());
                }
            }
        }
        let plan = plan::diff(&listing, &local);
        if !plan.conflicts.is_empty() {
            return Err(FetchError::Conflicts {
                target,
                conflicts: plan.conflicts,
            });
        }
        let unchanged: Vec<&PlannedFile> = plan.unchanged().collect();
        progress(FetchEvent::Planned {
            fetch_files: plan.files_to_fetch(),
            fetch_bytes: plan.bytes_to_fetch(),
            unchanged_files: unchanged.len(),
            unchanged_bytes: unchanged.iter().map(|f| f.size).sum(),
        });
        let source = ManifestSource {
            namespace: self.namespace.clone(),
            claim: self.claim.clone(),
            path: path.to_string(),
        };
        let transfer_check = transfer_check(&listing, &plan, verify_local);
        if plan.files_to_fetch() > 0 && !dry_run {
            self.require(listing.tar, "tar")?;
            self.require(
                transfer_check != SumTool::Sha256sum || listing.sha256sum,
                "sha256sum",
            )?;
        }
        let choice = if plan.files_to_fetch() == 0 || dry_run {
            Choice {
                codec: Codec::None,
                reason: "nothing to transfer".into(),
                fallback: false,
                sample: None,
            }
        } else {
            self.choose_codec(compression, &listing, &plan, &base).await
        };
        let codec = choice.codec;
        if choice.fallback {
            progress(FetchEvent::Warning(format!(
                "pod {}: {}",
                self.exec.pod, choice.reason
            )));
        }
        let sample = choice.sample;
        progress(FetchEvent::Compressing {
            codec,
            reason: choice.reason.clone(),
            sample,
        });
        let mut report = FetchReport {
            pod: self.exec.pod.clone(),
            source: source.clone(),
            manifest: manifest::manifest_path(&target),
            target: target.clone(),
            files_total: listing.files.len(),
            bytes_total: listing.total_bytes(),
            files_fetched: 0,
            bytes_fetched: 0,
            wire_bytes: 0,
            files_unchanged: unchanged.len(),
            files_hashed_remote: undecided.len(),
            transfer_check: (plan.files_to_fetch() > 0).then(|| transfer_check.program()),
            compressed: codec != Codec::None,
            codec,
            codec_reason: choice.reason.clone(),
            link_sample: sample,
            skipped_links: listing.skipped_links.clone(),
            dry_run,
            plan: plan.clone(),
            elapsed: Duration::ZERO,
        };
        if dry_run {
            report.elapsed = started.elapsed();
            return Ok(report);
        }

        // Files already there go into the manifest with their current time, and the
        // remote side's time for the next quick check.
        let remote_mtimes: HashMap<&str, Option<i64>> = listing
            .files
            .iter()
            .map(|f| (f.path.as_str(), listing.settled_mtime(f)))
            .collect();
        let mut entries: Vec<ManifestEntry> = unchanged
            .iter()
            .filter_map(|f| {
                let sha256 = match (&f.sha256, local.get(&f.path)) {
                    (Some(remote), _) => remote.clone(),
                    (None, Some(plan::LocalState::File { sha256, .. })) => sha256.clone()?,
                    _ => return None,
                };
                let meta = std::fs::metadata(target.join(&f.path)).ok()?;
                Some(ManifestEntry {
                    path: f.path.clone(),
                    size: f.size,
                    sha256,
                    mtime_ns: manifest::mtime_ns(&meta),
                    remote_mtime: remote_mtimes.get(f.path.as_str()).copied().flatten(),
                })
            })
            .collect();
        let to_fetch: Vec<&PlannedFile> = plan.to_fetch().collect();
        let total_bytes = plan.bytes_to_fetch();
        let store = Arc::new(FsStore::new(target.clone()));
        let names: Vec<&str> = to_fetch.iter().map(|f| f.path.as_str()).collect();
        let by_path: HashMap<&str, &PlannedFile> =
            to_fetch.iter().map(|f| (f.path.as_str(), *f)).collect();
        let mut done_bytes = 0u64;
        let mut failure: Option<FetchError> = None;
        let mut mismatches: Vec<Mismatch> = Vec::new();
        let passing = listing.name_passing();
        let size_of = |name: &str| by_path.get(name).map_or(0, |f| f.size);
        let batches = passing.batches(&names);
        for batch in batches
            .into_iter()
            .flat_map(|b| transfer::by_content(b, size_of))
        {
            let expected: extract::Expected = batch
                .iter()
                .filter_map(|name| by_path.get(name))
                .map(|f| (f.path.clone(), (f.size, f.sha256.clone())))
                .collect();
            let command = transfer::tar_command(&self.root, &base, &batch, codec, passing);
            // Files without a known SHA-256 are checksummed in the pod while they stream.
            let unhashed: Vec<&str> = batch
                .iter()
                .copied()
                .filter(|name| by_path.get(name).is_some_and(|f| f.sha256.is_none()))
                .collect();
            let late = (!unhashed.is_empty()).then(|| Arc::new(LateSums::default()));
            let hashing = late.clone().map(|late| {
                let exec = self.exec.clone();
                let command =
                    transfer::sum_command(&self.root, &base, &unhashed, transfer_check, passing);
                tokio::spawn(async move { exec.feed_sums(command, transfer_check, &late).await })
            });
            let streamed = self
                .exec
                .stream_tar(
                    command,
                    codec,
                    expected.clone(),
                    late,
                    store.clone(),
                    &mut |event| match event {
                        ExtractEvent::Bytes(n) => {
                            done_bytes += n;
                            progress(FetchEvent::Progress {
                                done_bytes,
                                total_bytes,
                            });
                        }
                        ExtractEvent::FileDone { path, size } => {
                            progress(FetchEvent::FileDone { path, size })
                        }
                        ExtractEvent::Warning(text) => progress(FetchEvent::Warning(text)),
                    },
                )
                .await;
            if let Some(hashing) = hashing {
                // Done when every file was verified; otherwise no longer needed.
                hashing.abort();
            }
            let streamed = match streamed {
                Ok(s) => s,
                Err(err) => {
                    failure = Some(
                        self.if_deleted(err, report.files_fetched, to_fetch.len())
                            .await,
                    );
                    break;
                }
            };
            report.wire_bytes += streamed.wire_bytes;
            let outcome = streamed.outcome;
            let received: BTreeSet<String> =
                outcome.written.iter().map(|e| e.path.clone()).collect();
            report.files_fetched += outcome.written.len();
            report.bytes_fetched += outcome.written.iter().map(|e| e.size).sum::<u64>();
            entries.extend(outcome.written.into_iter().map(|mut entry| {
                entry.remote_mtime = remote_mtimes.get(entry.path.as_str()).copied().flatten();
                entry
            }));
            mismatches.extend(outcome.mismatched);
            if let Some(err) = outcome.error {
                let err = self.extract_failure(
                    err,
                    &target,
                    &streamed.stderr,
                    &streamed.end,
                    report.files_fetched,
                    to_fetch.len(),
                );
                failure = Some(
                    self.if_deleted(err, report.files_fetched, to_fetch.len())
                        .await,
                );
                break;
            }
            let mismatched: BTreeSet<&str> = mismatches.iter().map(|m| m.path.as_str()).collect();
            let missing: Vec<&str> = batch
                .iter()
                .copied()
                .filter(|n| !received.contains(*n) && !mismatched.contains(n))
                .collect();
            if !missing.is_empty() {
                let detail = match &streamed.end {
                    Err(cut) => format!("connection lost: {cut}"),
                    Ok(status) => format!(
                        "{} file(s) not in the stream, e.g. {}; {}",
                        missing.len(),
                        missing[0],
                        exec_detail(&streamed.stderr, status.as_ref())
                    ),
                };
                let err = FetchError::Interrupted {
                    pod: self.exec.pod.clone(),
                    detail,
                    received: report.files_fetched,
                    missing: to_fetch.len() - report.files_fetched,
                };
                failure = Some(
                    self.if_deleted(err, report.files_fetched, to_fetch.len())
                        .await,
                );
                break;
            }
        }
        if failure.is_none() && !mismatches.is_empty() {
            failure = Some(FetchError::Changed {
                mismatches: mismatches.clone(),
            });
        }
        let complete = failure.is_none();
        let written = Manifest::new(source, complete, entries);
        if let Err((path, source)) = manifest::write(&target, &written) {
            // The data is there and verified; only the next run's shortcut is lost.
            let err = FetchError::LocalWrite { path, source };
            return Err(failure.unwrap_or(err));
        }
        report.elapsed = started.elapsed();
        match failure {
            Some(err) => Err(err),
            None => Ok(report),
        }
    }

    /// A failure of the pod's commands, told as an interrupted transfer when the pod was
    /// deleted meanwhile: otherwise the user sees a bare "not found" or a cut
    /// connection, with no hint that a re-run resumes.
    async fn if_deleted(&self, err: FetchError, received: usize, planned: usize) -> FetchError {
        let pod_failed = match &err {
            FetchError::Interrupted { .. } | FetchError::Exec { .. } => true,
            FetchError::Kube { source, .. } => error::is_not_found(source),
            _ => false,
        };
        if !pod_failed {
            return err;
        }
        let gone = match self.exec.api.get_opt(&self.exec.pod).await {
            Ok(None) => "was deleted",
            Ok(Some(pod)) if pod.metadata.deletion_timestamp.is_some() => "is being deleted",
            // Still there, or unknown: the error says what happened.
            _ => return err,
        };
        let cause = match err {
            FetchError::Interrupted { detail, .. } => detail,
            other => other.to_string(),
        };
        FetchError::Interrupted {
            pod: self.exec.pod.clone(),
            detail: format!(
                "pod {} {gone} during the fetch (by someone, an eviction or its node): {cause}",
                self.exec.pod
            ),
            received,
            missing: planned.saturating_sub(received),
        }
    }

    fn extract_failure(
        &self,
        err: ExtractError,
        target: &Path,
        stderr: &str,
        end: &Result<Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>, String>,
        received: usize,
        planned: usize,
    ) -> FetchError {
        match err {
            ExtractError::Unsafe { entry, reason } => FetchError::UnsafeEntry {
                pod: self.exec.pod.clone(),
                entry,
                reason: reason.to_string(),
                target: target.to_path_buf(),
            },
            ExtractError::Unexpected { entry } => FetchError::UnsafeEntry {
                pod: self.exec.pod.clone(),
                entry,
                reason: "not requested".into(),
                target: target.to_path_buf(),
            },
            ExtractError::Duplicate { entry } => FetchError::UnsafeEntry {
                pod: self.exec.pod.clone(),
                entry,
                reason: "appears twice".into(),
                target: target.to_path_buf(),
            },
            ExtractError::Local { path, source } => FetchError::LocalWrite { path, source },
            // The reason names the program (cksum or sha256sum) when it failed.
            ExtractError::RemoteHash { entry, reason } => FetchError::Exec {
                pod: self.exec.pod.clone(),
                what: "checksumming transferred files",
                detail: format!("no checksum for {entry}: {reason}"),
            },
            ExtractError::Layout { path, reason } => FetchError::Conflicts {
                target: target.to_path_buf(),
                conflicts: vec![Conflict {
                    path: path.display().to_string(),
                    reason,
                }],
            },
            ExtractError::Stream(io) => {
                let detail = match end {
                    Err(cut) => format!("connection lost: {cut}; stream: {io}"),
                    Ok(status) => format!("{io}; {}", exec_detail(stderr, status.as_ref())),
                };
                FetchError::Interrupted {
                    pod: self.exec.pod.clone(),
                    detail,
                    received,
                    missing: planned.saturating_sub(received),
                }
            }
        }
    }

    /// Runs any command whose stdout is a tar of `expected` files and extracts it into
    /// `to` with the same checks as a fetch. Fetch uses tar; tests use it to serve
    /// crafted archives through a real exec.
    pub async fn receive_archive(
        &self,
        command: Vec<String>,
        expected: &[RemoteFile],
        to: &Path,
    ) -> Result<Vec<ManifestEntry>, FetchError> {
        let target = prepare_target(to)?;
        let store = Arc::new(FsStore::new(target.clone()));
        let expected_map: extract::Expected = expected
            .iter()
            .map(|f| (f.path.clone(), (f.size, f.sha256.clone())))
            .collect();
        let streamed = self
            .exec
            .stream_tar(
                command.into(),
                Codec::None,
                expected_map,
                None,
                store,
                &mut |_| {},
            )
            .await?;
        let outcome = streamed.outcome;
        if let Some(err) = outcome.error {
            return Err(self.extract_failure(
                err,
                &target,
                &streamed.stderr,
                &streamed.end,
                outcome.written.len(),
                expected.len(),
            ));
        }
        if !outcome.mismatched.is_empty() {
            return Err(FetchError::Changed {
                mismatches: outcome.mismatched,
            });
        }
        Ok(outcome.written)
    }

    /// Deletes `path` on the PVC, file by file, after checking that `verified_in`
    /// holds a complete verified copy: every remote file in its manifest with the same
    /// size and SHA-256, and still there locally. Files added on the PVC since are
    /// neither deleted nor their folders.
    pub async fn delete(
        &self,
        path: &RemotePath,
        verified_in: &Path,
    ) -> Result<DeleteReport, FetchError> {
        let refuse = |reason: String| FetchError::NotVerified {
            path: path.to_string(),
            reason,
        };
        if path.is_root() {
            return Err(refuse("it is the root of the claim".into()));
        }
        let local = verified_in
            .canonicalize()
            .map_err(|source| FetchError::LocalRead {
                path: verified_in.to_path_buf(),
                source,
            })?;
        let manifest = match manifest::read(&local) {
            manifest::ManifestRead::Found(m) => m,
            manifest::ManifestRead::Absent => {
                return Err(refuse(format!(
                    "{} has no {MANIFEST_FILE}: fetch it there first",
                    local.display()
                )));
            }
            manifest::ManifestRead::Unusable(why) => return Err(refuse(why)),
        };
        if manifest.source.claim != self.claim || manifest.source.path != path.to_string() {
            return Err(refuse(format!(
                "{} holds a copy of {}:{}, not of {}:{path}",
                local.display(),
                manifest.source.claim,
                manifest.source.path,
                self.claim
            )));
        }
        let listing = self.list(path, true).await?;
        if listing.files.is_empty() {
            return Err(refuse("it holds no regular file".into()));
        }
        let states =
            plan::inspect_local(&local, &listing, Some(&manifest), false).map_err(|e| {
                FetchError::LocalRead {
                    path: e.path,
                    source: e.source,
                }
            })?;
        let check = plan::diff(&listing, &states);
        let unverified: Vec<&str> = check
            .files
            .iter()
            .filter(|f| f.action != Action::Unchanged)
            .map(|f| f.path.as_str())
            .chain(check.conflicts.iter().map(|c| c.path.as_str()))
            .collect();
        if !unverified.is_empty() {
            return Err(refuse(format!(
                "{} file(s) differ from or are missing in {}, e.g. {}: fetch again first",
                unverified.len(),
                local.display(),
                unverified[0]
            )));
        }
        let base = match listing.kind {
            PathKind::Dir => path.as_str().to_string(),
            PathKind::File => {
                let (parent, _) = path.split_last();
                parent
                    .trim_start_matches("./")
                    .trim_start_matches('.')
                    .to_string()
            }
        };
        let join = |rel: &str| {
            if base.is_empty() {
                rel.to_string()
            } else {
                format!("{base}/{rel}")
            }
        };
        let files: Vec<String> = listing.files.iter().map(|f| join(&f.path)).collect();
        // Folders deepest first, then the path itself (when a folder).
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        for f in &listing.files {
            let mut parts: Vec<&str> = f.path.split('/').collect();
            parts.pop();
            while !parts.is_empty() {
                dirs.insert(join(&parts.join("/")));
                parts.pop();
            }
        }
        let mut dirs: Vec<String> = dirs.into_iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        if listing.kind == PathKind::Dir {
            dirs.push(path.as_str().to_string());
        }
        let names: Vec<&str> = files.iter().map(String::as_str).collect();
        let batches = transfer::batches(&names, transfer::MAX_URL_BYTES, transfer::MAX_BATCH_FILES);
        let last = batches.len().saturating_sub(1);
        for (i, batch) in batches.iter().enumerate() {
            let batch: Vec<String> = batch.iter().map(|s| s.to_string()).collect();
            // Folders only after the last files are gone.
            let dirs: &[String] = if i == last { &dirs } else { &[] };
            let out = self
                .exec
                .capture(transfer::delete_command(&self.root, &batch, dirs))
                .await?;
            if !String::from_utf8_lossy(&out.stdout).contains("@@deleted") {
                return Err(FetchError::Exec {
                    pod: self.exec.pod.clone(),
                    what: "deleting files",
                    detail: exec_detail(&out.stderr, out.status.as_ref()),
                });
            }
        }
        let folder_remains = match self.list(path, false).await {
            Ok(_) => true,
            Err(FetchError::Listing {
                source: listing::ListingError::Missing { .. },
                ..
            }) => false,
            Err(err) => return Err(err),
        };
        Ok(DeleteReport {
            pod: self.exec.pod.clone(),
            path: path.to_string(),
            files_deleted: listing.files.len(),
            bytes_deleted: listing.total_bytes(),
            folder_remains,
        })
    }

    /// Deletes the helper pod (if this remote made one). Returns its name.
    pub async fn close(mut self) -> Result<Option<String>, FetchError> {
        match self.helper.take() {
            Some(guard) => {
                let name = guard.name().to_string();
                guard.delete().await?;
                Ok(Some(name))
            }
            None => Ok(None),
        }
    }
}

/// The stderr and exit status of a command, for error messages.
fn exec_detail(
    stderr: &str,
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> String {
    let status = status
        .filter(|s| s.status.as_deref() != Some("Success"))
        .and_then(|s| s.message.clone());
    match (stderr.trim(), status) {
        ("", None) => "no error output".into(),
        ("", Some(s)) => s,
        (e, None) => format!("stderr: {e}"),
        (e, Some(s)) => format!("stderr: {e}; {s}"),
    }
}

/// Creates the target folder if needed and returns its canonical path.
fn prepare_target(to: &Path) -> Result<PathBuf, FetchError> {
    std::fs::create_dir_all(to).map_err(|source| FetchError::LocalWrite {
        path: to.to_path_buf(),
        source,
    })?;
    let target = to.canonicalize().map_err(|source| FetchError::LocalRead {
        path: to.to_path_buf(),
        source,
    })?;
    if !target.is_dir() {
        return Err(FetchError::LocalWrite {
            path: target,
            source: std::io::Error::other("not a folder"),
        });
    }
    Ok(target)
}

/// Closes the remote whatever happened, reporting the helper's deletion; the first
/// error wins.
async fn finish<T>(
    remote: Remote,
    result: Result<T, FetchError>,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<T, FetchError> {
    match remote.close().await {
        Ok(Some(pod)) => progress(FetchEvent::HelperDeleted { pod }),
        Ok(None) => {}
        Err(err) => progress(FetchEvent::Warning(format!(
            "{err}; `cargo xtask fetch-results --cleanup` removes it"
        ))),
    }
    result
}

/// Fetches `options.path` into `options.to` and deletes the helper pod.
pub async fn fetch(
    client: &kube::Client,
    options: &FetchOptions,
    mut progress: impl FnMut(FetchEvent),
) -> Result<FetchReport, FetchError> {
    // Checked before any pod is made, except absolute paths for an existing pod: it
    // may mount the claim elsewhere than the configured mount path.
    let absolute = options.path.trim().starts_with('/');
    let early = match (&options.remote.pod, absolute) {
        (PodChoice::Existing(_), true) => None,
        _ => Some(RemotePath::parse(
            &options.path,
            &options.remote.mount_path,
        )?),
    };
    let remote = Remote::open(client, &options.remote, &mut progress).await?;
    let path = match early {
        Some(p) => p,
        None => match remote.path(&options.path) {
            Ok(p) => p,
            Err(err) => return finish(remote, Err(err), &mut progress).await,
        },
    };
    let result = remote
        .fetch(
            &path,
            &options.to,
            options.compression,
            options.verify_local,
            options.dry_run,
            &mut progress,
        )
        .await;
    finish(remote, result, &mut progress).await
}

/// The tree under `path` with sizes, without copying or hashing.
pub async fn list_remote(
    client: &kube::Client,
    options: &RemoteOptions,
    path: &str,
    mut progress: impl FnMut(FetchEvent),
) -> Result<Listing, FetchError> {
    let remote = Remote::open(client, options, &mut progress).await?;
    let result = match remote.path(path) {
        Ok(p) => remote.list(&p, false).await,
        Err(err) => Err(err),
    };
    finish(remote, result, &mut progress).await
}

/// Deletes `path` on the PVC once `verified_in` holds a verified copy of it (see
/// [`Remote::delete`]). A helper pod mounts the claim writable for this.
pub async fn delete_remote(
    client: &kube::Client,
    options: &RemoteOptions,
    path: &str,
    verified_in: &Path,
    mut progress: impl FnMut(FetchEvent),
) -> Result<DeleteReport, FetchError> {
    let mut options = options.clone();
    if let PodChoice::Helper(spec) = &mut options.pod {
        spec.read_only = false;
    }
    let remote = Remote::open(client, &options, &mut progress).await?;
    let result = match remote.path(path) {
        Ok(p) => remote.delete(&p, verified_in).await,
        Err(err) => Err(err),
    };
    finish(remote, result, &mut progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(names: &[&str], cksum: bool) -> Listing {
        Listing {
            path: RemotePath::root(),
            kind: PathKind::Dir,
            files: names
                .iter()
                .map(|name| RemoteFile {
                    path: name.to_string(),
                    size: 1,
                    mtime: Some(1),
                    sha256: None,
                })
                .collect(),
            skipped_links: vec![],
            tar: true,
            gzip: false,
            zstd: false,
            sha256sum: true,
            cksum,
            names_on_stdin: false,
            now: Some(100),
            warnings: vec![],
        }
    }

    #[test]
    fn transfers_are_checked_with_cksum_unless_told_or_unable() {
        let check =
            |l: &Listing, verify: bool| transfer_check(l, &plan::diff(l, &HashMap::new()), verify);
        let plain = listing(&["a", "b c"], true);
        assert_eq!(check(&plain, false), SumTool::Cksum);
        // --verify wants SHA-256 on both sides.
        assert_eq!(check(&plain, true), SumTool::Sha256sum);
        // No cksum, or one that failed the probe.
        assert_eq!(check(&listing(&["a"], false), false), SumTool::Sha256sum);
        // cksum prints names as they are: a line break would split its line.
        assert_eq!(
            check(&listing(&["a", "two\nlines"], true), false),
            SumTool::Sha256sum
        );
    }
}
