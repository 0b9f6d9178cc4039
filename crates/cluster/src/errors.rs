//! Kubernetes API errors as people read them, for every crate that talks to the API.

/// An error and all its causes on one line: kube's own message alone often hides the
/// useful part ("client error (Connect)" without "Connection refused").
pub use kit_config::error_chain;

/// A kube error in one readable line: the API server's own message for API errors.
pub fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => {
            format!("{} ({} {})", status.message, status.code, status.reason)
        }
        other => error_chain(other),
    }
}

/// The HTTP status of an error the API server answered.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

pub fn forbidden(err: &kube::Error) -> bool {
    status_code(err) == Some(403)
}

pub fn not_found(err: &kube::Error) -> bool {
    status_code(err) == Some(404)
}
