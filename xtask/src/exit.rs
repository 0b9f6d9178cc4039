//! The exit codes of every command, defined once: the code returns them and `--help` is
//! written from them.

/// What a command's exit status means. Each command uses the subset its `--help` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(into = "u8")]
pub enum ExitCode {
    Success,
    Failure,
    /// Bad input or configuration: nothing was attempted.
    Input,
    Timeout,
    /// `--fail-fast` stopped the workflow on a finding that cannot recover.
    StoppedOnDiagnosis,
    /// Ctrl-C.
    Interrupted,
}

impl ExitCode {
    /// Every code, in the order `--help` lists them.
    pub const ALL: [ExitCode; 6] = [
        ExitCode::Success,
        ExitCode::Failure,
        ExitCode::Input,
        ExitCode::Timeout,
        ExitCode::StoppedOnDiagnosis,
        ExitCode::Interrupted,
    ];

    pub const fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Input => 2,
            ExitCode::Timeout => 3,
            ExitCode::StoppedOnDiagnosis => 4,
            // 128 + SIGINT, as shells report a process ended by Ctrl-C.
            ExitCode::Interrupted => 130,
        }
    }

    /// The general meaning, as the main `--help` gives it.
    pub const fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Failure => "failure",
            ExitCode::Input => "bad input or configuration",
            ExitCode::Timeout => "timeout",
            ExitCode::StoppedOnDiagnosis => "stopped on a diagnosis",
            ExitCode::Interrupted => "interrupted",
        }
    }
}

impl From<ExitCode> for u8 {
    fn from(code: ExitCode) -> u8 {
        code.code()
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

/// An error that carries its exit code. Other errors exit with [`ExitCode::Failure`].
#[derive(Debug)]
pub struct Exit {
    pub code: ExitCode,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

impl Exit {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Exit {
            code,
            message: message.into(),
        }
    }

    /// Bad input or configuration.
    pub fn input(message: impl Into<String>) -> Self {
        Exit::new(ExitCode::Input, message)
    }

    /// A failure whose message is the whole story.
    pub fn failure(message: impl Into<String>) -> Self {
        Exit::new(ExitCode::Failure, message)
    }
}

/// "Exit codes: 0 …, 1 …." for a command's `--help`, from the codes it can return and
/// what each means for it.
pub fn help(codes: &[(ExitCode, &str)]) -> String {
    let items: Vec<String> = codes
        .iter()
        .map(|(code, meaning)| format!("{} {meaning}", code.code()))
        .collect();
    format!("Exit codes: {}.", items.join(", "))
}

/// The main `--help`'s list: every code with its general meaning.
pub fn help_all() -> String {
    let codes: Vec<(ExitCode, &str)> = ExitCode::ALL.iter().map(|c| (*c, c.meaning())).collect();
    help(&codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_holds_every_variant_once() {
        // Exhaustive: a new variant does not compile until it has a slot here (and a
        // place in `seen`), and then fails until it is in ALL.
        let slot = |c: ExitCode| match c {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Input => 2,
            ExitCode::Timeout => 3,
            ExitCode::StoppedOnDiagnosis => 4,
            ExitCode::Interrupted => 5,
        };
        let mut seen = [0; 6];
        for c in ExitCode::ALL {
            seen[slot(c)] += 1;
        }
        assert_eq!(seen, [1; 6]);
        let mut codes: Vec<u8> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(
            codes.len(),
            ExitCode::ALL.len(),
            "two variants share a number"
        );
    }

    #[test]
    fn stopped_on_a_diagnosis_is_not_bad_input() {
        assert_eq!(ExitCode::StoppedOnDiagnosis.code(), 4);
        assert_eq!(ExitCode::Input.code(), 2);
    }
}
