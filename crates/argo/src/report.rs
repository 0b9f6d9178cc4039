//! What validation finds and what the toolkit changed in a workflow before submitting it.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// One finding of offline validation, located in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Where in the document, e.g. `spec.templates[2].dag.tasks[0].depends`.
    pub path: String,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": {}: {}", self.severity, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// What a rewrite was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RewriteKind {
    Namespace,
    ServiceAccount,
    VolumeClaim,
    ConfigMap,
    GenerateName,
    Image,
    Parameter,
}

/// One change made to the workflow before submission (for `--dry-run` and the run record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    pub kind: RewriteKind,
    /// Where in the document, e.g. `spec.templates[1].container.image`.
    pub path: String,
    /// Line in the source file, when the value was written there.
    pub line: Option<usize>,
    /// The value before (none when the field was absent).
    pub from: Option<String>,
    pub to: String,
    /// Why, e.g. `argo_namespace from ARGO_NAMESPACE` or `images.lock`.
    pub reason: String,
}

impl fmt::Display for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        match &self.from {
            Some(from) => write!(f, ": {from} -> {}", self.to)?,
            None => write!(f, ": set to {}", self.to)?,
        }
        write!(f, " ({})", self.reason)
    }
}
