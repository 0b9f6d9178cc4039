//! ConfigMaps and Secrets a pod refers to that do not exist or lack a key.

use chrono::{DateTime, Utc};

use super::{Ctx, Detection, PodInfo, each_pod, earliest, event_first, message, push_unique};
use crate::parse::{self, ConfigRef};
use crate::reasons::wording::Fact;

/// Every pod's missing ConfigMaps, Secrets and keys.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    each_pod(ctx, from_pod)
}

/// CreateContainerConfigError and ConfigMap/Secret volume mounts.
fn from_pod(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Detection>) {
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
    for (r, evidence, since) in groups {
        let fact = match r {
            ConfigRef::ConfigMapMissing { name } => Fact::ConfigmapMissing { name },
            ConfigRef::ConfigMapKeyMissing { key, name } => Fact::ConfigmapKeyMissing { name, key },
            ConfigRef::SecretMissing { name } => Fact::SecretMissing { name },
            ConfigRef::SecretKeyMissing { key, name } => Fact::SecretKeyMissing { name, key },
        };
        out.push(Detection::on_pod(
            p,
            fact,
            evidence,
            since.or_else(|| p.created()),
            ctx.grace(ctx.s.config.pending_grace),
            true,
        ));
    }
}
