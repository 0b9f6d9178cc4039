//! Kubernetes object names (RFC 1123), checked once for the settings (namespace, claim,
//! ConfigMap, service account) and for workflows (`kit-argo`).

/// Why `name` is not a DNS-1123 label (a namespace), or `None` when it is one.
pub fn dns_label_problem(name: &str) -> Option<String> {
    if name.contains('.') {
        return Some("contains `.`: only lowercase letters, digits and `-` are allowed".into());
    }
    if name.len() > 63 {
        return Some(format!("is {} characters long (at most 63)", name.len()));
    }
    dns_subdomain_problem(name)
}

/// Why `name` is not a DNS-1123 subdomain (most object names), or `None` when it is one.
pub fn dns_subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_string());
    }
    if name.len() > 253 {
        return Some(format!("is {} characters long (at most 253)", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Some(format!(
            "contains `{c}`: only lowercase letters, digits, `-` and `.` are allowed"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("has an empty part between dots".to_string());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(
                "must start and end with a letter or digit (also around dots)".to_string(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert_eq!(dns_label_problem("vcity"), None);
        assert!(dns_label_problem("a.b").is_some());
        assert_eq!(dns_subdomain_problem("a.b"), None);
        assert!(dns_subdomain_problem("-a").is_some());
        assert!(dns_subdomain_problem("a..b").is_some());
        assert!(dns_subdomain_problem("a.-b").is_some());
        assert!(dns_label_problem("Argo").unwrap().contains("`A`"));
        assert!(dns_label_problem(&"a".repeat(64)).unwrap().contains("64"));
        assert_eq!(dns_subdomain_problem(&"a".repeat(253)), None);
        assert!(dns_subdomain_problem(&"a".repeat(254)).is_some());
        assert!(dns_subdomain_problem("").is_some());
    }
}
