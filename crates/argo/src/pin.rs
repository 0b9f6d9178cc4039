//! Rewriting image references to the digests recorded in the image lock file.
//!
//! This crate does not read the lock file: callers pass a resolver (for the CLI, the lock's
//! `resolve`). The resolver gets the reference exactly as written and decides what matches
//! (name with or without tag or registry); returning `None` means "not in the lock file".

use crate::inject::{containers, containers_mut};
use crate::load::LoadedWorkflow;
use crate::report::{Rewrite, RewriteKind};
use crate::types::Workflow;

/// Maps an image reference as written to its pinned reference, if known.
pub type Resolver<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One image reference in a workflow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageUse {
    /// e.g. `spec.templates[1].container.image`.
    pub path: String,
    pub line: Option<usize>,
    pub image: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PinReport {
    /// Images rewritten to a digest reference (empty with `no_pin`).
    pub rewrites: Vec<Rewrite>,
    /// Images the resolver does not know.
    pub unresolved: Vec<ImageUse>,
    /// Images left alone on purpose: already pinned by digest, or an Argo expression
    /// (`{{inputs.parameters.image}}`) whose value is only known at run time.
    pub skipped: Vec<ImageUse>,
}

/// Why an image cannot be looked up in the lock file, if it cannot.
pub fn not_pinnable(image: &str) -> Option<&'static str> {
    if image.contains("{{") {
        Some("an Argo expression, resolved at run time")
    } else if image.contains('@') {
        Some("already pinned by digest")
    } else {
        None
    }
}

/// Every image reference of the workflow's containers, scripts, init containers and sidecars.
pub fn images(loaded: &LoadedWorkflow) -> Vec<ImageUse> {
    image_paths(&loaded.workflow)
        .into_iter()
        .map(|(path, image)| ImageUse {
            line: loaded.line(&path),
            path,
            image,
        })
        .collect()
}

fn image_paths(wf: &Workflow) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (t, template) in wf.spec.templates.iter().enumerate() {
        for (cpath, c) in containers(template, &format!("spec.templates[{t}]")) {
            if !c.image.is_empty() {
                out.push((format!("{cpath}.image"), c.image.clone()));
            }
        }
    }
    out
}

/// Rewrites each resolvable image to its pinned reference; with `no_pin` only reports.
pub fn pin_images(loaded: &mut LoadedWorkflow, resolve: Resolver<'_>, no_pin: bool) -> PinReport {
    let mut report = PinReport::default();
    let lines = loaded.lines.clone();
    for (t, template) in loaded.workflow.spec.templates.iter_mut().enumerate() {
        for (cpath, c) in containers_mut(template, &format!("spec.templates[{t}]")) {
            if c.image.is_empty() {
                continue;
            }
            let path = format!("{cpath}.image");
            let use_ = ImageUse {
                line: lines.line(&path),
                path: path.clone(),
                image: c.image.clone(),
            };
            if not_pinnable(&c.image).is_some() {
                report.skipped.push(use_);
                continue;
            }
            match resolve(&c.image) {
                None => report.unresolved.push(use_),
                Some(pinned) if pinned == c.image => {}
                Some(pinned) => {
                    if no_pin {
                        continue;
                    }
                    report.rewrites.push(Rewrite {
                        kind: RewriteKind::Image,
                        line: use_.line,
                        path,
                        from: Some(c.image.clone()),
                        to: pinned.clone(),
                        reason: "pinned from the image lock file".to_string(),
                    });
                    c.image = pinned;
                }
            }
        }
    }
    report
}
