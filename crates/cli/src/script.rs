//! Running SQL scripts: split into statements, execute in order, print results.

use std::io::Write;

use anyhow::{Context, Result};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

/// How query results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned ASCII table (all rows of a query, then the table).
    Table,
    /// CSV with a header line, streamed batch by batch.
    Csv,
    /// One JSON object per line, streamed batch by batch.
    Ndjson,
    /// The same as `ndjson` (JSON lines); `wasmad bench` and `wasmad eval` print JSON.
    Json,
}

/// One statement of a script and the comment lines just above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `--` comment lines directly before the statement, without the dashes.
    pub comment: Vec<String>,
    /// The statement text, without the trailing semicolon.
    pub sql: String,
}

/// Split a script on top-level semicolons, respecting quotes and comments.
pub fn split_statements(script: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut sql = String::new();
    let mut comment: Vec<String> = Vec::new();
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;
    let mut line_has_code = false;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '"' => {
                let quote = c;
                sql.push(c);
                i += 1;
                while i < chars.len() {
                    sql.push(chars[i]);
                    if chars[i] == quote {
                        if chars.get(i + 1) == Some(&quote) {
                            sql.push(quote);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                line_has_code = true;
            }
            '-' if next == Some('-') => {
                let start = i + 2;
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                if sql.trim().is_empty() && !line_has_code {
                    comment.push(text.trim().to_string());
                } else {
                    sql.push('\n');
                }
                continue;
            }
            '/' if next == Some('*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 1;
                sql.push(' ');
            }
            ';' => {
                if !sql.trim().is_empty() {
                    out.push(Statement {
                        comment: std::mem::take(&mut comment),
                        sql: sql.trim().to_string(),
                    });
                } else {
                    comment.clear();
                }
                sql.clear();
                line_has_code = true;
            }
            '\n' => {
                if sql.trim().is_empty() && !line_has_code && i > 0 && chars[i - 1] == '\n' {
                    // A blank line detaches a comment block from what follows.
                    comment.clear();
                }
                line_has_code = false;
                sql.push(c);
            }
            _ => {
                if !c.is_whitespace() {
                    line_has_code = true;
                }
                sql.push(c);
            }
        }
        i += 1;
    }
    if !sql.trim().is_empty() {
        out.push(Statement {
            comment,
            sql: sql.trim().to_string(),
        });
    }
    out
}

/// Dictionary columns print as their values.
fn printable(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if let DataType::Dictionary(_, value) = f.data_type() {
            fields.push(Field::new(f.name(), (**value).clone(), f.is_nullable()));
            columns.push(cast(c, value)?);
        } else {
            fields.push((**f).clone());
            columns.push(c.clone());
        }
    }
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Execute every statement in order, printing each query's result.
pub async fn run_script(
    ctx: &SessionContext,
    script: &str,
    format: Format,
    titles: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let statements = split_statements(script);
    if statements.is_empty() {
        anyhow::bail!("no SQL statements found (statements end with ';')");
    }
    for (n, stmt) in statements.iter().enumerate() {
        let df = wasmad_sql::sql(ctx, &stmt.sql)
            .await
            .with_context(|| format!("statement {} failed", n + 1))?;
        if matches!(
            df.logical_plan(),
            LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) | LogicalPlan::EmptyRelation(_)
        ) {
            // DDL runs when planned; `collect` finishes it and yields nothing.
            df.collect()
                .await
                .with_context(|| format!("statement {} failed", n + 1))?;
            continue;
        }
        if titles && format == Format::Table && !stmt.comment.is_empty() {
            writeln!(out, "\n== {}", stmt.comment.join(" "))?;
        }
        let mut stream = df
            .execute_stream()
            .await
            .with_context(|| format!("statement {} failed", n + 1))?;
        match format {
            Format::Table => {
                let schema = stream.schema();
                let mut batches = Vec::new();
                while let Some(b) = stream.next().await {
                    let b = b.with_context(|| format!("statement {} failed", n + 1))?;
                    batches.push(printable(&b)?);
                }
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                let schema = match batches.first() {
                    Some(b) => b.schema(),
                    None => printable(&RecordBatch::new_empty(schema))?.schema(),
                };
                let table = datafusion::arrow::util::pretty::pretty_format_batches_with_schema(
                    schema, &batches,
                )?;
                writeln!(out, "{table}")?;
                writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
            }
            Format::Csv => {
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut *out);
                while let Some(b) = stream.next().await {
                    let b = b.with_context(|| format!("statement {} failed", n + 1))?;
                    writer.write(&printable(&b)?)?;
                }
            }
            Format::Ndjson | Format::Json => {
                let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut *out);
                while let Some(b) = stream.next().await {
                    let b = b.with_context(|| format!("statement {} failed", n + 1))?;
                    writer.write(&printable(&b)?)?;
                }
                writer.finish()?;
            }
        }
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let s = split_statements(
            "-- first\nSELECT 'a;b';\n\n-- detached\n\n-- second\nSELECT \"x;\" -- trailing; comment\n FROM t; /* ; */ SELECT 3",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].comment, vec!["first"]);
        assert_eq!(s[0].sql, "SELECT 'a;b'");
        assert_eq!(s[1].comment, vec!["second"]);
        assert!(s[1].sql.starts_with("SELECT \"x;\""));
        assert!(s[1].sql.ends_with("FROM t"));
        assert_eq!(s[2].sql, "SELECT 3");
    }

    #[test]
    fn quotes_escape_by_doubling() {
        let s = split_statements("SELECT 'it''s; fine'; SELECT 2;");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].sql, "SELECT 'it''s; fine'");
    }
}
