//! Never panic on any input: mutated fixtures and every prefix of real messages.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kit_diagnose::{DiagnoseConfig, Snapshot, SnapshotJson, WorkflowView, diagnose, parse};
use serde_json::Value;

const PARTS: [&str; 5] = [
    "workflow.json",
    "pods.json",
    "events.json",
    "nodes.json",
    "logs.json",
];

fn scenarios() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn read(dir: &Path) -> (DateTime<Utc>, Vec<Option<Value>>) {
    let now = fs::read_to_string(dir.join("now.txt"))
        .expect("now.txt")
        .trim()
        .parse()
        .expect("time");
    let parts = PARTS
        .iter()
        .map(|p| {
            fs::read_to_string(dir.join(p))
                .ok()
                .map(|t| serde_json::from_str(&t).expect("json"))
        })
        .collect();
    (now, parts)
}

fn run(now: DateTime<Utc>, parts: &[Option<Value>]) {
    let empty = Value::Null;
    let snapshot = Snapshot::from_json(
        now,
        SnapshotJson {
            workflow: parts[0].as_ref().unwrap_or(&empty),
            pods: parts[1].as_ref(),
            events: parts[2].as_ref(),
            nodes: parts[3].as_ref(),
            logs: parts[4].as_ref(),
        },
        DiagnoseConfig::default(),
    );
    // Malformed Kubernetes objects may be refused; what is accepted must not panic.
    if let Ok(s) = snapshot {
        for f in diagnose(&s) {
            let _ = f.to_string();
        }
    }
}

/// Paths to every string leaf of a JSON value.
fn string_paths(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::String(_) => out.push(path.clone()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                string_paths(x, path, out);
                path.pop();
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                path.push(k.clone());
                string_paths(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| match v {
        Value::Array(a) => a.get_mut(k.parse::<usize>().ok()?),
        Value::Object(o) => o.get_mut(k),
        _ => None,
    })
}

const WEIRD: [&str; 9] = [
    "",
    "\"",
    "é\"{{",
    "image \"",
    " (exit code ",
    "0/ nodes are available: , , Insufficient ",
    "is forbidden: User \"system:serviceaccount:\" cannot ",
    "couldn't find key  in ",
    "9999-12-31T23:59:59Z",
];

#[test]
fn mutated_fixtures_never_panic() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for dir in scenarios() {
        let (now, parts) = read(&dir);
        run(now, &parts);
        for (i, part) in parts.iter().enumerate() {
            let Some(part) = part else { continue };
            let mut paths = Vec::new();
            string_paths(part, &mut Vec::new(), &mut paths);
            if paths.is_empty() {
                continue;
            }
            for _ in 0..40 {
                let mut mutated = parts.clone();
                let target = &paths[(next() % paths.len() as u64) as usize];
                let weird = WEIRD[(next() % WEIRD.len() as u64) as usize];
                if let Some(v) = mutated[i].as_mut().and_then(|p| at_mut(p, target)) {
                    *v = match next() % 3 {
                        0 => Value::String(weird.to_string()),
                        1 => Value::Null,
                        _ => Value::String(format!("{}{weird}", v.as_str().unwrap_or(""))),
                    };
                }
                run(now, &mutated);
            }
        }
        // Extreme clocks.
        run(DateTime::<Utc>::MIN_UTC, &parts);
        run(DateTime::<Utc>::MAX_UTC, &parts);
    }
}

#[test]
fn every_prefix_of_real_messages_parses_without_panic() {
    let mut messages = Vec::new();
    for dir in scenarios() {
        let (_, parts) = read(&dir);
        for part in parts.iter().flatten() {
            let mut paths = Vec::new();
            string_paths(part, &mut Vec::new(), &mut paths);
            let mut copy = part.clone();
            for p in paths {
                if let Some(Value::String(s)) = at_mut(&mut copy, &p)
                    && s.len() > 20
                {
                    messages.push(s.clone());
                }
            }
        }
    }
    messages.sort();
    messages.dedup();
    for m in &messages {
        for (i, _) in m.char_indices() {
            for s in [&m[..i], &m[i..]] {
                let _ = parse::classify_pull(s);
                let _ = parse::image_in(s);
                let _ = parse::parse_config_ref(s);
                let _ = parse::pvc_not_found(s);
                let _ = parse::parse_fit_error(s);
                let _ = parse::parse_forbidden(s);
                let _ = parse::parse_missing_service_account(s);
                let _ = parse::parse_quota(s);
                let _ = parse::parse_exit_message(s);
                let _ = parse::is_spec_error(s);
                let _ = parse::is_attach_error(s);
                let _ = parse::parse_quantity(s);
                let _ = parse::short_node_name(s);
            }
        }
    }
}

#[test]
fn workflow_view_from_any_fixture_part() {
    for dir in scenarios() {
        let (_, parts) = read(&dir);
        for p in parts.iter().flatten() {
            let _ = WorkflowView::from_json(p);
        }
    }
}
