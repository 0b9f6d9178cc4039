//! `-p key=value`: setting `spec.arguments.parameters` and finding the ones still missing.

use std::path::PathBuf;

use crate::load::{LoadedWorkflow, closest_first};
use crate::report::{Rewrite, RewriteKind};
use crate::types::{Parameter, Workflow};

#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    #[error("`-p {arg}`: expected KEY=VALUE (e.g. `-p vintage=2012`)")]
    Malformed { arg: String },
    #[error("{}: unknown parameter{} {}: {}", file.display(), plural(unknown.len()), quoted(unknown), known_text(known))]
    Unknown {
        file: PathBuf,
        unknown: Vec<String>,
        /// Declared parameters, closest to the first unknown one first.
        known: Vec<String>,
    },
    #[error("{}:{}: parameter `{name}` cannot be `{value}`: allowed values are {}; pass one of them with -p {name}=VALUE", file.display(), line.map_or_else(|| "?".to_string(), |l| l.to_string()), quoted(allowed))]
    NotInEnum {
        file: PathBuf,
        line: Option<usize>,
        name: String,
        value: String,
        allowed: Vec<String>,
    },
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn known_text(known: &[String]) -> String {
    if known.is_empty() {
        "the workflow declares no parameter (spec.arguments.parameters); remove the -p option or declare it".to_string()
    } else {
        format!(
            "the workflow declares {} (closest first); check the spelling or declare it under spec.arguments.parameters",
            quoted(known)
        )
    }
}

/// Splits `key=value` at the first `=`; the value may be empty or contain `=`.
pub fn parse_parameter(arg: &str) -> Result<(String, String), ParamError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ParamError::Malformed {
            arg: arg.to_string(),
        }),
    }
}

/// Applies `-p` options (`key=value` each) to `spec.arguments.parameters`.
///
/// Nothing changes unless every option is valid. A later option for the same key wins. Setting
/// a value drops a `valueFrom` the parameter had, as `argo submit -p` does.
pub fn set_parameters(
    loaded: &mut LoadedWorkflow,
    args: &[String],
) -> Result<Vec<Rewrite>, ParamError> {
    let pairs = args
        .iter()
        .map(|a| parse_parameter(a))
        .collect::<Result<Vec<_>, _>>()?;
    set_parameter_values(loaded, &pairs)
}

/// Like [`set_parameters`] with already split pairs.
pub fn set_parameter_values(
    loaded: &mut LoadedWorkflow,
    pairs: &[(String, String)],
) -> Result<Vec<Rewrite>, ParamError> {
    let declared: Vec<String> = workflow_parameters(&loaded.workflow)
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let unknown: Vec<String> = pairs
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !declared.contains(k))
        .collect();
    if let Some(first) = unknown.first() {
        let known = closest_first(first, declared.iter().map(String::as_str));
        let mut unknown = unknown.clone();
        unknown.dedup();
        return Err(ParamError::Unknown {
            file: loaded.file.clone(),
            unknown,
            known,
        });
    }
    for (key, value) in pairs {
        let Some(i) = declared.iter().position(|d| d == key) else {
            continue;
        };
        let param = &workflow_parameters(&loaded.workflow)[i];
        if let Some(allowed) = &param.enum_values
            && !allowed.contains(value)
        {
            return Err(ParamError::NotInEnum {
                file: loaded.file.clone(),
                line: loaded.line(&param_path(i)),
                name: key.clone(),
                value: value.clone(),
                allowed: allowed.clone(),
            });
        }
    }
    let mut rewrites = Vec::new();
    for (key, value) in pairs {
        let Some(i) = declared.iter().position(|d| d == key) else {
            continue;
        };
        let path = param_path(i);
        let line = loaded.line(&path);
        let Some(args) = loaded.workflow.spec.arguments.as_mut() else {
            continue;
        };
        let Some(param) = args.parameters.get_mut(i) else {
            continue;
        };
        let from = param.value.clone();
        param.value = Some(value.clone());
        param.value_from = None;
        rewrites.push(Rewrite {
            kind: RewriteKind::Parameter,
            path: format!("{path}.value"),
            line,
            from,
            to: value.clone(),
            reason: format!("-p {key}"),
        });
    }
    Ok(rewrites)
}

fn param_path(i: usize) -> String {
    format!("spec.arguments.parameters[{i}]")
}

fn workflow_parameters(wf: &Workflow) -> &[Parameter] {
    wf.spec.arguments.as_ref().map_or(&[], |a| &a.parameters)
}

/// A workflow parameter that has neither `value` nor `valueFrom` (Argo refuses to submit it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingParameter {
    pub name: String,
    pub path: String,
    pub line: Option<usize>,
    pub description: Option<String>,
}

/// Workflow parameters still without a value.
pub fn missing_parameters(loaded: &LoadedWorkflow) -> Vec<MissingParameter> {
    workflow_parameters(&loaded.workflow)
        .iter()
        .enumerate()
        .filter(|(_, p)| p.value.is_none() && p.value_from.is_none())
        .map(|(i, p)| MissingParameter {
            name: p.name.clone(),
            path: param_path(i),
            line: loaded.line(&param_path(i)),
            description: p.description.clone(),
        })
        .collect()
}
