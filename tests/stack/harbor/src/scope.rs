//! Token scopes (`repository:P/R:pull,push`), actions and what a user is granted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// Every action (Harbor grants it to project admins).
    All,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            "*" => Some(Action::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
        }
    }

    /// The action a registry request needs, as Harbor decides it from the method.
    pub fn for_method(method: &http::Method) -> Action {
        match *method {
            http::Method::GET | http::Method::HEAD => Action::Pull,
            http::Method::DELETE => Action::Delete,
            _ => Action::Push,
        }
    }
}

/// Whether `rights` (one project's) allow `action`.
pub fn allows(rights: &[Action], action: Action) -> bool {
    rights.contains(&action)
        || rights.contains(&Action::All)
        || (action == Action::All
            && [Action::Pull, Action::Push, Action::Delete]
                .iter()
                .all(|a| rights.contains(a)))
}

/// One requested scope, as in the token request and the `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    pub fn describe(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Parses one scope like Harbor does: the type is before the first ':', the actions
/// after the last one, the name is what is between (it may hold ':', e.g. a port).
/// Empty text gives no scope.
pub fn parse_scope(s: &str) -> Option<Access> {
    if s.is_empty() {
        return None;
    }
    let parts: Vec<&str> = s.split(':').collect();
    let (kind, name, actions) = match parts.as_slice() {
        [kind] => (*kind, String::new(), ""),
        [kind, name] => (*kind, (*name).to_string(), ""),
        [kind, middle @ .., actions] => (*kind, middle.join(":"), *actions),
        [] => return None,
    };
    Some(Access {
        kind: kind.to_string(),
        name,
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// All scopes of a token request: each `scope` parameter may hold several, separated
/// by spaces (clients asking for a cross-repository mount do that).
pub fn parse_scopes<'a>(params: impl IntoIterator<Item = &'a str>) -> Vec<Access> {
    params
        .into_iter()
        .flat_map(|p| p.split(' '))
        .filter_map(parse_scope)
        .collect()
}

/// The project a repository belongs to: its first path segment (Harbor's rule).
pub fn project_of(repository: &str) -> &str {
    repository.split('/').next().unwrap_or(repository)
}

/// What a user gets for one requested scope: for a repository, the requested actions
/// that the user holds on its project; nothing for a project the user has no rights on
/// (missing or not), nor for other types (the catalog is for admins only).
pub fn grant(requested: &Access, rights: Option<&BTreeMap<String, Vec<Action>>>) -> Access {
    let mut granted = Vec::new();
    if requested.kind == "repository"
        && let Some(project_rights) = rights.and_then(|r| r.get(project_of(&requested.name)))
    {
        for a in &requested.actions {
            if let Some(action) = Action::parse(a)
                && allows(project_rights, action)
                && !granted.contains(a)
            {
                granted.push(a.clone());
            }
        }
    }
    Access {
        kind: requested.kind.clone(),
        name: requested.name.clone(),
        actions: granted,
    }
}

/// The repository a `/v2/` path is about, from distribution's routes:
/// `/v2/NAME/(manifests|blobs|tags)/...`. None for `/v2/`, `/v2/_catalog` and others.
pub fn repository_of_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    for marker in ["/manifests/", "/blobs/", "/tags/"] {
        if let Some(i) = rest.find(marker) {
            let name = &rest[..i];
            return (!name.is_empty()).then_some(name);
        }
    }
    None
}

/// The upload UUID when `path` is a blob upload URL `/v2/NAME/blobs/uploads/UUID`.
pub fn upload_of_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v2/")?;
    let i = rest.find("/blobs/uploads/")?;
    let uuid = &rest[i + "/blobs/uploads/".len()..];
    (!uuid.is_empty() && !uuid.contains('/') && i > 0).then_some((&rest[..i], uuid))
}

/// The scope distribution asks for on a request, for the challenge of a refused token.
pub fn challenge_scope(method: &http::Method, path: &str) -> Option<String> {
    let repo = repository_of_path(path)?;
    let actions = match *method {
        http::Method::GET | http::Method::HEAD => "pull",
        http::Method::DELETE => "delete",
        _ => "pull,push",
    };
    Some(format!("repository:{repo}:{actions}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rights(list: &[(&str, &[Action])]) -> BTreeMap<String, Vec<Action>> {
        list.iter()
            .map(|(p, a)| (p.to_string(), a.to_vec()))
            .collect()
    }

    #[test]
    fn scope_parsing() {
        let a = parse_scope("repository:vcity/app:pull,push").unwrap();
        assert_eq!(a.kind, "repository");
        assert_eq!(a.name, "vcity/app");
        assert_eq!(a.actions, ["pull", "push"]);
        let a = parse_scope("repository:host:5000/vcity/app:pull").unwrap();
        assert_eq!(a.name, "host:5000/vcity/app");
        assert_eq!(a.actions, ["pull"]);
        let a = parse_scope("registry:catalog:*").unwrap();
        assert_eq!((a.kind.as_str(), a.name.as_str()), ("registry", "catalog"));
        assert_eq!(a.actions, ["*"]);
        let a = parse_scope("repository:vcity/app:").unwrap();
        assert!(a.actions.is_empty());
        let a = parse_scope("repository:vcity/app").unwrap();
        assert!(a.actions.is_empty());
        assert!(parse_scope("").is_none());
    }

    #[test]
    fn several_scopes_in_one_parameter() {
        let s = parse_scopes([
            "repository:vcity/app:pull,push repository:vcity/base:pull",
            "repository:other/x:pull",
        ]);
        let names: Vec<&str> = s.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["vcity/app", "vcity/base", "other/x"]);
        // form decoding turns '+' into a space before we see it; doubled spaces are fine
        assert_eq!(parse_scopes(["repository:a/b:pull  "]).len(), 1);
    }

    #[test]
    fn query_with_robot_names_and_encoded_scopes() {
        // what a client sends: the account's '$' and '+' percent-encoded, the scope too
        let query = "account=robot%24vcity%2Bci&service=harbor-registry&scope=repository%3Avcity%2Fapp%3Apull%2Cpush";
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs[0].1, "robot$vcity+ci");
        let scopes = parse_scopes(
            pairs
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.as_str()),
        );
        assert_eq!(scopes[0].describe(), "repository:vcity/app:pull,push");
    }

    #[test]
    fn grants_are_the_intersection() {
        let r = rights(&[("vcity", &[Action::Pull]), ("tools", &[Action::All])]);
        let req = parse_scope("repository:vcity/app:pull,push").unwrap();
        assert_eq!(grant(&req, Some(&r)).actions, ["pull"]);
        let req = parse_scope("repository:tools/x:push,pull,delete,push").unwrap();
        assert_eq!(grant(&req, Some(&r)).actions, ["push", "pull", "delete"]);
        // missing project, no rights, anonymous, other types: nothing
        let req = parse_scope("repository:nope/app:pull").unwrap();
        assert!(grant(&req, Some(&r)).actions.is_empty());
        let req = parse_scope("repository:vcity/app:pull").unwrap();
        assert!(grant(&req, None).actions.is_empty());
        let req = parse_scope("registry:catalog:*").unwrap();
        assert!(grant(&req, Some(&r)).actions.is_empty());
        // unknown actions are not granted
        let req = parse_scope("repository:tools/x:scanner-pull").unwrap();
        assert!(grant(&req, Some(&r)).actions.is_empty());
    }

    #[test]
    fn star_needs_every_action() {
        assert!(allows(
            &[Action::Pull, Action::Push, Action::Delete],
            Action::All
        ));
        assert!(!allows(&[Action::Pull, Action::Push], Action::All));
        assert!(allows(&[Action::All], Action::Delete));
    }

    #[test]
    fn paths() {
        assert_eq!(
            repository_of_path("/v2/vcity/app/manifests/1"),
            Some("vcity/app")
        );
        assert_eq!(
            repository_of_path("/v2/vcity/a/b/blobs/uploads/x"),
            Some("vcity/a/b")
        );
        assert_eq!(
            repository_of_path("/v2/vcity/app/tags/list"),
            Some("vcity/app")
        );
        assert_eq!(repository_of_path("/v2/"), None);
        assert_eq!(repository_of_path("/v2/_catalog"), None);
        assert_eq!(repository_of_path("/v2//blobs/x"), None);
        assert_eq!(
            upload_of_path("/v2/vcity/app/blobs/uploads/abc-1"),
            Some(("vcity/app", "abc-1"))
        );
        assert_eq!(upload_of_path("/v2/vcity/app/blobs/uploads/"), None);
        assert_eq!(upload_of_path("/v2/vcity/app/blobs/sha256:x"), None);
        assert_eq!(project_of("vcity/app"), "vcity");
        assert_eq!(project_of("busybox"), "busybox");
        assert_eq!(
            challenge_scope(&http::Method::PATCH, "/v2/vcity/app/blobs/uploads/u").as_deref(),
            Some("repository:vcity/app:pull,push")
        );
        assert_eq!(challenge_scope(&http::Method::GET, "/v2/"), None);
        assert_eq!(Action::for_method(&http::Method::HEAD), Action::Pull);
        assert_eq!(Action::for_method(&http::Method::PATCH), Action::Push);
        assert_eq!(Action::for_method(&http::Method::DELETE), Action::Delete);
    }
}
