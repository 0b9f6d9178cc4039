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
}

#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub token_requests: TokenRequests,
    pub refusals: Refusals,
    /// Requests forwarded to distribution.
    pub proxied_requests: u64,
    pub projects: BTreeMap<String, ProjectUsage>,
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
        }
    }
}
