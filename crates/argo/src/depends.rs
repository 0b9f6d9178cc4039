//! Parser for a DAG task's `depends` expression, e.g. `A && (B.Succeeded || !C.Failed)`.
//!
//! Argo rewrites task names into an `expr` program at run time; a typo there only shows when
//! the task is reached. Parsing it here lets validation name unknown tasks and results early.

use std::fmt;

/// Task results a `depends` term may test.
pub const RESULTS: &[&str] = &[
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
];

/// A task named in the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTerm {
    pub task: String,
    /// `Succeeded`, `Failed`, ...; none for a bare name.
    pub result: Option<String>,
    /// Byte offset of the name in the expression.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependsError {
    /// Byte offset where parsing stopped.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for DependsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    And,
    Or,
    Not,
    Open,
    Close,
    /// A task name, maybe with `.Result`.
    Term(TaskTerm),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn lex(expr: &str) -> Result<Vec<(Tok, usize)>, DependsError> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let mut i = 0;
    while let Some(&(at, c)) = chars.get(i) {
        let next = chars.get(i + 1).map(|&(_, c)| c);
        match c {
            c if c.is_whitespace() => i += 1,
            '&' | '|' => {
                if next != Some(c) {
                    return Err(DependsError {
                        offset: at,
                        message: format!("`{c}` alone is not an operator; write `{c}{c}`"),
                    });
                }
                out.push((if c == '&' { Tok::And } else { Tok::Or }, at));
                i += 2;
            }
            '!' => {
                out.push((Tok::Not, at));
                i += 1;
            }
            '(' => {
                out.push((Tok::Open, at));
                i += 1;
            }
            ')' => {
                out.push((Tok::Close, at));
                i += 1;
            }
            c if is_name_char(c) => {
                let start = i;
                while chars.get(i).is_some_and(|&(_, c)| is_name_char(c)) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                let mut result = None;
                if chars.get(i).is_some_and(|&(_, c)| c == '.') {
                    let dot_at = chars[i].0;
                    i += 1;
                    let rstart = i;
                    while chars
                        .get(i)
                        .is_some_and(|&(_, c)| c.is_ascii_alphanumeric())
                    {
                        i += 1;
                    }
                    let r: String = chars[rstart..i].iter().map(|&(_, c)| c).collect();
                    if r.is_empty() {
                        return Err(DependsError {
                            offset: dot_at,
                            message: format!(
                                "`{name}.` must be followed by a result such as `Succeeded`"
                            ),
                        });
                    }
                    result = Some(r);
                }
                out.push((
                    Tok::Term(TaskTerm {
                        task: name,
                        result,
                        offset: at,
                    }),
                    at,
                ));
            }
            other => {
                return Err(DependsError {
                    offset: at,
                    message: format!("unexpected character `{other}`"),
                });
            }
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    terms: Vec<TaskTerm>,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(_, o)| *o)
    }

    fn or(&mut self, depth: usize) -> Result<(), DependsError> {
        self.and(depth)?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            self.and(depth)?;
        }
        Ok(())
    }

    fn and(&mut self, depth: usize) -> Result<(), DependsError> {
        self.unary(depth)?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            self.unary(depth)?;
        }
        Ok(())
    }

    fn unary(&mut self, depth: usize) -> Result<(), DependsError> {
        // Bounded so a hostile expression cannot exhaust the stack.
        if depth > 200 {
            return Err(DependsError {
                offset: self.offset(),
                message: "expression nested too deeply".to_string(),
            });
        }
        let at = self.offset();
        match self.toks.get(self.pos).map(|(t, _)| t.clone()) {
            Some(Tok::Not) => {
                self.pos += 1;
                self.unary(depth + 1)
            }
            Some(Tok::Open) => {
                self.pos += 1;
                self.or(depth + 1)?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(DependsError {
                        offset: at,
                        message: "`(` is never closed".to_string(),
                    });
                }
                self.pos += 1;
                Ok(())
            }
            Some(Tok::Term(t)) => {
                self.pos += 1;
                self.terms.push(t);
                Ok(())
            }
            Some(_) => Err(DependsError {
                offset: at,
                message: "expected a task name, `!` or `(`".to_string(),
            }),
            None => Err(DependsError {
                offset: at,
                message: "expression ends where a task name was expected".to_string(),
            }),
        }
    }
}

/// Parses the expression and returns the task terms in order of appearance.
///
/// Result names are returned as written; [`RESULTS`] lists the valid ones (validation checks
/// them so it can point at the term).
pub fn parse_depends(expr: &str) -> Result<Vec<TaskTerm>, DependsError> {
    let toks = lex(expr)?;
    if toks.is_empty() {
        return Err(DependsError {
            offset: 0,
            message: "empty expression".to_string(),
        });
    }
    let mut p = P {
        toks,
        pos: 0,
        end: expr.len(),
        terms: Vec::new(),
    };
    p.or(0)?;
    if p.pos < p.toks.len() {
        let msg = match p.peek() {
            Some(Tok::Close) => "`)` without a matching `(`".to_string(),
            _ => "expected `&&` or `||` between terms".to_string(),
        };
        return Err(DependsError {
            offset: p.offset(),
            message: msg,
        });
    }
    Ok(p.terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<(String, Option<String>)> {
        parse_depends(expr)
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.task, t.result))
            .collect()
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(names("A"), vec![("A".into(), None)]);
        assert_eq!(
            names("A && (B.Succeeded || C)"),
            vec![
                ("A".into(), None),
                ("B".into(), Some("Succeeded".into())),
                ("C".into(), None)
            ]
        );
        assert_eq!(
            names("!task-1.Failed||task-2.AnySucceeded"),
            vec![
                ("task-1".into(), Some("Failed".into())),
                ("task-2".into(), Some("AnySucceeded".into()))
            ]
        );
        assert_eq!(names("((a))").len(), 1);
    }

    #[test]
    fn offsets_point_at_names() {
        let t = parse_depends("a && bb").unwrap_or_default();
        assert_eq!(t.iter().map(|t| t.offset).collect::<Vec<_>>(), vec![0, 5]);
    }

    #[test]
    fn rejects_malformed_expressions() {
        for bad in [
            "",
            "A &",
            "A & B",
            "A B",
            "(A",
            "A)",
            "A && ",
            "A.",
            "A || || B",
            "A + B",
            "!",
        ] {
            assert!(parse_depends(bad).is_err(), "{bad:?} should be rejected");
        }
        let e = parse_depends("(A && B").err();
        assert!(e.is_some_and(|e| e.message.contains("never closed")));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let expr = format!("{}A{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse_depends(&expr).is_err());
        let expr = format!("{}A", "!".repeat(5000));
        assert!(parse_depends(&expr).is_err());
    }
}
