//! Progress is reported as typed events so the CLI decides how to show it (indicatif bars,
//! plain lines, JSON). The library never prints.

use std::sync::Arc;

use serde::Serialize;

/// One thing that happened while planning, building, pushing or mirroring.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ImageEvent {
    /// Something the user should know that does not stop the work.
    Warning { image: String, message: String },
    /// No build (or push) needed, and why.
    Skipped { image: String, why: String },
    /// The image is (re)built, and why.
    Rebuild { image: String, reasons: Vec<String> },
    /// The build request was sent to the engine.
    BuildStarted { image: String, context_bytes: u64 },
    /// The engine started step `step` of `total` (`text` is the instruction).
    BuildStep {
        image: String,
        step: u32,
        total: u32,
        text: String,
    },
    /// One line of build output (also kept in the image's log file).
    BuildLog { image: String, line: String },
    /// The build finished.
    Built {
        image: String,
        id: String,
        seconds: f64,
    },
    /// A push starts: `missing` of `layers` layers must be uploaded.
    PushStarted {
        image: String,
        reference: String,
        layers: usize,
        missing: usize,
    },
    /// A blob is already in the registry: not uploaded.
    LayerExists { image: String, layer_digest: String },
    /// A blob another repository of the registry holds was linked in (a
    /// cross-repository mount): not uploaded.
    LayerMounted {
        image: String,
        layer_digest: String,
        size: u64,
        from: String,
    },
    /// Bytes of a blob uploaded so far.
    LayerProgress {
        image: String,
        layer_digest: String,
        done: u64,
        total: u64,
    },
    /// A blob was uploaded.
    LayerPushed {
        image: String,
        layer_digest: String,
        size: u64,
    },
    /// The manifest is in the registry: the image can be pulled by `reference`.
    Pushed { image: String, reference: String },
    /// Where a mirror is copied from ("registry" or "daemon") and why that way.
    MirrorSource {
        image: String,
        source: String,
        via: String,
        why: String,
    },
    /// The work on this image failed (the error is also returned).
    Failed { image: String, error: String },
}

impl ImageEvent {
    /// The image the event is about.
    pub fn image(&self) -> &str {
        match self {
            ImageEvent::Warning { image, .. }
            | ImageEvent::Skipped { image, .. }
            | ImageEvent::Rebuild { image, .. }
            | ImageEvent::BuildStarted { image, .. }
            | ImageEvent::BuildStep { image, .. }
            | ImageEvent::BuildLog { image, .. }
            | ImageEvent::Built { image, .. }
            | ImageEvent::PushStarted { image, .. }
            | ImageEvent::LayerExists { image, .. }
            | ImageEvent::LayerMounted { image, .. }
            | ImageEvent::LayerProgress { image, .. }
            | ImageEvent::LayerPushed { image, .. }
            | ImageEvent::Pushed { image, .. }
            | ImageEvent::MirrorSource { image, .. }
            | ImageEvent::Failed { image, .. } => image,
        }
    }
}

/// Where events go: a callback shared by all tasks (it may be called from several threads).
#[derive(Clone)]
pub struct Events(Arc<dyn Fn(ImageEvent) + Send + Sync>);

impl Events {
    /// Drops every event.
    pub fn none() -> Self {
        Events(Arc::new(|_| {}))
    }

    /// Calls `f` for every event.
    pub fn from_fn(f: impl Fn(ImageEvent) + Send + Sync + 'static) -> Self {
        Events(Arc::new(f))
    }

    /// Sends events into an unbounded channel, for a renderer running on its own task.
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<ImageEvent>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (
            Events(Arc::new(move |e| {
                // A closed receiver means nobody watches any more; the work goes on.
                let _ = tx.send(e);
            })),
            rx,
        )
    }

    /// Reports one event.
    pub fn emit(&self, event: ImageEvent) {
        (self.0)(event)
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::none()
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events(..)")
    }
}
