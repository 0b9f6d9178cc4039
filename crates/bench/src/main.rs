//! `cargo bench-xtask`: measures `cargo xtask` commands against the tools users run
//! today. See the library's documentation.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use kit_bench::benches::{doctor, fetch, fetch_link, fetch_many, follow, hera, images};
use kit_bench::context::{BadInput, Context};
use owo_colors::OwoColorize;

#[derive(Debug, Parser)]
#[command(
    name = "cargo bench-xtask",
    bin_name = "cargo bench-xtask",
    about = "Measure the toolkit against the tools users run today, in the same run",
    after_help = "Example:\n  cargo bench-xtask images   # vs docker build/tag/push\n\nPrints each measurement and the ratio to the peer tool; needs the local stack."
)]
struct Cli {
    /// What to measure.
    #[arg(value_enum)]
    what: BenchTarget,
    /// Repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: OutputFormat,
    /// `fetch` only: measure over a slow link instead of loopback, RATE:RTT (repeat
    /// for several), e.g. `--link 50mbit:20ms --link 10mbit:50ms`.
    #[arg(long, value_name = "RATE:RTT")]
    link: Vec<kit_bench::link::LinkShape>,
    /// `fetch --link` only: megabytes of CityGML-like results to fetch [default: 300,
    /// 20 with --reduced].
    #[arg(long, value_name = "MB")]
    link_data_mb: Option<usize>,
    /// `fetch` only: measure on this many small files of a few kB (a split stage's
    /// output) instead of the mixed data, e.g. `--small-files 20000`.
    #[arg(long, value_name = "N")]
    small_files: Option<usize>,
    /// `follow` only: pods of the wide workflow followed in (c) [default: 500, 50 with
    /// --reduced].
    #[arg(long, value_name = "N")]
    wide_pods: Option<usize>,
    /// Every benchmark at a small size (a tenth or less), as CI runs them once to keep
    /// them working; the figures then say little.
    #[arg(long)]
    reduced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BenchTarget {
    /// up vs docker build + tag + push.
    Images,
    /// run/follow vs argo submit --watch and Hera.
    Follow,
    /// fetch-results vs kubectl cp.
    Fetch,
    /// doctor (and --canary).
    Doctor,
    /// run of a Hera script (captured) vs python + Hera create().
    Hera,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
enum OutputFormat {
    /// A table.
    #[default]
    Text,
    /// The report as JSON on stdout.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // As xtask decides: colors only on a terminal, in text mode, without NO_COLOR.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = std::io::stderr().is_terminal() && cli.output == OutputFormat::Text && !no_color;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli, color)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let label = if color {
                "error:".red().bold().to_string()
            } else {
                "error:".to_string()
            };
            eprintln!("{label} {err:#}");
            // The same code as xtask's for bad input or configuration.
            ExitCode::from(if err.downcast_ref::<BadInput>().is_some() {
                2
            } else {
                1
            })
        }
    }
}

async fn run(cli: &Cli, color: bool) -> anyhow::Result<()> {
    if cli.runs == 0 {
        return Err(BadInput("--runs must be at least 1".into()).into());
    }
    if !cli.link.is_empty() && cli.what != BenchTarget::Fetch {
        return Err(BadInput("--link applies to `fetch` only".into()).into());
    }
    if cli.small_files.is_some() && (cli.what != BenchTarget::Fetch || !cli.link.is_empty()) {
        return Err(BadInput("--small-files applies to `fetch` without --link".into()).into());
    }
    if cli.small_files == Some(0) {
        return Err(BadInput("--small-files must be at least 1".into()).into());
    }
    let mut ctx = Context::new(cli.runs, xtask_binary()?)?;
    ctx.links = cli.link.clone();
    ctx.reduced = cli.reduced;
    // Sizes given on the command line win over --reduced's.
    ctx.link_data_mb = cli.link_data_mb.unwrap_or(ctx.sized(300, 20)).max(1);
    ctx.wide_pods = cli.wide_pods.unwrap_or(ctx.sized(500, 50)).max(1);
    let mut report = match cli.what {
        BenchTarget::Images => images::bench(&ctx).await?,
        BenchTarget::Follow => follow::bench(&ctx).await?,
        BenchTarget::Fetch if !ctx.links.is_empty() => fetch_link::bench(&ctx).await?,
        BenchTarget::Fetch if cli.small_files.is_some() => {
            fetch_many::bench(&ctx, cli.small_files.unwrap_or_default()).await?
        }
        BenchTarget::Fetch => fetch::bench(&ctx).await?,
        BenchTarget::Doctor => doctor::bench(&ctx).await?,
        BenchTarget::Hera => hera::bench(&ctx).await?,
    };
    report.binary = ctx.binary_description();
    report.runs = cli.runs;
    report.seconds = ctx.started.elapsed().as_secs_f64();
    if cli.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print(color);
    }
    Ok(())
}

/// The `xtask` binary next to this one in the target folder. Run through cargo (the
/// alias), it is built first with this binary's profile, so the bench measures the
/// current source as `cargo xtask` would run it.
fn xtask_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("finding our own executable")?;
    let dir = me.parent().context("our executable has no parent folder")?;
    let exe = dir.join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "--quiet", "--package", "xtask"]);
        // target/debug holds the dev profile's builds; other folders are named after theirs.
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some(profile) => {
                build.args(["--profile", profile]);
            }
        }
        let status = build
            .status()
            .context("running cargo build --package xtask")?;
        if !status.success() {
            bail!("cargo build --package xtask failed ({status})");
        }
    }
    if !exe.is_file() {
        return Err(BadInput(format!(
            "no xtask binary at {}: build it first (cargo build --package xtask), or run the benchmarks with `cargo bench-xtask`",
            exe.display()
        ))
        .into());
    }
    Ok(exe)
}
