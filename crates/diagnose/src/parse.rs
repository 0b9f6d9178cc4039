//! Readers for the messages kubelet, scheduler, API server and Argo write. Each takes
//! any string and returns `None` (or a neutral value) when the shape is not recognised.

/// What an image pull error says about its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PullClass {
    /// Unrecognised; least specific.
    Other,
    /// DNS, connection refused, timeouts.
    Unreachable,
    InvalidName,
    NotFound,
    Unauthorized,
    Tls,
}

fn has_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Classifies a kubelet/containerd/CRI-O image pull error message.
pub fn classify_pull(msg: &str) -> PullClass {
    let low = msg.to_ascii_lowercase();
    // TLS first: its messages may also mention the failing request.
    if has_any(
        &low,
        &[
            "x509:",
            "certificate signed by unknown authority",
            "server gave http response to https client",
            "tls: failed to verify",
            "certificate is not valid",
            "certificate has expired",
        ],
    ) {
        PullClass::Tls
    } else if has_any(
        &low,
        &[
            "401 unauthorized",
            "unauthorized",
            "authentication required",
            "authorization failed",
            "pull access denied",
            "403 forbidden",
            "denied: requested access",
            "no basic auth credentials",
        ],
    ) {
        PullClass::Unauthorized
    } else if has_any(
        &low,
        &[
            "invalid reference format",
            "couldn't parse image name",
            "invalidimagename",
        ],
    ) {
        PullClass::InvalidName
    } else if has_any(
        &low,
        &[
            "not found",
            "manifest unknown",
            "notfound",
            "name unknown",
            "repository does not exist",
        ],
    ) {
        PullClass::NotFound
    } else if has_any(
        &low,
        &[
            "no such host",
            "connection refused",
            "i/o timeout",
            "context deadline exceeded",
            "tls handshake timeout",
            "network is unreachable",
            "no route to host",
            "connection reset by peer",
            "503 service unavailable",
            "502 bad gateway",
        ],
    ) {
        PullClass::Unreachable
    } else {
        PullClass::Other
    }
}

/// The text between the first `"` following `marker` and the next `"`.
pub fn quoted_after<'a>(msg: &'a str, marker: &str) -> Option<&'a str> {
    quoted_and_rest(msg, marker).map(|(q, _)| q)
}

/// Like [`quoted_after`], also returning what follows the closing quote.
pub fn quoted_and_rest<'a>(msg: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let start = msg.find(marker)? + marker.len();
    let rest = &msg[start..];
    let open = rest.find('"')?;
    // The quote must follow the marker directly (allowing spaces).
    if !rest[..open].trim().is_empty() {
        return None;
    }
    let rest = &rest[open + 1..];
    let close = rest.find('"')?;
    Some((&rest[..close], &rest[close + 1..]))
}

/// The image named in `Failed to pull image "X": ...` or `Back-off pulling image "X"`.
/// Also `Failed to apply default image tag "X"` and `couldn't parse image name "X"`.
pub fn image_in(msg: &str) -> Option<&str> {
    ["image", "image tag", "image name"]
        .iter()
        .find_map(|m| quoted_after(msg, m))
        .filter(|s| !s.is_empty())
}

/// The registry host of an image reference (`docker.io` when none is written).
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// A ConfigMap or Secret problem reported by the kubelet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRef {
    ConfigMapMissing { name: String },
    ConfigMapKeyMissing { key: String, name: String },
    SecretMissing { name: String },
    SecretKeyMissing { key: String, name: String },
}

/// Reads `configmap "X" not found`, `couldn't find key K in ConfigMap NS/X` and the
/// Secret equivalents.
pub fn parse_config_ref(msg: &str) -> Option<ConfigRef> {
    if let Some(rest) = msg.split("couldn't find key ").nth(1) {
        let (key, rest) = rest.split_once(" in ")?;
        let (kind, name) = rest.split_once(' ')?;
        let name = name
            .split(|c: char| c.is_whitespace() || c == ',' || c == ':' || c == '"')
            .next()
            .unwrap_or_default();
        let name = name.rsplit('/').next().unwrap_or(name).to_string();
        let key = key.to_string();
        return match kind {
            "ConfigMap" => Some(ConfigRef::ConfigMapKeyMissing { key, name }),
            "Secret" => Some(ConfigRef::SecretKeyMissing { key, name }),
            _ => None,
        };
    }
    for (marker, secret) in [
        ("configmap ", false),
        ("configmaps ", false),
        ("secret ", true),
        ("secrets ", true),
    ] {
        let mut from = 0;
        while let Some(i) = msg[from..].find(marker) {
            let at = from + i;
            from = at + marker.len();
            // Whole word only: "configmaps" must not match inside "xconfigmaps".
            if at > 0 && msg[..at].ends_with(|c: char| c.is_ascii_alphanumeric()) {
                continue;
            }
            let Some((name, after)) = quoted_and_rest(&msg[at..], marker.trim_end()) else {
                continue;
            };
            if after.trim_start().starts_with("not found") {
                let name = name.to_string();
                return Some(if secret {
                    ConfigRef::SecretMissing { name }
                } else {
                    ConfigRef::ConfigMapMissing { name }
                });
            }
        }
    }
    None
}

/// The claim in `persistentvolumeclaim "X" not found` (scheduler) or
/// `persistentvolumeclaims "X" not found` (kubelet, API).
pub fn pvc_not_found(msg: &str) -> Option<&str> {
    for marker in ["persistentvolumeclaims", "persistentvolumeclaim"] {
        if let Some((name, rest)) = quoted_and_rest(msg, marker)
            && rest.trim_start().starts_with("not found")
        {
            return Some(name);
        }
    }
    None
}

/// Whether the message says a claim is not bound yet.
pub fn pvc_unbound(msg: &str) -> bool {
    has_any(
        msg,
        &[
            "unbound immediate PersistentVolumeClaims",
            "PVC is not bound",
            "binding volumes: ",
            "unbound PersistentVolumeClaims",
        ],
    )
}

/// One clause of a scheduler fit error, e.g. `2 Insufficient memory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitClause {
    pub count: Option<u32>,
    pub text: String,
}

/// `0/3 nodes are available: 1 node(s) had untolerated taint {...}, 2 Insufficient memory.
/// preemption: ...` → the clauses before `preemption:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitError {
    pub total: Option<u32>,
    pub clauses: Vec<FitClause>,
}

impl FitError {
    /// Resources named by `Insufficient X` clauses.
    pub fn insufficient(&self) -> Vec<&str> {
        self.clauses
            .iter()
            .filter_map(|c| c.text.strip_prefix("Insufficient "))
            .map(str::trim)
            .collect()
    }

    /// Clauses saying nodes are not ready or unreachable.
    pub fn node_trouble(&self) -> bool {
        self.clauses.iter().any(|c| {
            has_any(
                &c.text,
                &[
                    "node.kubernetes.io/not-ready",
                    "node.kubernetes.io/unreachable",
                    "node(s) were not ready",
                ],
            )
        })
    }

    /// True when every node is excluded by node trouble (plus control-plane taints).
    pub fn only_node_trouble(&self) -> bool {
        self.node_trouble()
            && self.clauses.iter().all(|c| {
                has_any(
                    &c.text,
                    &[
                        "node.kubernetes.io/not-ready",
                        "node.kubernetes.io/unreachable",
                        "node(s) were not ready",
                        "node-role.kubernetes.io/control-plane",
                        "node-role.kubernetes.io/master",
                    ],
                )
            })
    }
}

pub fn parse_fit_error(msg: &str) -> Option<FitError> {
    let marker = "nodes are available:";
    let at = msg.find(marker)?;
    let total = msg[..at]
        .trim_end()
        .rsplit(|c: char| c.is_whitespace() || c == ':')
        .next()
        .and_then(|frac| frac.split_once('/'))
        .and_then(|(_, n)| n.parse().ok());
    let mut body = &msg[at + marker.len()..];
    if let Some(end) = body.find(" preemption:") {
        body = &body[..end];
    }
    let body = body.trim().trim_end_matches('.');
    let clauses = body
        .split(", ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let (count, text) = match c.split_once(' ') {
                Some((n, rest)) if n.parse::<u32>().is_ok() => (n.parse().ok(), rest),
                _ => (None, c),
            };
            FitClause {
                count,
                text: text.to_string(),
            }
        })
        .collect();
    Some(FitError { total, clauses })
}

/// An RBAC refusal: `... is forbidden: User "U" cannot VERB resource "R" in API group "G"
/// in the namespace "NS"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    pub user: String,
    pub verb: String,
    pub resource: String,
    pub api_group: String,
    pub namespace: Option<String>,
}

impl Forbidden {
    /// `(namespace, name)` when the user is a service account.
    pub fn service_account(&self) -> Option<(&str, &str)> {
        self.user
            .strip_prefix("system:serviceaccount:")?
            .split_once(':')
    }

    /// `workflowtaskresults.argoproj.io`, or `pods` for the core group.
    pub fn qualified_resource(&self) -> String {
        if self.api_group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.api_group)
        }
    }
}

pub fn parse_forbidden(msg: &str) -> Option<Forbidden> {
    let user = quoted_after(msg, "is forbidden: User")?;
    let at = msg.find("is forbidden: User")?;
    let rest = msg[at..].split_once(" cannot ")?.1;
    let (verb, rest) = rest.split_once(' ')?;
    let resource = quoted_after(rest, "resource")?;
    let api_group = quoted_after(rest, "in API group").unwrap_or_default();
    let namespace = quoted_after(rest, "in the namespace").map(str::to_string);
    Some(Forbidden {
        user: user.to_string(),
        verb: verb.to_string(),
        resource: resource.to_string(),
        api_group: api_group.to_string(),
        namespace,
    })
}

/// `error looking up service account NS/SA: serviceaccount "SA" not found` → `(NS, SA)`.
pub fn parse_missing_service_account(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.split("error looking up service account ").nth(1)?;
    let reference = rest.split(':').next()?.trim();
    let (ns, sa) = reference.split_once('/')?;
    let rest = rest.split_once(':')?.1;
    if rest.contains("not found") {
        Some((ns, sa))
    } else {
        None
    }
}

/// The controller's message when a workflow's status outgrows MAX_WORKFLOW_SIZE and
/// cannot be offloaded: `workflow is longer than maximum allowed size. compressed size
/// N > maxSize M[Tried to offload …]` → `(Some(N), Some(M))`; the numbers are `None`
/// when the wording differs but the sentence is there.
pub fn parse_workflow_too_large(msg: &str) -> Option<(Option<u64>, Option<u64>)> {
    let rest = msg
        .split("workflow is longer than maximum allowed size")
        .nth(1)?;
    let number_after = |key: &str| -> Option<u64> {
        let after = rest.split(key).nth(1)?.trim_start();
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    Some((number_after("size "), number_after("maxSize ")))
}

/// `exceeded quota: NAME, requested: ..., used: ..., limited: ...` → `NAME`.
pub fn parse_quota(msg: &str) -> Option<&str> {
    let rest = msg.split("exceeded quota: ").nth(1)?;
    let name = rest.split([',', ' ']).next()?;
    (!name.is_empty()).then_some(name)
}

/// Argo's node message for a failed container: `[NAME: ]REASON (exit code N)[: MESSAGE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitMessage<'a> {
    pub container: Option<&'a str>,
    pub reason: &'a str,
    pub code: i32,
}

pub fn parse_exit_message(msg: &str) -> Option<ExitMessage<'_>> {
    let at = msg.find(" (exit code ")?;
    let digits = &msg[at + " (exit code ".len()..];
    let end = digits.find(')')?;
    let code = digits[..end].trim().parse().ok()?;
    let head = &msg[..at];
    let (container, reason) = match head.rsplit_once(": ") {
        Some((c, r)) => (Some(c.rsplit(": ").next().unwrap_or(c)), r),
        None => (None, head),
    };
    Some(ExitMessage {
        container,
        reason: reason.trim(),
        code,
    })
}

/// Whether a controller message reports a rejected spec: failed validation, an
/// unresolved `{{variable}}`, a missing or malformed parameter.
pub fn is_spec_error(msg: &str) -> bool {
    let low = msg.to_ascii_lowercase();
    // RBAC and quota refusals mention "forbidden" and have their own reasons.
    if low.contains("is forbidden") {
        return false;
    }
    // A container's exit ("Error (exit code 64): … not found in $PATH") is the step's
    // outcome, not a rejection of the spec.
    if parse_exit_message(msg).is_some() {
        return false;
    }
    has_any(
        &low,
        &[
            "invalid spec",
            "unable to resolve",
            "failed to resolve",
            "not a valid",
            "was not supplied",
            "is required",
            "malformed",
            "undefined",
            "not found in",
            "invalid value",
            "failed to unmarshal",
        ],
    )
}

/// `plugin type="calico"` in a CNI error → `calico`.
pub fn cni_plugin(msg: &str) -> Option<&str> {
    quoted_after(msg, "plugin type=")
}

/// The volume in `... for volume "X" ...`.
pub fn volume_in(msg: &str) -> Option<&str> {
    quoted_after(msg, "for volume")
}

/// Whether a FailedMount/FailedAttachVolume message is about attaching or mounting the
/// volume itself (not a missing ConfigMap, Secret or claim, which have their reasons).
pub fn is_attach_error(msg: &str) -> bool {
    if parse_config_ref(msg).is_some() || pvc_not_found(msg).is_some() || pvc_unbound(msg) {
        return false;
    }
    has_any(
        msg,
        &[
            "AttachVolume.Attach failed",
            "Multi-Attach error",
            "MountVolume.MountDevice failed",
            "MountVolume.WaitForAttach failed",
            "MountVolume.SetUp failed",
            "MountVolume.MapPodDevice failed",
            "Unable to attach or mount volumes",
            "timed out waiting for the condition",
        ],
    )
}

/// A Kubernetes quantity (`512Mi`, `2`, `250m`, `1.5G`, `1e3`) in base units.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let (number, suffix) = match suffix.strip_prefix(['e', 'E']) {
        // An exponent, unless it is the "E" (exa) suffix alone.
        Some(exp) if !exp.is_empty() => {
            let e: i32 = exp.parse().ok()?;
            (number.parse::<f64>().ok()? * 10f64.powi(e), "")
        }
        _ => (number.parse::<f64>().ok()?, suffix),
    };
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    let v = number * factor;
    v.is_finite().then_some(v)
}

/// The part of an Argo node name after its last top-level `.`:
/// `wf[0].collect(0)` → `collect(0)`.
pub fn short_node_name(name: &str) -> &str {
    let mut depth = 0i32;
    let mut cut = None;
    for (i, c) in name.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = (depth - 1).max(0),
            '.' if depth == 0 => cut = Some(i),
            _ => {}
        }
    }
    match cut {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// Tells a step's program's own lines from those Argo's emissary writes into the same
/// output: its logrus lines (tagged `argo=true`) and the `Error: exit status N` it ends
/// with, right after its `sub-process exited` line, when the program failed. Fed the
/// lines in order (a log read whole or a followed stream).
#[derive(Debug, Default)]
pub struct ProgramLines {
    after_executor: bool,
}

impl ProgramLines {
    /// Whether this line is the program's.
    pub fn keep(&mut self, line: &str) -> bool {
        let executor =
            is_executor_log_line(line) || (self.after_executor && is_emissary_exit_line(line));
        self.after_executor = executor;
        !executor
    }
}

/// A line Argo's executor wrote (logrus logfmt tagged `argo=true`).
fn is_executor_log_line(line: &str) -> bool {
    line.starts_with("time=\"") && line.split_whitespace().any(|w| w == "argo=true")
}

/// The emissary's last line when the program exited non-zero (`Error: exit status N`).
fn is_emissary_exit_line(line: &str) -> bool {
    line.trim_end()
        .strip_prefix("Error: exit status ")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a refusal comes from the node authorizer not yet knowing that an object
/// belongs to a pod of the node: it lags the scheduler, and the kubelet's retry passes.
pub fn node_authorizer_lag(text: &str) -> bool {
    text.contains("system:node:") && text.contains("no relationship found between node")
}

/// Whether a mount failed only because the kubelet's own cache of ConfigMaps or Secrets
/// had not caught up yet (`failed to sync configmap cache: timed out waiting for the
/// condition`, seen on a loaded node for the service-account token volume): the
/// kubelet retries the mount by itself.
pub fn kubelet_cache_lag(text: &str) -> bool {
    text.contains("failed to sync") && text.contains("cache: timed out waiting for the condition")
}

/// The program Argo's emissary could not start, from its error (`failed to find name in
/// PATH: exec: "tile-convrt": executable file not found in $PATH`, or `permission
/// denied` / `no such file or directory` for a path). The executor exits 64 with it.
pub fn command_not_found(msg: &str) -> Option<&str> {
    let rest = &msg[msg.find("failed to find name in PATH")?..];
    quoted_after(rest, "exec:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_missing_from_the_image_is_named() {
        let emissary = "failed to find name in PATH: exec: \"tile-convrt\": executable file not found in $PATH";
        assert_eq!(command_not_found(emissary), Some("tile-convrt"));
        // As Argo's node message repeats it once the pod is gone.
        assert_eq!(
            command_not_found(&format!("Error (exit code 64): {emissary}")),
            Some("tile-convrt")
        );
        let not_executable =
            "failed to find name in PATH: exec: \"/app/run.sh\": permission denied";
        assert_eq!(command_not_found(not_executable), Some("/app/run.sh"));
        assert_eq!(command_not_found("exit status 127"), None);
        assert!(!is_spec_error(&format!("Error (exit code 64): {emissary}")));
        assert_eq!(command_not_found("sh: tile-convrt: not found"), None);
    }

    #[test]
    fn the_kubelets_cache_lag_is_told_from_a_missing_configmap() {
        let lag = "MountVolume.SetUp failed for volume \"kube-api-access-ph79j\" : failed to sync configmap cache: timed out waiting for the condition";
        assert!(kubelet_cache_lag(lag));
        let missing =
            "MountVolume.SetUp failed for volume \"config\" : configmap \"vcity-proxy\" not found";
        assert!(!kubelet_cache_lag(missing));
    }

    #[test]
    fn the_node_authorizers_lag_is_told_from_a_real_refusal() {
        let lag = "failed to fetch PVC from API server: persistentvolumeclaims \"vcity-pvc\" is forbidden: User \"system:node:pagoda-real-0\" cannot get resource \"persistentvolumeclaims\" in API group \"\" in the namespace \"argo\": no relationship found between node 'pagoda-real-0' and this object";
        assert!(node_authorizer_lag(lag));
        assert!(!node_authorizer_lag(
            "pods is forbidden: User \"system:serviceaccount:argo:x\" cannot create resource \"pods\""
        ));
    }

    #[test]
    fn executor_lines_are_told_from_the_programs() {
        let exited = "time=\"2026-12-03T08:45:33.076Z\" level=info msg=\"sub-process exited\" argo=true error=\"<nil>\"";
        assert!(is_executor_log_line(exited));
        assert!(!is_executor_log_line("argo=true is what I print"));
        assert!(!is_executor_log_line(
            "time=\"x\" level=info msg=\"my own logrus line\""
        ));
        assert!(is_emissary_exit_line("Error: exit status 3"));
        assert!(!is_emissary_exit_line("Error: exit status"));
        assert!(!is_emissary_exit_line("Error: exit status 3 in module x"));

        // In a log: the program's own "Error: exit status" line stays; the emissary's,
        // right after its own line, goes.
        let log = [
            "Error: exit status 7",
            "loading tiles",
            exited,
            "Error: exit status 3",
        ];
        let mut filter = ProgramLines::default();
        let kept: Vec<_> = log.into_iter().filter(|l| filter.keep(l)).collect();
        assert_eq!(kept, ["Error: exit status 7", "loading tiles"]);
    }

    #[test]
    fn pull_classes() {
        let img = "127.0.0.1:5443/vcity/collect:1";
        let cases = [
            (
                format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": {img}: not found"
                ),
                PullClass::NotFound,
            ),
            (
                "Error response from daemon: manifest for x:1 not found: manifest unknown: manifest unknown".into(),
                PullClass::NotFound,
            ),
            (
                format!(
                    "failed to resolve reference \"{img}\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://127.0.0.1:5443/service/token: 401 Unauthorized"
                ),
                PullClass::Unauthorized,
            ),
            (
                "pull access denied, repository does not exist or may require authorization: authentication required".into(),
                PullClass::Unauthorized,
            ),
            (
                format!(
                    "failed to do request: Head \"https://{img}\": tls: failed to verify certificate: x509: certificate signed by unknown authority"
                ),
                PullClass::Tls,
            ),
            (
                "http: server gave HTTP response to HTTPS client".into(),
                PullClass::Tls,
            ),
            (
                "dial tcp: lookup harbor.example.org on 10.96.0.10:53: no such host".into(),
                PullClass::Unreachable,
            ),
            (
                "couldn't parse image name \"Collect:1\": invalid reference format".into(),
                PullClass::InvalidName,
            ),
            ("something odd".into(), PullClass::Other),
        ];
        for (msg, class) in cases {
            assert_eq!(classify_pull(&msg), class, "{msg}");
        }
        assert!(PullClass::Tls > PullClass::Other);
    }

    #[test]
    fn images_and_registries() {
        assert_eq!(
            image_in("Failed to pull image \"a/b:1\": rpc error"),
            Some("a/b:1")
        );
        assert_eq!(image_in("Back-off pulling image \"x:2\""), Some("x:2"));
        assert_eq!(image_in("no image here"), None);
        assert_eq!(
            image_in(
                "Failed to apply default image tag \"a/B:1\": couldn't parse image name \"a/B:1\""
            ),
            Some("a/B:1")
        );
        assert_eq!(image_in("image \""), None);
        assert_eq!(
            registry_of("127.0.0.1:5443/vcity/collect:1"),
            "127.0.0.1:5443"
        );
        assert_eq!(
            registry_of("harbor.pagoda.os.univ-lyon1.fr/vcity/x:1"),
            "harbor.pagoda.os.univ-lyon1.fr"
        );
        assert_eq!(registry_of("python:3.12"), "docker.io");
        assert_eq!(registry_of("library/python"), "docker.io");
        assert_eq!(registry_of("localhost/x"), "localhost");
    }

    #[test]
    fn config_refs() {
        assert_eq!(
            parse_config_ref("configmap \"hera-proxy\" not found"),
            Some(ConfigRef::ConfigMapMissing {
                name: "hera-proxy".into()
            })
        );
        assert_eq!(
            parse_config_ref(
                "MountVolume.SetUp failed for volume \"proxy\" : configmap \"hera-proxy\" not found"
            ),
            Some(ConfigRef::ConfigMapMissing {
                name: "hera-proxy".into()
            })
        );
        assert_eq!(
            parse_config_ref("Error: couldn't find key HTTPS_PROXY in ConfigMap argo/hera-proxy"),
            Some(ConfigRef::ConfigMapKeyMissing {
                key: "HTTPS_PROXY".into(),
                name: "hera-proxy".into()
            })
        );
        assert_eq!(
            parse_config_ref("secret \"registry\" not found"),
            Some(ConfigRef::SecretMissing {
                name: "registry".into()
            })
        );
        assert_eq!(
            parse_config_ref("couldn't find key token in Secret argo/s3"),
            Some(ConfigRef::SecretKeyMissing {
                key: "token".into(),
                name: "s3".into()
            })
        );
        assert_eq!(parse_config_ref("configmap \"x\" exists"), None);
        assert_eq!(parse_config_ref("couldn't find key"), None);
        assert_eq!(parse_config_ref("secret \""), None);
        assert_eq!(parse_config_ref(""), None);
    }

    #[test]
    fn pvcs() {
        assert_eq!(
            pvc_not_found(
                "0/1 nodes are available: persistentvolumeclaim \"hera-data\" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            ),
            Some("hera-data")
        );
        assert_eq!(
            pvc_not_found(
                "error processing PVC argo/data: failed to fetch PVC from API server: persistentvolumeclaims \"data\" not found"
            ),
            Some("data")
        );
        assert_eq!(pvc_not_found("persistentvolumeclaim \"x\" is bound"), None);
        assert!(pvc_unbound(
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        ));
        assert!(!pvc_unbound("all good"));
    }

    #[test]
    fn fit_errors() {
        let f = parse_fit_error(
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
        )
        .unwrap();
        assert_eq!(f.total, Some(3));
        assert_eq!(f.clauses.len(), 2);
        assert_eq!(f.clauses[1].count, Some(2));
        assert_eq!(f.insufficient(), vec!["memory"]);
        assert!(!f.node_trouble());

        let f = parse_fit_error(
            "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient nvidia.com/gpu.",
        )
        .unwrap();
        assert_eq!(f.insufficient(), vec!["cpu", "nvidia.com/gpu"]);

        let f = parse_fit_error(
            "0/2 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
        )
        .unwrap();
        assert!(f.only_node_trouble());
        assert!(f.insufficient().is_empty());
        assert_eq!(parse_fit_error("no nodes"), None);
        assert!(parse_fit_error("nodes are available:").is_some());
    }

    #[test]
    fn forbidden() {
        let f = parse_forbidden(
            "workflowtaskresults.argoproj.io is forbidden: User \"system:serviceaccount:argo:default\" cannot create resource \"workflowtaskresults\" in API group \"argoproj.io\" in the namespace \"argo\"",
        )
        .unwrap();
        assert_eq!(f.verb, "create");
        assert_eq!(f.resource, "workflowtaskresults");
        assert_eq!(f.api_group, "argoproj.io");
        assert_eq!(f.namespace.as_deref(), Some("argo"));
        assert_eq!(f.service_account(), Some(("argo", "default")));
        assert_eq!(f.qualified_resource(), "workflowtaskresults.argoproj.io");

        let f = parse_forbidden(
            "pods \"wf-main-1\" is forbidden: User \"system:serviceaccount:argo:hera\" cannot patch resource \"pods\" in API group \"\" in the namespace \"argo\"",
        )
        .unwrap();
        assert_eq!(f.qualified_resource(), "pods");
        assert_eq!(f.service_account(), Some(("argo", "hera")));

        let f = parse_forbidden(
            "nodes is forbidden: User \"alice\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
        )
        .unwrap();
        assert_eq!(f.namespace, None);
        assert_eq!(f.service_account(), None);

        assert_eq!(
            parse_forbidden("pods \"x\" is forbidden: exceeded quota: q, requested: cpu=1"),
            None
        );
        assert_eq!(parse_forbidden("is forbidden: User \"x"), None);
    }

    #[test]
    fn service_accounts_and_quotas() {
        assert_eq!(
            parse_missing_service_account(
                "pods \"wf-a-1\" is forbidden: error looking up service account argo/hera: serviceaccount \"hera\" not found"
            ),
            Some(("argo", "hera"))
        );
        assert_eq!(
            parse_missing_service_account("error looking up service account x"),
            None
        );
        assert_eq!(
            parse_quota(
                "pods \"wf-a-1\" is forbidden: exceeded quota: compute, requested: requests.memory=16Gi, used: requests.memory=60Gi, limited: requests.memory=64Gi"
            ),
            Some("compute")
        );
        assert_eq!(parse_quota("exceeded quota: "), None);
    }

    #[test]
    fn workflow_too_large() {
        // As the stack's controller wrote it (64 KiB limit, no offload database).
        assert_eq!(
            parse_workflow_too_large(
                "workflow is longer than maximum allowed size. compressed size 66603 > maxSize 65536Tried to offload but encountered error: offload node status is not supported"
            ),
            Some((Some(66603), Some(65536)))
        );
        assert_eq!(
            parse_workflow_too_large("workflow is longer than maximum allowed size"),
            Some((None, None))
        );
        assert_eq!(parse_workflow_too_large("child 'x' failed"), None);
    }

    #[test]
    fn exit_messages() {
        assert_eq!(
            parse_exit_message("OOMKilled (exit code 137)"),
            Some(ExitMessage {
                container: None,
                reason: "OOMKilled",
                code: 137
            })
        );
        assert_eq!(
            parse_exit_message("main: Error (exit code 2): boom"),
            Some(ExitMessage {
                container: Some("main"),
                reason: "Error",
                code: 2
            })
        );
        assert_eq!(parse_exit_message("Error (exit code x)"), None);
        assert_eq!(parse_exit_message("Error (exit code 1"), None);
    }

    #[test]
    fn spec_errors() {
        assert!(is_spec_error(
            "invalid spec: templates.main.steps[0].collect.arguments.parameters.vintage was not supplied"
        ));
        assert!(is_spec_error(
            "Unable to resolve: {{inputs.parameters.year}}"
        ));
        assert!(is_spec_error(
            "failed to resolve {{workflow.parameters.vintage}}"
        ));
        assert!(!is_spec_error("child 'wf-1' failed"));
        assert!(!is_spec_error(
            "pods \"p\" is forbidden: User \"u\" cannot create resource \"pods\" ... is required"
        ));
    }

    #[test]
    fn misc() {
        assert_eq!(
            cni_plugin("plugin type=\"calico\" failed (add): connection refused"),
            Some("calico")
        );
        assert_eq!(
            volume_in("AttachVolume.Attach failed for volume \"pvc-1\" : rpc error"),
            Some("pvc-1")
        );
        assert!(is_attach_error(
            "Multi-Attach error for volume \"pvc-1\" Volume is already used by pod(s) a"
        ));
        assert!(!is_attach_error(
            "MountVolume.SetUp failed for volume \"proxy\" : configmap \"hera-proxy\" not found"
        ));
        assert_eq!(short_node_name("wf[0].collect(0)"), "collect(0)");
        assert_eq!(short_node_name("wf.a(0:x.y)"), "a(0:x.y)");
        assert_eq!(short_node_name("wf"), "wf");
        assert_eq!(short_node_name("wf)."), "");
    }

    #[test]
    fn quantities() {
        let cases = [
            ("512Mi", 512.0 * 1024.0 * 1024.0),
            ("2", 2.0),
            ("250m", 0.25),
            ("1.5G", 1.5e9),
            ("1e3", 1000.0),
            ("2E", 2e18),
            ("64Gi", 64.0 * 1024f64.powi(3)),
        ];
        for (q, v) in cases {
            let got = parse_quantity(q).unwrap();
            assert!((got - v).abs() <= v * 1e-12, "{q}: {got} != {v}");
        }
        for bad in ["", "Mi", "12X", "1e", "--", "1e999999"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }
}
