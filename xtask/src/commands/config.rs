//! `cargo xtask config`: the resolved settings with their origins.

use crate::exit::ExitCode;

use kit_config::Need;

use crate::Exit;
use crate::cli::{ConfigArgs, GlobalArgs};
use crate::ui::Ui;

pub fn run(global: &GlobalArgs, args: &ConfigArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve(global, ui)?;
    let needs = [Need::Cluster, Need::Registry, Need::Run, Need::Fetch];
    let mut missing: Vec<_> = needs
        .iter()
        .flat_map(|need| resolved.settings.missing_for(*need))
        .collect();
    missing.dedup_by(|a, b| a.setting == b.setting && a.problem == b.problem);
    let way = resolved.settings.way_in();

    if ui.json() {
        crate::documents::print(&crate::documents::ConfigDocument {
            report: kit_config::to_json(&resolved),
            missing: missing
                .iter()
                .map(|m| crate::documents::MissingSetting {
                    setting: m.setting,
                    problem: &m.problem,
                    fix: &m.fix,
                })
                .collect(),
            via: way.via,
            via_reason: &way.why,
        })?;
    } else {
        print!("{}", kit_config::render_table(&resolved));
        println!("way in: {} ({})", way.via, way.why);
    }
    if args.check && !missing.is_empty() {
        let mut text = String::from("missing for the other commands:\n");
        for m in &missing {
            text.push_str(&format!("  - {m}\n"));
        }
        text.push_str("sources looked at:\n");
        for source in &resolved.sources {
            text.push_str(&format!("  - {source}\n"));
        }
        return Err(Exit::input(text.trim_end().to_string()).into());
    }
    Ok(ExitCode::Success)
}
