//! What a command needs, and what is missing for it.

use std::fmt;

use crate::keys::{Key, SettingInfo};
use crate::origin::Sourced;
use crate::settings::{Settings, Via};

/// How a PaGoDA user gets a kubeconfig.
pub const KUBECONFIG_HINT: &str = "download the cluster's kubeconfig from Rancher (cluster page → \"Download KubeConfig\"; ask the cluster admins for access) and export KUBECONFIG=/path/to/it";

/// A family of commands, by what they need from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Talk to the cluster: a kubeconfig that exists, or the Argo Server's address and
    /// token when that is the way in ([`Settings::way_in`]); a namespace.
    Cluster,
    /// Talk to the Kubernetes API itself (helper pods, PVC and ConfigMap checks): a
    /// kubeconfig, whatever the way in.
    KubeApi,
    /// Push or check images: a registry (and its CA file, when one is named).
    Registry,
    /// Submit workflows: the cluster plus service account, volume claim, ConfigMap.
    Run,
    /// Copy results off the volume claim: the cluster plus the volume claim.
    Fetch,
}

/// A setting a command needs that is absent or unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// Setting name as in [`crate::SETTINGS`].
    pub setting: &'static str,
    /// What is wrong, naming the value's origin when there is one.
    pub problem: String,
    /// Where the value can be set.
    pub fix: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.setting, self.problem, self.fix)
    }
}

/// "set it with --flag, VAR (environment or hera.bash), …".
fn where_to_set(info: &SettingInfo) -> String {
    let mut ways = vec![info.flag.to_owned()];
    if let Some(env) = info.env {
        ways.push(format!("{env} (environment or hera.bash)"));
    }
    if let Some(hera) = info.hera {
        ways.push(format!("{hera} in hera.config"));
    }
    if let Some(toml) = info.toml {
        ways.push(format!("{toml} in xtask.toml"));
    }
    format!("set it with {}", ways.join(", "))
}

fn unset(key: Key) -> Missing {
    let info = key.info();
    Missing {
        setting: info.name,
        problem: "not set".into(),
        fix: where_to_set(info),
    }
}

fn require<T>(out: &mut Vec<Missing>, value: &Option<Sourced<T>>, key: Key) {
    if value.is_none() {
        out.push(unset(key));
    }
}

/// A file setting, when given, must name a file that exists.
fn require_file(out: &mut Vec<Missing>, value: &Option<Sourced<std::path::PathBuf>>, key: Key) {
    if let Some(file) = value
        && !file.value.is_file()
    {
        let info = key.info();
        out.push(Missing {
            setting: info.name,
            problem: format!(
                "{} (from {}) does not exist",
                crate::error::shown_path(&file.value),
                file.origin
            ),
            fix: format!("fix the path, or {}", where_to_set(info)),
        });
    }
}

impl Settings {
    /// Everything `need` requires that is absent or unusable, in a stable order.
    /// Checks that named files exist (this reads the file system).
    pub fn missing_for(&self, need: Need) -> Vec<Missing> {
        let mut out = Vec::new();
        match need {
            Need::Cluster => self.check_cluster(&mut out),
            Need::KubeApi => self.check_kube_api(&mut out),
            Need::Registry => self.check_registry(&mut out),
            Need::Run => {
                self.check_cluster(&mut out);
                require(
                    &mut out,
                    &self.argo_service_account,
                    Key::ArgoServiceAccount,
                );
                require(&mut out, &self.volume_claim_name, Key::VolumeClaim);
                require(&mut out, &self.configmap_name, Key::ConfigMap);
            }
            Need::Fetch => {
                self.check_kube_api(&mut out);
                require(&mut out, &self.volume_claim_name, Key::VolumeClaim);
            }
        }
        out
    }

    fn check_cluster(&self, out: &mut Vec<Missing>) {
        if self.way_in().via == Via::ArgoServer {
            self.check_argo_server(out);
        } else {
            self.check_kubeconfig(out);
        }
        if self.argo_namespace.value.is_empty() {
            out.push(unset(Key::ArgoNamespace));
        }
    }

    /// A command that needs the Kubernetes API itself: through the Argo Server alone it
    /// cannot run, which is said once, with how to get a kubeconfig.
    fn check_kube_api(&self, out: &mut Vec<Missing>) {
        let way = self.way_in();
        if way.via == Via::ArgoServer {
            let info = Key::Kubeconfig.info();
            out.push(Missing {
                setting: info.name,
                problem: format!(
                    "this command needs the Kubernetes API (it starts pods or reads PVCs and ConfigMaps), which the Argo Server does not offer; the Argo Server is the way in because {}",
                    way.why
                ),
                fix: format!("{KUBECONFIG_HINT}, or {}", where_to_set(info)),
            });
        } else {
            self.check_kubeconfig(out);
        }
        if self.argo_namespace.value.is_empty() {
            out.push(unset(Key::ArgoNamespace));
        }
    }

    fn check_argo_server(&self, out: &mut Vec<Missing>) {
        require(out, &self.argo_server, Key::ArgoServer);
        require(out, &self.argo_token, Key::ArgoToken);
        require_file(out, &self.argo_server_ca, Key::ArgoServerCa);
    }

    fn check_kubeconfig(&self, out: &mut Vec<Missing>) {
        let info = Key::Kubeconfig.info();
        match &self.kubeconfig {
            None => out.push(Missing {
                setting: info.name,
                problem: "not set, and ~/.kube/config does not exist".into(),
                fix: where_to_set(info),
            }),
            // Like kubectl, a KUBECONFIG list may name files that do not exist, as long
            // as one does.
            Some(k) if !k.value.iter().any(|p| p.is_file()) => {
                let paths = k
                    .value
                    .iter()
                    .map(|p| crate::error::shown_path(p))
                    .collect::<Vec<_>>()
                    .join(":");
                out.push(Missing {
                    setting: info.name,
                    problem: format!("{paths} (from {}) does not exist", k.origin),
                    fix: format!("fix the path, or {}", where_to_set(info)),
                });
            }
            Some(_) => {}
        }
    }

    fn check_registry(&self, out: &mut Vec<Missing>) {
        require(out, &self.registry, Key::Registry);
        require_file(out, &self.registry_ca_file, Key::RegistryCa);
    }
}
