//! User-level rules: images, ConfigMaps and Secrets, the program's own failures, and
//! specs the controller rejects.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::core::v1::Event;

use super::{Ctx, PodInfo, Raw, earliest, event_first, event_last, message, push_unique, utc};
use crate::finding::Reason;
use crate::parse::{self, ConfigRef, PullClass};
use crate::snapshot::NodeView;
use kit_argo_types::Phase;

const PULL_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "ErrImageInspect",
];

fn is_pull_event(e: &Event) -> bool {
    let m = message(e);
    match e.reason.as_deref() {
        Some("InspectFailed" | "ErrImageNeverPull") => true,
        Some("Failed" | "BackOff") => {
            m.starts_with("Failed to pull image")
                || m.starts_with("Back-off pulling image")
                || PULL_WAITING.iter().any(|r| m.contains(r))
        }
        _ => false,
    }
}

/// Messages that only repeat the waiting reason carry nothing for a reader.
fn is_bare_error(m: &str) -> bool {
    m.strip_prefix("Error: ")
        .is_some_and(|r| PULL_WAITING.contains(&r.trim()))
}

#[derive(Default)]
struct PullGroup {
    evidence: Vec<String>,
    class: Option<PullClass>,
    since: Option<DateTime<Utc>>,
    last_failure: Option<DateTime<Utc>>,
    waiting: bool,
}

impl PullGroup {
    fn add(&mut self, class: PullClass) {
        self.class = Some(self.class.map_or(class, |c| c.max(class)));
    }
}

/// ErrImagePull / ImagePullBackOff and friends, from container states and events.
pub(super) fn image_pull(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if p.done() {
        return;
    }
    let mut groups: BTreeMap<String, PullGroup> = BTreeMap::new();
    for e in p.events.iter().filter(|e| is_pull_event(e)) {
        let m = message(e);
        let Some(image) = parse::image_in(m) else {
            continue;
        };
        let g = groups.entry(image.to_string()).or_default();
        g.since = earliest([g.since, event_first(e)]);
        g.last_failure = g.last_failure.max(event_last(e));
        if !is_bare_error(m) {
            push_unique(&mut g.evidence, m);
            g.add(parse::classify_pull(m));
        }
    }
    for (c, reason, msg) in p.waiting(PULL_WAITING) {
        // The spec's image, as the kubelet's events name it (messages may normalise it).
        let image = if c.image.is_empty() {
            parse::image_in(msg).unwrap_or_default().to_string()
        } else {
            c.image.clone()
        };
        let g = groups.entry(image).or_default();
        g.waiting = true;
        push_unique(&mut g.evidence, msg);
        g.add(if reason == "InvalidImageName" {
            PullClass::InvalidName
        } else {
            parse::classify_pull(msg)
        });
    }
    // Events outlive the problem: without a waiting container, only a pod that has not
    // started and has not pulled the image since counts.
    let pulled: Vec<(&str, Option<DateTime<Utc>>)> = p
        .events_with(&["Pulled"])
        .into_iter()
        .filter_map(|e| parse::image_in(message(e)).map(|i| (i, event_last(e))))
        .collect();
    for (image, g) in groups {
        if !g.waiting {
            let started = p.statuses().any(|(c, _)| {
                c.state
                    .as_ref()
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
                    && c.image == image
            });
            let pulled_since = pulled
                .iter()
                .any(|(i, t)| *i == image && *t >= g.last_failure);
            if !p.pending() || started || pulled_since {
                continue;
            }
        }
        let since = g.since.or_else(|| p.created());
        let pull_secrets: Vec<&str> = p
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.image_pull_secrets.as_ref())
            .into_iter()
            .flatten()
            .map(|r| r.name.as_str())
            .collect();
        out.push(image_raw(
            ctx,
            g.class.unwrap_or(PullClass::Other),
            &image,
            p.step.clone(),
            Some(p.name.to_string()),
            Some(&pull_secrets),
            g.evidence,
            since,
            false,
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn image_raw(
    ctx: &Ctx<'_>,
    class: PullClass,
    image: &str,
    step: Option<String>,
    pod: Option<String>,
    // The pod's imagePullSecrets when the pod is known (from the workflow or, through
    // admission, from its service account).
    pull_secrets: Option<&[&str]>,
    evidence: Vec<String>,
    since: Option<DateTime<Utc>>,
    finished: bool,
) -> Raw {
    let reg = parse::registry_of(image);
    let ns = ctx.namespace();
    let describe = match &pod {
        Some(p) => format!("`kubectl -n {ns} describe pod {p}`"),
        None => format!("`kubectl -n {ns} get events`"),
    };
    let (reason, summary, fix) = match class {
        PullClass::NotFound => (
            Reason::ImageNotFound,
            format!("image {image} is not in registry {reg}."),
            "push it with `cargo xtask up` (builds and pushes every image of containers/), or correct the image name or tag in the workflow; a waiting step pulls again by itself.".to_string(),
        ),
        PullClass::Unauthorized => {
            let create = format!(
                "`kubectl -n {ns} create secret docker-registry regcred --docker-server={reg} --docker-username=USER --docker-password=TOKEN`"
            );
            let name_too = "a private registry answers the same way for a repository that does not exist, so check the name too.";
            match pull_secrets {
                Some([]) => (
                    Reason::RegistryUnauthorized,
                    format!(
                        "the pod pulled {image} with no credentials (no imagePullSecrets) and registry {reg} refused it."
                    ),
                    format!(
                        "give the workflow's service account a pull secret for {reg}: {create}, then list it under imagePullSecrets of the service account (ask the cluster admins if you may not) or of the workflow; {name_too}"
                    ),
                ),
                Some(secrets) => (
                    Reason::RegistryUnauthorized,
                    format!(
                        "registry {reg} refused the credentials of pull secret {} for {image}.",
                        secrets.join(", ")
                    ),
                    format!(
                        "check that secret {} holds a valid user and password (or robot token) for {reg}, and that this account may pull {image}; {name_too}",
                        secrets.join(", ")
                    ),
                ),
                None => (
                    Reason::RegistryUnauthorized,
                    format!("registry {reg} refused the node's credentials for {image}."),
                    format!(
                        "give the pods pull credentials for {reg}: {create} and list it under imagePullSecrets in the workflow (or on its service account); {name_too}"
                    ),
                ),
            }
        }
        PullClass::Tls => (
            Reason::RegistryTls,
            format!(
                "the nodes do not trust registry {reg}'s certificate, or it speaks plain HTTP, so {image} cannot be pulled."
            ),
            format!(
                "ask the cluster admins to make the nodes' container runtime trust {reg} (its CA under /etc/containerd/certs.d/{reg}/), or use a registry the nodes already trust."
            ),
        ),
        PullClass::InvalidName => (
            Reason::InvalidImageName,
            format!("the image reference {image} is not valid."),
            "correct the image in the workflow (lower case, registry/project/name:tag) and check it with `cargo xtask lint`.".to_string(),
        ),
        PullClass::Unreachable => (
            Reason::RegistryUnreachable,
            format!("the node cannot reach registry {reg} to pull {image}."),
            "check the registry host in the image name; if it is right, the nodes cannot reach it (DNS, proxy, firewall): send the evidence to the cluster admins.".to_string(),
        ),
        PullClass::Other => (
            Reason::ImagePullFailed,
            format!("pulling image {image} fails."),
            format!("read the evidence and {describe}; check the image name and that it was pushed (`cargo xtask images`)."),
        ),
    };
    Raw {
        reason,
        key: image.to_string(),
        step,
        pod,
        summary,
        evidence,
        fix,
        since,
        grace: if finished {
            TimeDelta::zero()
        } else {
            ctx.grace(ctx.s.config.image_pull_grace)
        },
        definitive: true,
    }
}

/// CreateContainerConfigError and ConfigMap/Secret volume mounts.
pub(super) fn config_refs(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if p.done() {
        return;
    }
    let waiting = p.waiting(&["CreateContainerConfigError"]);
    if waiting.is_empty() && !p.pending() {
        return;
    }
    let mut groups: Vec<(ConfigRef, Vec<String>, Option<DateTime<Utc>>)> = Vec::new();
    let mut add = |r: ConfigRef, msg: &str, at: Option<DateTime<Utc>>| match groups
        .iter_mut()
        .find(|(g, _, _)| *g == r)
    {
        Some((_, ev, since)) => {
            push_unique(ev, msg);
            *since = earliest([*since, at]);
        }
        None => groups.push((r, vec![msg.to_string()], at)),
    };
    for e in p.events_with(&["Failed", "FailedMount"]) {
        if let Some(r) = parse::parse_config_ref(message(e)) {
            add(r, message(e), event_first(e));
        }
    }
    for (_, _, msg) in &waiting {
        if let Some(r) = parse::parse_config_ref(msg) {
            add(r, msg, None);
        }
    }
    let ns = ctx.namespace();
    for (r, evidence, since) in groups {
        let (reason, key, summary, fix) = match &r {
            ConfigRef::ConfigMapMissing { name } => (
                Reason::ConfigmapMissing,
                name.clone(),
                format!("ConfigMap {name} does not exist in namespace {ns}."),
                format!(
                    "create it: `cargo xtask doctor --fix` applies the workspace's ConfigMap manifest; or point k8s_configmap_name / KUBECONFIGMAP at an existing one (`kubectl -n {ns} get configmaps`, `cargo xtask config`)."
                ),
            ),
            ConfigRef::ConfigMapKeyMissing { key, name } => (
                Reason::ConfigmapKeyMissing,
                format!("{name}/{key}"),
                format!("ConfigMap {name} has no key {key}."),
                format!(
                    "add the key (`kubectl -n {ns} edit configmap {name}`, or `cargo xtask doctor --fix` if the workspace's manifest has it), or stop referring to it in the workflow."
                ),
            ),
            ConfigRef::SecretMissing { name } => (
                Reason::SecretMissing,
                name.clone(),
                format!("Secret {name} does not exist in namespace {ns}."),
                format!(
                    "create it (`kubectl -n {ns} create secret generic {name} --from-literal=KEY=VALUE`) or correct its name in the workflow."
                ),
            ),
            ConfigRef::SecretKeyMissing { key, name } => (
                Reason::SecretKeyMissing,
                format!("{name}/{key}"),
                format!("Secret {name} has no key {key}."),
                format!(
                    "add the key to Secret {name} in namespace {ns}, or stop referring to it in the workflow."
                ),
            ),
        };
        out.push(Raw {
            reason,
            key,
            step: p.step.clone(),
            pod: Some(p.name.to_string()),
            summary,
            evidence,
            fix,
            since: since.or_else(|| p.created()),
            grace: ctx.grace(ctx.s.config.pending_grace),
            definitive: true,
        });
    }
}

/// How a container ended, whether read from its status or from Argo's node message.
struct Ended<'a> {
    container: &'a str,
    reason: &'a str,
    code: i32,
    message: Option<&'a str>,
    finished: Option<DateTime<Utc>>,
}

/// OOMKilled, non-zero exits, and failures of Argo's own containers.
pub(super) fn terminations(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if p.node.is_some_and(|n| n.phase == Some(Phase::Succeeded)) {
        return;
    }
    // Containers killed by an eviction, a deadline or a lost node did not fail by
    // themselves: the pod's status reason has its own finding.
    let killed = matches!(
        p.pod.status.as_ref().and_then(|s| s.reason.as_deref()),
        Some("Evicted" | "DeadlineExceeded" | "NodeLost")
    );
    for (c, t) in p.terminations() {
        let reason = t.reason.as_deref().unwrap_or("");
        if reason != "OOMKilled"
            && (t.exit_code == 0 || killed || reason == "ContainerStatusUnknown")
        {
            continue;
        }
        let ended = Ended {
            container: &c.name,
            reason,
            code: t.exit_code,
            message: t.message.as_deref(),
            finished: t.finished_at.as_ref().and_then(|f| utc(&f.0)),
        };
        if let Some(raw) = ended_raw(ctx, Some(p), p.node, p.step.clone(), p.name, &ended) {
            out.push(raw);
        }
    }
}

fn ended_raw(
    ctx: &Ctx<'_>,
    p: Option<&PodInfo<'_>>,
    node: Option<&NodeView>,
    step: Option<String>,
    pod: &str,
    e: &Ended<'_>,
) -> Option<Raw> {
    let ns = ctx.namespace();
    let is_main = p.map_or(!matches!(e.container, "init" | "wait"), |p| {
        p.is_main(e.container)
    });
    let executor = matches!(e.container, "init" | "wait");
    // The kubelet's fact first. Argo's node message lags behind the pod (a real kubelet
    // reports the exit while the node still says "PodInitializing"), so it is evidence
    // only once the node has ended too.
    // Worded as Argo words it (the summary names the container), so that Argo's own
    // message, once there, adds nothing twice.
    let mut evidence = vec![format!(
        "{} (exit code {})",
        if e.reason.is_empty() {
            "terminated"
        } else {
            e.reason
        },
        e.code
    )];
    if let Some(m) = node
        .filter(|n| n.failed())
        .and_then(|n| n.message.as_deref())
    {
        push_unique(&mut evidence, m);
    }
    if let Some(m) = e.message {
        push_unique(&mut evidence, m.trim_end());
    }
    let template = node
        .and_then(|n| n.template_name.as_deref())
        .unwrap_or("of this step");
    let (reason, summary, fix) = if e.reason == "OOMKilled" {
        let limit = p.and_then(|p| p.limit(e.container, "memory"));
        let summary = match &limit {
            Some(l) => format!(
                "container \"{}\" was killed for going over its memory limit ({l}).",
                e.container
            ),
            None => format!(
                "container \"{}\" was OOM-killed; it has no memory limit, so its node ran out of memory.",
                e.container
            ),
        };
        let above = limit.map(|l| format!(" above {l}")).unwrap_or_default();
        (
            Reason::OomKilled,
            summary,
            format!(
                "raise resources.limits.memory (and requests.memory){above} in template {template}, or make the program use less memory; then resubmit."
            ),
        )
    } else if executor {
        // RBAC refusals of the executor have their own finding.
        if evidence.iter().any(|m| parse::parse_forbidden(m).is_some()) {
            return None;
        }
        (
            Reason::ExecutorFailed,
            format!(
                "Argo's {} container failed with exit code {}.",
                e.container, e.code
            ),
            format!(
                "read `kubectl -n {ns} logs {pod} -c {}`; the executor image must match the controller's version and the service account needs the executor's rights: ask the cluster admins if unsure.",
                e.container
            ),
        )
    } else if !is_main && matches!(e.code, 137 | 143) {
        // Argo kills sidecars once the main container is done.
        return None;
    } else {
        let signal = match e.code {
            137 => " (killed by SIGKILL)",
            143 => " (stopped by SIGTERM)",
            _ => "",
        };
        let tail = ctx.log_tail(pod);
        let logs = if tail.is_empty() {
            format!("`kubectl -n {ns} logs {pod} -c {}`", e.container)
        } else {
            "the log lines above".to_string()
        };
        evidence.extend(tail);
        (
            Reason::NonZeroExit,
            format!(
                "container \"{}\" exited with code {}{signal}.",
                e.container, e.code
            ),
            format!(
                "read {logs}; fix the program or its inputs (parameters, files on the volume), then resubmit."
            ),
        )
    };
    if reason == Reason::OomKilled {
        evidence.extend(ctx.log_tail(pod));
    }
    Some(Raw {
        reason,
        key: e.container.to_string(),
        step,
        pod: Some(pod.to_string()),
        summary,
        evidence,
        fix,
        since: e.finished.or_else(|| node.and_then(|n| n.finished_at)),
        grace: TimeDelta::zero(),
        definitive: !ctx.recoverable(node),
    })
}

/// The controller rejected the spec: failed validation, unresolved `{{variable}}`, bad
/// or missing parameter.
pub(super) fn invalid_spec(ctx: &Ctx<'_>, out: &mut Vec<Raw>) {
    let wf = &ctx.s.workflow;
    let mut evidence = Vec::new();
    let mut step = None;
    let mut since = None;
    if wf.phase.as_ref().is_some_and(Phase::is_failed)
        && let Some(m) = wf.message.as_deref().filter(|m| parse::is_spec_error(m))
    {
        push_unique(&mut evidence, m);
    }
    for n in &wf.nodes {
        let Some(m) = n.message.as_deref() else {
            continue;
        };
        if n.failed() && parse::is_spec_error(m) && !(n.is_pod() && ctx.has_pod(n)) {
            push_unique(&mut evidence, m);
            if step.is_none() && n.name != wf.name {
                step = Some(n.display_name.clone());
            }
            since = earliest([since, n.finished_at.or(n.started_at)]);
        }
    }
    if evidence.is_empty() {
        return;
    }
    for e in &ctx.workflow_events {
        if parse::is_spec_error(message(e)) {
            push_unique(&mut evidence, message(e));
            since = earliest([since, event_first(e)]);
        }
    }
    let unresolved = evidence.iter().find_map(|m| {
        let start = m.find("{{")?;
        let end = m[start..].find("}}")? + start + 2;
        Some(m[start..end].to_string())
    });
    let summary = match unresolved {
        Some(v) => format!("the controller rejected the workflow: {v} cannot be resolved."),
        None => "the controller rejected the workflow's spec or one of its parameters.".to_string(),
    };
    out.push(Raw {
        reason: Reason::InvalidSpec,
        key: String::new(),
        step,
        pod: None,
        summary,
        evidence,
        fix: "fix the workflow file or the -p KEY=VALUE parameters (a parameter without a value, a misspelt {{variable}}, a wrong template name), check with `cargo xtask lint`, then resubmit.".to_string(),
        since: since.or(Some(wf.created)),
        grace: TimeDelta::zero(),
        definitive: true,
    });
}

/// Argo's emissary executor must know each container's command; without `command:` in
/// the template it asks the image's registry, and fails the step when it cannot reach it
/// (a private registry, no credentials, or no network from the controller).
pub(super) fn image_command_unknown(ctx: &Ctx<'_>, out: &mut Vec<Raw>) {
    const SIGN: &str = "failed to look-up entrypoint/cmd for image";
    for n in &ctx.s.workflow.nodes {
        let Some(m) = n.message.as_deref().filter(|m| m.contains(SIGN)) else {
            continue;
        };
        if !n.failed() {
            continue;
        }
        let image = parse::image_in(m).unwrap_or("(unknown image)");
        out.push(Raw {
            reason: Reason::ImageCommandUnknown,
            key: image.to_string(),
            step: Some(n.display_name.clone()),
            pod: None,
            summary: format!(
                "step {} has no `command:` and the controller could not read the entrypoint of image {image} from its registry.",
                n.display_name
            ),
            evidence: vec![m.to_string()],
            fix: format!(
                "add `command: [...]` (and `args`) to the template's container for {image}: Argo then needs nothing from the registry; or ask the admins to give the controller access to that registry."
            ),
            since: n.finished_at.or(n.started_at),
            grace: TimeDelta::zero(),
            definitive: true,
        });
    }
}

/// A finished, failed workflow that no rule explained: report the failed leaf steps'
/// messages verbatim, so the user at least reads what the controller said.
pub(super) fn unexplained_errors(ctx: &Ctx<'_>, out: &mut Vec<Raw>) {
    let wf = &ctx.s.workflow;
    if !wf.phase.as_ref().is_some_and(Phase::is_failed) {
        return;
    }
    let mut evidence = Vec::new();
    let mut step = None;
    let mut since = None;
    let leaf = |n: &&NodeView| n.is_pod() || n.children.is_empty();
    for n in wf.nodes.iter().filter(|n| n.failed() && leaf(n)) {
        if let Some(m) = n.message.as_deref() {
            push_unique(&mut evidence, format!("{}: {m}", n.display_name));
            step.get_or_insert_with(|| n.display_name.clone());
            since = earliest([since, n.finished_at]);
        }
    }
    if let Some(m) = wf.message.as_deref() {
        push_unique(&mut evidence, m);
    }
    if evidence.is_empty() {
        return;
    }
    out.push(Raw {
        reason: Reason::StepError,
        key: String::new(),
        step,
        pod: None,
        summary: format!("workflow {} ended {} for a reason the controller states below.", wf.name, wf.phase_text()),
        evidence,
        fix: "read the controller's message above; `kubectl -n NS get wf NAME -o yaml` shows every node's message. If it is unclear, `cargo xtask diagnose NAME --save DIR` and send DIR to the toolkit's maintainers.".to_string(),
        since: since.or(Some(wf.created)),
        grace: TimeDelta::zero(),
        definitive: true,
    });
}

/// Failed Pod nodes whose pod is gone (garbage-collected or deleted): Argo's node
/// message is all that is left.
pub(super) fn from_node_messages(ctx: &Ctx<'_>, out: &mut Vec<Raw>) {
    for n in &ctx.s.workflow.nodes {
        if !n.is_pod() || !n.failed() || ctx.has_pod(n) {
            continue;
        }
        let Some(m) = n.message.as_deref() else {
            continue;
        };
        let pod = n.pod_name.clone().unwrap_or_else(|| n.id.clone());
        let step = Some(n.display_name.clone());
        let since = n.finished_at.or(n.started_at);
        if PULL_WAITING.iter().any(|r| m.contains(r)) {
            let image = parse::image_in(m).unwrap_or("(unknown image)");
            let class = if m.contains("InvalidImageName") {
                PullClass::InvalidName
            } else {
                parse::classify_pull(m)
            };
            out.push(image_raw(
                ctx,
                class,
                image,
                step,
                Some(pod),
                None,
                vec![m.to_string()],
                since,
                true,
            ));
        } else if parse::parse_config_ref(m).is_some() {
            // Reported by the pod rules when the pod exists; rare without one.
            continue;
        } else if let Some(x) = parse::parse_exit_message(m) {
            let ended = Ended {
                container: x.container.unwrap_or("main"),
                reason: x.reason,
                code: x.code,
                message: None,
                finished: since,
            };
            if x.code != 0
                && let Some(raw) = ended_raw(ctx, None, Some(n), step, &pod, &ended)
            {
                out.push(raw);
            }
        }
    }
}
