//! The readiness checks as `doctor` and `up` show them: one line each, with evidence
//! and fix, or one JSON object.

use kit_cluster::doctor::{Check, Outcome};

use crate::exit::ExitCode;
use crate::ui::Ui;

/// Prints the checks and gives the exit code: 1 when any check failed. `way`: the way in
/// the checks went through, for `doctor`'s document.
pub fn report(checks: &[Check], way: Option<&kit_config::WayIn>, ui: Ui) -> ExitCode {
    let failed = checks.iter().any(|c| c.outcome == Outcome::Fail);
    if ui.json() {
        let document = crate::documents::DoctorDocument {
            ok: !failed,
            via: way.map(|w| w.via),
            via_reason: way.map(|w| w.why.as_str()),
            checks,
        };
        if let Err(err) = crate::documents::print(&document) {
            eprintln!("cannot print the checks as JSON: {err}");
            return ExitCode::Failure;
        }
    } else {
        for check in checks {
            let mark = match check.outcome {
                Outcome::Pass => ui.ok("✓"),
                Outcome::Warn => ui.warn("!"),
                Outcome::Fail => ui.bad("✗"),
                Outcome::CouldNotCheck => ui.dim("?"),
            };
            println!("{mark} [{}] {}: {}", check.level, check.id, check.summary);
            for line in &check.evidence {
                println!("    {}", ui.dim(line));
            }
            if let Some(fix) = check
                .fix
                .as_ref()
                .filter(|_| check.outcome != Outcome::Pass)
            {
                println!("    → {fix}");
            }
        }
        let count = |o: Outcome| checks.iter().filter(|c| c.outcome == o).count();
        println!(
            "{} passed, {} failed, {} warnings, {} could not be checked",
            count(Outcome::Pass),
            count(Outcome::Fail),
            count(Outcome::Warn),
            count(Outcome::CouldNotCheck)
        );
    }
    if failed {
        ExitCode::Failure
    } else {
        ExitCode::Success
    }
}
