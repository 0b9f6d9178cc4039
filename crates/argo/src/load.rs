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

/// Which kind of Argo document a workflow was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Workflow,
    WorkflowTemplate,
    ClusterWorkflowTemplate,
    /// Its `spec.workflowSpec` is the workflow: `run` submits it once, as
    /// `argo submit --from cronwf/NAME` does; the schedule is not created.
    CronWorkflow,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Workflow => "Workflow",
            SourceKind::WorkflowTemplate => "WorkflowTemplate",
            SourceKind::ClusterWorkflowTemplate => "ClusterWorkflowTemplate",
            SourceKind::CronWorkflow => "CronWorkflow",
        }
    }

    fn from_kind(kind: &str) -> Option<SourceKind> {
        [
            SourceKind::Workflow,
            SourceKind::WorkflowTemplate,
            SourceKind::ClusterWorkflowTemplate,
            SourceKind::CronWorkflow,
        ]
        .into_iter()
        .find(|k| k.as_str() == kind)
    }

    /// A template kind: its spec may leave parameters for the submitter to give.
    pub fn is_template(self) -> bool {
        matches!(
            self,
            SourceKind::WorkflowTemplate | SourceKind::ClusterWorkflowTemplate
        )
    }
}

/// A document `run` applies before it submits the workflow of the same file:
/// a WorkflowTemplate, ClusterWorkflowTemplate or ConfigMap the workflow uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Companion {
    pub kind: String,
    pub name: String,
    /// `file:line` of the document, for messages.
    pub at: String,
    /// The document as written (JSON form).
    pub manifest: Value,
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
    /// The file's other documents, applied first by `run`, in file order.
    pub companions: Vec<Companion>,
}

/// Every document of a workflow file, each loaded on its own so that `lint` can report
/// each one.
#[derive(Debug)]
pub struct LoadedFile {
    pub file: PathBuf,
    pub documents: Vec<Document>,
}

#[derive(Debug)]
pub struct Document {
    /// 1-based position among the file's non-empty documents.
    pub number: usize,
    pub line: usize,
    /// The document as written (JSON form), for applying it.
    pub raw: Value,
    pub content: DocumentContent,
}

#[derive(Debug)]
pub enum DocumentContent {
    /// A Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow.
    Workflow(Box<LoadedWorkflow>),
    /// A ConfigMap: applied by `run`, only its shape is checked.
    ConfigMap { name: String },
    /// A document this toolkit neither checks nor applies.
    Invalid(LoadError),
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
    #[error("{}:{line}: the file is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8", file.display())]
    NotUtf8 {
        file: PathBuf,
        line: usize,
        offset: usize,
    },
    #[error("{}:{}: {what}; a workflow this large is usually generated: generate a loop (withItems, withParam) instead, or split the file", file.display(), line_text(*line))]
    TooLarge {
        file: PathBuf,
        line: Option<usize>,
        what: String,
    },
    #[error("{}:{}: the key `{key}` appears twice in the same mapping; keep one (YAML does not say which would win)", file.display(), line_text(*line))]
    DuplicateKey {
        file: PathBuf,
        line: Option<usize>,
        key: String,
    },
    #[error("{}:{}: invalid YAML: {message}; fix the syntax at that line", file.display(), line_text(*line))]
    Yaml {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{}: holds {} {kind}s ({}); `run` submits one workflow per file: put the others in their own files (`lint` checks them all)", file.display(), names.len(), names.join(", "))]
    SeveralWorkflows {
        file: PathBuf,
        kind: &'static str,
        /// `name (line N)` of each.
        names: Vec<String>,
    },
    #[error("{}: holds only ConfigMaps; `run` and `lint` need a Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow", file.display())]
    NoWorkflow { file: PathBuf },
    #[error("{}:{line}: a {kind} beside the file's workflow: `run` applies only WorkflowTemplates, ClusterWorkflowTemplates and ConfigMaps before it submits; move the {kind} to its own file", file.display())]
    NotACompanion {
        file: PathBuf,
        line: usize,
        kind: String,
    },
    #[error("{}:{}: this {kind} has no name; give it `metadata.name` so the workflow can refer to it", file.display(), line_text(*line))]
    CompanionWithoutName {
        file: PathBuf,
        line: Option<usize>,
        kind: String,
    },
    #[error("{}:{}: the document is {found}, not a mapping; a workflow file starts with `apiVersion: {API_VERSION}`", file.display(), line_text(*line))]
    NotAMapping {
        file: PathBuf,
        line: Option<usize>,
        found: &'static str,
    },
    #[error("{}:{}: kind {kind} is not supported: expected Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow (or a ConfigMap beside one of them)", file.display(), line_text(*line))]
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

/// Reads one workflow file: its workflow, with the file's other documents as companions.
pub fn load_workflow(file: &Path) -> Result<LoadedWorkflow, LoadError> {
    load_file(file)?.into_workflow()
}

/// Reads a workflow from text; `file` is only used in messages.
pub fn load_workflow_str(text: &str, file: &Path) -> Result<LoadedWorkflow, LoadError> {
    load_file_str(text, file)?.into_workflow()
}

/// Reads every document of a file.
pub fn load_file(file: &Path) -> Result<LoadedFile, LoadError> {
    let bytes = std::fs::read(file).map_err(|source| LoadError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        LoadError::NotUtf8 {
            file: file.to_path_buf(),
            line,
            offset,
        }
    })?;
    load_file_str(&text, file)
}

/// Reads every document of a text; a syntax error stops the whole file, an error in one
/// document is kept in that document.
pub fn load_file_str(text: &str, file: &Path) -> Result<LoadedFile, LoadError> {
    // Kubernetes and Argo read YAML 1.1 numbers: `defaultMode: 0644` is octal there.
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| yaml_error(&e, file))?;
    if docs.is_empty() {
        return Err(LoadError::NotAMapping {
            file: file.to_path_buf(),
            line: None,
            found: "empty",
        });
    }
    let mut maps = LineMap::documents(text).into_iter();
    let documents = docs
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let (line, lines) = maps.next().unwrap_or_default();
            Document {
                number: i + 1,
                line: line.max(1),
                content: load_document(&doc, lines, line.max(1), file),
                raw: doc,
            }
        })
        .collect();
    Ok(LoadedFile {
        file: file.to_path_buf(),
        documents,
    })
}

/// The parser's error in the user's terms: its limits are not syntax errors, and its
/// advice about its own options means nothing to a user.
fn yaml_error(e: &serde_saphyr::Error, file: &Path) -> LoadError {
    let file = file.to_path_buf();
    let line = e.location().map(|l| l.line() as usize);
    match e.without_snippet() {
        serde_saphyr::Error::Budget { breach, .. } => LoadError::TooLarge {
            file,
            line,
            what: budget_text(breach),
        },
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => LoadError::DuplicateKey {
            file,
            line,
            key: key.clone().unwrap_or_else(|| "(a complex key)".to_string()),
        },
        _ => LoadError::Yaml {
            file,
            line,
            message: first_line(&e.to_string()),
        },
    }
}

/// Which limit of the YAML reader was reached, in the user's terms. The limits stop
/// files that expand without bound (alias bombs, endless nesting).
fn budget_text(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let what = match breach {
        B::Nodes { nodes } => format!("more than {} values", nodes.saturating_sub(1)),
        B::Events { events } => format!("more than {} YAML events", events.saturating_sub(1)),
        B::Depth { depth } => format!("values nested {depth} levels deep"),
        B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } => {
            "too many aliases (`*name`)".to_string()
        }
        B::Documents { documents } => format!("{documents} documents"),
        B::ScalarBytes { total_scalar_bytes } => {
            format!("{total_scalar_bytes} bytes of text in values")
        }
        other => format!("{other:?}"),
    };
    format!("the file is too large for the YAML reader: {what}")
}

/// `kind` as the user wrote it, for messages: `` `Pod` ``, a number `5`, or none.
fn describe_kind(kind: Option<&Value>) -> String {
    match kind {
        None | Some(Value::Null) => "(none: the document has no `kind`)".to_string(),
        Some(Value::String(k)) if k.is_empty() => "(empty)".to_string(),
        Some(Value::String(k)) => format!("`{}`", kit_config::cut(k)),
        Some(other) => format!(
            "`{}` ({}, not a name)",
            kit_config::cut(&other.to_string()),
            json_kind(other)
        ),
    }
}

fn load_document(doc: &Value, lines: LineMap, line: usize, file: &Path) -> DocumentContent {
    let file_buf = file.to_path_buf();
    let Value::Object(map) = doc else {
        return DocumentContent::Invalid(LoadError::NotAMapping {
            file: file_buf,
            line: Some(line),
            found: json_kind(doc),
        });
    };
    let kind = map.get("kind");
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let source_kind = kind.and_then(Value::as_str).and_then(SourceKind::from_kind);
    if kind.and_then(Value::as_str) == Some("ConfigMap") && api_version == "v1" {
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        return DocumentContent::ConfigMap { name };
    }
    let Some(source_kind) = source_kind else {
        return DocumentContent::Invalid(LoadError::WrongKind {
            file: file_buf,
            line: lines.exact("kind").or(Some(line)),
            kind: describe_kind(kind),
        });
    };
    if api_version != API_VERSION {
        return DocumentContent::Invalid(LoadError::WrongApiVersion {
            file: file_buf,
            line: lines.exact("apiVersion").or(Some(line)),
            api_version: kit_config::cut(api_version),
        });
    }
    match workflow_document(map, source_kind, lines, file) {
        Ok(w) => DocumentContent::Workflow(Box::new(w)),
        Err(e) => DocumentContent::Invalid(e),
    }
}

fn workflow_document(
    map: &Map<String, Value>,
    source_kind: SourceKind,
    lines: LineMap,
    file: &Path,
) -> Result<LoadedWorkflow, LoadError> {
    let metadata: ObjectMeta = typed(map, "metadata", &lines, file)?;
    let (workflow, template_name, lines) = match source_kind {
        SourceKind::Workflow => {
            let spec: WorkflowSpec = typed(map, "spec", &lines, file)?;
            let status: Option<WorkflowStatus> = match map.get("status") {
                None | Some(Value::Null) => None,
                Some(_) => Some(typed(map, "status", &lines, file)?),
            };
            let mut wf = Workflow::new("", spec);
            wf.metadata = metadata;
            wf.status = status;
            (wf, None, lines)
        }
        SourceKind::WorkflowTemplate | SourceKind::ClusterWorkflowTemplate => {
            let spec: WorkflowSpec = typed(map, "spec", &lines, file)?;
            let name = metadata
                .name
                .clone()
                .or_else(|| metadata.generate_name.clone());
            (workflow_from_template(metadata, spec), name, lines)
        }
        SourceKind::CronWorkflow => {
            // Read `spec.workflowSpec` as if it were a workflow's `spec`, so that every
            // rule and every line number works unchanged.
            let lines = lines.rebased("spec.workflowSpec", "spec");
            let inner = map
                .get("spec")
                .and_then(|s| s.get("workflowSpec"))
                .cloned()
                .unwrap_or(Value::Null);
            let as_workflow = Map::from_iter([("spec".to_string(), inner)]);
            let spec: WorkflowSpec = typed(&as_workflow, "spec", &lines, file)?;
            let name = metadata.name.clone();
            (workflow_from_template(metadata, spec), name, lines)
        }
    };
    Ok(LoadedWorkflow {
        file: file.to_path_buf(),
        kind: source_kind,
        workflow,
        template_name,
        lines,
        companions: vec![],
    })
}

impl LoadedFile {
    /// The workflow `run` submits, with the other documents as its companions.
    ///
    /// The workflow is the file's Workflow; without one, its only WorkflowTemplate,
    /// ClusterWorkflowTemplate or CronWorkflow. Any document in error stops it: `run`
    /// applies all of a file or nothing.
    pub fn into_workflow(self) -> Result<LoadedWorkflow, LoadError> {
        let file = self.file;
        let mut workflows = vec![];
        let mut others = vec![];
        for doc in self.documents {
            match doc.content {
                DocumentContent::Invalid(e) => return Err(e),
                DocumentContent::Workflow(w) => workflows.push((doc.line, *w, doc.raw)),
                DocumentContent::ConfigMap { name } => {
                    others.push(companion(&file, doc.line, "ConfigMap", name, doc.raw));
                }
            }
        }
        let main_kind = [
            SourceKind::Workflow,
            SourceKind::CronWorkflow,
            SourceKind::WorkflowTemplate,
            SourceKind::ClusterWorkflowTemplate,
        ]
        .into_iter()
        .find(|k| workflows.iter().any(|(_, w, _)| w.kind == *k))
        .ok_or_else(|| LoadError::NoWorkflow { file: file.clone() })?;
        let (mains, rest): (Vec<_>, Vec<_>) = workflows
            .into_iter()
            .partition(|(_, w, _)| w.kind == main_kind);
        if mains.len() > 1 {
            return Err(LoadError::SeveralWorkflows {
                file,
                kind: main_kind.as_str(),
                names: mains
                    .iter()
                    .map(|(line, w, _)| format!("{} (line {line})", display_name(w)))
                    .collect(),
            });
        }
        let Some((_, mut main, _)) = mains.into_iter().next() else {
            return Err(LoadError::NoWorkflow { file });
        };
        for (line, w, raw) in rest {
            if !w.kind.is_template() {
                return Err(LoadError::NotACompanion {
                    file,
                    line,
                    kind: w.kind.as_str().to_string(),
                });
            }
            let name = w.template_name.clone().unwrap_or_default();
            others.push(companion(&file, line, w.kind.as_str(), name, raw));
        }
        others.sort_by_key(|(line, _)| *line);
        for (line, c) in &others {
            if c.name.is_empty() {
                return Err(LoadError::CompanionWithoutName {
                    file,
                    line: Some(*line),
                    kind: c.kind.clone(),
                });
            }
        }
        main.companions = others.into_iter().map(|(_, c)| c).collect();
        Ok(main)
    }
}

/// A companion document and the line it starts on.
fn companion(
    file: &Path,
    line: usize,
    kind: &str,
    name: String,
    manifest: Value,
) -> (usize, Companion) {
    let at = format!("{}:{line}", file.display());
    let kind = kind.to_string();
    (
        line,
        Companion {
            at,
            kind,
            name,
            manifest,
        },
    )
}

fn display_name(w: &LoadedWorkflow) -> String {
    w.template_name
        .clone()
        .or_else(|| w.workflow.metadata.name.clone())
        .or_else(|| w.workflow.metadata.generate_name.clone())
        .unwrap_or_else(|| "(unnamed)".to_string())
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

/// A value short enough to quote in a message.
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
/// A value naming an existing file, containing a path separator or ending in `.yaml`/`.yml`/
/// `.py` is a path; anything else is a name looked up as `DIR/NAME.yaml`, `DIR/NAME.yml`,
/// then `DIR/NAME.py` (a Hera script: the caller captures the workflow it builds).
pub fn resolve_workflow(arg: &str, workflows_dir: &Path) -> Result<PathBuf, LoadError> {
    let as_path = Path::new(arg);
    let looks_like_path = arg.contains('/')
        || arg.contains(std::path::MAIN_SEPARATOR)
        || arg.ends_with(".yaml")
        || arg.ends_with(".yml")
        || arg.ends_with(".py");
    if as_path.is_file() || looks_like_path {
        return Ok(as_path.to_path_buf());
    }
    for ext in WORKFLOW_EXTENSIONS {
        let candidate = workflows_dir.join(format!("{arg}.{ext}"));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let names = list_workflow_sources(workflows_dir).unwrap_or_default();
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
    list_with(workflows_dir, &["yaml", "yml"])
}

/// File extensions of workflow sources, in the order a bare name is looked up.
const WORKFLOW_EXTENSIONS: [&str; 3] = ["yaml", "yml", "py"];

/// Every workflow source of `workflows_dir`: YAML files and Hera scripts (`.py`).
pub fn list_workflow_sources(workflows_dir: &Path) -> Result<Vec<(String, PathBuf)>, LoadError> {
    list_with(workflows_dir, &WORKFLOW_EXTENSIONS)
}

/// Whether `path` is a Hera script rather than YAML.
pub fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py")
}

fn list_with(
    workflows_dir: &Path,
    extensions: &[&str],
) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let entries = std::fs::read_dir(workflows_dir).map_err(|source| LoadError::ListDir {
        dir: workflows_dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e));
        if !wanted || !path.is_file() {
            continue;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            out.push((stem.to_string(), path.clone()));
        }
    }
    out.sort();
    Ok(out)
}
