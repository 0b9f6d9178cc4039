//! Kubernetes-level rules (nodes, network, storage, scheduling) and the scheduling rules
//! whose cause is elsewhere (claims, free resources).

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::core::v1::{Event, Node};

use super::{Ctx, PodInfo, Raw, ago, earliest, event_first, event_last, message, push_unique, utc};
use crate::finding::Reason;
use crate::parse::{self, FitError};

/// The last `n` distinct messages of these events, oldest first.
fn last_messages(events: &[&Event], n: usize) -> Vec<String> {
    let mut sorted: Vec<&&Event> = events.iter().collect();
    sorted.sort_by_key(|e| event_last(e));
    let mut out: Vec<String> = Vec::new();
    for e in sorted.into_iter().rev() {
        if out.len() == n {
            break;
        }
        push_unique(&mut out, message(e));
    }
    out.reverse();
    out
}

fn claims(p: &PodInfo<'_>) -> Vec<String> {
    p.pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.persistent_volume_claim.as_ref())
                .map(|c| c.claim_name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// FailedScheduling and the PodScheduled condition: missing or unbound claims, not
/// enough free resources, no ready node, other constraints.
pub(super) fn scheduling(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if !p.pending() || p.node_name().is_some() {
        return;
    }
    let cond = p.condition("PodScheduled").filter(|c| c.status == "False");
    let events = p.events_with(&["FailedScheduling"]);
    let latest = events
        .iter()
        .max_by_key(|e| event_last(e))
        .map(|e| message(e));
    // The condition is the scheduler's current verdict; events may be older.
    let current = cond
        .and_then(|c| c.message.as_deref())
        .filter(|m| !m.is_empty())
        .or(latest);
    let Some(current) = current else {
        return;
    };
    let mut evidence = Vec::new();
    if let Some(l) = latest {
        push_unique(&mut evidence, l);
    }
    push_unique(&mut evidence, current);
    let since = earliest(
        events.iter().map(|e| event_first(e)).chain([cond
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| utc(&t.0))]),
    )
    .or_else(|| p.created());
    let ns = ctx.namespace();
    let pending = ctx.grace(ctx.s.config.pending_grace);
    let raw =
        |reason, key: String, summary: String, evidence: Vec<String>, fix: String, definitive| {
            Raw {
                reason,
                key,
                step: p.step.clone(),
                pod: Some(p.name.to_string()),
                summary,
                evidence,
                fix,
                since,
                grace: pending,
                definitive,
            }
        };

    if let Some(claim) = parse::pvc_not_found(current) {
        out.push(raw(
            Reason::PvcMissing,
            claim.to_string(),
            format!("PersistentVolumeClaim {claim} does not exist in namespace {ns}."),
            evidence,
            missing_claim_fix(ns),
            true,
        ));
        return;
    }
    if parse::pvc_unbound(current) {
        let claims = claims(p);
        let mut evidence = evidence;
        // The claims' own events tell why they are not bound (provisioning errors).
        for e in &ctx.s.events {
            let o = &e.involved_object;
            if o.kind.as_deref() == Some("PersistentVolumeClaim")
                && o.name.as_ref().is_some_and(|n| claims.contains(n))
                && e.type_.as_deref() == Some("Warning")
            {
                push_unique(&mut evidence, message(e));
            }
        }
        let list = if claims.is_empty() {
            "its claims".to_string()
        } else {
            claims.join(", ")
        };
        let first = claims.first().map(String::as_str).unwrap_or("CLAIM");
        out.push(raw(
            Reason::PvcUnbound,
            list.clone(),
            format!("PersistentVolumeClaim {list} is not bound to a volume."),
            evidence,
            unbound_fix(ns, first),
            true,
        ));
        return;
    }
    let fit = parse::parse_fit_error(current);
    if let Some(fit) = &fit
        && !fit.insufficient().is_empty()
    {
        let (summary, fix, definitive) = resources(ctx, p, fit);
        out.push(raw(
            Reason::UnschedulableResources,
            String::new(),
            summary,
            evidence,
            fix,
            definitive,
        ));
        return;
    }
    if fit.as_ref().is_some_and(FitError::only_node_trouble) {
        out.push(raw(
            Reason::NodeNotReady,
            String::new(),
            "every node that could run the pod is NotReady or unreachable.".to_string(),
            evidence,
            "a cluster problem: send the evidence to the cluster admins.".to_string(),
            true,
        ));
        return;
    }
    let clauses = fit
        .map(|f| {
            f.clauses
                .iter()
                .map(|c| c.text.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| current.to_string());
    out.push(raw(
        Reason::Unschedulable,
        String::new(),
        format!("no node accepts the pod: {clauses}."),
        evidence,
        format!(
            "the workflow's nodeSelector, affinity or tolerations may exclude every node, or the nodes are cordoned: `kubectl -n {ns} describe pod {}`; ask the cluster admins which nodes you may use.",
            p.name
        ),
        false,
    ));
}

/// The kubelet of a scheduled pod cannot find or use its claim (FailedMount).
pub(super) fn mount_claims(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if !p.pending() || started(p) {
        return;
    }
    let ns = ctx.namespace();
    for e in p.events_with(&["FailedMount"]) {
        let m = message(e);
        let (reason, claim, summary, fix) = if let Some(claim) = parse::pvc_not_found(m) {
            (
                Reason::PvcMissing,
                claim.to_string(),
                format!("PersistentVolumeClaim {claim} does not exist in namespace {ns}."),
                missing_claim_fix(ns),
            )
        } else if parse::pvc_unbound(m) {
            let claim = m
                .split("error processing PVC ")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .map(|r| r.rsplit('/').next().unwrap_or(r).to_string())
                .unwrap_or_else(|| claims(p).join(", "));
            (
                Reason::PvcUnbound,
                claim.clone(),
                format!("PersistentVolumeClaim {claim} is not bound to a volume."),
                unbound_fix(ns, &claim),
            )
        } else {
            continue;
        };
        out.push(Raw {
            reason,
            key: claim,
            step: p.step.clone(),
            pod: Some(p.name.to_string()),
            summary,
            evidence: vec![m.to_string()],
            fix,
            since: event_first(e),
            grace: ctx.grace(ctx.s.config.pending_grace),
            definitive: true,
        });
    }
}

fn missing_claim_fix(ns: &str) -> String {
    format!(
        "create it with `cargo xtask doctor --fix` (applies the workspace's PVC manifest), or point k8s_volume_claim_name / KUBEVOLUMECLAIMNAME at an existing claim (`kubectl -n {ns} get pvc`, `cargo xtask config`)."
    )
}

fn unbound_fix(ns: &str, claim: &str) -> String {
    format!(
        "`kubectl -n {ns} describe pvc {claim}` tells why: it needs a matching PersistentVolume or a StorageClass that provisions one, which usually takes the cluster admins."
    )
}

/// Summary, fix and definitiveness for a pod short of CPU, memory or devices.
fn resources(ctx: &Ctx<'_>, p: &PodInfo<'_>, fit: &FitError) -> (String, String, bool) {
    let wanted: Vec<&str> = fit.insufficient();
    let spec = p.pod.spec.as_ref();
    let containers: Vec<_> = spec
        .map(|s| s.containers.iter().collect())
        .unwrap_or_default();
    let inits: Vec<_> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let request_of = |c: &k8s_openapi::api::core::v1::Container, r: &str| {
        c.resources
            .as_ref()
            .and_then(|res| res.requests.as_ref().or(res.limits.as_ref()))
            .and_then(|m| m.get(r))
            .map(|q| q.0.clone())
    };
    // What each container asks for, for the resources the scheduler lacks.
    let mut asked = Vec::new();
    // Argo's own containers ask little; name the user's unless they ask nothing.
    let users: Vec<_> = containers
        .iter()
        .copied()
        .filter(|c| p.is_main(&c.name))
        .collect();
    let shown = if users
        .iter()
        .any(|c| wanted.iter().any(|r| request_of(c, r).is_some()))
    {
        users
    } else {
        containers.clone()
    };
    for c in &shown {
        let parts: Vec<String> = wanted
            .iter()
            .filter_map(|r| request_of(c, r).map(|q| format!("{r}={q}")))
            .collect();
        if !parts.is_empty() {
            asked.push(format!("{} requests {}", c.name, parts.join(", ")));
        }
    }
    let what = wanted.join(" and ");
    let mut summary = format!("the pod waits for a node with enough free {what}");
    if !asked.is_empty() {
        summary.push_str(&format!(" ({})", asked.join("; ")));
    }
    // With the node list we can tell "wait" from "never".
    let mut never = Vec::new();
    if let Some(nodes) = &ctx.s.nodes {
        for r in &wanted {
            let sum: f64 = containers
                .iter()
                .filter_map(|c| request_of(c, r).and_then(|q| parse::parse_quantity(&q)))
                .sum();
            let init_max = inits
                .iter()
                .filter_map(|c| request_of(c, r).and_then(|q| parse::parse_quantity(&q)))
                .fold(0.0, f64::max);
            let need = sum.max(init_max);
            if let Some((best, text)) = largest_allocatable(nodes, r)
                && need > best
            {
                never.push(format!("{r} {text}"));
            }
        }
    }
    let template = p
        .node
        .and_then(|n| n.template_name.as_deref())
        .unwrap_or("of this step");
    let ns = ctx.namespace();
    if never.is_empty() {
        summary.push('.');
        let fix = format!(
            "wait: it starts when other pods free {what}; or lower resources.requests in template {template} and resubmit (`kubectl -n {ns} describe pod {}` shows the scheduler's view).",
            p.name
        );
        (summary, fix, false)
    } else {
        summary.push_str(&format!(
            "; no node can ever fit it: the largest allocatable is {}.",
            never.join(", ")
        ));
        let fix = format!(
            "lower resources.requests in template {template} to fit a node, then resubmit; ask the cluster admins if you need bigger nodes."
        );
        (summary, fix, true)
    }
}

fn largest_allocatable(nodes: &[Node], resource: &str) -> Option<(f64, String)> {
    nodes
        .iter()
        .filter_map(|n| {
            let q = n.status.as_ref()?.allocatable.as_ref()?.get(resource)?;
            Some((parse::parse_quantity(&q.0)?, q.0.clone()))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// FailedCreatePodSandBox while the pod has not started.
pub(super) fn sandbox(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if !p.pending() || started(p) {
        return;
    }
    let events = p.events_with(&["FailedCreatePodSandBox"]);
    if events.is_empty() {
        return;
    }
    let evidence = last_messages(&events, 3);
    let node = p.node_name().unwrap_or("(unknown node)");
    let plugin = evidence
        .iter()
        .find_map(|m| parse::cni_plugin(m))
        .map(|c| format!(": its network plugin {c} fails"))
        .unwrap_or_default();
    let ns = ctx.namespace();
    out.push(Raw {
        reason: Reason::PodSandboxFailed,
        key: String::new(),
        step: p.step.clone(),
        pod: Some(p.name.to_string()),
        summary: format!("node {node} cannot create the pod's sandbox{plugin}."),
        evidence,
        fix: format!(
            "a node or network problem, not the workflow's: send the evidence to the cluster admins (node {node}, `kubectl -n {ns} describe pod {}`).",
            p.name
        ),
        since: earliest(events.iter().map(|e| event_first(e))),
        grace: ctx.grace(ctx.s.config.pending_grace),
        definitive: true,
    });
}

fn started(p: &PodInfo<'_>) -> bool {
    p.statuses().any(|(c, _)| {
        c.state
            .as_ref()
            .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
    })
}

const GENERIC_MOUNT: &str = "Unable to attach or mount volumes";

/// FailedAttachVolume / FailedMount about the volume itself.
pub(super) fn volume_attach(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if !p.pending() || started(p) {
        return;
    }
    let events: Vec<&Event> = p
        .events_with(&["FailedAttachVolume", "FailedMount", "FailedMapVolume"])
        .into_iter()
        .filter(|e| parse::is_attach_error(message(e)))
        .collect();
    if events.is_empty() {
        return;
    }
    let specific = events
        .iter()
        .any(|e| !message(e).starts_with(GENERIC_MOUNT));
    // The generic timeout follows a missing ConfigMap or claim: that finding says it all.
    let explained = out.iter().any(|r| {
        r.pod.as_deref() == Some(p.name)
            && matches!(
                r.reason,
                Reason::ConfigmapMissing
                    | Reason::ConfigmapKeyMissing
                    | Reason::SecretMissing
                    | Reason::SecretKeyMissing
                    | Reason::PvcMissing
                    | Reason::PvcUnbound
            )
    });
    if !specific && explained {
        return;
    }
    let evidence = last_messages(&events, 3);
    // A kubelet refused the claim by the node authorizer's lagging graph, or whose
    // ConfigMap cache had not synced yet, retries by itself.
    let retried_by_kubelet = evidence
        .iter()
        .any(|m| parse::node_authorizer_lag(m) || parse::kubelet_cache_lag(m));
    let volume = evidence
        .iter()
        .find_map(|m| parse::volume_in(m))
        .unwrap_or("of the pod")
        .to_string();
    let node = p.node_name().unwrap_or("(unknown node)");
    let ns = ctx.namespace();
    let multi = evidence.iter().any(|m| m.contains("Multi-Attach error"));
    let (summary, fix) = if multi {
        (
            format!(
                "volume {volume} is attached to another node (ReadWriteOnce) and cannot be attached to {node}."
            ),
            "the claim is ReadWriteOnce and a pod on another node uses it: run those steps one after the other, or use a ReadWriteMany claim (ask the cluster admins for a suitable StorageClass).".to_string(),
        )
    } else {
        (
            format!("volume {volume} cannot be attached or mounted on node {node}."),
            format!(
                "a storage problem on the cluster side: send the evidence to the cluster admins (`kubectl -n {ns} describe pod {}`).",
                p.name
            ),
        )
    };
    out.push(Raw {
        reason: Reason::VolumeAttachFailed,
        key: volume,
        step: p.step.clone(),
        pod: Some(p.name.to_string()),
        summary,
        evidence,
        fix,
        since: earliest(events.iter().map(|e| event_first(e))),
        grace: ctx.grace(ctx.s.config.pending_grace),
        definitive: !retried_by_kubelet,
    });
}

const TAINTS: &[&str] = &[
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/not-ready",
];

/// The pod's node is NotReady, unreachable or gone. From the node list when we may read
/// it, else from what the pod shows.
pub(super) fn node_trouble(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if p.done() {
        return;
    }
    let Some(node_name) = p.node_name() else {
        return;
    };
    let mut evidence = Vec::new();
    let mut since: Option<DateTime<Utc>> = None;
    match &ctx.s.nodes {
        Some(nodes) => match nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(node_name))
        {
            None => evidence.push(format!(
                "node {node_name} is not in the cluster's node list"
            )),
            Some(n) => {
                let status = n.status.as_ref();
                if let Some(c) = status
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                    .filter(|c| c.status != "True")
                {
                    evidence.push(format!(
                        "node {node_name} Ready={} ({})",
                        c.status,
                        c.reason.as_deref().unwrap_or("no reason")
                    ));
                    if let Some(m) = c.message.as_deref() {
                        push_unique(&mut evidence, m);
                    }
                    since = c.last_transition_time.as_ref().and_then(|t| utc(&t.0));
                }
                for t in n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .into_iter()
                    .flatten()
                    .filter(|t| TAINTS.contains(&t.key.as_str()))
                {
                    evidence.push(format!("taint {}:{}", t.key, t.effect));
                    since = earliest([since, t.time_added.as_ref().and_then(|a| utc(&a.0))]);
                }
            }
        },
        None => {
            let status = p.pod.status.as_ref();
            if p.phase() == "Unknown" {
                evidence.push(format!("pod {} phase Unknown", p.name));
            }
            if let Some(r) = status
                .and_then(|s| s.reason.as_deref())
                .filter(|r| *r == "NodeLost")
            {
                let m = status.and_then(|s| s.message.as_deref()).unwrap_or("");
                evidence.push(format!("{r}: {m}"));
            }
            for e in p.events_with(&["NodeNotReady"]) {
                push_unique(&mut evidence, message(e));
                since = earliest([since, event_first(e)]);
            }
            if let Some(c) = p
                .condition("DisruptionTarget")
                .filter(|c| c.reason.as_deref() == Some("DeletionByTaintManager"))
            {
                push_unique(&mut evidence, c.message.clone().unwrap_or_default());
                since = earliest([
                    since,
                    c.last_transition_time.as_ref().and_then(|t| utc(&t.0)),
                ]);
            }
        }
    }
    if evidence.is_empty() {
        return;
    }
    out.push(Raw {
        reason: Reason::NodeNotReady,
        key: node_name.to_string(),
        step: p.step.clone(),
        pod: Some(p.name.to_string()),
        summary: format!("node {node_name}, where the pod runs, is NotReady, unreachable or gone."),
        evidence,
        fix: format!(
            "a cluster problem: tell the cluster admins (node {node_name}; `kubectl describe node {node_name}` if you may). The step is retried elsewhere only if it has a retryStrategy."
        ),
        since: since.or(Some(ctx.s.now)),
        grace: ctx.grace(ctx.s.config.pending_grace),
        definitive: true,
    });
}

/// Pod status reasons set by the kubelet: Evicted, DeadlineExceeded.
pub(super) fn status_reasons(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    let status = p.pod.status.as_ref();
    let reason = status.and_then(|s| s.reason.as_deref()).unwrap_or("");
    let msg = status.and_then(|s| s.message.as_deref()).unwrap_or("");
    let template = p
        .node
        .and_then(|n| n.template_name.as_deref())
        .unwrap_or("of this step");
    let node = p.node_name().unwrap_or("(unknown node)");
    let (r, summary, fix) = match reason {
        "Evicted" => {
            let pressure = if msg.contains("memory") {
                " (low on memory)"
            } else if msg.contains("ephemeral-storage") || msg.contains("disk") {
                " (low on disk)"
            } else {
                ""
            };
            (
                Reason::Evicted,
                format!("the kubelet evicted the pod from node {node}{pressure}."),
                format!(
                    "set resources.requests in template {template} close to what the program really uses (pods above their requests go first), then resubmit; if it repeats, tell the cluster admins."
                ),
            )
        }
        "DeadlineExceeded" => (
            Reason::DeadlineExceeded,
            "the step ran longer than its activeDeadlineSeconds.".to_string(),
            format!(
                "raise activeDeadlineSeconds of template {template} (or of the workflow), or make the step faster."
            ),
        ),
        _ => return,
    };
    let mut evidence = Vec::new();
    push_unique(&mut evidence, msg);
    if let Some(m) = p.node.and_then(|n| n.message.as_deref()) {
        push_unique(&mut evidence, m);
    }
    let since = p
        .condition("Ready")
        .and_then(|c| c.last_transition_time.as_ref())
        .and_then(|t| utc(&t.0))
        .or_else(|| p.created());
    out.push(Raw {
        reason: r,
        key: String::new(),
        step: p.step.clone(),
        pod: Some(p.name.to_string()),
        summary,
        evidence,
        fix,
        since,
        grace: TimeDelta::zero(),
        definitive: !ctx.recoverable(p.node),
    });
}

/// kubectl's STATUS column for a pending pod: `Init:0/1`, `ContainerCreating`, `Pending`.
fn pending_status(p: &PodInfo<'_>) -> String {
    let inits: Vec<_> = p.statuses().filter(|(_, init)| *init).collect();
    let done = inits
        .iter()
        .filter(|(c, _)| {
            c.state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.exit_code == 0)
        })
        .count();
    if !inits.is_empty() && done < inits.len() {
        return format!("Init:{done}/{}", inits.len());
    }
    p.statuses()
        .find_map(|(c, _)| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .unwrap_or_else(|| "Pending".to_string())
}

/// Pending beyond the grace period with nothing else explaining it.
pub(super) fn stuck_pending(ctx: &Ctx<'_>, out: &mut Vec<Raw>) {
    let grace = ctx.grace(ctx.s.config.pending_grace);
    let ns = ctx.namespace();
    for p in &ctx.pods {
        if !p.pending() || out.iter().any(|r| r.pod.as_deref() == Some(p.name)) {
            continue;
        }
        let Some(created) = p.created() else {
            continue;
        };
        let age = ctx.s.now - created;
        if age < grace {
            continue;
        }
        let status = pending_status(p);
        let mut evidence = Vec::new();
        for c in p
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.status != "True")
        {
            if let Some(m) = c.message.as_deref() {
                push_unique(&mut evidence, format!("{}: {m}", c.type_));
            }
        }
        for (c, _) in p.statuses() {
            if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                let mut l = format!("{}: {}", c.name, w.reason.as_deref().unwrap_or("Waiting"));
                if let Some(m) = w.message.as_deref() {
                    l.push_str(&format!(": {m}"));
                }
                push_unique(&mut evidence, l);
            }
        }
        let warnings: Vec<&Event> = p
            .events
            .iter()
            .copied()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .collect();
        evidence.extend(last_messages(&warnings, 5));
        out.push(Raw {
            reason: Reason::StuckPending,
            key: String::new(),
            step: p.step.clone(),
            pod: Some(p.name.to_string()),
            summary: format!("the pod has been {status} for {}.", ago(age)),
            evidence,
            fix: format!(
                "`kubectl -n {ns} describe pod {}` shows what it waits for; if nothing there explains it, ask the cluster admins.",
                p.name
            ),
            since: Some(created),
            grace,
            definitive: false,
        });
    }
}
