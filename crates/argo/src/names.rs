//! Name rules Kubernetes and Argo enforce at submission.

/// Argo caps a workflow's name at 63 characters: it becomes a label value.
pub const MAX_WORKFLOW_NAME: usize = 63;
/// Kubernetes appends 5 random characters to `generateName`, truncating longer prefixes.
pub const MAX_GENERATE_NAME: usize = MAX_WORKFLOW_NAME - 5;
/// Argo's limit for template, step and task names.
pub const MAX_FIELD_NAME: usize = 128;

pub use kit_config::dns_subdomain_problem;

/// Checks `metadata.name` of a workflow.
pub fn workflow_name_problem(name: &str) -> Option<String> {
    if name.len() > MAX_WORKFLOW_NAME {
        return Some(format!(
            "is {} characters long; Argo allows at most {MAX_WORKFLOW_NAME}",
            name.len()
        ));
    }
    dns_subdomain_problem(name)
}

/// Checks `metadata.generateName`: Kubernetes validates it as if a letter followed a trailing
/// `-`, since random characters will.
pub fn generate_name_problem(prefix: &str) -> Option<String> {
    let mut masked = prefix.to_string();
    if masked.ends_with('-') || masked.ends_with('.') {
        masked.push('a');
    }
    dns_subdomain_problem(&masked)
}

/// Checks a template, step or task name (`[a-zA-Z0-9][-a-zA-Z0-9]*`, at most 128).
pub fn field_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_string());
    }
    if name.len() > MAX_FIELD_NAME {
        return Some(format!(
            "is {} characters long (at most {MAX_FIELD_NAME})",
            name.len()
        ));
    }
    if name.starts_with('-') {
        return Some("must start with a letter or digit".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Some(format!(
            "contains `{c}`: only letters, digits and `-` are allowed"
        ));
    }
    None
}

/// Checks a parameter name (`[-a-zA-Z0-9_]+`).
pub fn parameter_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_string());
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        .map(|c| format!("contains `{c}`: only letters, digits, `-` and `_` are allowed"))
}

/// A suggestion that respects the field rules (for hints).
pub fn suggest_field_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_start_matches('-');
    if s.is_empty() {
        "step".to_string()
    } else {
        s.chars().take(MAX_FIELD_NAME).collect()
    }
}

/// A suggestion that respects the object name rules (for hints).
pub fn suggest_object_name(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() {
        "workflow".to_string()
    } else {
        s.chars().take(MAX_GENERATE_NAME).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        assert!(workflow_name_problem("collect-2012").is_none());
        assert!(workflow_name_problem("a.b-c").is_none());
        assert!(workflow_name_problem("Collect").is_some());
        assert!(workflow_name_problem("collect_x").is_some());
        assert!(workflow_name_problem("-x").is_some());
        assert!(workflow_name_problem("x-").is_some());
        assert!(workflow_name_problem("a..b").is_some());
        assert!(workflow_name_problem(&"a".repeat(64)).is_some());
        assert!(workflow_name_problem(&"a".repeat(63)).is_none());
    }

    #[test]
    fn generate_names() {
        assert!(generate_name_problem("collect-").is_none());
        assert!(generate_name_problem("collect").is_none());
        assert!(generate_name_problem("Collect-").is_some());
        assert!(generate_name_problem("-").is_some());
    }

    #[test]
    fn field_names() {
        assert!(field_name_problem("Step-1").is_none());
        assert!(field_name_problem("1st").is_none());
        assert!(field_name_problem("a_b").is_some());
        assert!(field_name_problem("a.b").is_some());
        assert!(field_name_problem("-a").is_some());
        assert!(field_name_problem("").is_some());
        assert!(field_name_problem(&"a".repeat(129)).is_some());
        assert!(parameter_name_problem("my_param-1").is_none());
        assert!(parameter_name_problem("my param").is_some());
        assert_eq!(suggest_field_name("a_b.c"), "a-b-c");
        assert_eq!(suggest_object_name("My_Flow"), "my-flow");
    }
}
