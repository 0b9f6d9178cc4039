//! Command-line grammar. Only parsing lives here; each command's work is in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::{self, ExitCode};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about = "Build, push, run and debug containerised experiments on Kubernetes with Argo Workflows",
    after_help = format!(
        "Examples:\n\
         \x20 cargo xtask config                 # resolved settings and where each comes from\n\
         \x20 cargo xtask up                     # build and push images, check the cluster\n\
         \x20 cargo xtask run collect -p vintage=2012\n\
         \x20 cargo xtask fetch-results --to results/\n\n\
         {} (see each command's --help).",
        exit::help_all().trim_end_matches('.')
    )
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable text, with live progress on a terminal.
    #[default]
    Text,
    /// Machine-readable JSON on stdout: one line per event for streams, one document
    /// otherwise (fields in docs/json-output.md).
    Json,
}

/// Flags accepted by every command. Settings flags take precedence over the environment,
/// hera.bash, hera.config and xtask.toml (see `cargo xtask config`).
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Profile of xtask.toml to use (e.g. local, pagoda) [env: XTASK_PROFILE].
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// hera.bash-style env file to read (default: ./hera.bash when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Kubeconfig file [env: KUBECONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context [env: XTASK_KUBE_CONTEXT].
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace where workflows run [env: ARGO_NAMESPACE].
    #[arg(long, short = 'n', global = true)]
    pub namespace: Option<String>,
    /// Service account of workflow pods [env: ARGO_SERVICE_ACCOUNT].
    #[arg(long, global = true)]
    pub service_account: Option<String>,
    /// PersistentVolumeClaim holding the experiment's data [env: KUBEVOLUMECLAIMNAME].
    #[arg(long, global = true)]
    pub volume_claim: Option<String>,
    /// ConfigMap with the proxy environment [env: KUBECONFIGMAP].
    #[arg(long, global = true)]
    pub configmap: Option<String>,
    /// Argo Server: the way in without a kubeconfig (with ARGO_TOKEN), and UI links
    /// [env: ARGO_SERVER].
    #[arg(long, global = true)]
    pub argo_server: Option<String>,
    /// Which API to use: kube, argo-server, or auto (a usable kubeconfig, else the Argo
    /// Server) [env: XTASK_VIA].
    #[arg(long, global = true, value_name = "WAY")]
    pub via: Option<String>,
    /// CA file (PEM) of the Argo Server's certificate, besides the system's
    /// [env: XTASK_ARGO_SERVER_CA].
    #[arg(long, global = true, value_name = "FILE")]
    pub argo_server_ca: Option<PathBuf>,
    /// Registry and project, e.g. harbor.example.org/vcity [env: XTASK_REGISTRY].
    #[arg(long, global = true)]
    pub registry: Option<String>,
    /// More detail on stderr (never secrets).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build and push every image of containers/, then check the cluster is ready.
    #[command(
        after_help = format!("Example:\n  cargo xtask up --images-only\n\n{}", exit::help(&[
            (ExitCode::Success, "all images pushed and every check passed"),
            (ExitCode::Failure, "a build, push or check failed"),
            (ExitCode::Input, "bad configuration"),
        ]))
    )]
    Up(UpArgs),
    /// List the images of containers/ and mirrors with their state.
    #[command(after_help = "Example:\n  cargo xtask images --output json")]
    Images,
    /// Check that the cluster has everything a workflow needs.
    #[command(
        after_help = format!("Example:\n  cargo xtask doctor --canary\n\n{}", exit::help(&[
            (ExitCode::Success, "every check passed"),
            (ExitCode::Failure, "a check failed"),
            (ExitCode::Input, "bad configuration"),
        ]))
    )]
    Doctor(DoctorArgs),
    /// Submit a workflow of workflows/ and follow it live, explaining failures.
    #[command(
        after_help = format!("Example:\n  cargo xtask run collect -p vintage=2012 --logs\n\n{}", exit::help(&[
            (ExitCode::Success, "succeeded"),
            (ExitCode::Failure, "failed or errored"),
            (ExitCode::Input, "bad input"),
            (ExitCode::Timeout, "timeout"),
            (ExitCode::StoppedOnDiagnosis, "stopped on a diagnosis: the workflow waits until someone acts (it keeps waiting; --wait-anyway to follow on), or --fail-fast stopped it"),
            (ExitCode::Interrupted, "interrupted"),
        ]))
    )]
    Run(RunArgs),
    /// Validate a workflow offline (templates, parameters, DAG, names, images).
    #[command(
        after_help = "Example:\n  cargo xtask lint            # every workflow of workflows/"
    )]
    Lint(LintArgs),
    /// Explain, at its level, why a workflow failed or is stuck.
    #[command(after_help = "Example:\n  cargo xtask diagnose collect-x7k2p --output json")]
    Diagnose(DiagnoseArgs),
    /// Follow an already submitted workflow.
    #[command(after_help = "Example:\n  cargo xtask watch collect-x7k2p")]
    Watch(NameArgs),
    /// Stop a running workflow: running steps are stopped, exit handlers still run.
    #[command(after_help = "Example:\n  cargo xtask stop collect-x7k2p")]
    Stop(NameArgs),
    /// Write a run's page: a timeline of every step, the findings, the inputs that
    /// reproduce it, where the time went. One self-contained HTML file.
    #[command(
        after_help = "Examples:\n  cargo xtask report                      # the last run\n  cargo xtask report demo-x7k2p --open    # a run, or any workflow of the namespace\n  cargo xtask report --from bug-report/   # a `diagnose --save` folder, offline"
    )]
    Report(ReportArgs),
    /// List recorded runs, newest first.
    #[command(after_help = "Example:\n  cargo xtask runs --output json")]
    Runs,
    /// Submit exactly the manifest of a recorded run again.
    #[command(after_help = "Example:\n  cargo xtask rerun collect-x7k2p")]
    Rerun {
        /// Record folder, or the workflow name or date of a record.
        record: String,
    },
    /// Copy results off the PVC into a local folder, verified and resumable.
    #[command(
        after_help = format!("Examples:\n  cargo xtask fetch-results                       # the last run's experiment folder\n  cargo xtask fetch-results junk/stage_5 --to results/stage_5\n  cargo xtask fetch-results --list junk\n  cargo xtask fetch-results junk --compress zstd  # auto compresses only on a slow link\n\n{}", exit::help(&[
            (ExitCode::Success, "fetched and verified"),
            (ExitCode::Failure, "failure (nothing partial is left under a final name)"),
            (ExitCode::Input, "bad input"),
            (ExitCode::Interrupted, "interrupted (what arrived is kept and verified)"),
        ]))
    )]
    FetchResults(FetchArgs),
    /// Show the resolved settings and where each value comes from.
    #[command(
        after_help = format!("Example:\n  cargo xtask config --check\n\n{}", exit::help(&[
            (ExitCode::Success, "fine"),
            (ExitCode::Input, "a setting is malformed or (with --check) missing"),
        ]))
    )]
    Config(ConfigArgs),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  cargo xtask completions bash > /etc/bash_completion.d/cargo-xtask"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Build and push images only; skip the cluster checks.
    #[arg(long)]
    pub images_only: bool,
    /// Go on building other images after a failure.
    #[arg(long)]
    pub keep_going: bool,
    /// Only these images (names of containers/ folders or mirrors; `demo-*` for a prefix).
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Submit a tiny workflow and expect the controller to act on it.
    #[arg(long)]
    pub canary: bool,
    /// Apply the workspace's PVC and ConfigMap manifests when they are missing.
    #[arg(long)]
    pub fix: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Name of a workflow in workflows/ (NAME.yaml, NAME.yml or the Hera script NAME.py)
    /// or a path to such a file.
    pub workflow: String,
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Set a workflow parameter (repeatable).
    #[arg(short = 'p', long = "parameter", value_name = "KEY=VALUE")]
    pub parameters: Vec<String>,
    /// Print the final manifest instead of submitting it.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep image references as written instead of pinning them to pushed digests.
    #[arg(long)]
    pub no_pin: bool,
    /// Submit without checking that unpinned images of the configured registry exist
    /// there (by default each is looked up first, and a missing one stops the run).
    #[arg(long)]
    pub no_check_images: bool,
    /// Stream each step's main container log.
    #[arg(long)]
    pub logs: bool,
    /// Stop the workflow as soon as a finding says it cannot recover.
    #[arg(long)]
    pub fail_fast: bool,
    /// Keep following when a finding says the workflow waits until someone acts (a
    /// missing PVC, a node that cannot start the pod); by default `run` stops following
    /// then (exit 4) and leaves the workflow running.
    #[arg(long, conflicts_with = "fail_fast")]
    pub wait_anyway: bool,
    /// Stop the workflow on Ctrl-C instead of leaving it running.
    #[arg(long)]
    pub stop_on_interrupt: bool,
    /// Do not write the run's report page (`cargo xtask report`) when following ends.
    #[arg(long)]
    pub no_report: bool,
    /// Give up following after this many seconds (exit 3); at most 2592000 (30 days).
    #[arg(
        long,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=kit_config::MAX_DURATION_SECS)
    )]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Workflow names or paths (YAML or Hera scripts); all of workflows/ when empty.
    pub workflows: Vec<String>,
    /// After our checks, also ask the Argo Server's own lint (needs ARGO_SERVER and
    /// ARGO_TOKEN; done by default when the Argo Server is the way in).
    #[arg(long)]
    pub server: bool,
    #[command(flatten)]
    pub script: ScriptArgs,
}

/// How a Hera script (`workflows/NAME.py`) runs to give its workflow.
#[derive(Debug, Args, Default, Clone)]
pub struct ScriptArgs {
    /// Run Hera scripts with this Python interpreter, Hera installed there, instead of
    /// the environment the toolkit makes under .xtask/python (hera_version).
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<PathBuf>,
    /// When a script builds several workflows, the one to use (its name or generateName).
    #[arg(long, value_name = "NAME")]
    pub select: Option<String>,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// Workflow name in the namespace.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Workflow name in the namespace.
    pub name: String,
    /// Also write what was read (workflow, pods, events, logs) into this folder, in the
    /// diagnosis fixture format: attach it to a bug report.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run record (folder, or the workflow name or date of a record), or any workflow
    /// of the namespace. Default: the last run.
    pub target: Option<String>,
    /// Draw the page from a folder written by `diagnose NAME --save DIR`, offline.
    #[arg(long, value_name = "DIR", conflicts_with = "target")]
    pub from: Option<PathBuf>,
    /// Open the page with the desktop's opener (xdg-open, open).
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Path on the PVC, relative to its root (default: the `experiment` folder of the
    /// last run, e.g. `junk`).
    pub path: Option<String>,
    /// Take the default path from this run (record folder or workflow name).
    #[arg(long, value_name = "NAME|RECORD")]
    pub run: Option<String>,
    /// Local folder to copy into (default: the results folder / PATH).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Show what is on the PVC (tree with sizes) without copying.
    #[arg(long)]
    pub list: bool,
    /// Remove leftover helper pods and exit.
    #[arg(long)]
    pub cleanup: bool,
    /// Use this running pod that mounts the PVC instead of a helper pod.
    #[arg(long)]
    pub pod: Option<String>,
    /// Image of the helper pod (default: busybox:1 in the configured registry).
    #[arg(long)]
    pub helper_image: Option<String>,
    /// Compress the transfer in the pod: `auto` times a sample of the link and
    /// compresses (zstd, else gzip, whichever the pod has) only when that is faster.
    #[arg(long, value_name = "CODEC", default_value = "auto", value_parser = parse_compression)]
    pub compress: kit_fetch::Compression,
    /// Same as `--compress gzip` (kept for scripts written before `--compress`).
    #[arg(long, hide = true, conflicts_with = "compress")]
    pub gzip: bool,
    /// Hash every local file again instead of trusting the manifest's sizes and times,
    /// and check transfers with SHA-256 in the pod instead of cksum's CRC.
    #[arg(long)]
    pub verify: bool,
    /// After a verified fetch, delete the folder on the PVC (asks first, unless --yes).
    #[arg(long)]
    pub delete_remote: bool,
    /// Answer yes to the --delete-remote question.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Exit non-zero when something required by the other commands is missing.
    #[arg(long)]
    pub check: bool,
}

fn parse_compression(value: &str) -> Result<kit_fetch::Compression, String> {
    value.parse()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn help_lists_every_exit_code() {
        let help = Cli::command()
            .get_after_help()
            .expect("the main --help has an epilogue")
            .to_string();
        for code in ExitCode::ALL {
            let item = format!("{} {}", code.code(), code.meaning());
            assert!(help.contains(&item), "--help lacks `{item}`:\n{help}");
        }
    }

    #[test]
    fn run_help_says_4_is_a_stop_on_a_diagnosis() {
        let mut cli = Cli::command();
        let run = cli.find_subcommand_mut("run").expect("run");
        let help = run.get_after_help().expect("run's epilogue").to_string();
        assert!(help.contains("2 bad input"), "{help}");
        assert!(help.contains("4 stopped on a diagnosis"), "{help}");
    }
}
