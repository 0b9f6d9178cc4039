//! Offline validation: the mistakes Argo would reject at submission (or only hit mid-run),
//! found before anything reaches the cluster, each with its `file:line`.

use std::collections::{BTreeSet, HashMap};

use crate::depends::{RESULTS, parse_depends};
use crate::load::{LoadedWorkflow, closeness, closest_first};
use crate::names::{
    MAX_GENERATE_NAME, field_name_problem, generate_name_problem, parameter_name_problem,
    suggest_field_name, suggest_object_name, workflow_name_problem,
};
use crate::pin::{Resolver, images, not_pinnable};
use crate::report::{Diagnostic, Severity};
use crate::types::{Arguments, DagTemplate, Parameter, Template, WorkflowStep};

/// What to check beyond the file itself.
#[derive(Clone, Copy, Default)]
pub struct ValidateOptions<'a> {
    /// Linting a file meant to receive `-p` values: a workflow parameter without a value is a
    /// warning, not an error (Argo's own lint makes the same exception).
    pub lint: bool,
    /// The image lock resolver; images it does not know are reported as warnings.
    pub images: Option<Resolver<'a>>,
}

struct Ctx<'a> {
    loaded: &'a LoadedWorkflow,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn push(&mut self, severity: Severity, path: &str, message: String, hint: Option<String>) {
        self.out.push(Diagnostic {
            severity,
            file: self.loaded.file.clone(),
            line: self.loaded.line(path),
            path: path.to_string(),
            message,
            hint,
        });
    }

    fn error(&mut self, path: &str, message: String, hint: Option<String>) {
        self.push(Severity::Error, path, message, hint);
    }

    fn warn(&mut self, path: &str, message: String, hint: Option<String>) {
        self.push(Severity::Warning, path, message, hint);
    }
}

/// Checks a loaded workflow; diagnostics come sorted by line.
pub fn validate(loaded: &LoadedWorkflow, opts: &ValidateOptions<'_>) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        loaded,
        out: Vec::new(),
    };
    check_metadata(&mut cx);
    check_workflow_arguments(&mut cx, opts.lint);
    let spec = &loaded.workflow.spec;
    if spec.workflow_template_ref.is_some() {
        // The templates live in the cluster; only the reference itself can be checked here.
        if !spec.templates.is_empty() {
            cx.error(
                "spec.templates",
                "a workflow with `workflowTemplateRef` cannot also declare templates".to_string(),
                Some("remove `templates` or remove `workflowTemplateRef`".to_string()),
            );
        }
        if spec
            .workflow_template_ref
            .as_ref()
            .is_some_and(|r| r.name.is_empty())
        {
            cx.error(
                "spec.workflowTemplateRef",
                "`workflowTemplateRef` has no `name`".to_string(),
                Some("name the WorkflowTemplate to run".to_string()),
            );
        }
    } else {
        let names = template_index(&mut cx);
        check_entry_and_exit(&mut cx, &names, opts.lint);
        for (t, template) in spec.templates.iter().enumerate() {
            check_template(&mut cx, &names, t, template);
        }
    }
    if let Some(resolve) = opts.images {
        for use_ in images(loaded) {
            if not_pinnable(&use_.image).is_some() {
                continue;
            }
            if resolve(&use_.image).is_none() {
                cx.warn(
                    &use_.path,
                    format!("image `{}` is not in the lock file", use_.image),
                    Some(
                        "build it from containers/ or add it to the mirrors with `cargo xtask up`, or check the name; it runs unpinned"
                            .to_string(),
                    ),
                );
            }
        }
    }
    let mut out = cx.out;
    out.sort_by_key(|d| (d.line.unwrap_or(0), std::cmp::Reverse(d.severity)));
    out
}

fn check_metadata(cx: &mut Ctx<'_>) {
    let meta = &cx.loaded.workflow.metadata;
    let from_template = cx.loaded.kind.is_template();
    if let Some(name) = meta.name.as_deref() {
        if let Some(problem) = workflow_name_problem(name) {
            cx.error(
                "metadata.name",
                format!("workflow name `{name}` {problem}"),
                Some(format!("use e.g. `{}`", suggest_object_name(name))),
            );
        }
    } else if let Some(prefix) = meta.generate_name.as_deref() {
        // A template's generateName is derived from its metadata.name.
        let path = if from_template {
            "metadata.name"
        } else {
            "metadata.generateName"
        };
        if let Some(problem) = generate_name_problem(prefix) {
            cx.error(
                path,
                format!("name prefix `{prefix}` {problem}"),
                Some(format!("use e.g. `{}-`", suggest_object_name(prefix))),
            );
        } else if prefix.len() > MAX_GENERATE_NAME {
            cx.warn(
                path,
                format!(
                    "name prefix `{prefix}` is {} characters long: Kubernetes cuts it to {MAX_GENERATE_NAME} before adding 5 random characters",
                    prefix.len()
                ),
                Some("shorten it so run names stay recognisable".to_string()),
            );
        }
    } else {
        cx.error(
            "metadata",
            "the workflow has neither `metadata.name` nor `metadata.generateName`".to_string(),
            Some("add `generateName: NAME-` under metadata".to_string()),
        );
    }
}

fn check_workflow_arguments(cx: &mut Ctx<'_>, lint: bool) {
    let Some(args) = cx.loaded.workflow.spec.arguments.as_ref() else {
        return;
    };
    check_parameter_names(cx, &args.parameters, "spec.arguments.parameters");
    for (i, p) in args.parameters.iter().enumerate() {
        let path = format!("spec.arguments.parameters[{i}]");
        if p.value.is_none() && p.value_from.is_none() {
            let hint = Some(format!(
                "pass it with `-p {}=VALUE`{}, or give it a `value` in the file",
                p.name,
                p.description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
            let msg = format!("workflow parameter `{}` has no value", p.name);
            if lint {
                cx.warn(&path, msg, hint);
            } else {
                cx.error(&path, msg, hint);
            }
        }
        check_enum(cx, p, &path);
    }
}

fn check_enum(cx: &mut Ctx<'_>, p: &Parameter, path: &str) {
    let (Some(allowed), Some(value)) = (&p.enum_values, p.value.as_deref()) else {
        return;
    };
    if allowed.is_empty() {
        cx.error(
            &format!("{path}.enum"),
            format!("parameter `{}` has an empty `enum`", p.name),
            Some("list at least one allowed value or remove `enum`".to_string()),
        );
    } else if !allowed.iter().any(|a| a == value) && !value.contains("{{") {
        cx.error(
            &format!("{path}.value"),
            format!(
                "parameter `{}` is `{value}`, not one of its allowed values {}",
                p.name,
                list(allowed)
            ),
            Some("pick one of the allowed values".to_string()),
        );
    }
}

fn check_parameter_names(cx: &mut Ctx<'_>, params: &[Parameter], base: &str) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, p) in params.iter().enumerate() {
        let path = format!("{base}[{i}]");
        if let Some(problem) = parameter_name_problem(&p.name) {
            cx.error(
                &path,
                format!("parameter name `{}` {problem}", p.name),
                None,
            );
        } else if let Some(first) = seen.insert(&p.name, i) {
            cx.error(
                &path,
                format!(
                    "parameter `{}` is declared twice (first at line {})",
                    p.name,
                    cx.loaded
                        .line(&format!("{base}[{first}]"))
                        .map_or_else(|| "?".to_string(), |l| l.to_string())
                ),
                Some("remove or rename one of them".to_string()),
            );
        }
    }
}

/// Template name → index, reporting bad and duplicate names on the way.
fn template_index<'a>(cx: &mut Ctx<'a>) -> HashMap<&'a str, usize> {
    let mut names: HashMap<&'a str, usize> = HashMap::new();
    let templates = &cx.loaded.workflow.spec.templates;
    for (t, template) in templates.iter().enumerate() {
        let path = format!("spec.templates[{t}].name");
        if template.name.is_empty() {
            cx.error(
                &format!("spec.templates[{t}]"),
                "template has no `name`".to_string(),
                Some("every template needs a name that steps and tasks can refer to".to_string()),
            );
            continue;
        }
        if let Some(problem) = field_name_problem(&template.name) {
            cx.error(
                &path,
                format!("template name `{}` {problem}", template.name),
                Some(format!("use e.g. `{}`", suggest_field_name(&template.name))),
            );
        }
        if let Some(first) = names.get(template.name.as_str()) {
            let first_line = cx
                .loaded
                .line(&format!("spec.templates[{first}].name"))
                .map_or_else(|| "?".to_string(), |l| l.to_string());
            cx.error(
                &path,
                format!(
                    "template `{}` is declared twice (first at line {first_line})",
                    template.name
                ),
                Some("rename one of them".to_string()),
            );
        } else {
            names.insert(template.name.as_str(), t);
        }
    }
    names
}

fn unknown_template_hint(wanted: &str, names: &HashMap<&str, usize>) -> Option<String> {
    let mut all: Vec<&str> = names.keys().copied().collect();
    all.sort_unstable();
    let sorted = closest_first(wanted, all.iter().copied());
    match sorted.first() {
        None => Some("the file declares no template".to_string()),
        Some(best) if closeness(wanted, best) > 0.8 => Some(format!("did you mean `{best}`?")),
        Some(_) => Some(format!("templates: {}", list(&sorted))),
    }
}

fn check_entry_and_exit(cx: &mut Ctx<'_>, names: &HashMap<&str, usize>, lint: bool) {
    let spec = &cx.loaded.workflow.spec;
    if spec.entrypoint.is_empty() {
        let msg = "`spec.entrypoint` is missing: Argo does not know which template to start";
        let hint = Some(match spec.templates.first() {
            Some(t) => format!("add `entrypoint: {}` under spec", t.name),
            None => "add `entrypoint: NAME` naming one of the templates".to_string(),
        });
        // A WorkflowTemplate may be a library for `templateRef` only; it just cannot be run.
        if lint && cx.loaded.kind.is_template() {
            cx.warn(
                "spec",
                format!("{msg} (fine for a library of templates, but it cannot be run)"),
                hint,
            );
        } else {
            cx.error("spec", msg.to_string(), hint);
        }
    } else if let Some(&t) = names.get(spec.entrypoint.as_str()) {
        // Argo feeds the entrypoint's inputs from the workflow's arguments.
        let given: BTreeSet<&str> = spec
            .arguments
            .iter()
            .flat_map(|a| a.parameters.iter().map(|p| p.name.as_str()))
            .collect();
        for p in spec.templates[t].input_parameters() {
            if !p.is_satisfied() && !given.contains(p.name.as_str()) {
                cx.error(
                    "spec.entrypoint",
                    format!(
                        "entrypoint `{}` needs input parameter `{}`, which the workflow's arguments do not provide",
                        spec.entrypoint, p.name
                    ),
                    Some(format!(
                        "declare `{}` under spec.arguments.parameters, or give the input a `default`",
                        p.name
                    )),
                );
            }
        }
    } else {
        cx.error(
            "spec.entrypoint",
            format!(
                "entrypoint `{}` is not a template of this file",
                spec.entrypoint
            ),
            unknown_template_hint(&spec.entrypoint, names),
        );
    }
    if !spec.on_exit.is_empty() && !names.contains_key(spec.on_exit.as_str()) {
        cx.error(
            "spec.onExit",
            format!(
                "exit handler `{}` is not a template of this file",
                spec.on_exit
            ),
            unknown_template_hint(&spec.on_exit, names),
        );
    }
}

fn check_template(cx: &mut Ctx<'_>, names: &HashMap<&str, usize>, t: usize, template: &Template) {
    let tpath = format!("spec.templates[{t}]");
    let types = template.types();
    let shown = if template.name.is_empty() {
        format!("#{}", t + 1)
    } else {
        format!("`{}`", template.name)
    };
    match types.len() {
        0 if !template.extra.contains_key("templateRef") => cx.error(
            &tpath,
            format!("template {shown} has no type"),
            Some(
                "give it one of: container, script, steps, dag, resource, suspend, containerSet, data, http, plugin"
                    .to_string(),
            ),
        ),
        0 | 1 => {}
        _ => cx.error(
            &tpath,
            format!("template {shown} declares several types: {}", types.join(", ")),
            Some("split it into one template per type".to_string()),
        ),
    }
    if let Some(c) = &template.container
        && c.image.is_empty()
    {
        cx.error(
            &format!("{tpath}.container"),
            format!("template {shown}: `container` has no `image`"),
            None,
        );
    }
    if let Some(s) = &template.script
        && s.container.image.is_empty()
    {
        cx.error(
            &format!("{tpath}.script"),
            format!("template {shown}: `script` has no `image`"),
            None,
        );
    }
    check_parameter_names(
        cx,
        template.input_parameters(),
        &format!("{tpath}.inputs.parameters"),
    );
    if let Some(groups) = &template.steps {
        let mut seen: HashMap<&str, String> = HashMap::new();
        for (g, group) in groups.iter().enumerate() {
            for (s, step) in group.iter().enumerate() {
                let spath = format!("{tpath}.steps[{g}][{s}]");
                check_step(cx, names, step, &spath, &mut seen);
            }
        }
    }
    if let Some(dag) = &template.dag {
        check_dag(cx, names, dag, &format!("{tpath}.dag"));
    }
}

/// What a step and a DAG task have in common.
struct Call<'a> {
    kind: &'static str,
    name: &'a str,
    template: &'a str,
    arguments: Option<&'a Arguments>,
    has_other_target: bool,
    loops: usize,
    on_exit: &'a str,
}

fn check_call(cx: &mut Ctx<'_>, names: &HashMap<&str, usize>, call: &Call<'_>, path: &str) {
    if call.loops > 1 {
        cx.error(
            path,
            format!(
                "{} `{}` uses more than one of withItems, withParam and withSequence",
                call.kind, call.name
            ),
            Some("keep one loop source".to_string()),
        );
    }
    if let Some(args) = call.arguments {
        check_parameter_names(
            cx,
            &args.parameters,
            &format!("{path}.arguments.parameters"),
        );
        for (i, p) in args.parameters.iter().enumerate() {
            if p.value.is_none() && p.value_from.is_none() {
                cx.error(
                    &format!("{path}.arguments.parameters[{i}]"),
                    format!(
                        "{} `{}` passes parameter `{}` without a value",
                        call.kind, call.name, p.name
                    ),
                    Some("give it a `value`".to_string()),
                );
            }
        }
    }
    if !call.on_exit.is_empty() && !names.contains_key(call.on_exit) {
        cx.error(
            &format!("{path}.onExit"),
            format!(
                "{} `{}`: exit handler `{}` is not a template of this file",
                call.kind, call.name, call.on_exit
            ),
            unknown_template_hint(call.on_exit, names),
        );
    }
    if call.template.is_empty() {
        if !call.has_other_target {
            cx.error(
                path,
                format!("{} `{}` names no template", call.kind, call.name),
                Some("add `template: NAME`".to_string()),
            );
        }
        return;
    }
    let Some(&t) = names.get(call.template) else {
        cx.error(
            &format!("{path}.template"),
            format!(
                "{} `{}` calls template `{}`, which is not in this file",
                call.kind, call.name, call.template
            ),
            unknown_template_hint(call.template, names),
        );
        return;
    };
    let given: BTreeSet<&str> = call
        .arguments
        .iter()
        .flat_map(|a| a.parameters.iter().map(|p| p.name.as_str()))
        .collect();
    let templates = &cx.loaded.workflow.spec.templates;
    let missing: Vec<String> = templates[t]
        .input_parameters()
        .iter()
        .filter(|p| !p.is_satisfied() && !given.contains(p.name.as_str()))
        .map(|p| p.name.clone())
        .collect();
    if !missing.is_empty() {
        let at = if call.arguments.is_some() {
            format!("{path}.arguments")
        } else {
            path.to_string()
        };
        cx.error(
            &at,
            format!(
                "{} `{}` calls template `{}` without its required parameter{} {}",
                call.kind,
                call.name,
                call.template,
                if missing.len() == 1 { "" } else { "s" },
                list(&missing)
            ),
            Some(
                "pass them under `arguments.parameters`, or give the inputs a `default`"
                    .to_string(),
            ),
        );
    }
}

fn loops(with_items: bool, with_param: bool, extra: &crate::types::Extra) -> usize {
    usize::from(with_items)
        + usize::from(with_param)
        + usize::from(extra.contains_key("withSequence"))
}

fn check_step<'a>(
    cx: &mut Ctx<'_>,
    names: &HashMap<&str, usize>,
    step: &'a WorkflowStep,
    spath: &str,
    seen: &mut HashMap<&'a str, String>,
) {
    if step.name.is_empty() {
        cx.error(spath, "step has no `name`".to_string(), None);
    } else {
        if let Some(problem) = field_name_problem(&step.name) {
            cx.error(
                &format!("{spath}.name"),
                format!("step name `{}` {problem}", step.name),
                Some(format!("use e.g. `{}`", suggest_field_name(&step.name))),
            );
        }
        if let Some(first) = seen.get(step.name.as_str()) {
            let first_line = cx
                .loaded
                .line(first)
                .map_or_else(|| "?".to_string(), |l| l.to_string());
            cx.error(
                &format!("{spath}.name"),
                format!(
                    "step name `{}` is used twice in this template (first at line {first_line})",
                    step.name
                ),
                Some("step names must be unique within a steps template".to_string()),
            );
        } else {
            seen.insert(&step.name, spath.to_string());
        }
    }
    let call = Call {
        kind: "step",
        name: &step.name,
        template: &step.template,
        arguments: step.arguments.as_ref(),
        has_other_target: step.extra.contains_key("templateRef")
            || step.extra.contains_key("inline"),
        loops: loops(
            step.with_items.is_some(),
            step.with_param.is_some(),
            &step.extra,
        ),
        on_exit: &step.on_exit,
    };
    check_call(cx, names, &call, spath);
}

fn check_dag(cx: &mut Ctx<'_>, names: &HashMap<&str, usize>, dag: &DagTemplate, dpath: &str) {
    if dag.tasks.is_empty() {
        cx.error(
            &format!("{dpath}.tasks"),
            "DAG has no task".to_string(),
            None,
        );
        return;
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (k, task) in dag.tasks.iter().enumerate() {
        let kpath = format!("{dpath}.tasks[{k}]");
        if task.name.is_empty() {
            cx.error(&kpath, "task has no `name`".to_string(), None);
            continue;
        }
        if let Some(problem) = field_name_problem(&task.name) {
            cx.error(
                &format!("{kpath}.name"),
                format!("task name `{}` {problem}", task.name),
                Some(format!("use e.g. `{}`", suggest_field_name(&task.name))),
            );
        } else if task.name.starts_with(|c: char| c.is_ascii_digit()) {
            cx.error(
                &format!("{kpath}.name"),
                format!(
                    "task name `{}` starts with a digit, which Argo rejects in a DAG",
                    task.name
                ),
                Some(format!("use e.g. `t{}`", task.name)),
            );
        }
        if let Some(&first) = index.get(task.name.as_str()) {
            let first_line = cx
                .loaded
                .line(&format!("{dpath}.tasks[{first}]"))
                .map_or_else(|| "?".to_string(), |l| l.to_string());
            cx.error(
                &format!("{kpath}.name"),
                format!(
                    "task `{}` is declared twice in this DAG (first at line {first_line})",
                    task.name
                ),
                Some("rename one of them".to_string()),
            );
        } else {
            index.insert(&task.name, k);
        }
    }

    let uses_depends = dag.tasks.iter().any(|t| t.depends.is_some());
    let uses_dependencies = dag.tasks.iter().any(|t| t.dependencies.is_some());
    if uses_depends && uses_dependencies {
        let k = dag
            .tasks
            .iter()
            .position(|t| t.dependencies.is_some())
            .unwrap_or(0);
        cx.error(
            &format!("{dpath}.tasks[{k}].dependencies"),
            "this DAG mixes `depends` and `dependencies`, which Argo refuses".to_string(),
            Some("write every task's dependencies as `depends: \"a && b\"`".to_string()),
        );
    }

    // Edges: task → tasks it waits for, with the path to blame.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); dag.tasks.len()];
    let mut dep_path: Vec<String> = vec![String::new(); dag.tasks.len()];
    let task_names: Vec<&str> = index.keys().copied().collect();
    let mut unknown = UnknownTasks::default();
    for (k, task) in dag.tasks.iter().enumerate() {
        let kpath = format!("{dpath}.tasks[{k}]");
        dep_path[k] = kpath.clone();
        if let Some(deps) = &task.dependencies {
            dep_path[k] = format!("{kpath}.dependencies");
            for (j, dep) in deps.iter().enumerate() {
                match index.get(dep.as_str()) {
                    Some(&d) => edges[k].push(d),
                    None => unknown.note(dep, &task.name, format!("{kpath}.dependencies[{j}]")),
                }
            }
        }
        if let Some(expr) = &task.depends {
            let path = format!("{kpath}.depends");
            dep_path[k] = path.clone();
            match parse_depends(expr) {
                Err(e) => cx.error(
                    &path,
                    format!("task `{}`: cannot read depends `{expr}`: {e}", task.name),
                    Some("the form is `a && (b.Succeeded || !c.Failed)`".to_string()),
                ),
                Ok(terms) => {
                    for term in terms {
                        match index.get(term.task.as_str()) {
                            Some(&d) => {
                                edges[k].push(d);
                                let dep = &dag.tasks[d];
                                if matches!(
                                    term.result.as_deref(),
                                    Some("AnySucceeded" | "AllFailed")
                                ) && dep.with_items.is_none()
                                    && dep.with_param.is_none()
                                    && !dep.extra.contains_key("withSequence")
                                {
                                    cx.error(
                                        &path,
                                        format!(
                                            "task `{}`: `{}.{}` needs `{}` to loop (withItems, withParam or withSequence)",
                                            task.name,
                                            term.task,
                                            term.result.as_deref().unwrap_or(""),
                                            term.task
                                        ),
                                        Some("use `.Succeeded` or `.Failed` for a task that runs once".to_string()),
                                    );
                                }
                            }
                            None => unknown.note(&term.task, &task.name, path.clone()),
                        }
                        if let Some(r) = term.result.as_deref()
                            && !RESULTS.contains(&r)
                        {
                            let best = closest_first(r, RESULTS.iter().copied());
                            cx.error(
                                &path,
                                format!(
                                    "task `{}`: `{}.{r}` is not a task result",
                                    task.name, term.task
                                ),
                                Some(format!("results are {}", list(&best))),
                            );
                        }
                    }
                }
            }
        }
        let call = Call {
            kind: "task",
            name: &task.name,
            template: &task.template,
            arguments: task.arguments.as_ref(),
            has_other_target: task.extra.contains_key("templateRef")
                || task.extra.contains_key("inline"),
            loops: loops(
                task.with_items.is_some(),
                task.with_param.is_some(),
                &task.extra,
            ),
            on_exit: &task.on_exit,
        };
        check_call(cx, names, &call, &kpath);
    }

    unknown.report(cx, &task_names, dpath);
    for cycle in find_cycles(&edges) {
        let Some(&first) = cycle.members.first() else {
            continue;
        };
        let name = |i: usize| format!("`{}`", dag.tasks[i].name);
        let message = if cycle.members.len() == 1 {
            format!("dependency cycle: {} depends on itself", name(first))
        } else {
            let shown: Vec<String> = cycle
                .members
                .iter()
                .take(CYCLE_NAMES_SHOWN)
                .map(|&i| name(i))
                .collect();
            let more = cycle.members.len().saturating_sub(CYCLE_NAMES_SHOWN);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let mut example: Vec<String> = cycle.example.iter().map(|&i| name(i)).collect();
            // A ring of thousands is still one line: its two ends show where it goes.
            if example.len() > 2 * CYCLE_EXAMPLE_END + 1 {
                let left_out = example.len() - 2 * CYCLE_EXAMPLE_END;
                example.splice(
                    CYCLE_EXAMPLE_END..example.len() - CYCLE_EXAMPLE_END,
                    [format!("({left_out} more)")],
                );
            }
            format!(
                "dependency cycle among {} tasks: {}{more}; for example {}",
                cycle.members.len(),
                shown.join(", "),
                example.join(" -> ")
            )
        };
        cx.error(
            &dep_path[first],
            message,
            Some(
                "a task cannot wait, even indirectly, for itself; remove one of these dependencies"
                    .to_string(),
            ),
        );
    }
}

/// How many task names a cycle message lists before "and N more".
const CYCLE_NAMES_SHOWN: usize = 8;
/// How many tasks an example cycle shows at each end.
const CYCLE_EXAMPLE_END: usize = 5;

/// Names a DAG's tasks depend on that are not tasks of it: one error per name, not per
/// mention (a generated DAG can name thousands), and at most [`UNKNOWN_NAMES_SHOWN`].
#[derive(Default)]
struct UnknownTasks {
    /// In file order of first mention.
    seen: Vec<UnknownName>,
    /// Name → its place in `seen`.
    index: HashMap<String, usize>,
}

/// A name depended on that is not a task.
struct UnknownName {
    name: String,
    /// The first task naming it, and the path of that dependency.
    first_by: String,
    path: String,
    /// How many tasks name it.
    count: usize,
}

/// How many unknown task names get an error of their own.
const UNKNOWN_NAMES_SHOWN: usize = 20;

impl UnknownTasks {
    fn note(&mut self, name: &str, by: &str, path: String) {
        match self.index.get(name) {
            Some(&i) => self.seen[i].count += 1,
            None => {
                self.index.insert(name.to_string(), self.seen.len());
                self.seen.push(UnknownName {
                    name: name.to_string(),
                    first_by: by.to_string(),
                    path,
                    count: 1,
                });
            }
        }
    }

    fn report(self, cx: &mut Ctx<'_>, task_names: &[&str], dag_path: &str) {
        let total = self.seen.len();
        for UnknownName {
            name,
            first_by: by,
            path,
            count,
        } in self.seen.into_iter().take(UNKNOWN_NAMES_SHOWN)
        {
            let others = match count {
                1 => String::new(),
                2 => " (so does 1 other task)".to_string(),
                n => format!(" (so do {} other tasks)", n - 1),
            };
            cx.error(
                &path,
                format!("task `{by}` depends on `{name}`, which is not a task of this DAG{others}"),
                unknown_task_hint(&name, task_names),
            );
        }
        if total > UNKNOWN_NAMES_SHOWN {
            cx.error(
                dag_path,
                format!(
                    "and {} more names that are not tasks of this DAG",
                    total - UNKNOWN_NAMES_SHOWN
                ),
                None,
            );
        }
    }
}

/// "did you mean" for a close name, else the closest few names of the DAG.
fn unknown_task_hint(wanted: &str, names: &[&str]) -> Option<String> {
    let sorted = closest_first(wanted, names.iter().copied());
    match sorted.first() {
        None => None,
        Some(best) if closeness(wanted, best) > 0.8 => Some(format!("did you mean `{best}`?")),
        Some(_) => {
            let more = sorted.len().saturating_sub(CYCLE_NAMES_SHOWN);
            let shown = list(&sorted[..sorted.len().min(CYCLE_NAMES_SHOWN)]);
            Some(if more > 0 {
                format!("closest tasks: {shown} and {more} more")
            } else {
                format!("tasks: {shown}")
            })
        }
    }
}

/// Tasks that wait for each other: one strongly connected component of the dependency
/// graph, members in file order, and one cycle through its first member.
#[derive(Debug, PartialEq, Eq)]
struct Cycle {
    members: Vec<usize>,
    /// From the first member back to it, e.g. `[0, 3, 0]`.
    example: Vec<usize>,
}

/// Every group of tasks that wait for each other, once, in linear time (Kosaraju:
/// petgraph's Tarjan recurses, and a 200,000-task chain would overflow the stack).
///
/// One message per group, not per cycle: a dense DAG holds exponentially many cycles (and
/// one per back edge is already millions of lines for 1,000 tasks that all depend on each
/// other).
fn find_cycles(edges: &[Vec<usize>]) -> Vec<Cycle> {
    let graph = petgraph::graph::DiGraph::<(), ()>::from_edges(
        edges
            .iter()
            .enumerate()
            .flat_map(|(from, tos)| tos.iter().map(move |&to| (from as u32, to as u32))),
    );
    let mut groups: Vec<Vec<usize>> = petgraph::algo::kosaraju_scc(&graph)
        .into_iter()
        .map(|scc| {
            let mut members: Vec<usize> = scc.into_iter().map(|n| n.index()).collect();
            members.sort_unstable();
            members
        })
        .filter(|m| m.len() > 1 || m.first().is_some_and(|&i| edges[i].contains(&i)))
        .collect();
    groups.sort_unstable();
    groups
        .into_iter()
        .map(|members| {
            let example = cycle_through_first(edges, &members);
            Cycle { members, example }
        })
        .collect()
}

/// A shortest path from the group's first member back to itself, staying in the group
/// (breadth-first, so linear in the group's edges).
fn cycle_through_first(edges: &[Vec<usize>], members: &[usize]) -> Vec<usize> {
    let Some(&start) = members.first() else {
        return vec![];
    };
    let inside: std::collections::HashSet<usize> = members.iter().copied().collect();
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(u) = queue.pop_front() {
        for &v in &edges[u] {
            if v == start {
                // Walk the parents back from `u`, then put the path in forward order.
                let mut back = vec![];
                let mut at = u;
                while at != start {
                    back.push(at);
                    at = parent[&at];
                }
                back.reverse();
                return [vec![start], back, vec![start]].concat();
            }
            if inside.contains(&v) && v != start && !parent.contains_key(&v) {
                parent.insert(v, u);
                queue.push_back(v);
            }
        }
    }
    vec![start, start]
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{Cycle, find_cycles};

    #[test]
    fn cycles_are_found_once_per_group() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3, 4 -> 0 (not on a cycle)
        let edges = vec![vec![1], vec![2], vec![0], vec![3], vec![0]];
        let cycles = find_cycles(&edges);
        assert_eq!(
            cycles,
            vec![
                Cycle {
                    members: vec![0, 1, 2],
                    example: vec![0, 1, 2, 0]
                },
                Cycle {
                    members: vec![3],
                    example: vec![3, 3]
                },
            ]
        );
        assert!(find_cycles(&[vec![1], vec![2], vec![]]).is_empty());
    }

    #[test]
    fn a_dense_group_is_one_cycle_with_a_shortest_example() {
        // Every task depends on every other: one group, the example is two long.
        let n = 1_000;
        let edges: Vec<Vec<usize>> = (0..n)
            .map(|i| (0..n).filter(|&j| j != i).collect())
            .collect();
        let cycles = find_cycles(&edges);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].members.len(), n);
        assert_eq!(cycles[0].example, vec![0, 1, 0]);
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let n = 200_000;
        let mut edges: Vec<Vec<usize>> = (0..n).map(|i| vec![i + 1]).collect();
        edges[n - 1] = vec![0];
        assert_eq!(find_cycles(&edges).len(), 1);
    }
}
