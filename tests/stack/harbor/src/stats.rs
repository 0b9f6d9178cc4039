//! Counters the tests read through `GET /stack/stats`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Why a request was refused (by the token service or by the proxy itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    BadCredentials,
    MethodNotAllowed,
    BadRequest,
    ProjectNotFound,
    UnauthorizedAction,
    QuotaExceeded,
    TokenExpired,
    TokenUsedUp,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadCredentials => "bad_credentials",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::BadRequest => "bad_request",
            Refusal::ProjectNotFound => "project_not_found",
            Refusal::UnauthorizedAction => "unauthorized_action",
            Refusal::QuotaExceeded => "quota_exceeded",
            Refusal::TokenExpired => "token_expired",
            Refusal::TokenUsedUp => "token_used_up",
        }
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    tokens_by_user: BTreeMap<String, u64>,
    refusals: BTreeMap<Refusal, u64>,
    proxied: u64,
    /// Blob data received in upload requests (PATCH and PUT), per project.
    uploaded_bytes: BTreeMap<String, u64>,
    mounts: Mounts,
}

/// Cross-repository mount requests (`POST …/blobs/uploads/?mount=&from=`) and what
/// distribution made of them.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Mounts {
    /// 201: the blob was linked in, nothing uploaded.
    pub mounted: u64,
    /// Any other answer but a 401 challenge (202 opens an ordinary upload instead).
    pub declined: u64,
}

#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub token_requests: TokenRequests,
    pub refusals: Refusals,
    /// Requests forwarded to distribution.
    pub proxied_requests: u64,
    pub projects: BTreeMap<String, ProjectUsage>,
    pub uploads: Uploads,
    pub mounts: Mounts,
}

#[derive(Debug, Serialize)]
pub struct Uploads {
    /// Bytes of blob data the clients sent, all projects together.
    pub bytes: u64,
    pub bytes_by_project: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct TokenRequests {
    pub total: u64,
    /// Tokens issued per user; `anonymous` for requests without credentials.
    pub by_user: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct Refusals {
    pub total: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
pub struct ProjectUsage {
    pub used_bytes: u64,
    pub quota_bytes: Option<u64>,
}

impl Stats {
    pub fn token_issued(&mut self, user: &str) {
        *self.tokens_by_user.entry(user.to_string()).or_default() += 1;
    }

    pub fn refused(&mut self, kind: Refusal) {
        *self.refusals.entry(kind).or_default() += 1;
    }

    pub fn proxied(&mut self) {
        self.proxied += 1;
    }

    pub fn uploaded(&mut self, project: &str, bytes: u64) {
        *self.uploaded_bytes.entry(project.to_string()).or_default() += bytes;
    }

    pub fn mount(&mut self, mounted: bool) {
        if mounted {
            self.mounts.mounted += 1;
        } else {
            self.mounts.declined += 1;
        }
    }

    pub fn reset(&mut self) {
        *self = Stats::default();
    }

    pub fn snapshot(&self, projects: BTreeMap<String, ProjectUsage>) -> Snapshot {
        Snapshot {
            token_requests: TokenRequests {
                total: self.tokens_by_user.values().sum(),
                by_user: self.tokens_by_user.clone(),
            },
            refusals: Refusals {
                total: self.refusals.values().sum(),
                by_kind: self
                    .refusals
                    .iter()
                    .map(|(k, v)| (k.as_str(), *v))
                    .collect(),
            },
            proxied_requests: self.proxied,
            projects,
            uploads: Uploads {
                bytes: self.uploaded_bytes.values().sum(),
                bytes_by_project: self.uploaded_bytes.clone(),
            },
            mounts: self.mounts.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_and_mounts_are_counted_and_reset() {
        let mut stats = Stats::default();
        stats.uploaded("vcity", 1000);
        stats.uploaded("vcity", 24);
        stats.uploaded("tools", 5);
        stats.mount(true);
        stats.mount(false);
        stats.mount(true);
        let snap = stats.snapshot(BTreeMap::new());
        assert_eq!(snap.uploads.bytes, 1029);
        assert_eq!(snap.uploads.bytes_by_project["vcity"], 1024);
        assert_eq!(snap.uploads.bytes_by_project["tools"], 5);
        assert_eq!((snap.mounts.mounted, snap.mounts.declined), (2, 1));
        stats.reset();
        let snap = stats.snapshot(BTreeMap::new());
        assert_eq!(snap.uploads.bytes, 0);
        assert_eq!(snap.mounts.mounted + snap.mounts.declined, 0);
    }
}
