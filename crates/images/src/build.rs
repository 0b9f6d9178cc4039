//! Builds through the Docker Engine API (classic builder): the context is streamed as a tar,
//! progress is parsed from "Step N/M" lines, the full log goes to a file.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bollard::body_try_stream;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use crate::context::{ChannelWriter, write_tar};
use crate::docker::{KEY_LABEL, NAME_LABEL, split_repo_tag};
use crate::dockerfile::parse_step;
use crate::error::{BuildFailure, Error, Result, docker_message};
use crate::events::ImageEvent;
use crate::key::BuildState;
use crate::pipeline::{ImagePlan, Images, PlanState, Prepared};

/// Lines of log shown in a build error.
const TAIL_LINES: usize = 20;

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Builds running at once (at least 1): `build_parallelism` from the settings.
    pub parallelism: usize,
    /// Go on with the other images after a failure (images built FROM a failed one are
    /// still skipped).
    pub keep_going: bool,
    /// Do not use the engine's layer cache.
    pub no_cache: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            parallelism: 2,
            keep_going: false,
            no_cache: false,
        }
    }
}

/// An image that was built.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    pub name: String,
    pub reference: String,
    pub id: String,
    pub key: String,
    pub seconds: f64,
    pub log: PathBuf,
}

/// What `build_all` did.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub built: Vec<BuiltImage>,
    /// Images not needing a build, with the reason.
    pub skipped: Vec<(String, String)>,
    pub failed: Vec<(String, Error)>,
    /// Not started because an earlier build failed (without `keep_going`).
    pub not_started: Vec<String>,
}

impl BuildReport {
    /// No failure.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.not_started.is_empty()
    }
}

impl Images {
    /// Builds every image the plans say must be built (and workspace base images needed
    /// locally by them), at most `parallelism` at once, bases before the images built
    /// FROM them. Plans are updated: a built image becomes `MustPush` (or `UpToDate`
    /// without a registry) with its new local image.
    pub async fn build_all(&self, plans: &mut [ImagePlan], opts: &BuildOptions) -> BuildReport {
        let mut report = BuildReport::default();
        let mut selected: HashMap<usize, Vec<String>> = HashMap::new();
        for (i, p) in plans.iter().enumerate() {
            if let PlanState::MustBuild { reasons } = &p.state {
                selected.insert(i, reasons.clone());
            }
        }
        // A base image only in the registry must be local for the builds FROM it.
        loop {
            let mut added = false;
            let wanted: Vec<(usize, String)> = selected
                .keys()
                .flat_map(|&i| plans[i].deps.iter().map(move |d| (i, d.clone())))
                .collect();
            for (user, dep) in wanted {
                if let Some(j) = plans.iter().position(|p| p.name == dep)
                    && !selected.contains_key(&j)
                    && plans[j].local_image.is_none()
                {
                    selected.insert(
                        j,
                        vec![format!(
                            "needed locally as the base image of {}",
                            plans[user].name
                        )],
                    );
                    added = true;
                }
            }
            if !added {
                break;
            }
        }

        for (i, p) in plans.iter().enumerate() {
            if selected.contains_key(&i) || p.kind != "build" {
                continue;
            }
            let why = match (&p.state, &p.registry_digest) {
                (PlanState::UpToDate, Some(d)) => format!("up to date in the registry ({d})"),
                _ => format!(
                    "already built with the same inputs ({})",
                    short(p.local_image.as_deref().unwrap_or_default())
                ),
            };
            if let Some(id) = &p.local_image
                && let Err(e) = self.docker.tag(id, &p.reference).await
            {
                self.emit(ImageEvent::Warning {
                    image: p.name.clone(),
                    message: e.to_string(),
                });
            }
            self.emit(ImageEvent::Skipped {
                image: p.name.clone(),
                why: why.clone(),
            });
            report.skipped.push((p.name.clone(), why));
        }

        let parallelism = opts.parallelism.max(1);
        let mut waiting: Vec<usize> = (0..plans.len())
            .filter(|i| selected.contains_key(i))
            .collect();
        let mut finished: HashMap<String, bool> = HashMap::new();
        let selected_names: HashSet<String> =
            waiting.iter().map(|&i| plans[i].name.clone()).collect();
        let mut running = FuturesUnordered::new();
        let mut stop = false;
        loop {
            let mut k = 0;
            while k < waiting.len() && !stop {
                let idx = waiting[k];
                let deps: Vec<&String> = plans[idx]
                    .deps
                    .iter()
                    .filter(|d| selected_names.contains(*d))
                    .collect();
                if let Some(bad) = deps.iter().find(|d| finished.get(**d) == Some(&false)) {
                    let err = Error::DependencyFailed {
                        image: plans[idx].name.clone(),
                        dependency: (*bad).clone(),
                    };
                    self.emit(ImageEvent::Failed {
                        image: plans[idx].name.clone(),
                        error: err.to_string(),
                    });
                    finished.insert(plans[idx].name.clone(), false);
                    report.failed.push((plans[idx].name.clone(), err));
                    waiting.remove(k);
                    continue;
                }
                let ready = deps.iter().all(|d| finished.get(*d) == Some(&true));
                if ready && running.len() < parallelism {
                    waiting.remove(k);
                    let plan = plans[idx].clone();
                    let reasons = selected.get(&idx).cloned().unwrap_or_default();
                    let specs: Vec<_> = plans.iter().map(|p| p.spec.clone()).collect();
                    let keys: HashMap<String, String> = plans
                        .iter()
                        .filter_map(|p| Some((p.name.clone(), p.key.clone()?)))
                        .collect();
                    running.push(async move {
                        let r = self.build_one(&plan, reasons, &specs, &keys, opts).await;
                        (idx, r)
                    });
                    continue;
                }
                k += 1;
            }
            let Some((idx, result)) = running.next().await else {
                break;
            };
            let name = plans[idx].name.clone();
            match result {
                Ok(built) => {
                    finished.insert(name, true);
                    let p = &mut plans[idx];
                    p.local_image = Some(built.id.clone());
                    p.key = Some(built.key.clone());
                    p.state = if self.registry.is_some() {
                        PlanState::MustPush {
                            reason: "just built".into(),
                        }
                    } else {
                        PlanState::UpToDate
                    };
                    report.built.push(built);
                }
                Err(Outcome::Skipped { id, key, why }) => {
                    finished.insert(name.clone(), true);
                    let p = &mut plans[idx];
                    p.local_image = id;
                    p.key = Some(key);
                    if p.local_image.is_some() && self.registry.is_some() {
                        p.state = PlanState::MustPush {
                            reason: why.clone(),
                        };
                    } else {
                        p.state = PlanState::UpToDate;
                    }
                    report.skipped.push((name, why));
                }
                Err(Outcome::Failed(err)) => {
                    finished.insert(name.clone(), false);
                    self.emit(ImageEvent::Failed {
                        image: name.clone(),
                        error: err.to_string(),
                    });
                    report.failed.push((name, err));
                    if !opts.keep_going {
                        stop = true;
                    }
                }
            }
        }
        report.not_started = waiting.iter().map(|&i| plans[i].name.clone()).collect();
        if let Err(e) = self.cache.save() {
            self.emit(ImageEvent::Warning {
                image: String::new(),
                message: format!("file-hash cache not saved: {e}"),
            });
        }
        report
    }

    async fn build_one(
        &self,
        plan: &ImagePlan,
        mut reasons: Vec<String>,
        specs: &[crate::spec::ImageSpec],
        keys: &HashMap<String, String>,
        opts: &BuildOptions,
    ) -> std::result::Result<BuiltImage, Outcome> {
        let name = plan.name.clone();
        let spec = &plan.spec;
        let Some(mut prepared) = plan.prepared.clone() else {
            return Err(Outcome::Failed(Error::InvalidValue {
                what: "image",
                value: name,
                origin: spec.describe(),
                why: "nothing to build (a mirror)".into(),
            }));
        };
        if !prepared.unresolved.is_empty() {
            for base in &prepared.unresolved {
                self.pull_base(&name, &base.reference, base.line, spec)
                    .await
                    .map_err(Outcome::Failed)?;
            }
            prepared = Arc::new(
                self.prepare(spec, specs, keys)
                    .await
                    .map_err(Outcome::Failed)?,
            );
            // With the bases known, the image may exist already.
            if let Some(id) = self
                .docker
                .images_with_key(&prepared.key)
                .await
                .map_err(Outcome::Failed)?
                .into_iter()
                .next()
            {
                let why = "found locally once its base images were pulled".to_string();
                self.docker
                    .tag(&id, &spec.reference)
                    .await
                    .map_err(Outcome::Failed)?;
                self.emit(ImageEvent::Skipped {
                    image: name,
                    why: why.clone(),
                });
                return Err(Outcome::Skipped {
                    id: Some(id),
                    key: prepared.key.clone(),
                    why,
                });
            }
            reasons = self.rebuild_reasons(spec, &prepared);
        }
        self.emit(ImageEvent::Rebuild {
            image: name.clone(),
            reasons,
        });
        self.run_build(plan, &prepared, opts)
            .await
            .map_err(Outcome::Failed)
    }

    async fn pull_base(
        &self,
        image: &str,
        reference: &str,
        line: usize,
        spec: &crate::spec::ImageSpec,
    ) -> Result<()> {
        let (repo, tag) = match reference.split_once('@') {
            Some((repo, digest)) => (repo, digest),
            None => split_repo_tag(reference),
        };
        let opts = CreateImageOptionsBuilder::new()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut stream = self.docker.docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                let dockerfile = spec
                    .build()
                    .map(|b| self.ws.display(&b.dockerfile))
                    .unwrap_or_default();
                return Err(Error::Docker {
                    action: format!(
                        "pull base image {reference} ({dockerfile} line {line}) for {image}: it is not in the local engine"
                    ),
                    message: docker_message(&e),
                });
            }
        }
        Ok(())
    }

    async fn run_build(
        &self,
        plan: &ImagePlan,
        prepared: &Prepared,
        opts: &BuildOptions,
    ) -> Result<BuiltImage> {
        let name = plan.name.clone();
        let spec = &plan.spec;
        let build = spec.build().ok_or_else(|| Error::NoRegistry {
            image: name.clone(),
        })?;
        let log_path = self.log_path(&name);
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
        }
        let mut log =
            std::fs::File::create(&log_path).map_err(|e| Error::io("create", &log_path, e))?;

        let mut labels = HashMap::new();
        labels.insert(KEY_LABEL.to_string(), prepared.key.clone());
        labels.insert(NAME_LABEL.to_string(), name.clone());
        let mut builder = BuildImageOptionsBuilder::default()
            .dockerfile(&prepared.ctx.dockerfile)
            .t(&spec.reference)
            .rm(true)
            .forcerm(true)
            .nocache(opts.no_cache)
            .labels(&labels)
            .buildargs(
                &build
                    .args
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<String, String>>(),
            );
        if let Some(t) = &build.target {
            builder = builder.target(t);
        }
        let options = builder.build();

        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
        let ctx = prepared.ctx.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter::new(tx.clone());
            let r = write_tar(&ctx, &mut w);
            if let Err(e) = &r {
                // Make the request fail too, so the engine does not build a partial context.
                let _ = tx.blocking_send(Err(std::io::Error::new(e.kind(), e.to_string())));
            }
            r.map(|()| w.sent)
        });
        let body =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });

        self.emit(ImageEvent::BuildStarted {
            image: name.clone(),
            context_bytes: prepared.ctx.content_bytes(),
        });
        let started = Instant::now();
        let mut stream = self
            .docker
            .docker
            .build_image(options, None, Some(body_try_stream(body)));
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut partial = String::new();
        let mut step: Option<(u32, u32, String)> = None;
        let mut image_id: Option<String> = None;
        let mut failure: Option<String> = None;
        let mut log_error: Option<std::io::Error> = None;
        let mut handle_line = |line: &str, step: &mut Option<(u32, u32, String)>| {
            let line = line.trim_end_matches('\r');
            if let Err(e) = writeln!(log, "{line}")
                && log_error.is_none()
            {
                log_error = Some(e);
            }
            if let Some(s) = parse_step(line) {
                self.emit(ImageEvent::BuildStep {
                    image: name.clone(),
                    step: s.0,
                    total: s.1,
                    text: s.2.clone(),
                });
                *step = Some(s);
            }
            self.emit(ImageEvent::BuildLog {
                image: name.clone(),
                line: line.to_string(),
            });
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_string());
        };
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream {
                        partial.push_str(&text);
                        while let Some(pos) = partial.find('\n') {
                            let line: String = partial.drain(..=pos).collect();
                            handle_line(line.trim_end_matches('\n'), &mut step);
                        }
                    }
                    if let Some(status) = info.status {
                        handle_line(&status, &mut step);
                    }
                    if let Some(aux) = info.aux
                        && let Some(id) = aux.id
                    {
                        image_id = Some(id);
                    }
                }
                Err(e) => {
                    failure = Some(docker_message(&e));
                    break;
                }
            }
        }
        if !partial.is_empty() {
            let rest = std::mem::take(&mut partial);
            handle_line(&rest, &mut step);
        }
        drop(stream);
        let sent = writer.await;
        if let Some(message) = &failure {
            let _ = writeln!(log, "ERROR: {message}");
        }
        let tar_error = match sent {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(message) = failure.or_else(|| tar_error.clone()) {
            let message = match tar_error {
                Some(t) if !message.contains(&t) => {
                    format!("{message} (sending the build context failed: {t})")
                }
                _ => message,
            };
            return Err(Error::BuildFailed(Box::new(BuildFailure {
                image: name,
                step,
                message,
                last_lines: tail.into_iter().collect(),
                log: log_path,
            })));
        }
        if let Some(e) = log_error {
            self.emit(ImageEvent::Warning {
                image: name.clone(),
                message: format!("build log {} incomplete: {e}", log_path.display()),
            });
        }
        let id = match image_id {
            Some(id) => id,
            None => self
                .docker
                .image_id(&spec.reference)
                .await?
                .ok_or_else(|| Error::Docker {
                    action: format!("find the image just built for {name}"),
                    message: format!("no image tagged {}", spec.reference),
                })?,
        };
        let seconds = started.elapsed().as_secs_f64();
        self.states.save(
            &name,
            &BuildState {
                key: prepared.key.clone(),
                image_id: id.clone(),
                built_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                inputs: prepared.inputs.clone(),
            },
        )?;
        self.emit(ImageEvent::Built {
            image: name.clone(),
            id: id.clone(),
            seconds,
        });
        Ok(BuiltImage {
            name,
            reference: spec.reference.clone(),
            id,
            key: prepared.key.clone(),
            seconds,
            log: log_path,
        })
    }
}

enum Outcome {
    Skipped {
        id: Option<String>,
        key: String,
        why: String,
    },
    Failed(Error),
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
