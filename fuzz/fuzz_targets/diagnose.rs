//! The diagnosis rules over mutated snapshots. An input is one JSON object:
//! `{"now": RFC 3339, "workflow": …, "pods": …, "events": …, "nodes": …, "logs": …}`,
//! as the fixtures of crates/diagnose hold them (fuzz/corpus/diagnose has them in that
//! form). A structure-aware mutator changes values, keys and lists of the JSON (libFuzzer's
//! byte mutations alone would mostly break the syntax). Never a panic; every finding is
//! consistent (its level is its reason's), says what is wrong and what to do, renders, and
//! serialises.
#![no_main]

use chrono::{DateTime, Utc};
use kit_diagnose::{DiagnoseConfig, Snapshot, SnapshotJson, diagnose, exit_worthy, summary_level};
use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let now: DateTime<Utc> = doc
        .get("now")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let empty = Value::Null;
    let parts = SnapshotJson {
        workflow: doc.get("workflow").unwrap_or(&empty),
        pods: doc.get("pods"),
        events: doc.get("events"),
        nodes: doc.get("nodes"),
        logs: doc.get("logs"),
    };
    // Kubernetes objects of the wrong shape may be refused; what is accepted is diagnosed.
    let Ok(snapshot) = Snapshot::from_json(now, parts, DiagnoseConfig::default()) else {
        return;
    };
    let findings = diagnose(&snapshot);
    for f in &findings {
        assert_eq!(
            f.level,
            f.reason.level(),
            "{:?} at the wrong level",
            f.reason
        );
        assert!(
            !f.summary.trim().is_empty(),
            "{:?} without a summary",
            f.reason
        );
        assert!(!f.fix.trim().is_empty(), "{:?} without a fix", f.reason);
        assert!(!f.to_string().is_empty());
        serde_json::to_string(f).expect("a finding serialises");
    }
    let _ = summary_level(&findings);
    let _ = exit_worthy(&findings);
});

/// Values that have broken parsers of Kubernetes text before: empty and cut strings,
/// extreme times, quantities and numbers.
fn weird(pick: u64) -> Value {
    let all = [
        json!(""),
        json!("\""),
        json!("é\"{{"),
        json!(" (exit code "),
        json!("0/ nodes are available: , , Insufficient "),
        json!("is forbidden: User \"system:serviceaccount:\" cannot "),
        json!("couldn't find key  in "),
        json!("9999-12-31T23:59:59Z"),
        json!("0000-01-01T00:00:00Z"),
        json!("1970-01-01T00:00:00Z"),
        json!("2026-13-45T99:99:99Z"),
        json!("99999999999999999999Gi"),
        json!("1e999"),
        json!("-1"),
        json!("0.000000001m"),
        json!("18446744073709551616"),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(-1),
        json!(1e308),
        json!(0.5),
        json!(true),
        json!({}),
        json!([]),
        Value::Null,
    ];
    all[(pick % all.len() as u64) as usize].clone()
}

/// A step of a path into a JSON value.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                here.push(Step::Key(k.clone()));
                paths(x, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                here.push(Step::Index(i));
                paths(x, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match (v, step) {
        (Value::Object(o), Step::Key(k)) => o.get_mut(k),
        (Value::Array(a), Step::Index(i)) => a.get_mut(*i),
        _ => None,
    })
}

/// Mutates one place of the document; false when nothing changed.
fn mutate_json(doc: &mut Value, rng: &mut impl FnMut() -> u64) -> bool {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let pick = |rng: &mut dyn FnMut() -> u64| all[(rng() % all.len() as u64) as usize].clone();
    let target = pick(rng);
    let donor_path = pick(rng);
    let donor = at(doc, &donor_path).map(|v| v.clone());
    let op = rng() % 7;
    let choice = rng();
    let Some(node) = at(doc, &target) else {
        return false;
    };
    match op {
        0 | 1 => *node = weird(choice),
        // Another part of the document in this place: a pod where a node was, …
        2 => match donor {
            Some(d) => *node = d,
            None => return false,
        },
        3 => match node {
            Value::Object(o) if !o.is_empty() => {
                let key = o.keys().nth((choice % o.len() as u64) as usize).cloned();
                if let Some(key) = key {
                    o.remove(&key);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove((choice % a.len() as u64) as usize);
            }
            _ => return false,
        },
        4 => match node {
            Value::Array(a) if !a.is_empty() => {
                let copy = a[(choice % a.len() as u64) as usize].clone();
                a.push(copy);
            }
            _ => return false,
        },
        5 => match node {
            Value::String(s) => {
                let mut bytes = s.clone().into_bytes();
                let len = bytes.len();
                bytes.resize(len * 2 + 16, 0);
                let new_len = fuzzer_mutate(&mut bytes, len, len * 2 + 16);
                bytes.truncate(new_len);
                *s = String::from_utf8_lossy(&bytes).into_owned();
            }
            _ => return false,
        },
        _ => match (node, weird(choice)) {
            (Value::String(s), Value::String(w)) => s.push_str(&w),
            _ => return false,
        },
    }
    true
}

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut state = u64::from(seed) | 1 << 40;
    let mut rng = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // One time in eight, libFuzzer's own byte mutations (they find syntax the JSON ones
    // cannot reach, such as duplicate keys or odd escapes).
    if rng() % 8 != 0
        && let Ok(mut doc) = serde_json::from_slice::<Value>(&data[..size])
    {
        let rounds = 1 + rng() % 3;
        let mut changed = false;
        for _ in 0..rounds {
            changed |= mutate_json(&mut doc, &mut rng);
        }
        if changed
            && let Ok(out) = serde_json::to_vec(&doc)
            && out.len() <= max_size
        {
            data[..out.len()].copy_from_slice(&out);
            return out.len();
        }
    }
    fuzzer_mutate(data, size, max_size)
});
