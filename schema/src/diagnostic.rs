//! Errors about `schema.graphql`, each pointing at a `file:line:col`.
//!
//! Building collects every semantic error of the file before giving up (a user fixing a schema
//! wants the whole list, not one error per run), so errors go into a [`Sink`] and come out as
//! [`Diagnostics`], sorted by position.

use std::fmt;

use crate::blueprint::Pos;

/// One error in the schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The path of the schema file, as given to [`crate::build`].
    pub file: String,
    /// Where the error is: the most specific place known (an argument value rather than its
    /// directive, the `{{` of a template rather than its string).
    pub pos: Pos,
    pub message: String,
    /// What to do about it, when there is something useful to say.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: error: {}", self.file, self.pos, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// All the errors of a schema file, in file order. Never empty when returned by [`crate::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    /// One block per error, separated by blank lines, so each message and its hint read together.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Collects errors while building; see the module docs for why errors are not returned early.
#[derive(Debug)]
pub(crate) struct Sink {
    file: String,
    errors: Vec<Diagnostic>,
}

impl Sink {
    pub(crate) fn new(file: &str) -> Self {
        Sink {
            file: file.to_string(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, pos: impl Into<Pos>, message: impl Into<String>) {
        self.push(pos.into(), message.into(), None);
    }

    pub(crate) fn error_hint(
        &mut self,
        pos: impl Into<Pos>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(pos.into(), message.into(), Some(hint.into()));
    }

    /// Like [`Sink::error_hint`] with a hint that may be absent (e.g. no close suggestion).
    pub(crate) fn error_opt(
        &mut self,
        pos: impl Into<Pos>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(pos.into(), message.into(), hint);
    }

    fn push(&mut self, pos: Pos, message: String, hint: Option<String>) {
        self.errors.push(Diagnostic {
            file: self.file.clone(),
            pos,
            message,
            hint,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The errors sorted by position (stable, so errors at one place keep the order they were
    /// found in), with exact repeats removed (one mistake seen by two checks reads as one).
    pub(crate) fn finish(self) -> Diagnostics {
        let mut unique: Vec<Diagnostic> = Vec::with_capacity(self.errors.len());
        for d in self.errors {
            if !unique.contains(&d) {
                unique.push(d);
            }
        }
        unique.sort_by_key(|d| (d.pos.line, d.pos.column));
        Diagnostics(unique)
    }
}
