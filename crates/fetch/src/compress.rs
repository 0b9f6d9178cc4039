//! Compression of the transfer: the codec the pod compresses with, as the user asked or
//! chosen from a sample of the link.
//!
//! Compressing only pays when the link is slower than the pod's compressor: on loopback
//! or a data-centre network, `gzip` in the pod is the bottleneck and makes a fetch
//! slower; over a VPN at 10–50 Mbit/s, CityGML (text compressing ten to twenty times)
//! comes over several times faster. So `auto` times a few MiB of the files to fetch as
//! they arrive uncompressed, compresses that sample locally to learn how well the data
//! compresses, and picks the codec whose estimated time is clearly the shortest.

use std::io::{self, Read};
use std::str::FromStr;

use serde::Serialize;

/// How the tar stream travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    #[default]
    None,
    Gzip,
    Zstd,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
        }
    }

    /// The pipe stage after `tar` in the pod; fastest levels (see the module notes).
    pub(crate) fn pod_filter(self) -> &'static str {
        match self {
            Codec::None => "cat",
            Codec::Gzip => "gzip -c -1",
            Codec::Zstd => "zstd -c -q -1 -T0",
        }
    }

    /// Reads what the pod's filter wrote.
    pub(crate) fn decoder<'a, R: Read + 'a>(self, reader: R) -> Box<dyn Read + 'a> {
        match self {
            Codec::None => Box::new(reader),
            Codec::Gzip => Box::new(flate2::read::GzDecoder::new(reader)),
            Codec::Zstd => match zstd::stream::read::Decoder::new(reader) {
                Ok(decoder) => Box::new(decoder),
                // Only when its context cannot be allocated: the extractor reports it.
                Err(err) => Box::new(Failed(Some(err))),
            },
        }
    }
}

/// A reader whose first read fails with the error it holds.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("decoder unavailable")))
    }
}

/// What the user asked for (`--compress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Measure the link and decide.
    #[default]
    Auto,
    Off,
    Gzip,
    Zstd,
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Compression::Auto),
            "none" | "off" => Ok(Compression::Off),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!(
                "compression {other:?} is not one of auto, none, gzip, zstd"
            )),
        }
    }
}

/// The compressors the pod has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodTools {
    pub gzip: bool,
    pub zstd: bool,
}

/// A sample of the files to fetch, received uncompressed, and how fast it came.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkSample {
    /// Bytes timed (those after the first chunk: its arrival starts the clock).
    pub bytes: u64,
    pub seconds: f64,
    /// Sample size over its size through gzip's fastest level, computed locally.
    pub ratio: f64,
}

impl LinkSample {
    pub fn bytes_per_sec(&self) -> f64 {
        if self.seconds <= 0.0 {
            f64::INFINITY
        } else {
            self.bytes as f64 / self.seconds
        }
    }
}

/// The bytes of a sample: enough for TCP to leave slow start on a 50 ms link, small
/// enough to cost little at 10 Mbit/s (3 s).
pub(crate) const SAMPLE_BYTES: u64 = 4 * 1024 * 1024;
/// Under this much to fetch, sampling costs more than compressing could save.
pub(crate) const SAMPLE_WORTH_FROM: u64 = 16 * 1024 * 1024;
/// Compression speeds assumed in the pod, one core at level 1, on CityGML-like text:
/// measured on the stack machine, busybox gzip 80 MB/s, GNU gzip 165 MB/s, zstd
/// 800 MB/s; halved, for busy and slower cluster nodes.
const GZIP_BYTES_PER_SEC: f64 = 40e6;
const ZSTD_BYTES_PER_SEC: f64 = 400e6;
/// A codec is chosen only when it should take less than this share of the time
/// uncompressed: estimates are rough, and a wrong "yes" costs more than a wrong "no".
const WORTH_IT: f64 = 0.7;

/// The decision and its reason, in the user's terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub codec: Codec,
    pub reason: String,
    /// Set when the pod lacked what was asked for.
    #[serde(skip)]
    pub fallback: bool,
    /// What `auto` measured.
    pub sample: Option<LinkSample>,
}

/// Picks the codec. `sample` is `None` when nothing was measured (too little to fetch,
/// or the sample failed: then `why_no_sample` says so).
pub fn choose(
    asked: Compression,
    tools: PodTools,
    sample: Option<&LinkSample>,
    why_no_sample: &str,
) -> Choice {
    let chosen = |codec: Codec, reason: String| Choice {
        codec,
        reason,
        fallback: false,
        sample: None,
    };
    let instead = |wanted: Codec| {
        let codec = if tools.zstd {
            Codec::Zstd
        } else if tools.gzip {
            Codec::Gzip
        } else {
            Codec::None
        };
        let what = match codec {
            Codec::None => "uncompressed".to_string(),
            other => format!("with {} instead", other.name()),
        };
        Choice {
            codec,
            reason: format!("the pod has no {}: transferring {what}", wanted.name()),
            fallback: true,
            sample: None,
        }
    };
    match asked {
        Compression::Off => chosen(Codec::None, "--compress none".into()),
        Compression::Gzip if tools.gzip => chosen(Codec::Gzip, "--compress gzip".into()),
        Compression::Zstd if tools.zstd => chosen(Codec::Zstd, "--compress zstd".into()),
        Compression::Gzip => instead(Codec::Gzip),
        Compression::Zstd => instead(Codec::Zstd),
        Compression::Auto => Choice {
            sample: sample.copied(),
            ..auto(tools, sample, why_no_sample)
        },
    }
}

fn auto(tools: PodTools, sample: Option<&LinkSample>, why_no_sample: &str) -> Choice {
    let none = |reason: String| Choice {
        codec: Codec::None,
        reason,
        fallback: false,
        sample: None,
    };
    if !tools.gzip && !tools.zstd {
        return none("the pod has neither gzip nor zstd".into());
    }
    let Some(sample) = sample else {
        return none(why_no_sample.to_string());
    };
    let link = sample.bytes_per_sec();
    let link_text = format!("link measured at {}", rate(link));
    let ratio = sample.ratio.max(1.0);
    // Seconds per byte of content: the slower of the compressor and the link carrying
    // compressed bytes (they overlap, the pipe streams).
    let per_byte = |speed: f64| (1.0 / speed).max(1.0 / (ratio * link));
    let uncompressed = 1.0 / link;
    let candidates = [
        (Codec::Zstd, tools.zstd, ZSTD_BYTES_PER_SEC),
        (Codec::Gzip, tools.gzip, GZIP_BYTES_PER_SEC),
    ];
    let best = candidates
        .iter()
        .filter(|(_, present, _)| *present)
        .map(|&(codec, _, speed)| (codec, per_byte(speed)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    match best {
        Some((codec, cost)) if cost < WORTH_IT * uncompressed => Choice {
            codec,
            reason: format!(
                "{link_text}, the data compresses {ratio:.1}×: {} should take about {:.0}% of the time",
                codec.name(),
                100.0 * cost / uncompressed
            ),
            fallback: false,
            sample: None,
        },
        _ if ratio < 1.5 => none(format!(
            "{link_text}, the data hardly compresses ({ratio:.1}×)"
        )),
        _ => none(format!(
            "{link_text}: faster than the pod compresses (the data compresses {ratio:.1}×)"
        )),
    }
}

fn rate(bytes_per_sec: f64) -> String {
    if bytes_per_sec.is_infinite() || bytes_per_sec > 1e10 {
        "more than 10 GB/s".into()
    } else {
        format!(
            "{:.1} MB/s ({:.0} Mbit/s)",
            bytes_per_sec / 1e6,
            bytes_per_sec * 8.0 / 1e6
        )
    }
}

/// How well `data` compresses at gzip's fastest level (1.0 when empty).
pub(crate) fn ratio_of(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 1.0;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let compressed = io::Write::write_all(&mut encoder, data)
        .and_then(|()| encoder.finish())
        .map(|out| out.len())
        .unwrap_or(data.len());
    data.len() as f64 / compressed.max(1) as f64
}

/// Runs in `$1`/`$2` (the PVC's folder, then the listed base) and writes the first `$3`
/// bytes of the remaining arguments, concatenated, to stdout.
const SAMPLE_SCRIPT: &str = r#"cd "$1" && cd "$2" || exit 1
n=$3; shift 3
cat -- "$@" 2>/dev/null | head -c "$n"
"#;

/// The command that sends a sample: the largest files first (one is usually enough),
/// at most 64 names.
pub(crate) fn sample_command(root: &str, base: &str, files: &[(&str, u64)]) -> Vec<String> {
    let mut by_size: Vec<&(&str, u64)> = files.iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut cmd: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        SAMPLE_SCRIPT.into(),
        "xtask-sample".into(),
        root.into(),
        base.into(),
        SAMPLE_BYTES.to_string(),
    ];
    let mut covered = 0u64;
    for (name, size) in by_size.into_iter().take(64) {
        cmd.push(format!("./{name}"));
        covered += size;
        if covered >= SAMPLE_BYTES {
            break;
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: PodTools = PodTools {
        gzip: true,
        zstd: true,
    };
    const GZIP_ONLY: PodTools = PodTools {
        gzip: true,
        zstd: false,
    };

    fn sample(mb_per_sec: f64, ratio: f64) -> LinkSample {
        LinkSample {
            bytes: 4_000_000,
            seconds: 4.0 / mb_per_sec,
            ratio,
        }
    }

    #[test]
    fn slow_links_with_text_get_compression_fast_ones_do_not() {
        // 50 Mbit/s and 10 Mbit/s, CityGML-like text.
        for link in [6.25, 1.25] {
            let c = choose(Compression::Auto, BOTH, Some(&sample(link, 15.0)), "");
            assert_eq!(c.codec, Codec::Zstd, "{c:?}");
            let c = choose(Compression::Auto, GZIP_ONLY, Some(&sample(link, 15.0)), "");
            assert_eq!(c.codec, Codec::Gzip, "{c:?}");
            assert!(c.reason.contains("compresses 15.0×"), "{}", c.reason);
        }
        // Loopback and the stack's exec path: 200 MB/s and more.
        let c = choose(Compression::Auto, BOTH, Some(&sample(800.0, 15.0)), "");
        assert_eq!(c.codec, Codec::None, "{c:?}");
        let c = choose(Compression::Auto, GZIP_ONLY, Some(&sample(150.0, 15.0)), "");
        assert_eq!(c.codec, Codec::None, "{c:?}");
        assert!(
            c.reason.contains("faster than the pod compresses"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn data_that_does_not_compress_travels_as_is() {
        let c = choose(Compression::Auto, BOTH, Some(&sample(1.25, 1.01)), "");
        assert_eq!(c.codec, Codec::None);
        assert!(c.reason.contains("hardly compresses"), "{}", c.reason);
    }

    #[test]
    fn without_a_sample_or_tools_nothing_is_compressed() {
        let c = choose(Compression::Auto, BOTH, None, "only 2 MB to fetch");
        assert_eq!(
            (c.codec, c.reason.as_str()),
            (Codec::None, "only 2 MB to fetch")
        );
        let c = choose(
            Compression::Auto,
            PodTools::default(),
            Some(&sample(1.0, 20.0)),
            "",
        );
        assert_eq!(c.codec, Codec::None);
        assert!(c.reason.contains("neither gzip nor zstd"));
    }

    #[test]
    fn an_explicit_codec_the_pod_lacks_falls_back_and_says_so() {
        let c = choose(Compression::Zstd, GZIP_ONLY, None, "");
        assert_eq!(c.codec, Codec::Gzip);
        assert!(c.fallback);
        assert_eq!(
            c.reason,
            "the pod has no zstd: transferring with gzip instead"
        );
        let c = choose(Compression::Gzip, PodTools::default(), None, "");
        assert_eq!(
            (c.codec, c.reason.as_str()),
            (
                Codec::None,
                "the pod has no gzip: transferring uncompressed"
            )
        );
        let c = choose(Compression::Gzip, BOTH, Some(&sample(1000.0, 1.0)), "");
        assert_eq!((c.codec, c.fallback), (Codec::Gzip, false));
    }

    #[test]
    fn flags_parse_and_bad_values_say_what_is_accepted() {
        assert_eq!("zstd".parse(), Ok(Compression::Zstd));
        assert_eq!("none".parse(), Ok(Compression::Off));
        let err = "lz4".parse::<Compression>().unwrap_err();
        assert!(err.contains("auto, none, gzip, zstd"), "{err}");
    }

    #[test]
    fn ratio_reflects_the_data() {
        assert!(ratio_of(&b"<gml:posList>1 2 3</gml:posList>\n".repeat(10_000)) > 20.0);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        assert!(ratio_of(&noise) < 1.2, "{}", ratio_of(&noise));
        assert_eq!(ratio_of(&[]), 1.0);
    }

    #[test]
    fn the_sample_takes_the_largest_files_first() {
        let cmd = sample_command("/data", ".", &[("a", 10), ("big", 5 << 20), ("b", 20)]);
        assert_eq!(&cmd[7..], ["./big"]);
        let cmd = sample_command("/data", ".", &[("a", 10), ("b", 20)]);
        assert_eq!(&cmd[7..], ["./b", "./a"]);
    }

    #[test]
    fn every_codec_decodes_what_its_tool_writes() {
        let text = b"stage_5/2012 tile\n".repeat(5000);
        for (codec, tool) in [(Codec::Gzip, "gzip"), (Codec::Zstd, "zstd")] {
            let Ok(mut child) = std::process::Command::new("sh")
                .args(["-c", codec.pod_filter()])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
            else {
                continue;
            };
            let mut stdin = child.stdin.take().unwrap();
            let input = text.clone();
            let writer = std::thread::spawn(move || io::Write::write_all(&mut stdin, &input));
            let mut out = Vec::new();
            child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
            writer.join().unwrap().unwrap();
            if !child.wait().unwrap().success() {
                // This machine lacks the tool: nothing to check against.
                eprintln!("{tool} not available here");
                continue;
            }
            let mut decoded = Vec::new();
            codec
                .decoder(out.as_slice())
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, text, "{tool}");
        }
    }
}
