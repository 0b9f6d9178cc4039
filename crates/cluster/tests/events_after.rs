//! The events watch that `run` starts at a version read before submitting, against the
//! local stack's API server: it must skip the namespace's backlog and bring every
//! event created afterwards.
//!
//! Needs `eval "$(tests/stack/env)"` (KUBECONFIG for watching, STACK_ADMIN_KUBECONFIG
//! to create events); ignored by default (see tests/common).

mod common;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kit_cluster::events_after::{current_version, events_after};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::watcher;

use common::NAMESPACE;

async fn create_event(api: &Api<Event>, object: &str) {
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{object}.")),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            kind: Some("Pod".into()),
            name: Some(object.into()),
            namespace: Some(NAMESPACE.into()),
            ..ObjectReference::default()
        },
        reason: Some("Testing".into()),
        message: Some(format!("about {object}")),
        type_: Some("Normal".into()),
        ..Event::default()
    };
    api.create(&PostParams::default(), &event).await.unwrap();
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_watch_from_a_version_skips_the_backlog_and_brings_what_follows() {
    let user = common::client("KUBECONFIG").await;
    let admin = common::client("STACK_ADMIN_KUBECONFIG").await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let tag = format!("events-after-{nanos}");
    let writer: Api<Event> = Api::namespaced(admin, NAMESPACE);
    let reader: Api<Event> = Api::namespaced(user, NAMESPACE);

    create_event(&writer, &format!("{tag}-before")).await;
    let version = current_version(&reader).await.expect("a resourceVersion");
    let mut stream = Box::pin(events_after(reader, version));
    create_event(&writer, &format!("{tag}-after-1")).await;
    create_event(&writer, &format!("{tag}-after-2")).await;

    // The store is told it starts empty, then gets the new events only.
    let mut seen: Vec<String> = Vec::new();
    let mut initialised = Vec::new();
    let read = async {
        while let Some(item) = stream.next().await {
            match item.expect("no watch error") {
                watcher::Event::Init => initialised.push("init"),
                watcher::Event::InitDone => initialised.push("done"),
                watcher::Event::Apply(e) => {
                    let object = e.involved_object.name.unwrap_or_default();
                    if object.starts_with(&tag) {
                        seen.push(object);
                    }
                    if seen.len() == 2 {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("both new events within 20 s");
    assert_eq!(initialised, vec!["init", "done"]);
    assert_eq!(
        seen,
        vec![format!("{tag}-after-1"), format!("{tag}-after-2")]
    );
}
