//! Images that cannot be pulled: not in the registry, refused credentials, an
//! untrusted certificate, an invalid reference, an unreachable registry.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::core::v1::Event;

use super::{
    Ctx, Detection, PodInfo, each_pod, earliest, event_first, event_last, message, push_unique,
};
use crate::parse::{self, PullClass};
use crate::reasons::wording::Fact;

/// Container waiting reasons of a failed pull.
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
fn from_pod(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Detection>) {
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
        let pull_secrets: Vec<String> = p
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.image_pull_secrets.as_ref())
            .into_iter()
            .flatten()
            .map(|r| r.name.clone())
            .collect();
        out.push(Detection::on_pod(
            p,
            fact(
                g.class.unwrap_or(PullClass::Other),
                image,
                Some(pull_secrets),
            ),
            g.evidence,
            since,
            ctx.grace(ctx.s.config.image_pull_grace),
            true,
        ));
    }
}

/// Whether a node message reports a failed pull.
pub(super) fn is_pull_message(m: &str) -> bool {
    PULL_WAITING.iter().any(|r| m.contains(r))
}

/// The fact of each class of pull failure.
fn fact(class: PullClass, image: String, pull_secrets: Option<Vec<String>>) -> Fact {
    match class {
        PullClass::NotFound => Fact::ImageNotFound { image },
        PullClass::Unauthorized => Fact::RegistryUnauthorized {
            image,
            pull_secrets,
        },
        PullClass::Tls => Fact::RegistryTls { image },
        PullClass::InvalidName => Fact::InvalidImageName { image },
        PullClass::Unreachable => Fact::RegistryUnreachable { image },
        PullClass::Other => Fact::ImagePullFailed { image },
    }
}

/// Pull failures of live pods, then of failed steps whose pod is gone.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    let mut out = each_pod(ctx, from_pod);
    for n in ctx.gone_pods() {
        let Some(m) = n.message.as_deref().filter(|m| is_pull_message(m)) else {
            continue;
        };
        let image = parse::image_in(m).unwrap_or("(unknown image)").to_string();
        let class = if m.contains("InvalidImageName") {
            PullClass::InvalidName
        } else {
            parse::classify_pull(m)
        };
        out.push(Detection {
            fact: fact(class, image, None),
            step: Some(n.display_name.clone()),
            pod: Some(n.pod_name.clone().unwrap_or_else(|| n.id.clone())),
            evidence: vec![m.to_string()],
            since: n.finished_at.or(n.started_at),
            grace: TimeDelta::zero(),
            definitive: true,
        });
    }
    out
}
