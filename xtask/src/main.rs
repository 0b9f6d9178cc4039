//! `cargo xtask`: the command line of the toolkit. It parses, calls the crates and renders
//! their results; the logic lives in crates/.

mod checks;
mod cli;
mod commands;
mod documents;
mod events;
mod exit;
mod follow;
mod kube;
mod page;
mod script;
mod settings;
mod ui;
mod way;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command};
pub use exit::{Exit, ExitCode};
use ui::Ui;

fn main() -> std::process::ExitCode {
    stop_quietly_when_the_reader_goes();
    let cli = Cli::parse();
    let ui = Ui::detect(cli.global.output);
    // Following a workflow is I/O and one diagnosis at a time: one thread keeps every
    // allocation in one malloc arena (a 500-pod run peaks at half the memory). A fetch
    // too: its exec streams and their readers on one thread hand data over without
    // waking another (20% less CPU, 12% faster on 316 MB, measured); extraction has a
    // blocking thread of its own. Builds and pushes use the worker threads.
    let follows = matches!(
        cli.command,
        cli::Command::Run(_)
            | cli::Command::Watch(_)
            | cli::Command::Rerun { .. }
            | cli::Command::FetchResults(_)
    );
    let runtime = if follows {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::Failure.into();
        }
    };
    let outcome = runtime.block_on(dispatch(cli, ui));
    // Every result is written by now; waiting for idle watch connections and log
    // streams to wind down would only delay the exit (by ~0.3 s, measured).
    runtime.shutdown_background();
    match outcome {
        Ok(code) => code.into(),
        Err(err) => {
            let code = err
                .downcast_ref::<Exit>()
                .map_or(ExitCode::Failure, |e| e.code);
            eprintln!("{} {err:#}", ui.bad("error:"));
            code.into()
        }
    }
}

async fn dispatch(cli: Cli, ui: Ui) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Config(args) => commands::config::run(&global, &args, ui),
        Command::Doctor(args) => commands::doctor::run(&global, &args, ui).await,
        Command::Diagnose(args) => commands::diagnose::diagnose(&global, &args, ui).await,
        Command::Watch(args) => commands::diagnose::watch(&global, &args, ui).await,
        Command::Stop(args) => commands::diagnose::stop(&global, &args, ui).await,
        Command::FetchResults(args) => commands::fetch::run(&global, &args, ui).await,
        Command::Up(args) => commands::up::up(&global, &args, ui).await,
        Command::Images => commands::up::list(&global, ui).await,
        Command::Run(args) => commands::run::run(&global, &args, ui).await,
        Command::Lint(args) => commands::run::lint(&global, &args, ui).await,
        Command::Runs => commands::run::runs(&global, ui),
        Command::Report(args) => commands::report::report(&global, &args, ui).await,
        Command::Rerun { record } => commands::run::rerun(&global, &record, ui).await,
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "cargo-xtask", &mut std::io::stdout());
            Ok(ExitCode::Success)
        }
    }
}

/// `cargo xtask runs | head` closes our stdout early. Rust ignores SIGPIPE, so the next
/// print would fail and panic; with the default action the process ends at once and
/// silently, as other command-line tools do (a shell reports status 141).
fn stop_quietly_when_the_reader_goes() {
    sigpipe::reset();
}
