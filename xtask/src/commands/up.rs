//! `cargo xtask images` and `cargo xtask up`: plan, build and push the images of
//! containers/ and the mirrors, then (for `up`) check the cluster is ready.

use crate::exit::ExitCode;
use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kit_cluster::doctor::{self, Outcome};
use kit_config::{Need, Resolved};
use kit_images::{
    BuildOptions, DockerEngine, Events, ImageEvent, ImagePlan, Images, Lock, MirrorConfig,
    PlanState, PushOptions, RegistryConfig, Workspace,
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::Exit;
use crate::cli::{GlobalArgs, UpArgs};
use crate::documents::{ImageFailure, UpDocument};
use crate::ui::Ui;

/// Everything needed to act on images, built from the settings.
async fn images(
    resolved: &Resolved,
    events: Events,
) -> anyhow::Result<(Images, Vec<kit_images::ImageSpec>)> {
    let ws = Workspace::new(resolved.workspace_root());
    let registry_config = RegistryConfig::from_settings(&resolved.settings);
    let mirrors = MirrorConfig::from_settings(&resolved.settings);
    let specs = ws
        .discover(registry_config.as_ref(), &mirrors)
        .map_err(|e| Exit::input(e.to_string()))?;
    let docker = DockerEngine::connect().await?;
    let registry = Images::registry_from(registry_config.as_ref())?;
    Ok((Images::new(ws, docker, registry, events), specs))
}

fn state_text(plan: &ImagePlan) -> String {
    match &plan.state {
        PlanState::UpToDate => "up to date".into(),
        PlanState::MustPush { reason } => format!("must push ({reason})"),
        PlanState::MustBuild { reasons } => format!("must build ({})", reasons.join(", ")),
    }
}

pub async fn list(global: &GlobalArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve(global, ui)?;
    let (images, specs) = images(&resolved, Events::none()).await?;
    let lock = Lock::load(&images.workspace().lock_path)?;
    let plans = images.plan(&specs, &lock).await?;
    if ui.json() {
        println!("{}", serde_json::to_string_pretty(&plans)?);
    } else {
        for plan in &plans {
            let mark = match plan.state {
                PlanState::UpToDate => ui.ok("✓"),
                _ => ui.warn("•"),
            };
            println!(
                "{mark} {:<22} {:<6} {}",
                plan.name,
                plan.kind,
                state_text(plan)
            );
            for warning in &plan.warnings {
                println!("    {} {warning}", ui.warn("warning:"));
            }
            if let Some(err) = &plan.registry_error {
                println!("    {} {err}", ui.warn("registry:"));
            }
        }
    }
    Ok(ExitCode::Success)
}

pub async fn up(global: &GlobalArgs, args: &UpArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let need = if args.images_only {
        Need::Registry
    } else {
        Need::Run
    };
    let resolved = crate::settings::resolve_for(global, ui, need)?;
    // The cluster checks read PVCs, ConfigMaps and rights: the Argo Server cannot show
    // them. Said before any build, not after.
    if !args.images_only {
        crate::settings::insist(
            &resolved,
            Need::KubeApi,
            "`cargo xtask up --images-only` builds and pushes without the cluster checks",
        )?;
    }
    let (events, receiver) = Events::channel();
    let renderer = tokio::spawn(render_events(receiver, ui));
    let (images, mut specs) = images(&resolved, events).await?;
    if !args.images.is_empty() {
        let selected = |name: &str| {
            args.images
                .iter()
                .any(|p| kit_images::name_matches(p, name))
        };
        let unknown: Vec<&String> = args
            .images
            .iter()
            .filter(|p| !specs.iter().any(|s| kit_images::name_matches(p, &s.name)))
            .collect();
        if !unknown.is_empty() {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(Exit::input(format!(
                "unknown image(s) {unknown:?}; known: {}",
                known.join(", ")
            ))
            .into());
        }
        specs.retain(|s| selected(&s.name));
    }
    let mut lock = Lock::load(&images.workspace().lock_path)?;
    let mut plans = images.plan(&specs, &lock).await?;
    if !resolved.settings.pull_base_images.value {
        skip_unpullable(&mut plans, &resolved.settings.pull_base_images.origin, ui);
    }
    let build = BuildOptions {
        parallelism: resolved.settings.build_parallelism.value,
        keep_going: args.keep_going,
        ..BuildOptions::default()
    };
    let built = images.build_all(&mut plans, &build).await;
    let pushed = if built.is_success() || args.keep_going {
        Some(
            images
                .push_all(&mut plans, &mut lock, &PushOptions::default())
                .await?,
        )
    } else {
        None
    };
    let registry = images.registry().cloned();
    drop(images);
    let _ = renderer.await;

    let images_ok = built.is_success() && pushed.as_ref().is_some_and(|p| p.is_success());
    let failures = |failed: &[(String, kit_images::Error)]| -> Vec<ImageFailure> {
        failed
            .iter()
            .map(|(image, error)| ImageFailure {
                image: image.clone(),
                error: error.to_string(),
            })
            .collect()
    };
    let mut summary = UpDocument {
        images: &plans,
        built: built.built.iter().map(|b| b.name.as_str()).collect(),
        build_failed: failures(&built.failed),
        pushed: pushed
            .as_ref()
            .map(|p| p.pushed.iter().map(|i| i.pinned.as_str()).collect()),
        push_failed: pushed.as_ref().map(|p| failures(&p.failed)),
        checks: None,
    };
    if !ui.json() {
        for (name, err) in &built.failed {
            eprintln!("{} {name}: {err}", ui.bad("build failed:"));
        }
        for name in &built.not_started {
            eprintln!(
                "{} {name} (an earlier build failed; --keep-going builds the others)",
                ui.warn("not built:")
            );
        }
        if let Some(p) = &pushed {
            for (name, err) in &p.failed {
                eprintln!("{} {name}: {err}", ui.bad("push failed:"));
            }
        }
        println!("{}", summary_line(&plans, &built, pushed.as_ref()));
    }
    if args.images_only {
        if ui.json() {
            crate::documents::print(&summary)?;
        }
        return Ok(if images_ok {
            ExitCode::Success
        } else {
            ExitCode::Failure
        });
    }

    let client = crate::kube::client(&resolved).await?;
    let want = doctor::Expectations::from_resolved(&resolved, false);
    let mut checks = doctor::run_checks(&client, &want).await;
    checks.push(doctor::workflow_images_check(&resolved, &lock, registry.as_ref()).await);
    if ui.json() {
        summary.checks = Some(&checks);
        crate::documents::print(&summary)?;
        let failed = checks.iter().any(|c| c.outcome == Outcome::Fail);
        return Ok(if images_ok && !failed {
            ExitCode::Success
        } else {
            ExitCode::Failure
        });
    }
    let code = crate::checks::report(&checks, None, ui);
    Ok(if images_ok { code } else { ExitCode::Failure })
}

/// Shows build and push progress: one live line per image on a terminal, plain lines
/// otherwise, nothing in JSON mode (the summary says it all).
async fn render_events(mut events: UnboundedReceiver<ImageEvent>, ui: Ui) {
    let multi: MultiProgress = ui.progress();
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<22} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bytes_style = ProgressStyle::with_template(
        "{spinner} {prefix:<22} pushing {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut layer_done: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut push_total: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(event) = events.recv().await {
        if ui.json() {
            continue;
        }
        let image = event.image().to_string();
        let line = match &event {
            ImageEvent::Warning { message, .. } => Some(format!("warning: {message}")),
            ImageEvent::Skipped { why, .. } => Some(format!("up to date: {why}")),
            ImageEvent::Rebuild { reasons, .. } => Some(format!("rebuild: {}", reasons.join(", "))),
            ImageEvent::BuildStep {
                step, total, text, ..
            } => {
                let text = format!("step {step}/{total}: {text}");
                if ui.live {
                    bar(&multi, &mut bars, &image, &style).set_message(text);
                    None
                } else {
                    Some(text)
                }
            }
            ImageEvent::Built { seconds, .. } => Some(format!("built in {seconds:.1} s")),
            ImageEvent::PushStarted {
                missing, layers, ..
            } => Some(format!(
                "pushing {missing} of {layers} layers (the others are in the registry)"
            )),
            ImageEvent::LayerProgress {
                layer_digest,
                done,
                total,
                ..
            } => {
                if ui.live {
                    let key = (image.clone(), layer_digest.clone());
                    let previous = layer_done.insert(key, *done).unwrap_or(0);
                    let sum = push_total.entry(image.clone()).or_insert(0);
                    if previous == 0 {
                        *sum += total;
                    }
                    let b = bar(&multi, &mut bars, &image, &bytes_style);
                    b.set_style(bytes_style.clone());
                    b.set_length(*sum);
                    b.inc(done.saturating_sub(previous));
                }
                None
            }
            ImageEvent::LayerMounted {
                layer_digest,
                size,
                from,
                ..
            } => Some(format!(
                "layer {} ({}) mounted from {from}, not uploaded",
                layer_digest.get(..19).unwrap_or(layer_digest),
                kit_runview::text::human_bytes(*size)
            )),
            ImageEvent::Pushed { reference, .. } => Some(format!("pushed {reference}")),
            ImageEvent::MirrorSource {
                source, via, why, ..
            } => Some(format!("mirror {source} via {via}: {why}")),
            ImageEvent::Failed { error, .. } => Some(format!("failed: {error}")),
            _ => None,
        };
        if let Some(text) = line {
            let text = format!("{image}: {text}");
            if ui.live {
                let _ = multi.println(text);
            } else {
                println!("{text}");
            }
        }
    }
    for b in bars.values() {
        b.finish_and_clear();
    }
}

fn bar<'a>(
    multi: &MultiProgress,
    bars: &'a mut BTreeMap<String, ProgressBar>,
    image: &str,
    style: &ProgressStyle,
) -> &'a ProgressBar {
    bars.entry(image.to_string()).or_insert_with(|| {
        let b = multi.add(ProgressBar::new_spinner());
        b.set_style(style.clone());
        b.set_prefix(image.to_string());
        b.enable_steady_tick(Duration::from_millis(150));
        b
    })
}

/// `11 images: 4 already up to date, 2 built, 2 pushed, 1 failed, 4 not built`: every
/// image counted once, also when a failed build stopped the pushes.
fn summary_line(
    plans: &[kit_images::ImagePlan],
    built: &kit_images::BuildReport,
    pushed: Option<&kit_images::PushReport>,
) -> String {
    let planned_up_to_date = plans
        .iter()
        .filter(|p| matches!(p.state, PlanState::UpToDate))
        .count();
    Counts {
        images: plans.len(),
        // Nothing was pushed: what the plan found in the registry is still up to date.
        up_to_date: pushed.map_or(planned_up_to_date, |p| p.up_to_date.len()),
        built: built.built.len(),
        pushed: pushed.map_or(0, |p| p.pushed.len()),
        failed: built.failed.len() + pushed.map_or(0, |p| p.failed.len()),
        not_built: built.not_started.len(),
    }
    .line()
}

struct Counts {
    images: usize,
    up_to_date: usize,
    built: usize,
    pushed: usize,
    failed: usize,
    not_built: usize,
}

impl Counts {
    fn line(&self) -> String {
        let mut parts = vec![
            format!("{} already up to date", self.up_to_date),
            format!("{} built", self.built),
            format!("{} pushed", self.pushed),
        ];
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        if self.not_built > 0 {
            parts.push(format!("{} not built", self.not_built));
        }
        format!("{} images: {}", self.images, parts.join(", "))
    }
}

/// On a machine that cannot pull (`pull_base_images = false`, the local stack), leaves out
/// each image whose base image the Docker engine lacks, and the images built FROM it, with
/// one line each, instead of failing on the pull.
fn skip_unpullable(
    plans: &mut Vec<kit_images::ImagePlan>,
    origin: &impl std::fmt::Display,
    ui: Ui,
) {
    let mut skipped: BTreeMap<String, String> = BTreeMap::new();
    for plan in plans.iter() {
        let missing = plan.missing_bases();
        if !missing.is_empty() && !matches!(plan.state, PlanState::UpToDate) {
            skipped.insert(
                plan.name.clone(),
                format!(
                    "its base image {} is not in the Docker engine",
                    missing.join(", ")
                ),
            );
        }
    }
    // Images built FROM a skipped one cannot be built either.
    loop {
        let more: Vec<(String, String)> = plans
            .iter()
            .filter(|p| !skipped.contains_key(&p.name))
            .filter_map(|p| {
                p.deps
                    .iter()
                    .find(|d| skipped.contains_key(*d))
                    .map(|d| (p.name.clone(), format!("it is built FROM {d}, skipped")))
            })
            .collect();
        if more.is_empty() {
            break;
        }
        skipped.extend(more);
    }
    for (name, why) in &skipped {
        let line = format!("skipped {name}: {why}, and pull_base_images is false ({origin})");
        if ui.json() {
            eprintln!(
                "{}",
                serde_json::json!({"type": "skipped", "image": name, "why": line})
            );
        } else {
            eprintln!("{} {line}", ui.warn("·"));
        }
    }
    plans.retain(|p| !skipped.contains_key(&p.name));
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn a_failed_build_still_counts_the_images_already_up_to_date() {
        let c = Counts {
            images: 11,
            up_to_date: 4,
            built: 0,
            pushed: 0,
            failed: 2,
            not_built: 5,
        };
        assert_eq!(
            c.line(),
            "11 images: 4 already up to date, 0 built, 0 pushed, 2 failed, 5 not built"
        );
    }
}
