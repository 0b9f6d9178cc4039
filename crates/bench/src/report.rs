//! What a benchmark found: rows of our figure against the peer tool's, printed as a
//! table or as JSON.

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::stats;

/// What one benchmark found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub bench: &'static str,
    /// Our binary and its build profile: a debug build is what `cargo xtask` runs.
    pub binary: String,
    pub runs: usize,
    /// Wall time of the whole benchmark, preparation and cleanup included.
    pub seconds: f64,
    pub rows: Vec<Row>,
    /// What was left out, what is not comparable, how things were counted.
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(bench: &'static str) -> Self {
        Report {
            bench,
            ..Report::default()
        }
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// The table on stdout; `color` paints the verdicts.
    pub fn print(&self, color: bool) {
        println!(
            "bench {}: {}; median of {} run(s) unless marked p95; whole benchmark {:.0} s",
            self.bench, self.binary, self.runs, self.seconds
        );
        let header = [
            "measurement",
            "ours",
            "peer",
            "ours/peer",
            "peer tool",
            "target",
        ];
        let mut table: Vec<[String; 6]> = vec![header.map(String::from)];
        for row in &self.rows {
            let stat = |s: &Option<Stat>| {
                s.as_ref()
                    .map_or("-".into(), |s| s.text(row.unit, row.headline))
            };
            let what = match row.headline {
                Headline::Median => row.what.clone(),
                Headline::P95 => format!("{} [p95]", row.what),
            };
            let target = match (&row.target, row.met) {
                (Some(t), Some(true)) => format!("met: {t}"),
                (Some(t), Some(false)) => format!("MISSED: {t}"),
                (Some(t), None) => t.clone(),
                (None, _) => String::new(),
            };
            table.push([
                what,
                stat(&row.ours),
                stat(&row.peer),
                row.ratio_text(),
                row.peer_tool.clone().unwrap_or_default(),
                target,
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|c| {
                table
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (i, cells) in table.iter().enumerate() {
            let mut line = format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:<w4$}  ",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4]
            );
            // Colour only the verdict, after the padding was computed on plain text.
            let verdict = &cells[5];
            if i > 0 && verdict.starts_with("met") {
                line.push_str(&paint(color, verdict, |t| t.green().to_string()));
            } else if i > 0 && verdict.starts_with("MISSED") {
                line.push_str(&paint(color, verdict, |t| t.red().bold().to_string()));
            } else {
                line.push_str(verdict);
            }
            println!("{}", line.trim_end());
        }
        if !self.notes.is_empty() {
            println!("notes:");
            for note in &self.notes {
                println!("  - {note}");
            }
        }
    }
}

fn paint(color: bool, text: &str, style: impl Fn(&str) -> String) -> String {
    if color { style(text) } else { text.to_string() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Seconds,
    /// Processor time: less is better, but it is not speed.
    CpuSeconds,
    Bytes,
    MegabytesPerSecond,
    Mebibytes,
    Count,
}

/// One line of the table: our figure, the peer's, and how they compare.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub what: String,
    pub unit: Unit,
    pub ours: Option<Stat>,
    pub peer_tool: Option<String>,
    pub peer: Option<Stat>,
    /// ours / peer, on the medians. Below 1: ours is smaller (faster, fewer bytes).
    pub ratio_ours_over_peer: Option<f64>,
    pub target: Option<String>,
    pub met: Option<bool>,
    /// Which statistic the table shows and the ratio uses.
    pub headline: Headline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Headline {
    #[default]
    Median,
    P95,
}

impl Row {
    pub fn new(id: &str, what: &str, unit: Unit) -> Self {
        Row {
            id: id.into(),
            what: what.into(),
            unit,
            ours: None,
            peer_tool: None,
            peer: None,
            ratio_ours_over_peer: None,
            target: None,
            met: None,
            headline: Headline::Median,
        }
    }

    pub fn p95(mut self) -> Self {
        self.headline = Headline::P95;
        self.update_ratio();
        self
    }

    pub fn ours(mut self, stat: Stat) -> Self {
        self.ours = Some(stat);
        self.update_ratio();
        self
    }

    pub fn peer(mut self, tool: &str, stat: Option<Stat>) -> Self {
        self.peer_tool = Some(tool.into());
        self.peer = stat;
        self.update_ratio();
        self
    }

    pub fn target(mut self, text: &str, met: Option<bool>) -> Self {
        self.target = Some(text.into());
        self.met = met;
        self
    }

    fn update_ratio(&mut self) {
        self.ratio_ours_over_peer = match (&self.ours, &self.peer) {
            (Some(o), Some(p)) => match (o.value(self.headline), p.value(self.headline)) {
                (Some(o), Some(p)) if p > 0.0 => Some(o / p),
                _ => None,
            },
            _ => None,
        };
    }

    fn ratio_text(&self) -> String {
        let Some(r) = self.ratio_ours_over_peer else {
            return "-".into();
        };
        if r <= 0.0 {
            return format!("{r:.3}");
        }
        let (better, worse) = match self.unit {
            Unit::Seconds | Unit::MegabytesPerSecond => ("faster", "slower"),
            _ => ("less", "more"),
        };
        // Throughput is the one figure where more is better.
        let is_better = if self.unit == Unit::MegabytesPerSecond {
            r > 1.0
        } else {
            r < 1.0
        };
        let factor = if r >= 1.0 { r } else { 1.0 / r };
        let word = if is_better { better } else { worse };
        format!("{r:.3} ({factor:.1}× {word})")
    }
}

/// A measurement repeated over runs.
#[derive(Debug, Clone, Serialize)]
pub struct Stat {
    pub median: Option<f64>,
    pub p95: Option<f64>,
    pub samples: Vec<f64>,
    /// Why there is no number (e.g. "never within 20 s"), or a remark on it.
    pub remark: Option<String>,
}

impl Stat {
    pub fn of(samples: Vec<f64>) -> Self {
        Stat {
            median: stats::median(&samples),
            p95: stats::p95(&samples),
            samples,
            remark: None,
        }
    }

    pub fn one(value: f64) -> Self {
        Stat::of(vec![value])
    }

    pub fn missing(remark: impl Into<String>) -> Self {
        Stat {
            median: None,
            p95: None,
            samples: vec![],
            remark: Some(remark.into()),
        }
    }

    pub fn value(&self, headline: Headline) -> Option<f64> {
        match headline {
            Headline::Median => self.median,
            Headline::P95 => self.p95,
        }
    }

    pub fn text(&self, unit: Unit, headline: Headline) -> String {
        match self.value(headline) {
            Some(v) => format_value(v, unit),
            None => self.remark.clone().unwrap_or_else(|| "-".into()),
        }
    }
}

pub fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Seconds | Unit::CpuSeconds if v.abs() < 1.0 => format!("{:.0} ms", v * 1000.0),
        Unit::Seconds | Unit::CpuSeconds => format!("{v:.2} s"),
        Unit::Bytes if v >= 1e6 => format!("{:.1} MB", v / 1e6),
        Unit::Bytes if v >= 1e3 => format!("{:.1} kB", v / 1e3),
        Unit::Bytes => format!("{v:.0} B"),
        Unit::MegabytesPerSecond => format!("{v:.1} MB/s"),
        Unit::Mebibytes => format!("{v:.1} MiB"),
        Unit::Count => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_ours_over_peer_and_says_which_way() {
        let row = Row::new("x", "x", Unit::Seconds)
            .ours(Stat::of(vec![0.5]))
            .peer("docker", Some(Stat::of(vec![10.0])));
        assert_eq!(row.ratio_ours_over_peer, Some(0.05));
        assert_eq!(row.ratio_text(), "0.050 (20.0× faster)");
        let row = Row::new("x", "x", Unit::MegabytesPerSecond)
            .ours(Stat::one(10.0))
            .peer("docker", Some(Stat::one(20.0)));
        assert_eq!(row.ratio_text(), "0.500 (2.0× slower)");
        let row = Row::new("x", "x", Unit::Seconds)
            .ours(Stat::one(1.0))
            .peer("argo", Some(Stat::missing("never")));
        assert_eq!(row.ratio_ours_over_peer, None);
        assert_eq!(
            row.peer
                .as_ref()
                .map(|s| s.text(Unit::Seconds, Headline::Median)),
            Some("never".into())
        );
    }

    #[test]
    fn p95_rows_use_the_p95() {
        let row = Row::new("x", "x", Unit::Seconds)
            .ours(Stat::of(vec![0.1, 0.2, 0.9]))
            .peer("argo", Some(Stat::of(vec![1.0, 1.0, 1.8])))
            .p95();
        assert_eq!(row.ratio_ours_over_peer, Some(0.5));
    }

    #[test]
    fn values_read_well() {
        assert_eq!(format_value(0.0421, Unit::Seconds), "42 ms");
        assert_eq!(format_value(12.345, Unit::Seconds), "12.35 s");
        assert_eq!(format_value(37_800.0, Unit::Bytes), "37.8 kB");
        assert_eq!(format_value(21_000_000.0, Unit::Bytes), "21.0 MB");
    }
}
