//! The CSV NAB writes: a header line, comma-separated fields, no embedded
//! commas or newlines (a field wrapped in double quotes is unwrapped).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A whole CSV file in memory.
pub(crate) struct Csv {
    path: PathBuf,
    text: String,
    header: Vec<String>,
}

fn unquote(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(f)
}

impl Csv {
    /// Read a file and its header line.
    pub(crate) fn read(path: &Path) -> Result<Csv> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let header = text
            .lines()
            .next()
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| Error::format(path.display(), "empty file; expected a header line"))?
            .trim_start_matches('\u{feff}')
            .split(',')
            .map(|f| unquote(f).to_string())
            .collect();
        Ok(Csv {
            path: path.to_path_buf(),
            text,
            header,
        })
    }

    /// The index of a header column, or an error listing the columns there are.
    pub(crate) fn column(&self, name: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            Error::format(
                self.path.display(),
                format!(
                    "no '{name}' column; the header has: {}",
                    self.header.join(", ")
                ),
            )
        })
    }

    /// The index of a header column, if there is one.
    pub(crate) fn find_column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Call `f(line_number, fields)` for every non-blank line after the header.
    pub(crate) fn for_each_row(
        &self,
        mut f: impl FnMut(usize, &[&str]) -> Result<()>,
    ) -> Result<()> {
        let mut fields: Vec<&str> = Vec::with_capacity(self.header.len());
        for (n, line) in self.text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            fields.clear();
            fields.extend(line.split(',').map(unquote));
            if fields.len() != self.header.len() {
                return Err(self.error_at(
                    n + 1,
                    format!(
                        "{} fields, but the header has {}",
                        fields.len(),
                        self.header.len()
                    ),
                ));
            }
            f(n + 1, &fields)?;
        }
        Ok(())
    }

    /// An error about one line of this file.
    pub(crate) fn error_at(&self, line: usize, message: impl Into<String>) -> Error {
        Error::format(format!("{}:{line}", self.path.display()), message)
    }
}
