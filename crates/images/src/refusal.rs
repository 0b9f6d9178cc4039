//! Why a registry refused, in words that say what to do.
//!
//! Harbor (and distribution with token auth) explains a refusal in places oci-client does
//! not pass on: the body of a 401, the token service's own answer, and the actions a
//! token grants (a project that does not exist, or a robot without push, still gets a
//! token: one with fewer actions than asked). When an operation is refused, `probe`
//! asks again with plain HTTP requests and [`classify`] turns what it saw into a
//! [`Refusal`]; the pure parts (challenge, token claims, wording) are tested with
//! Harbor's texts.

use base64::Engine;
use oci_client::secrets::RegistryAuth;

/// What a registry's refusal means for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token service (or the registry's Basic auth) refused the user and password.
    BadCredentials { detail: String },
    /// No credentials were found, and the registry wants some.
    NoCredentials { detail: String },
    /// The project of the repository does not exist.
    NoProject { project: String, detail: String },
    /// The credentials lack `action` on the repository.
    NoRight {
        action: &'static str,
        granted: Vec<String>,
        detail: String,
    },
    /// The project's storage quota would be exceeded.
    Quota { detail: String },
    /// The registry takes the same credentials when asked again: the refused token
    /// expired or was revoked during the operation.
    Transient { detail: String },
    /// Something else: the registry's words, as they are.
    Other { detail: String },
}

impl Refusal {
    /// A short name of the kind, for scripts (`--output json`) and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::BadCredentials { .. } => "bad-credentials",
            Refusal::NoCredentials { .. } => "no-credentials",
            Refusal::NoProject { .. } => "no-project",
            Refusal::NoRight { .. } => "no-right",
            Refusal::Quota { .. } => "quota",
            Refusal::Transient { .. } => "transient",
            Refusal::Other { .. } => "other",
        }
    }

    /// One line saying what was refused and why.
    pub fn summary(&self) -> String {
        match self {
            Refusal::BadCredentials { detail } => {
                format!("the user and password were refused ({detail})")
            }
            Refusal::NoCredentials { detail } => {
                format!("no credentials were given and the registry wants some ({detail})")
            }
            Refusal::NoProject { project, detail } => {
                format!("the project `{project}` does not exist ({detail})")
            }
            Refusal::NoRight {
                action,
                granted,
                detail,
            } => format!(
                "the credentials have no {action} right on this repository (granted: {}; {detail})",
                if granted.is_empty() {
                    "nothing".to_string()
                } else {
                    granted.join(", ")
                }
            ),
            Refusal::Quota { detail } => format!("the project's storage quota is full ({detail})"),
            Refusal::Transient { detail } => format!(
                "a token was refused, yet the same credentials work when asked again ({detail})"
            ),
            Refusal::Other { detail } => detail.clone(),
        }
    }

    /// What to do about it. `user` is the account used (never its password).
    pub fn fix(&self, registry: &str, repository: &str, user: Option<&str>) -> String {
        let project = project_of(repository);
        let who = user.map_or("these credentials".to_string(), |u| format!("`{u}`"));
        match self {
            Refusal::BadCredentials { .. } => format!(
                "check the user and password (XTASK_REGISTRY_USER / XTASK_REGISTRY_PASSWORD, or --registry-user / --registry-password), or run `docker login {registry}` again; \
                 a Harbor robot's secret can expire or be regenerated, and a robot name holds a `$` (robot$PROJECT+NAME): put it in single quotes in a shell or hera.bash"
            ),
            Refusal::NoCredentials { .. } => format!(
                "run `docker login {registry}` or set XTASK_REGISTRY_USER and XTASK_REGISTRY_PASSWORD (a robot account of project `{project}` is the usual choice)"
            ),
            Refusal::NoProject { project, .. } => format!(
                "create the project `{project}` in the registry (Harbor: Projects → New Project) or ask its admins to, \
                 or push to a project that exists: XTASK_REGISTRY={registry}/PROJECT"
            ),
            Refusal::NoRight { action, .. } => format!(
                "give {who} the {action} right on project `{project}` (Harbor: Projects → {project} → Robot Accounts, or Members for a user) \
                 or ask the project's admins to; or use credentials that have it"
            ),
            Refusal::Quota { .. } => format!(
                "ask the admins of project `{project}` to raise its quota, or delete old tags there (Harbor: Projects → {project} → Repositories) and let garbage collection free the space"
            ),
            Refusal::Transient { .. } => {
                "run the command again: the next run fetches fresh tokens".to_string()
            }
            Refusal::Other { .. } => format!(
                "check the credentials' rights on `{repository}` with the registry's admins"
            ),
        }
    }
}

/// The project (first path segment) of a repository.
pub fn project_of(repository: &str) -> &str {
    repository.split('/').next().unwrap_or(repository)
}

/// A `WWW-Authenticate` challenge: its scheme and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"` (quoted or bare values; commas
    /// inside quotes kept, as in `scope="repository:p/r:pull,push"`).
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
            let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
            if key.is_empty() || chars.next() != Some('=') {
                break;
            }
            let mut value = String::new();
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
            }
            params.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The actions a registry token grants on `repository`, from its JWT claims (read, not
/// verified: the registry verifies it; this only explains a refusal). `None` when the
/// token is not a JWT with an `access` claim (opaque tokens exist).
pub fn granted_actions(token: &str, repository: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let access = claims.get("access")?.as_array()?;
    let mut actions: Vec<String> = access
        .iter()
        .filter(|a| a["type"] == "repository" && a["name"] == repository)
        .flat_map(|a| a["actions"].as_array().into_iter().flatten())
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect();
    actions.sort();
    actions.dedup();
    Some(actions)
}

/// The `message`s of a registry error body (`{"errors":[{"code","message"}]}`), or the
/// body itself cut short when it is not one.
pub fn body_message(body: &str) -> String {
    let parsed: Option<Vec<String>> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let errors = v.get("errors")?.as_array()?;
            Some(
                errors
                    .iter()
                    .map(|e| {
                        let code = e["code"].as_str().unwrap_or("");
                        let message = e["message"].as_str().unwrap_or("");
                        match (code.is_empty(), message.is_empty()) {
                            (false, false) => format!("{code}: {message}"),
                            (true, _) => message.to_string(),
                            (false, true) => code.to_string(),
                        }
                    })
                    .collect(),
            )
        });
    match parsed {
        Some(messages) if !messages.is_empty() => cut_message(&messages.join("; ")),
        _ => cut_message(body.trim()),
    }
}

/// Registry messages carry their facts at the end (Harbor's quota message names the
/// limit in its last words): kept whole up to a few lines' worth.
fn cut_message(text: &str) -> String {
    const SHOWN: usize = 400;
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text.to_string(),
    }
}

/// What an operation wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Pull,
    Push,
}

impl Wanted {
    fn action(self) -> &'static str {
        match self {
            Wanted::Pull => "pull",
            Wanted::Push => "push",
        }
    }
}

/// Turns a refusal (status and message of the registry's answer, and what the token
/// granted when known) into what it means.
pub fn classify(
    status: u16,
    message: &str,
    granted: Option<&[String]>,
    repository: &str,
    wanted: Wanted,
) -> Refusal {
    let lower = message.to_ascii_lowercase();
    let detail = format!("{status}: {message}");
    if lower.contains("upper limit") || lower.contains("quota") {
        return Refusal::Quota { detail };
    }
    if lower.contains("project") && lower.contains("not found") {
        return Refusal::NoProject {
            project: project_of(repository).to_string(),
            detail,
        };
    }
    let lacks = |action: &str| granted.is_some_and(|g| !g.iter().any(|a| a == action));
    let no_right = |action: &'static str| Refusal::NoRight {
        action,
        granted: granted.map(<[String]>::to_vec).unwrap_or_default(),
        detail: detail.clone(),
    };
    // The registry's own words first ("…, action: push"), then what the token lacks:
    // the action wanted before pull, which a push needs too.
    for action in ["push", "pull", "delete"] {
        if lower.contains(&format!("action: {action}")) {
            return no_right(action);
        }
    }
    if lacks(wanted.action()) {
        return no_right(wanted.action());
    }
    if lacks("pull") {
        return no_right("pull");
    }
    Refusal::Other { detail }
}

/// Asks the token service (`realm` of a Bearer challenge) for a token with `scopes`
/// (several at once: a cross-repository mount needs pull on its source as well), with
/// the user's credentials. Returns the status and the body.
pub(crate) async fn token_request(
    http: &reqwest::Client,
    realm: &str,
    challenge: &Challenge,
    scopes: &[String],
    auth: &RegistryAuth,
) -> Result<(u16, String), String> {
    let mut query: Vec<(&str, &str)> = scopes.iter().map(|s| ("scope", s.as_str())).collect();
    if let Some(service) = challenge.param("service") {
        query.push(("service", service));
    }
    let request = authorize(http.get(realm).query(&query), auth);
    let answer = request.send().await.map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    Ok((status, answer.text().await.unwrap_or_default()))
}

/// The token in a token service's answer (`token`, or OAuth's `access_token`); empty
/// when there is none.
pub(crate) fn token_of(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    json["token"]
        .as_str()
        .or_else(|| json["access_token"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// A request carrying the user's own credentials (Basic, or a bearer token given as is).
pub(crate) fn authorize(
    request: reqwest::RequestBuilder,
    auth: &RegistryAuth,
) -> reqwest::RequestBuilder {
    match auth {
        RegistryAuth::Basic(u, p) => request.basic_auth(u, Some(p)),
        RegistryAuth::Bearer(t) => request.bearer_auth(t),
        RegistryAuth::Anonymous => request,
    }
}

/// Asks the registry again, step by step, why `repository` is refused for `wanted`:
/// the challenge of `/v2/`, the token service's answer with these credentials, and the
/// registry's answer with that token.
pub(crate) async fn probe(
    http: &reqwest::Client,
    base: &str,
    repository: &str,
    wanted: Wanted,
    auth: &RegistryAuth,
) -> Result<Refusal, String> {
    let v2 = format!("{base}/v2/");
    let first = http.get(&v2).send().await.map_err(|e| e.to_string())?;
    let challenge = first
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .and_then(Challenge::parse);
    let basic = match auth {
        RegistryAuth::Basic(u, p) => Some((u.as_str(), p.as_str())),
        _ => None,
    };
    let (token, granted) = match challenge {
        Some(c) if c.scheme == "bearer" => {
            let Some(realm) = c.param("realm") else {
                return Ok(Refusal::Other {
                    detail: "the registry's Bearer challenge names no token service (realm)".into(),
                });
            };
            let scope = match wanted {
                Wanted::Pull => format!("repository:{repository}:pull"),
                Wanted::Push => format!("repository:{repository}:pull,push"),
            };
            let (status, body) = token_request(http, realm, &c, &[scope], auth).await?;
            if status != 200 {
                let detail = format!(
                    "the token service answered {status}: {}",
                    body_message(&body)
                );
                return Ok(match auth {
                    RegistryAuth::Anonymous => Refusal::NoCredentials { detail },
                    _ => Refusal::BadCredentials { detail },
                });
            }
            let token = token_of(&body);
            let granted = granted_actions(&token, repository);
            (Some(token), granted)
        }
        Some(c) if c.scheme == "basic" => {
            if let Some((u, p)) = basic {
                let answer = http
                    .get(&v2)
                    .basic_auth(u, Some(p))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if answer.status().as_u16() == 401 {
                    let body = answer.text().await.unwrap_or_default();
                    return Ok(Refusal::BadCredentials {
                        detail: format!("401: {}", body_message(&body)),
                    });
                }
            } else {
                return Ok(Refusal::NoCredentials {
                    detail: "the registry asks for Basic credentials".into(),
                });
            }
            (None, None)
        }
        _ => (None, None),
    };
    // The operation itself, and its clean-up, with what the credentials give.
    let authed = |request: reqwest::RequestBuilder| match (&token, basic) {
        (Some(t), _) => request.bearer_auth(t),
        (None, Some((u, p))) => request.basic_auth(u, Some(p)),
        (None, None) => request,
    };
    let request = match wanted {
        Wanted::Pull => http.get(format!("{base}/v2/{repository}/tags/list")),
        Wanted::Push => http.post(format!("{base}/v2/{repository}/blobs/uploads/")),
    };
    let answer = authed(request).send().await.map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    if answer.status().is_success() {
        // An upload session opened by the probe is cancelled; nothing is written.
        if let Some(location) = answer
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
        {
            let url = if location.starts_with('/') {
                format!("{base}{location}")
            } else {
                location.to_string()
            };
            let _ = authed(http.delete(url)).send().await;
        }
        return Ok(Refusal::Transient {
            detail: format!("asked again, the registry answered {status}"),
        });
    }
    let body = answer.text().await.unwrap_or_default();
    Ok(classify(
        status,
        &body_message(&body),
        granted.as_deref(),
        repository,
        wanted,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let e = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            e(br#"{"alg":"ES256"}"#),
            e(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn harbor_challenges_parse_with_commas_inside_quotes() {
        let c = Challenge::parse(
            r#"Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:vcity/tiler:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://h/service/token"));
        assert_eq!(c.param("service"), Some("harbor-registry"));
        assert_eq!(c.param("scope"), Some("repository:vcity/tiler:pull,push"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        let basic = Challenge::parse(r#"Basic realm="xtask-stack""#).unwrap();
        assert_eq!(basic.scheme, "basic");
        assert_eq!(Challenge::parse("  "), None);
        // Bare values and a stray comma.
        let bare = Challenge::parse("Bearer realm=https://x/t, service=s,").unwrap();
        assert_eq!(bare.param("service"), Some("s"));
    }

    #[test]
    fn granted_actions_come_from_the_token_claims() {
        let token = jwt(serde_json::json!({
            "access": [
                {"type": "repository", "name": "vcity/tiler", "actions": ["pull"]},
                {"type": "repository", "name": "vcity/other", "actions": ["pull", "push"]}
            ]
        }));
        assert_eq!(
            granted_actions(&token, "vcity/tiler"),
            Some(vec!["pull".to_string()])
        );
        assert_eq!(granted_actions(&token, "nope/x"), Some(vec![]));
        assert_eq!(granted_actions("opaque-token", "vcity/tiler"), None);
        assert_eq!(granted_actions("a.!!!.c", "vcity/tiler"), None);
    }

    #[test]
    fn harbor_refusals_are_told_apart() {
        let push = Wanted::Push;
        let r = classify(
            401,
            "UNAUTHORIZED: project vcity-nope not found: project vcity-nope not found",
            Some(&[]),
            "vcity-nope/tiler",
            push,
        );
        assert!(matches!(&r, Refusal::NoProject { project, .. } if project == "vcity-nope"));
        let r = classify(
            401,
            "UNAUTHORIZED: unauthorized to access repository: vcity/tiler, action: push: unauthorized to access repository: vcity/tiler, action: push",
            Some(&["pull".to_string()]),
            "vcity/tiler",
            push,
        );
        assert!(
            matches!(&r, Refusal::NoRight { action: "push", granted, .. } if granted == &["pull"]),
            "{r:?}"
        );
        assert!(r.summary().contains("granted: pull"), "{}", r.summary());
        let r = classify(
            403,
            "DENIED: adding 3.2 MiB of storage resource, which when updated to current usage of 0 B will exceed the configured upper limit of 1 MiB.",
            None,
            "small/tiler",
            push,
        );
        assert!(matches!(r, Refusal::Quota { .. }));
        assert!(r.fix("h", "small/tiler", None).contains("raise its quota"));
        // distribution's own words, with the token's claims telling what is missing.
        let r = classify(
            401,
            "UNAUTHORIZED: authentication required",
            Some(&["pull".to_string()]),
            "vcity/tiler",
            push,
        );
        assert!(
            matches!(r, Refusal::NoRight { action: "push", .. }),
            "{r:?}"
        );
        let r = classify(
            401,
            "UNAUTHORIZED: authentication required",
            Some(&[]),
            "vcity/tiler",
            Wanted::Pull,
        );
        assert!(
            matches!(r, Refusal::NoRight { action: "pull", .. }),
            "{r:?}"
        );
        // A user with no right at all: the action wanted is the one named.
        let r = classify(
            401,
            "UNAUTHORIZED: authentication required",
            Some(&[]),
            "vcity/tiler",
            push,
        );
        assert!(
            matches!(r, Refusal::NoRight { action: "push", .. }),
            "{r:?}"
        );
        assert!(r.summary().contains("granted: nothing"), "{}", r.summary());
        let r = classify(500, "boom", None, "vcity/tiler", push);
        assert_eq!(
            r,
            Refusal::Other {
                detail: "500: boom".into()
            }
        );
    }

    #[test]
    fn fixes_name_the_project_the_user_and_the_right() {
        let r = Refusal::NoRight {
            action: "push",
            granted: vec!["pull".into()],
            detail: String::new(),
        };
        let fix = r.fix("harbor.example", "vcity/tiler", Some("robot$vcity+pull"));
        assert!(
            fix.contains("`robot$vcity+pull`") && fix.contains("push right on project `vcity`"),
            "{fix}"
        );
        let r = Refusal::NoProject {
            project: "nope".into(),
            detail: String::new(),
        };
        assert!(
            r.fix("h", "nope/x", None)
                .contains("create the project `nope`")
        );
        let r = Refusal::BadCredentials {
            detail: String::new(),
        };
        assert!(r.fix("h", "p/x", None).contains("single quotes"));
    }

    #[test]
    fn bodies_are_read_as_registry_errors_and_cut() {
        assert_eq!(
            body_message(r#"{"errors":[{"code":"DENIED","message":"quota"}]}"#),
            "DENIED: quota"
        );
        assert_eq!(body_message("plain text\n"), "plain text");
        let long = "x".repeat(10_000);
        assert!(body_message(&long).len() < 500);
        // Harbor's quota message is kept whole: its limit is in its last words.
        let quota = r#"{"errors":[{"code":"DENIED","message":"adding 3.2 MiB of storage resource, which when updated to current usage of 0 B will exceed the configured upper limit of 1.0 MiB."}]}"#;
        assert!(body_message(quota).ends_with("upper limit of 1.0 MiB."));
    }
}
