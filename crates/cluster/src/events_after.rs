//! A watch on a namespace's events that begins at a resourceVersion instead of listing
//! what the namespace holds. For a workflow just submitted no earlier event can be
//! about it, and a busy namespace keeps thousands: following a 500-pod workflow in a
//! namespace of 12,000 events began with 24 list requests, all read to be thrown away.
//!
//! kube's watcher always lists first; this stream only watches. It watches again from
//! the last version seen when the server ends a watch, and hands over to the watcher
//! (list, then watch) when that version has expired (410 Gone), so nothing is missed.

use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, Stream, StreamExt};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::runtime::watcher;

/// The namespace's current resourceVersion for events, from a one-item list; `None`
/// when it cannot be read (the caller then lists everything).
pub async fn current_version(api: &Api<Event>) -> Option<String> {
    let list = api
        .list_metadata(&ListParams::default().limit(1))
        .await
        .ok()?;
    list.metadata.resource_version.filter(|v| !v.is_empty())
}

type Watch = BoxStream<'static, kube::Result<WatchEvent<Event>>>;
type Item = watcher::Result<watcher::Event<Event>>;

enum State {
    /// Tell the store it starts empty (`Init`, then `InitDone`).
    Init(Api<Event>, String),
    InitDone(Api<Event>, String),
    Watching {
        api: Api<Event>,
        version: String,
        watch: Option<(Watch, Instant)>,
    },
    /// The version expired: kube's watcher lists and watches from now on.
    Relisting(BoxStream<'static, Item>),
}

/// Events of the namespace newer than `version`, as a watcher stream for a reflector.
pub fn events_after(api: Api<Event>, version: String) -> impl Stream<Item = Item> + Send {
    stream::unfold(State::Init(api, version), |state| async move {
        match state {
            State::Init(api, version) => {
                Some((Ok(watcher::Event::Init), State::InitDone(api, version)))
            }
            State::InitDone(api, version) => Some((
                Ok(watcher::Event::InitDone),
                State::Watching {
                    api,
                    version,
                    watch: None,
                },
            )),
            State::Watching {
                api,
                version,
                watch,
            } => next_watched(api, version, watch).await,
            State::Relisting(mut relist) => {
                let item = relist.next().await?;
                Some((item, State::Relisting(relist)))
            }
        }
    })
}

/// A watch that ends sooner than this after it began waits a little before the next:
/// a server that closes every watch at once must not be asked again in a tight loop.
const QUICK_END: Duration = Duration::from_secs(1);

async fn next_watched(
    api: Api<Event>,
    mut version: String,
    mut watch: Option<(Watch, Instant)>,
) -> Option<(Item, State)> {
    // After an error, the next poll (past the caller's backoff) opens a new watch.
    let failed = |api, version, error| {
        let state = State::Watching {
            api,
            version,
            watch: None,
        };
        Some((Err(error), state))
    };
    loop {
        let (mut stream, opened) = match watch.take() {
            Some(open) => open,
            None => match api.watch(&WatchParams::default(), &version).await {
                Ok(stream) => (stream.boxed(), Instant::now()),
                Err(err) => return failed(api, version, watcher::Error::WatchStartFailed(err)),
            },
        };
        let item = match stream.next().await {
            // The server ended the watch (its timeout): watch again from where it was.
            None => {
                if opened.elapsed() < QUICK_END {
                    tokio::time::sleep(QUICK_END).await;
                }
                continue;
            }
            Some(Ok(WatchEvent::Bookmark(mark))) => {
                version = mark.metadata.resource_version;
                watch = Some((stream, opened));
                continue;
            }
            Some(Ok(WatchEvent::Added(e) | WatchEvent::Modified(e))) => {
                remember(&mut version, &e);
                watcher::Event::Apply(e)
            }
            Some(Ok(WatchEvent::Deleted(e))) => {
                remember(&mut version, &e);
                watcher::Event::Delete(e)
            }
            Some(Ok(WatchEvent::Error(status))) if status.code == 410 => {
                let mut relist = watcher(api, watcher::Config::default()).boxed();
                let item = relist.next().await?;
                return Some((item, State::Relisting(relist)));
            }
            Some(Ok(WatchEvent::Error(status))) => {
                return failed(api, version, watcher::Error::WatchError(status));
            }
            Some(Err(err)) => return failed(api, version, watcher::Error::WatchFailed(err)),
        };
        let state = State::Watching {
            api,
            version,
            watch: Some((stream, opened)),
        };
        return Some((Ok(item), state));
    }
}

fn remember(version: &mut String, event: &Event) {
    if let Some(seen) = &event.metadata.resource_version {
        version.clone_from(seen);
    }
}
