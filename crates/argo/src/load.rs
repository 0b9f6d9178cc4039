//! Reading a workflow file, finding it by name, and reporting type errors at their line.
//!
//! The text is read twice: serde-saphyr turns it into a JSON value (so nothing is lost and no
//! type can make that step fail), and [`LineMap`] walks the parser's events for positions.
//! The typed structs are then read from the JSON value; when that fails, [`locate`] finds the
//! innermost field that does not fit, so the error names its line.

use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::lines::LineMap;
use crate::types::{
    Arguments, Container, DagTask, DagTemplate, EnvFromSource, EnvVar, Inputs, NodeStatus, Outputs,
    Parameter, ScriptTemplate, Template, TemplateMetadata, Volume, VolumeMount, Workflow,
    WorkflowSpec, WorkflowStatus, WorkflowStep, WorkflowTemplateRef, json_kind,
};

pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// Which kind of document the file held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Workflow,
    WorkflowTemplate,
}

/// A workflow read from a file, with what is needed to point back into that file.
///
/// A `WorkflowTemplate` file is turned into a `Workflow` by copying its spec (see the crate
/// documentation for why); `template_name` then keeps the template's name.
#[derive(Debug, Clone)]
pub struct LoadedWorkflow {
    pub file: PathBuf,
    pub kind: SourceKind,
    pub workflow: Workflow,
    pub template_name: Option<String>,
    pub lines: LineMap,
}

impl LoadedWorkflow {
    /// Line of `path` (or of its closest parent present in the file).
    pub fn line(&self, path: &str) -> Option<usize> {
        self.lines.line(path)
    }

    /// `file:line` for messages, or just the file when the path has no line.
    pub fn at(&self, path: &str) -> String {
        match self.line(path) {
            Some(l) => format!("{}:{l}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}; check that the file exists and is readable", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{}: invalid YAML: {message}; fix the syntax at that line", file.display(), line_text(*line))]
    Yaml {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{}: holds {count} YAML documents; put one Workflow or WorkflowTemplate per file", file.display())]
    MultipleDocuments { file: PathBuf, count: usize },
    #[error("{}:{}: the document is {found}, not a mapping; a workflow file starts with `apiVersion: {API_VERSION}`", file.display(), line_text(*line))]
    NotAMapping {
        file: PathBuf,
        line: Option<usize>,
        found: &'static str,
    },
    #[error("{}:{}: kind `{kind}` is not supported: expected `Workflow` or `WorkflowTemplate`; `run` and `lint` take Argo workflows only", file.display(), line_text(*line))]
    WrongKind {
        file: PathBuf,
        line: Option<usize>,
        kind: String,
    },
    #[error("{}:{}: apiVersion `{api_version}` is not Argo's; use `apiVersion: {API_VERSION}`", file.display(), line_text(*line))]
    WrongApiVersion {
        file: PathBuf,
        line: Option<usize>,
        api_version: String,
    },
    #[error("{}:{}: `{field}`: {message}; fix the value at that line (Argo's field reference: https://argo-workflows.readthedocs.io/en/latest/fields/)", file.display(), line_text(*line))]
    Shape {
        file: PathBuf,
        line: Option<usize>,
        field: String,
        message: String,
    },
    #[error("no workflow named `{name}` in {}{}; pass a name from that folder or a path to a YAML file", dir.display(), available_text(available))]
    UnknownWorkflow {
        name: String,
        dir: PathBuf,
        /// Closest first.
        available: Vec<String>,
    },
    #[error("cannot list {}: {source}; create the folder or pass a path to a YAML file", dir.display())]
    ListDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

fn line_text(line: Option<usize>) -> String {
    line.map_or_else(|| "?".to_string(), |l| l.to_string())
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        " (the folder has no .yaml or .yml file)".to_string()
    } else {
        format!(" (available, closest first: {})", available.join(", "))
    }
}

/// Reads one workflow file.
pub fn load_workflow(file: &Path) -> Result<LoadedWorkflow, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|source| LoadError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    load_workflow_str(&text, file)
}

/// Reads a workflow from text; `file` is only used in messages.
pub fn load_workflow_str(text: &str, file: &Path) -> Result<LoadedWorkflow, LoadError> {
    let file_buf = file.to_path_buf();
    let lines = LineMap::from_yaml(text);
    // Kubernetes and Argo read YAML 1.1 numbers: `defaultMode: 0644` is octal there.
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| LoadError::Yaml {
            file: file_buf.clone(),
            line: e.location().map(|l| l.line() as usize),
            message: first_line(&e.to_string()),
        })?;
    let doc = match docs.len() {
        1 => docs.into_iter().next().unwrap_or(Value::Null),
        0 => {
            return Err(LoadError::NotAMapping {
                file: file_buf,
                line: None,
                found: "empty",
            });
        }
        count => {
            return Err(LoadError::MultipleDocuments {
                file: file_buf,
                count,
            });
        }
    };
    let Value::Object(map) = &doc else {
        return Err(LoadError::NotAMapping {
            file: file_buf,
            line: Some(1),
            found: json_kind(&doc),
        });
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    let source_kind = match kind {
        "Workflow" => SourceKind::Workflow,
        "WorkflowTemplate" => SourceKind::WorkflowTemplate,
        other => {
            return Err(LoadError::WrongKind {
                file: file_buf,
                line: lines.exact("kind"),
                kind: if other.is_empty() {
                    "(none)".to_string()
                } else {
                    other.to_string()
                },
            });
        }
    };
    if api_version != API_VERSION {
        return Err(LoadError::WrongApiVersion {
            file: file_buf,
            line: lines.exact("apiVersion"),
            api_version: api_version.to_string(),
        });
    }

    let metadata: ObjectMeta = typed(map, "metadata", &lines, file)?;
    let spec: WorkflowSpec = typed(map, "spec", &lines, file)?;
    let (workflow, template_name) = match source_kind {
        SourceKind::Workflow => {
            let status: Option<WorkflowStatus> = match map.get("status") {
                None | Some(Value::Null) => None,
                Some(_) => Some(typed(map, "status", &lines, file)?),
            };
            let mut wf = Workflow::new("", spec);
            wf.metadata = metadata;
            wf.status = status;
            (wf, None)
        }
        SourceKind::WorkflowTemplate => {
            let name = metadata
                .name
                .clone()
                .or_else(|| metadata.generate_name.clone());
            (workflow_from_template(metadata, spec), name)
        }
    };
    Ok(LoadedWorkflow {
        file: file_buf,
        kind: source_kind,
        workflow,
        template_name,
        lines,
    })
}

/// Builds the Workflow that runs a WorkflowTemplate: same spec, labels and annotations, and a
/// `generateName` from the template's name so each run gets a fresh name.
pub fn workflow_from_template(meta: ObjectMeta, spec: WorkflowSpec) -> Workflow {
    let base = meta
        .name
        .clone()
        .or_else(|| {
            meta.generate_name
                .as_ref()
                .map(|g| g.trim_end_matches('-').to_string())
        })
        .unwrap_or_else(|| "workflow".to_string());
    let mut wf = Workflow::new("", spec);
    wf.metadata = ObjectMeta {
        generate_name: Some(format!("{base}-")),
        namespace: meta.namespace,
        labels: meta.labels,
        annotations: meta.annotations,
        ..ObjectMeta::default()
    };
    wf
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// Reads `map[key]` as `T`; a missing key reads as an empty mapping (all fields default).
fn typed<T: DeserializeOwned + Probe>(
    map: &Map<String, Value>,
    key: &str,
    lines: &LineMap,
    file: &Path,
) -> Result<T, LoadError> {
    let value = match map.get(key) {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v.clone(),
    };
    serde_json::from_value::<T>(value.clone()).map_err(|e| {
        let (field, message) = locate::<T>(&value, key).unwrap_or((key.to_string(), e.to_string()));
        let message = if message.contains("invalid type: boolean") {
            format!("{message} (YAML reads unquoted yes, no, on, off, y and n as booleans: quote the value)")
        } else {
            message
        };
        LoadError::Shape {
            file: file.to_path_buf(),
            line: lines.line(&field),
            field,
            message,
        }
    })
}

/// Finds the innermost path under `path` whose value does not fit its type.
///
/// Serde's messages from a flattened struct say what was wrong but not where, so this retries
/// one field at a time: every modelled field is optional, so `{field: value}` alone reads
/// exactly when that field is fine.
pub(crate) fn locate<T: DeserializeOwned + Probe>(
    v: &Value,
    path: &str,
) -> Option<(String, String)> {
    let err = serde_json::from_value::<T>(v.clone()).err()?;
    let Value::Object(map) = v else {
        return Some((path.to_string(), err.to_string()));
    };
    for (key, child) in map {
        let mut single = Map::new();
        single.insert(key.clone(), child.clone());
        if let Err(e) = serde_json::from_value::<T>(Value::Object(single)) {
            let child_path = format!("{path}.{key}");
            return Some(
                T::probe_child(key, child, &child_path)
                    .unwrap_or_else(|| (child_path, e.to_string())),
            );
        }
    }
    Some((path.to_string(), err.to_string()))
}

/// Looks inside each element of a list field.
fn locate_list<T: DeserializeOwned + Probe>(v: &Value, path: &str) -> Option<(String, String)> {
    let Value::Array(items) = v else { return None };
    items
        .iter()
        .enumerate()
        .find_map(|(i, item)| locate::<T>(item, &format!("{path}[{i}]")))
}

/// Per type: which field holds which type, so [`locate`] can go deeper.
pub(crate) trait Probe {
    fn probe_child(_key: &str, _v: &Value, _path: &str) -> Option<(String, String)> {
        None
    }
}

impl Probe for ObjectMeta {}
impl Probe for WorkflowTemplateRef {}
impl Probe for TemplateMetadata {}
impl Probe for VolumeMount {}
impl Probe for EnvVar {}
impl Probe for EnvFromSource {}
impl Probe for Volume {}
impl Probe for Parameter {}

impl Probe for WorkflowSpec {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        match key {
            "arguments" => locate::<Arguments>(v, path),
            "templates" => locate_list::<Template>(v, path),
            "volumes" => locate_list::<Volume>(v, path),
            "workflowTemplateRef" => locate::<WorkflowTemplateRef>(v, path),
            _ => None,
        }
    }
}

impl Probe for Arguments {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        (key == "parameters").then(|| locate_list::<Parameter>(v, path))?
    }
}

impl Probe for Inputs {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        (key == "parameters").then(|| locate_list::<Parameter>(v, path))?
    }
}

impl Probe for Outputs {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        (key == "parameters").then(|| locate_list::<Parameter>(v, path))?
    }
}

impl Probe for Template {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        match key {
            "inputs" => locate::<Inputs>(v, path),
            "outputs" => locate::<Outputs>(v, path),
            "metadata" => locate::<TemplateMetadata>(v, path),
            "container" => locate::<Container>(v, path),
            "script" => locate::<ScriptTemplate>(v, path),
            "initContainers" | "sidecars" => locate_list::<Container>(v, path),
            "volumes" => locate_list::<Volume>(v, path),
            "dag" => locate::<DagTemplate>(v, path),
            "steps" => {
                let Value::Array(groups) = v else { return None };
                groups.iter().enumerate().find_map(|(g, group)| {
                    locate_list::<WorkflowStep>(group, &format!("{path}[{g}]"))
                })
            }
            _ => None,
        }
    }
}

impl Probe for Container {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        match key {
            "env" => locate_list::<EnvVar>(v, path),
            "envFrom" => locate_list::<EnvFromSource>(v, path),
            "volumeMounts" => locate_list::<VolumeMount>(v, path),
            _ => None,
        }
    }
}

impl Probe for ScriptTemplate {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        Container::probe_child(key, v, path)
    }
}

impl Probe for DagTemplate {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        (key == "tasks").then(|| locate_list::<DagTask>(v, path))?
    }
}

impl Probe for DagTask {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        (key == "arguments").then(|| locate::<Arguments>(v, path))?
    }
}

impl Probe for WorkflowStep {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        (key == "arguments").then(|| locate::<Arguments>(v, path))?
    }
}

impl Probe for WorkflowStatus {
    fn probe_child(key: &str, v: &Value, path: &str) -> Option<(String, String)> {
        if key != "nodes" {
            return None;
        }
        let Value::Object(nodes) = v else { return None };
        nodes
            .iter()
            .find_map(|(id, node)| locate::<NodeStatus>(node, &format!("{path}.{id}")))
    }
}

impl Probe for NodeStatus {}

/// Turns what the user typed (`collect`, `workflows/collect.yaml`, `/tmp/x.yml`) into a file.
///
/// A value naming an existing file, containing a path separator or ending in `.yaml`/`.yml` is a
/// path; anything else is a name looked up as `DIR/NAME.yaml` then `DIR/NAME.yml`.
pub fn resolve_workflow(arg: &str, workflows_dir: &Path) -> Result<PathBuf, LoadError> {
    let as_path = Path::new(arg);
    let looks_like_path = arg.contains('/')
        || arg.contains(std::path::MAIN_SEPARATOR)
        || arg.ends_with(".yaml")
        || arg.ends_with(".yml");
    if as_path.is_file() || looks_like_path {
        return Ok(as_path.to_path_buf());
    }
    for ext in ["yaml", "yml"] {
        let candidate = workflows_dir.join(format!("{arg}.{ext}"));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let names = list_workflows(workflows_dir).unwrap_or_default();
    let available = closest_first(arg, names.iter().map(|(n, _)| n.as_str()));
    Err(LoadError::UnknownWorkflow {
        name: arg.to_string(),
        dir: workflows_dir.to_path_buf(),
        available,
    })
}

/// Similarity used to order suggestions (1.0 = same).
pub(crate) fn closeness(a: &str, b: &str) -> f64 {
    strsim::jaro_winkler(&a.to_lowercase(), &b.to_lowercase())
}

/// Names closest to `wanted` first.
pub(crate) fn closest_first<'a>(
    wanted: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut v: Vec<String> = names.into_iter().map(str::to_string).collect();
    v.sort_by(|a, b| {
        closeness(wanted, b)
            .partial_cmp(&closeness(wanted, a))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.cmp(b))
    });
    v.dedup();
    v
}

/// Workflow files of a folder: `(name, path)` sorted by name; `name` is the file stem.
pub fn list_workflows(workflows_dir: &Path) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let entries = std::fs::read_dir(workflows_dir).map_err(|source| LoadError::ListDir {
        dir: workflows_dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if !is_yaml || !path.is_file() {
            continue;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            out.push((stem.to_string(), path.clone()));
        }
    }
    out.sort();
    Ok(out)
}
