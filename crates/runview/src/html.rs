//! The run page: one self-contained HTML file (inline CSS and SVG, no script, no font,
//! no network) drawn from [`RunData`], to look at and to attach to a question.
//!
//! Hovering a bar shows its details through SVG `<title>`, which every browser shows
//! as a tooltip without any script.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use kit_diagnose::Phase;

use crate::report::{RunData, StepBar};
use crate::text::{duration_text, human_bytes, seconds_between};

/// Above this many steps, loops with many items are drawn as one band of how many of
/// their pods waited and ran over time; their failed items keep a bar each.
const AGGREGATE_ABOVE: usize = 200;
/// A loop is drawn as a band only with more items than this.
const BAND_MIN_ITEMS: usize = 20;
const LABEL_WIDTH: f64 = 280.0;
const CHART_WIDTH: f64 = 900.0;
const ROW: f64 = 18.0;
const BAND_ROW: f64 = 40.0;
const AXIS: f64 = 24.0;

pub fn render(data: &RunData) -> String {
    let mut page = String::with_capacity(64 * 1024 + data.steps.len() * 700);
    let wf = &data.workflow;
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · {}</title><style>{STYLE}</style></head><body>\n",
        esc(&wf.name),
        esc(&wf.phase)
    );
    header(&mut page, data);
    findings(&mut page, data);
    timeline(&mut page, data);
    inputs(&mut page, data);
    results(&mut page, data);
    let _ = write!(
        page,
        "<footer>Read from the cluster at {}. Made by <code>cargo xtask report</code>.</footer>\n\
         </body></html>\n",
        stamp(data.seen_at)
    );
    page
}

fn header(page: &mut String, data: &RunData) {
    let wf = &data.workflow;
    let counts: Vec<String> = wf
        .steps_by_phase
        .iter()
        .map(|(phase, n)| format!("{n} {}", esc(phase)))
        .collect();
    let _ = write!(
        page,
        "<header><h1>{} <span class=\"phase {}\">{}</span></h1><p class=\"facts\">\
         namespace <b>{}</b> · {} step(s): {} · took <b>{}</b>{}</p>",
        esc(&wf.name),
        phase_class(&wf.phase),
        esc(&wf.phase),
        esc(&wf.namespace),
        data.steps.len(),
        counts.join(", "),
        wf.seconds.map(duration_text).unwrap_or_else(|| "-".into()),
        wf.started
            .map(|s| format!(" · started {}", stamp(s)))
            .unwrap_or_default(),
    );
    if let Some(message) = &wf.message {
        let _ = write!(page, "<p class=\"message\">{}</p>", esc(message));
    }
    // Where the time went, in one sentence: the cluster or the code.
    let t = &data.time;
    if let Some(share) = t.waiting_share {
        let _ = write!(
            page,
            "<p class=\"verdict\" id=\"time-shares\">Of the steps' time, <b>{:.0}%</b> went to waiting \
             for the cluster (a node, image pulls, init: {}) and <b>{:.0}%</b> to running your \
             code ({}).",
            share * 100.0,
            duration_text(t.waiting_seconds),
            (1.0 - share) * 100.0,
            duration_text(t.running_seconds)
        );
        if !data.critical_path.step_ids.is_empty() {
            let _ = write!(
                page,
                " The critical path (outlined below) is {} step(s), {}.",
                data.critical_path.step_ids.len(),
                duration_text(data.critical_path.seconds)
            );
        }
        page.push_str("</p>");
    }
    page.push_str("</header>\n");
}

fn findings(page: &mut String, data: &RunData) {
    page.push_str("<section id=\"findings\"><h2>Findings</h2>");
    if data.findings.is_empty() {
        page.push_str("<p class=\"none\">Nothing wrong was found.</p>");
    }
    let labels: BTreeMap<&str, &str> = data
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.label.as_str()))
        .collect();
    for (n, placed) in data.findings.iter().enumerate() {
        let f = &placed.finding;
        let state = if f.terminal {
            "terminal"
        } else if f.watching {
            "watching"
        } else {
            "open"
        };
        let _ = write!(
            page,
            "<article class=\"finding level-{} {state}\" id=\"finding-{n}\"><h3>\
             <span class=\"level\">{}</span> {}",
            esc(f.level.as_str()),
            level_name(f.level.as_str()),
            esc(f.reason.as_str())
        );
        match placed.step_id.as_deref() {
            Some(id) => {
                let label = labels.get(id).copied().unwrap_or(id);
                let _ = write!(page, " in <a href=\"#step-{}\">{}</a>", esc(id), esc(label));
            }
            None => {
                if let Some(step) = &f.step {
                    let _ = write!(page, " in {}", esc(step));
                }
            }
        }
        let _ = write!(page, "</h3><p>{}</p>", esc(&f.summary));
        if !f.evidence.is_empty() {
            page.push_str("<pre class=\"evidence\">");
            for line in &f.evidence {
                let _ = writeln!(page, "{}", esc(line.trim_end()));
            }
            page.push_str("</pre>");
        }
        let _ = write!(page, "<p class=\"fix\">→ {}</p></article>", esc(&f.fix));
    }
    page.push_str("</section>\n");
}

fn level_name(level: &str) -> &'static str {
    match level {
        "user" => "your workflow",
        "argo" => "Argo server",
        "kubernetes" => "Kubernetes",
        _ => "other",
    }
}

/// One row of the timeline.
enum Row<'a> {
    Group(&'a str, usize),
    Bar(&'a StepBar),
    Band(&'a str, Vec<&'a StepBar>),
}

fn rows(data: &RunData) -> Vec<Row<'_>> {
    // Groups in order of their first start; steps are in start order already.
    let mut groups: Vec<(&str, Vec<&StepBar>)> = Vec::new();
    for s in &data.steps {
        match groups.iter_mut().find(|(g, _)| *g == s.group) {
            Some((_, members)) => members.push(s),
            None => groups.push((&s.group, vec![s])),
        }
    }
    let aggregate = data.steps.len() > AGGREGATE_ABOVE;
    let mut rows = Vec::new();
    for (group, members) in groups {
        // A group of one step would only repeat its name.
        if members.len() > 1 {
            rows.push(Row::Group(group, members.len()));
        }
        if aggregate && members.len() > BAND_MIN_ITEMS {
            let (failed, rest): (Vec<&StepBar>, Vec<&StepBar>) = members
                .into_iter()
                .partition(|s| Phase::from(s.phase.as_str()).is_failed());
            rows.push(Row::Band(group, rest));
            rows.extend(failed.into_iter().map(Row::Bar));
        } else {
            rows.extend(members.into_iter().map(Row::Bar));
        }
    }
    rows
}

struct Scale {
    t0: DateTime<Utc>,
    seconds: f64,
}

impl Scale {
    fn x(&self, t: DateTime<Utc>) -> f64 {
        LABEL_WIDTH + seconds_between(self.t0, t).min(self.seconds) / self.seconds * CHART_WIDTH
    }
}

fn timeline(page: &mut String, data: &RunData) {
    page.push_str("<section id=\"timeline\"><h2>Timeline</h2>");
    let starts = data.steps.iter().filter_map(StepBar::start);
    let Some(t0) = data.workflow.started.into_iter().chain(starts).min() else {
        page.push_str("<p class=\"none\">No step has started.</p></section>\n");
        return;
    };
    let end = data
        .steps
        .iter()
        .map(|s| s.finished.unwrap_or(data.seen_at))
        .chain(data.workflow.finished)
        .max()
        .unwrap_or(data.seen_at);
    let scale = Scale {
        t0,
        seconds: seconds_between(t0, end).max(1.0),
    };
    let critical: std::collections::HashSet<&str> = data
        .critical_path
        .step_ids
        .iter()
        .map(String::as_str)
        .collect();
    let finding_of: BTreeMap<&str, usize> = data
        .findings
        .iter()
        .enumerate()
        .filter_map(|(n, f)| f.step_id.as_deref().map(|id| (id, n)))
        .collect();
    let rows = rows(data);
    let height: f64 = AXIS
        + rows
            .iter()
            .map(|r| {
                if matches!(r, Row::Band(..)) {
                    BAND_ROW
                } else {
                    ROW
                }
            })
            .sum::<f64>()
        + 4.0;
    let width = LABEL_WIDTH + CHART_WIDTH + 20.0;
    let _ = write!(
        page,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"gantt\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"timeline of the run's steps\">"
    );
    axis(page, &scale, height);
    let mut y = AXIS;
    for row in &rows {
        match row {
            Row::Group(name, n) => {
                let _ = write!(
                    page,
                    "<text class=\"group\" x=\"4\" y=\"{:.1}\">{} <tspan class=\"count\">×{n}</tspan></text>",
                    y + 13.0,
                    esc(&clip(name, 40))
                );
                y += ROW;
            }
            Row::Bar(step) => {
                bar(
                    page,
                    step,
                    &scale,
                    y,
                    critical.contains(step.id.as_str()),
                    finding_of.get(step.id.as_str()).copied(),
                    data.seen_at,
                );
                y += ROW;
            }
            Row::Band(name, members) => {
                band(page, name, members, &scale, y, data.seen_at);
                y += BAND_ROW;
            }
        }
    }
    page.push_str("</svg>");
    page.push_str(
        "<p class=\"legend\"><span class=\"key queued\"></span>waiting for a node \
         <span class=\"key init\"></span>getting ready (image pull, init, volumes) \
         <span class=\"key ok\"></span>ran, succeeded <span class=\"key bad\"></span>ran, failed \
         <span class=\"key live\"></span>running <span class=\"key crit\"></span>critical path \
         · hover a bar for its details</p></section>\n",
    );
}

fn axis(page: &mut String, scale: &Scale, height: f64) {
    let step = tick_step(scale.seconds);
    let mut t = 0.0;
    while t <= scale.seconds + 0.001 {
        let x = LABEL_WIDTH + t / scale.seconds * CHART_WIDTH;
        let _ = write!(
            page,
            "<line class=\"tick\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{height:.1}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"14\">{}</text>",
            AXIS - 4.0,
            duration_text(t)
        );
        t += step;
    }
}

/// A tick every 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, ... for about 6–12 ticks.
fn tick_step(seconds: f64) -> f64 {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        21600.0, 43200.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| seconds / s <= 12.0)
        .unwrap_or(86400.0)
}

fn bar(
    page: &mut String,
    s: &StepBar,
    scale: &Scale,
    y: f64,
    critical: bool,
    finding: Option<usize>,
    seen_at: DateTime<Utc>,
) {
    let Some(start) = s.start() else { return };
    let end = s.finished.unwrap_or(seen_at);
    let crit = if critical { " critical" } else { "" };
    let _ = write!(
        page,
        "<g class=\"bar {}{crit}\" id=\"step-{}\"><title>{}</title>",
        phase_class(&s.phase),
        esc(&s.id),
        esc(&tooltip(s))
    );
    let _ = write!(
        page,
        "<text class=\"label\" x=\"14\" y=\"{:.1}\">{}</text>",
        y + 13.0,
        esc(&clip(&s.label, 42))
    );
    // The three stages, each at least visible when it lasted.
    let x0 = scale.x(start);
    let x_sched = s.scheduled.map_or(x0, |t| scale.x(t).max(x0));
    let x_run = s.running_from.map(|t| scale.x(t).max(x_sched));
    let x_end = scale.x(end).max(x0 + 1.0);
    let top = y + 3.0;
    let mut seg = |class: &str, a: f64, b: f64| {
        if b > a {
            let _ = write!(
                page,
                "<rect class=\"seg {class}\" x=\"{a:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"12\"/>",
                (b - a).max(1.0)
            );
        }
    };
    match x_run {
        Some(xr) => {
            seg("queued", x0, x_sched);
            seg("init", x_sched, xr);
            seg("run", xr, x_end.max(xr + 1.0));
        }
        None if s.scheduled.is_some() => {
            seg("queued", x0, x_sched);
            seg("init", x_sched, x_end.max(x_sched + 1.0));
        }
        None if s.created.is_some() && s.running_seconds == 0.0 => seg("queued", x0, x_end),
        None => seg("run", x0, x_end),
    }
    if critical {
        let _ = write!(
            page,
            "<rect class=\"crit-outline\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\"/>",
            x0 - 1.0,
            top - 1.0,
            x_end - x0 + 2.0
        );
    }
    if let Some(n) = finding {
        let _ = write!(
            page,
            "<a href=\"#finding-{n}\"><circle class=\"finding-mark\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\"/></a>",
            x_end + 7.0,
            top + 6.0
        );
    }
    page.push_str("</g>");
}

fn tooltip(s: &StepBar) -> String {
    let mut t = format!("{}\nphase: {}", s.label, s.phase);
    if let Some(pod) = &s.pod {
        let _ = write!(t, "\npod: {pod}");
    }
    if let Some(node) = &s.node {
        let _ = write!(t, "\nnode: {node}");
    }
    if let Some(template) = &s.template {
        let _ = write!(t, "\ntemplate: {template}");
    }
    let _ = write!(
        t,
        "\nwaiting for a node: {} · getting ready: {} · running: {} · total: {}",
        duration_text(s.queued_seconds),
        duration_text(s.init_seconds),
        duration_text(s.running_seconds),
        duration_text(s.total_seconds())
    );
    if let Some(code) = s.exit_code {
        let _ = write!(t, "\nexit code: {code}");
    }
    if let Some(m) = &s.message {
        let _ = write!(t, "\n{m}");
    }
    t
}

/// Many items of one loop: how many waited and ran at each instant, as stacked columns.
fn band(
    page: &mut String,
    name: &str,
    members: &[&StepBar],
    scale: &Scale,
    y: f64,
    seen_at: DateTime<Utc>,
) {
    const COLUMNS: usize = 225;
    let width = CHART_WIDTH / COLUMNS as f64;
    let mut waiting = vec![0usize; COLUMNS];
    let mut running = vec![0usize; COLUMNS];
    let column = |t: DateTime<Utc>| {
        (((scale.x(t) - LABEL_WIDTH) / width).floor().max(0.0) as usize).min(COLUMNS - 1)
    };
    for s in members {
        let Some(start) = s.start() else { continue };
        let end = s.finished.unwrap_or(seen_at);
        let run_from = s.running_from.unwrap_or(end);
        for c in column(start)..=column(end) {
            let mid = c as f64 + 0.5;
            if mid * width + LABEL_WIDTH < scale.x(run_from) {
                waiting[c] += 1;
            } else {
                running[c] += 1;
            }
        }
    }
    let peak = waiting
        .iter()
        .zip(&running)
        .map(|(w, r)| w + r)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    for s in members {
        *phases.entry(s.phase.as_str()).or_default() += 1;
    }
    let mut durations: Vec<f64> = members.iter().map(|s| s.total_seconds()).collect();
    durations.sort_by(f64::total_cmp);
    let median = durations.get(durations.len() / 2).copied().unwrap_or(0.0);
    let max = durations.last().copied().unwrap_or(0.0);
    let counts: Vec<String> = phases.iter().map(|(p, n)| format!("{n} {p}")).collect();
    let _ = write!(
        page,
        "<g class=\"band\"><title>{} ×{}: {}\nat most {peak} at once · median {} · longest {}</title>\
         <text class=\"label\" x=\"14\" y=\"{:.1}\">{} (at most {peak} at once)</text>",
        esc(name),
        members.len(),
        esc(&counts.join(", ")),
        duration_text(median),
        duration_text(max),
        y + 22.0,
        esc(&clip(name, 26)),
    );
    let full = BAND_ROW - 6.0;
    for c in 0..COLUMNS {
        let x = LABEL_WIDTH + c as f64 * width;
        let h_run = running[c] as f64 / peak as f64 * full;
        let h_wait = waiting[c] as f64 / peak as f64 * full;
        let bottom = y + BAND_ROW - 3.0;
        if h_run > 0.0 {
            let _ = write!(
                page,
                "<rect class=\"seg run\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.2}\" height=\"{h_run:.1}\"/>",
                bottom - h_run
            );
        }
        if h_wait > 0.0 {
            let _ = write!(
                page,
                "<rect class=\"seg queued\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.2}\" height=\"{h_wait:.1}\"/>",
                bottom - h_run - h_wait
            );
        }
    }
    page.push_str("</g>");
}

fn inputs(page: &mut String, data: &RunData) {
    page.push_str("<section id=\"inputs\"><h2>What produced this run</h2>");
    let inputs = data.inputs.as_ref();
    match inputs.and_then(|i| i.rerun.as_ref()) {
        Some(rerun) => {
            let _ = write!(
                page,
                "<p>Run it again, same manifest and images: <code class=\"rerun\">{}</code></p>",
                esc(rerun)
            );
        }
        None => page.push_str(
            "<p class=\"none\">Not started from this workspace: what is below is what the \
             workflow itself holds.</p>",
        ),
    }
    let mut facts = Vec::new();
    if let Some(source) = inputs.and_then(|i| i.source.as_ref()) {
        facts.push(format!("from <code>{}</code>", esc(source)));
    }
    if let Some(at) = inputs.and_then(|i| i.submitted_at) {
        facts.push(format!("submitted {}", stamp(at)));
    }
    if let Some(record) = inputs.and_then(|i| i.record.as_ref()) {
        facts.push(format!("record <code>{}</code>", esc(record)));
    }
    if !facts.is_empty() {
        let _ = write!(page, "<p>{}</p>", facts.join(" · "));
    }
    parameters(page, data);
    images(page, data);
    if let Some(settings) = inputs.and_then(|i| i.settings.as_ref()) {
        let text = serde_json::to_string_pretty(settings).unwrap_or_default();
        let _ = write!(
            page,
            "<details><summary>Settings used (secrets masked)</summary><pre>{}</pre></details>",
            esc(&text)
        );
    }
    page.push_str("</section>\n");
}

/// Every parameter with the value it ran with; those given on the command line marked.
fn parameters(page: &mut String, data: &RunData) {
    page.push_str("<h3>Parameters</h3>");
    let given: Vec<(&str, &str)> = data
        .inputs
        .iter()
        .flat_map(|i| i.parameters.iter())
        .map(|p| p.split_once('=').unwrap_or((p.as_str(), "")))
        .collect();
    let mut rows: Vec<(&str, &str, bool)> = data
        .arguments
        .iter()
        .map(|a| {
            let name = a.name.as_str();
            (
                name,
                a.value.as_deref().unwrap_or(""),
                given.iter().any(|(g, _)| *g == name),
            )
        })
        .collect();
    // Given but not in the workflow object (a record without the object).
    for (name, value) in &given {
        if !rows.iter().any(|(n, _, _)| n == name) {
            rows.push((name, value, true));
        }
    }
    if rows.is_empty() {
        page.push_str("<p class=\"none\">The workflow has no parameters.</p>");
        return;
    }
    page.push_str("<table class=\"params\"><tr><th>name</th><th>value</th><th></th></tr>");
    for (name, value, was_given) in rows {
        let _ = write!(
            page,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(name),
            esc(value),
            if was_given {
                "given with <code>-p</code>"
            } else {
                ""
            }
        );
    }
    page.push_str("</table>");
}

/// The images it ran: pinned by this workspace (as written → digest), else as the
/// workflow names them.
fn images(page: &mut String, data: &RunData) {
    page.push_str("<h3>Images</h3>");
    let pins = data
        .inputs
        .iter()
        .flat_map(|i| i.images.iter())
        .collect::<Vec<_>>();
    if !pins.is_empty() {
        page.push_str(
            "<table class=\"images\"><tr><th>where</th><th>as written</th><th>ran as</th></tr>",
        );
        for i in pins {
            let _ = write!(
                page,
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&i.path),
                esc(i.from.as_deref().unwrap_or("-")),
                esc(&i.to)
            );
        }
        page.push_str("</table>");
    }
    let unpinned: Vec<&String> = data
        .images
        .iter()
        .filter(|image| {
            !data
                .inputs
                .iter()
                .flat_map(|i| i.images.iter())
                .any(|p| &p.to == *image)
        })
        .collect();
    if unpinned.is_empty() {
        return;
    }
    page.push_str("<table class=\"images named\"><tr><th>named by the workflow</th><th></th></tr>");
    for image in unpinned {
        let pinned = image.contains("@sha256:");
        let _ = write!(
            page,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            esc(image),
            if pinned {
                "by digest"
            } else {
                "by tag: the registry may have changed it since"
            }
        );
    }
    page.push_str("</table>");
}

fn results(page: &mut String, data: &RunData) {
    let Some(r) = &data.results else { return };
    let _ = writeln!(
        page,
        "<section id=\"results\"><h2>Results</h2><p>{} file(s), {}, fetched from <code>{}</code> into \
         <code>{}</code> at {}{}.</p></section>",
        r.files,
        human_bytes(r.bytes),
        esc(&r.source),
        esc(&r.dir),
        stamp(r.written_at),
        if r.complete {
            ", every file verified"
        } else {
            "; <b>incomplete</b>: run <code>cargo xtask fetch-results</code> again to finish"
        }
    );
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn phase_class(phase: &str) -> &'static str {
    match Phase::from(phase) {
        Phase::Succeeded => "ok",
        Phase::Failed | Phase::Error => "bad",
        Phase::Running => "live",
        _ => "wait",
    }
}

/// Cuts a label to `max` characters, with an ellipsis.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline have no place in a page.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1240px;padding:0 16px;color:#1d232b;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}h3{font-size:14px;margin:14px 0 6px}
code,pre{font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}pre{background:#f5f6f8;padding:8px;overflow:auto;white-space:pre-wrap}
.phase{font-size:13px;padding:2px 8px;border-radius:10px;color:#fff;vertical-align:middle}
.phase.ok{background:#2f8a4e}.phase.bad{background:#c53b3b}.phase.live{background:#2f6fc6}.phase.wait{background:#8a919a}
.facts,.message,.none,footer{color:#5a626c}.verdict{font-size:15px}
.finding{border-left:4px solid #c53b3b;background:#fdf3f3;padding:6px 12px;margin:10px 0}
.finding.watching{border-color:#d9a21b;background:#fdf8ec}.finding.open{border-color:#d9731b}
.finding .level{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5a626c;margin-right:6px}
.finding .fix{font-weight:600}
svg.gantt{display:block;overflow:visible}
svg text{font-size:11.5px;fill:#1d232b}svg text.group{font-weight:600}svg text.tick{fill:#7b838d;text-anchor:middle}svg .count{fill:#7b838d;font-weight:400}
line.tick{stroke:#eceef1}
.seg.queued{fill:#c4c9d0}.seg.init{fill:#eab94a}.bar.ok .seg.run{fill:#3a9d5d}.bar.bad .seg.run{fill:#d64545}.bar.live .seg.run{fill:#3b7dd8}.bar.wait .seg.run{fill:#9aa1aa}
.band .seg.run{fill:#3a9d5d}
.crit-outline{fill:none;stroke:#1d232b;stroke-width:1.5}
.finding-mark{fill:#c53b3b;stroke:#fff}
.bar:hover .seg{opacity:.8}
.legend{color:#5a626c;font-size:12.5px}.key{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;vertical-align:baseline}
.key.queued{background:#c4c9d0}.key.init{background:#eab94a}.key.ok{background:#3a9d5d}.key.bad{background:#d64545}.key.live{background:#3b7dd8}.key.crit{border:1.5px solid #1d232b;width:9px;height:7px}
table{border-collapse:collapse}td,th{border-bottom:1px solid #e3e6ea;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
footer{margin-top:32px;font-size:12px}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Inputs, PlacedFinding, RunData};
    use crate::testing::{exit_finding, snapshot_of};
    use serde_json::json;

    /// A workflow of `n` pods in one loop, one of them failed.
    fn wide(n: usize) -> RunData {
        let mut nodes = serde_json::Map::new();
        nodes.insert(
            "w".into(),
            json!({"id": "w", "name": "w", "displayName": "w", "type": "Steps", "phase": "Failed",
                   "startedAt": "2026-12-01T10:00:00Z", "finishedAt": "2026-12-01T10:30:00Z"}),
        );
        for i in 0..n {
            let id = format!("w-{i}");
            let phase = if i == 7 { "Failed" } else { "Succeeded" };
            nodes.insert(
                id.clone(),
                json!({"id": id, "name": format!("w[0].tile({i}:t{i})"),
                       "displayName": format!("tile({i}:t{i})"), "type": "Pod", "boundaryID": "w",
                       "phase": phase, "templateName": "tile",
                       "startedAt": format!("2026-12-01T10:{:02}:{:02}Z", (i / 60) % 30, i % 60),
                       "finishedAt": format!("2026-12-01T10:{:02}:{:02}Z", (i / 60) % 30, (i % 60 + 5).min(59))}),
            );
        }
        let s = snapshot_of(
            json!({"metadata": {"name": "w", "namespace": "argo",
                   "creationTimestamp": "2026-12-01T10:00:00Z"},
                   "status": {"phase": "Failed", "nodes": nodes}}),
            "2026-12-01T10:31:00Z",
        );
        let finding = exit_finding(&s, "tile(7:t7)", "tile <t7> exited with 3", &["line <1>"]);
        let inputs = Inputs {
            parameters: vec!["experiment=runs/a&b".into()],
            rerun: Some("cargo xtask rerun w".into()),
            ..Inputs::default()
        };
        RunData::build(&s, &[finding], Some(inputs), None)
    }

    #[test]
    fn every_step_is_a_bar_and_findings_link_to_theirs() {
        let data = wide(12);
        assert_eq!(data.findings.len(), 1);
        let PlacedFinding { step_id, .. } = &data.findings[0];
        assert_eq!(step_id.as_deref(), Some("w-7"));
        let page = render(&data);
        assert_eq!(page.matches("<g class=\"bar ").count(), 12);
        assert!(page.contains("id=\"step-w-7\""));
        assert!(page.contains("href=\"#finding-0\""));
        assert!(page.contains("href=\"#step-w-7\""));
        // Text from the cluster is escaped, never markup.
        assert!(page.contains("tile &lt;t7&gt; exited with 3"));
        assert!(page.contains("line &lt;1&gt;"));
        assert!(page.contains("runs/a&amp;b"));
        assert!(!page.contains("<script"));
        assert!(
            !page.contains("http://") || page.matches("http://").count() == 1,
            "only the SVG namespace"
        );
    }

    #[test]
    fn a_wide_loop_becomes_a_band_with_its_failures_kept_as_bars() {
        let data = wide(500);
        let started = std::time::Instant::now();
        let page = render(&data);
        let took = started.elapsed();
        assert_eq!(page.matches("<g class=\"band\"").count(), 1);
        assert_eq!(
            page.matches("<g class=\"bar ").count(),
            1,
            "the failed item"
        );
        assert!(page.len() < 2 * 1024 * 1024, "{} bytes", page.len());
        // Rendering is linear; a second would mean something went quadratic.
        assert!(took.as_secs_f64() < 1.0, "{took:?}");
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(8.0), 1.0);
        assert_eq!(tick_step(100.0), 10.0);
        assert_eq!(tick_step(1800.0), 300.0);
        assert!(86400.0 * 3.0 / tick_step(86400.0 * 3.0) >= 3.0);
    }

    #[test]
    fn escaping_leaves_no_markup_and_no_control_characters() {
        assert_eq!(
            esc("<a href='x'>&\"\u{1b}[31m"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\u{fffd}[31m"
        );
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("ab", 4), "ab");
    }
}
