//! The table of settings: their names in each source.

/// One setting, as each source spells it.
#[derive(Debug, Clone, Copy)]
pub struct SettingInfo {
    pub(crate) key: Key,
    /// Name in reports and in [`crate::Settings`].
    pub name: &'static str,
    /// The command-line flag the CLI should expose (recorded as the origin).
    pub flag: &'static str,
    /// The environment variable (also read from the env file).
    pub env: Option<&'static str>,
    /// The hera.config key.
    pub hera: Option<&'static str>,
    /// The workspace TOML key, `table.key`.
    pub toml: Option<&'static str>,
    /// Whether the value is a [`crate::Secret`].
    pub secret: bool,
    /// One line for help texts.
    pub help: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Kubeconfig,
    KubeContext,
    ConfigMap,
    VolumeClaim,
    ArgoServer,
    ArgoNamespace,
    ArgoServiceAccount,
    ArgoToken,
    ArgoInsecure,
    ArgoSecure,
    ArgoBaseHref,
    ArgoServerCa,
    Via,
    Registry,
    RegistryUser,
    RegistryPassword,
    RegistryCa,
    RegistryPlainHttp,
    ResultsDir,
    PvcMountPath,
    BuildParallelism,
    PullBaseImages,
    StallGrace,
    ControllerGrace,
    RunTimeout,
    HeraVersion,
}

/// The value type a setting expects, used to type-check the workspace TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Path,
    Bool,
    Count,
    /// A duration in seconds: a count of at most [`MAX_DURATION_SECS`].
    Seconds,
}

/// The longest duration setting accepted (timeouts, grace periods): 30 days.
pub const MAX_DURATION_SECS: u64 = 30 * 24 * 60 * 60;

impl Key {
    pub(crate) fn info(self) -> &'static SettingInfo {
        // SETTINGS is written in the order of the enum; the unit test checks it.
        &SETTINGS[self as usize]
    }

    pub(crate) fn kind(self) -> Kind {
        match self {
            Key::Kubeconfig | Key::RegistryCa | Key::ArgoServerCa | Key::ResultsDir => Kind::Path,
            Key::ArgoInsecure | Key::ArgoSecure | Key::RegistryPlainHttp | Key::PullBaseImages => {
                Kind::Bool
            }
            Key::BuildParallelism => Kind::Count,
            Key::StallGrace | Key::ControllerGrace | Key::RunTimeout => Kind::Seconds,
            _ => Kind::Text,
        }
    }
}

const fn s(
    key: Key,
    name: &'static str,
    flag: &'static str,
    env: Option<&'static str>,
    hera: Option<&'static str>,
    toml: Option<&'static str>,
    help: &'static str,
) -> SettingInfo {
    SettingInfo {
        key,
        name,
        flag,
        env,
        hera,
        toml,
        secret: matches!(key, Key::ArgoToken | Key::RegistryPassword),
        help,
    }
}

/// Every setting that can come from flags, environment or files.
pub const SETTINGS: [SettingInfo; 26] = [
    s(
        Key::Kubeconfig,
        "kubeconfig",
        "--kubeconfig",
        Some("KUBECONFIG"),
        Some("k8s_config_file"),
        Some("cluster.kubeconfig"),
        "kubeconfig file(s); KUBECONFIG may list several separated by ':'",
    ),
    s(
        Key::KubeContext,
        "kube_context",
        "--context",
        Some("XTASK_KUBE_CONTEXT"),
        None,
        Some("cluster.context"),
        "kubeconfig context (default: the file's current-context)",
    ),
    s(
        Key::ConfigMap,
        "configmap_name",
        "--configmap",
        Some("KUBECONFIGMAP"),
        Some("k8s_configmap_name"),
        Some("cluster.configmap"),
        "ConfigMap given to workflows (proxy settings)",
    ),
    s(
        Key::VolumeClaim,
        "volume_claim_name",
        "--volume-claim",
        Some("KUBEVOLUMECLAIMNAME"),
        Some("k8s_volume_claim_name"),
        Some("cluster.volume_claim"),
        "PersistentVolumeClaim mounted by workflows",
    ),
    s(
        Key::ArgoServer,
        "argo_server",
        "--argo-server",
        Some("ARGO_SERVER"),
        Some("argo_server"),
        Some("cluster.argo_server"),
        "Argo server URL (host:port gets https://)",
    ),
    s(
        Key::ArgoNamespace,
        "argo_namespace",
        "--namespace",
        Some("ARGO_NAMESPACE"),
        Some("argo_namespace"),
        Some("cluster.namespace"),
        "namespace where workflows run",
    ),
    s(
        Key::ArgoServiceAccount,
        "argo_service_account",
        "--service-account",
        Some("ARGO_SERVICE_ACCOUNT"),
        Some("argo_service_account"),
        Some("cluster.service_account"),
        "service account of workflow pods",
    ),
    s(
        Key::ArgoToken,
        "argo_token",
        "--argo-token",
        Some("ARGO_TOKEN"),
        Some("argo_token"),
        None,
        "Argo server token, with or without 'Bearer '",
    ),
    s(
        Key::ArgoInsecure,
        "argo_insecure_skip_verify",
        "--insecure-skip-verify",
        Some("ARGO_INSECURE_SKIP_VERIFY"),
        None,
        Some("cluster.insecure_skip_verify"),
        "skip TLS verification of the Argo server",
    ),
    s(
        Key::ArgoSecure,
        "argo_secure",
        "--argo-secure",
        Some("ARGO_SECURE"),
        None,
        Some("cluster.argo_secure"),
        "TLS to the Argo server when ARGO_SERVER has no scheme (default true)",
    ),
    s(
        Key::ArgoBaseHref,
        "argo_base_href",
        "--argo-base-href",
        Some("ARGO_BASE_HREF"),
        None,
        Some("cluster.argo_base_href"),
        "path under which the Argo server is served, e.g. /argo/",
    ),
    s(
        Key::ArgoServerCa,
        "argo_server_ca",
        "--argo-server-ca",
        Some("XTASK_ARGO_SERVER_CA"),
        None,
        Some("cluster.argo_server_ca"),
        "PEM file of the CA that signed the Argo server's certificate (besides the system's)",
    ),
    s(
        Key::Via,
        "via",
        "--via",
        Some("XTASK_VIA"),
        None,
        Some("cluster.via"),
        "way in: kube, argo-server, or auto (a usable kubeconfig, else the Argo server)",
    ),
    s(
        Key::Registry,
        "registry",
        "--registry",
        Some("XTASK_REGISTRY"),
        None,
        Some("registry.host"),
        "image registry, host[:port][/project]",
    ),
    s(
        Key::RegistryUser,
        "registry_user",
        "--registry-user",
        Some("XTASK_REGISTRY_USER"),
        None,
        Some("registry.user"),
        "registry user name (else docker credentials)",
    ),
    s(
        Key::RegistryPassword,
        "registry_password",
        "--registry-password",
        Some("XTASK_REGISTRY_PASSWORD"),
        None,
        None,
        "registry password (else docker credentials)",
    ),
    s(
        Key::RegistryCa,
        "registry_ca_file",
        "--registry-ca",
        Some("XTASK_REGISTRY_CA"),
        None,
        Some("registry.ca_file"),
        "PEM file of the CA that signed the registry certificate",
    ),
    s(
        Key::RegistryPlainHttp,
        "registry_plain_http",
        "--registry-plain-http",
        Some("XTASK_REGISTRY_PLAIN_HTTP"),
        None,
        Some("registry.plain_http"),
        "talk to the registry over plain HTTP",
    ),
    s(
        Key::ResultsDir,
        "results_dir",
        "--results-dir",
        Some("XTASK_RESULTS_DIR"),
        None,
        Some("results.local_dir"),
        "local folder for fetched results",
    ),
    s(
        Key::PvcMountPath,
        "pvc_mount_path",
        "--pvc-mount-path",
        Some("XTASK_PVC_MOUNT_PATH"),
        None,
        Some("results.pvc_mount_path"),
        "where workflows mount the volume claim",
    ),
    s(
        Key::BuildParallelism,
        "build_parallelism",
        "--build-parallelism",
        Some("XTASK_BUILD_PARALLELISM"),
        None,
        Some("images.parallelism"),
        "image builds run at once",
    ),
    s(
        Key::PullBaseImages,
        "pull_base_images",
        "--pull-base-images",
        Some("XTASK_PULL_BASE_IMAGES"),
        None,
        Some("images.pull_base_images"),
        "pull the base images the Docker engine lacks; false skips the images that need one (a machine that cannot pull)",
    ),
    s(
        Key::StallGrace,
        "timeouts.stall_grace_secs",
        "--stall-grace-secs",
        Some("XTASK_STALL_GRACE_SECS"),
        None,
        Some("timeouts.stall_grace_secs"),
        "seconds without progress before a run is reported as stalled",
    ),
    s(
        Key::ControllerGrace,
        "timeouts.controller_grace_secs",
        "--controller-grace-secs",
        Some("XTASK_CONTROLLER_GRACE_SECS"),
        None,
        Some("timeouts.controller_grace_secs"),
        "seconds to wait for the Argo controller to pick up a workflow",
    ),
    s(
        Key::RunTimeout,
        "timeouts.run_timeout_secs",
        "--run-timeout-secs",
        Some("XTASK_RUN_TIMEOUT_SECS"),
        None,
        Some("timeouts.run_timeout_secs"),
        "give up following a run after this many seconds (unset: no limit)",
    ),
    s(
        Key::HeraVersion,
        "hera_version",
        "--hera-version",
        Some("XTASK_HERA_VERSION"),
        None,
        Some("hera.version"),
        "the Hera version workflows/*.py scripts run with (installed once under .xtask/python)",
    ),
];

/// Environment variables read that are not settings themselves.
pub const ARGOCONFIG: &str = "ARGOCONFIG";
pub const XTASK_PROFILE: &str = "XTASK_PROFILE";

/// Every environment variable this crate reads, in report order.
pub fn env_vars() -> impl Iterator<Item = &'static str> {
    SETTINGS
        .iter()
        .filter_map(|s| s.env)
        .chain([ARGOCONFIG, XTASK_PROFILE])
}

pub(crate) fn by_hera_key(key: &str) -> Option<Key> {
    SETTINGS.iter().find(|s| s.hera == Some(key)).map(|s| s.key)
}

pub(crate) fn hera_keys() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter_map(|s| s.hera)
}

pub(crate) fn is_known_env(name: &str) -> bool {
    env_vars().any(|v| v == name)
}

/// True for the environment variables that hold a secret (token, password).
pub(crate) fn is_secret_env(name: &str) -> bool {
    SETTINGS.iter().any(|s| s.secret && s.env == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert_eq!(s.key as usize, i, "{}", s.name);
        }
        assert!(Key::ArgoToken.info().secret);
        assert!(Key::RegistryPassword.info().secret);
        assert!(!Key::ArgoNamespace.info().secret);
    }

    #[test]
    fn the_duration_bound_is_the_one_messages_name() {
        // workspace.rs spells the bound out in a static message.
        assert_eq!(MAX_DURATION_SECS, 2_592_000);
    }
}
