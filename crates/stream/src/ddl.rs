//! Job scripts: Flink-style connector DDL, the job's query, and the
//! statements handed to DataFusion unchanged.
//!
//! ```sql
//! CREATE TABLE payments (user_id STRING, amount DOUBLE, ts TIMESTAMP(3),
//!   WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
//! WITH ('connector' = 'datagen', 'number-of-rows' = '1000');
//! INSERT INTO alerts SELECT * FROM ML_DETECT_ANOMALIES(payments, 'amount', 'ts', '{}');
//! ```
//!
//! DataFusion does not know `WATERMARK FOR` nor `WITH ('k' = 'v')` table
//! options, so a connector table is tokenized with `sqlparser`, the watermark
//! clause and the options are cut out at token level, and the remaining
//! `CREATE TABLE name (columns)` is parsed by `sqlparser` for the columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::sql::sqlparser::ast::{self, BinaryOperator, Expr, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Error, Result};

/// `WATERMARK FOR column AS column - INTERVAL ...`: event time and the
/// out-of-orderness the job tolerates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkDef {
    /// The event-time column.
    pub column: String,
    /// How far behind the largest event time seen the watermark stays, in
    /// microseconds.
    pub delay_micros: i64,
}

/// A `CREATE TABLE ... WITH ('connector' = ...)` statement.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Table name as written (unquoted).
    pub name: String,
    /// Declared columns.
    pub schema: SchemaRef,
    /// Event time, if declared.
    pub watermark: Option<WatermarkDef>,
    /// The `WITH` options, keys lower-cased.
    pub options: BTreeMap<String, String>,
}

impl TableDef {
    /// The `connector` option.
    pub fn connector(&self) -> &str {
        self.options.get("connector").map_or("", String::as_str)
    }
}

/// The query a job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    /// `INSERT INTO sink`: the sink table; `None` for a plain `SELECT`
    /// (rows go to stdout).
    pub sink: Option<String>,
    /// The `SELECT ...` text.
    pub select: String,
}

/// A parsed job script.
#[derive(Debug, Clone)]
pub struct JobScript {
    /// Connector tables, in script order.
    pub tables: Vec<TableDef>,
    /// Other statements (DataFusion DDL: external tables, views, `SET`), in order.
    pub datafusion: Vec<String>,
    /// The query.
    pub query: JobQuery,
}

/// Split a script on top-level semicolons (quotes and comments respected).
pub fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                cur.push(c);
                while let Some(d) = chars.next() {
                    cur.push(d);
                    if d == c {
                        if chars.peek() == Some(&c) {
                            if let Some(e) = chars.next() {
                                cur.push(e);
                            }
                            continue;
                        }
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        cur.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
                cur.push(' ');
            }
            ';' => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn tokens(sql: &str) -> Result<Vec<Token>> {
    let toks = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(|e| Error::Ddl(format!("cannot tokenize `{}`: {e}", abbreviate(sql))))?;
    Ok(toks
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect())
}

fn abbreviate(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 60 {
        format!("{}...", one_line.chars().take(60).collect::<String>())
    } else {
        one_line
    }
}

fn is_kw(t: &Token, kw: Keyword) -> bool {
    matches!(t, Token::Word(w) if w.keyword == kw)
}

fn is_word(t: &Token, word: &str) -> bool {
    matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case(word))
}

/// What kind of statement this is, from its first tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ConnectorTable,
    Insert,
    Query,
    Other,
}

fn classify(toks: &[Token]) -> Kind {
    match toks.first() {
        Some(t) if is_kw(t, Keyword::INSERT) => Kind::Insert,
        Some(t) if is_kw(t, Keyword::SELECT) || is_kw(t, Keyword::WITH) => Kind::Query,
        Some(t) if is_kw(t, Keyword::CREATE) => {
            let external = toks.iter().take(6).any(|t| is_kw(t, Keyword::EXTERNAL));
            let table = toks.iter().take(6).any(|t| is_kw(t, Keyword::TABLE));
            let has_with = toks.iter().any(|t| is_kw(t, Keyword::WITH));
            if table && !external && has_with {
                Kind::ConnectorTable
            } else {
                Kind::Other
            }
        }
        _ => Kind::Other,
    }
}

/// Whether a script is a streaming job: it declares a connector table
/// (`CREATE TABLE ... WITH ('connector' = ...)`). Other scripts, including
/// DataFusion's own `CREATE TABLE` / `INSERT INTO` over memory tables, run
/// statement by statement as before.
pub fn is_job(script: &str) -> bool {
    split_statements(script).iter().any(|s| {
        tokens(s)
            .map(|t| classify(&t) == Kind::ConnectorTable)
            .unwrap_or(false)
    })
}

/// Parse a job script.
pub fn parse_job(script: &str) -> Result<JobScript> {
    let mut tables = Vec::new();
    let mut datafusion = Vec::new();
    let mut queries: Vec<JobQuery> = Vec::new();
    for stmt in split_statements(script) {
        let toks = tokens(&stmt)?;
        match classify(&toks) {
            Kind::ConnectorTable => tables.push(parse_connector_table(&stmt, &toks)?),
            Kind::Insert => queries.push(parse_insert(&stmt, &toks)?),
            Kind::Query => queries.push(JobQuery {
                sink: None,
                select: stmt,
            }),
            Kind::Other => datafusion.push(stmt),
        }
    }
    let query = match queries.len() {
        1 => queries.remove(0),
        0 => {
            return Err(Error::Ddl(
                "the job has no query: add `INSERT INTO sink SELECT ...` or a `SELECT ...` (rows go to stdout)"
                    .into(),
            ));
        }
        n => {
            return Err(Error::Ddl(format!(
                "a job runs exactly one query (INSERT INTO ... SELECT or SELECT); this script has {n}"
            )));
        }
    };
    let mut seen = std::collections::HashSet::new();
    for t in &tables {
        if !seen.insert(t.name.to_lowercase()) {
            return Err(Error::Ddl(format!("table '{}' is declared twice", t.name)));
        }
    }
    Ok(JobScript {
        tables,
        datafusion,
        query,
    })
}

fn parse_insert(stmt: &str, toks: &[Token]) -> Result<JobQuery> {
    // INSERT INTO name [(columns)] SELECT ...
    let bad = || {
        Error::Ddl(format!(
            "cannot read `{}`: expected INSERT INTO <sink table> SELECT ...",
            abbreviate(stmt)
        ))
    };
    if toks.len() < 4 || !is_kw(&toks[1], Keyword::INTO) {
        return Err(bad());
    }
    let sink = match &toks[2] {
        Token::Word(w) => w.value.clone(),
        _ => return Err(bad()),
    };
    if matches!(toks.get(3), Some(Token::LParen)) {
        return Err(Error::Ddl(format!(
            "INSERT INTO {sink} (columns ...) is not supported: the query's columns map to the sink's declared columns by position"
        )));
    }
    // The SELECT text starts at the first SELECT / WITH keyword.
    let upper = stmt.to_ascii_uppercase();
    let pos = find_word(&upper, "SELECT")
        .into_iter()
        .chain(find_word(&upper, "WITH"))
        .min()
        .ok_or_else(bad)?;
    Ok(JobQuery {
        sink: Some(sink),
        select: stmt[pos..].to_string(),
    })
}

/// Byte position of `word` as a whole word outside quotes.
fn find_word(upper: &str, word: &str) -> Option<usize> {
    let bytes = upper.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None => {
                if upper[i..].starts_with(word) {
                    let before =
                        i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
                    let after = bytes
                        .get(i + word.len())
                        .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
                    if before && after {
                        return Some(i);
                    }
                }
            }
        }
        i += 1;
    }
    None
}

fn token_text(t: &Token) -> Option<String> {
    match t {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some(s.clone()),
        Token::Word(w) => Some(w.value.clone()),
        Token::Number(n, _) => Some(n.clone()),
        _ => None,
    }
}

fn parse_connector_table(stmt: &str, toks: &[Token]) -> Result<TableDef> {
    let ctx = abbreviate(stmt);
    // Locate the column list: the first '(' and its matching ')'.
    let open = toks
        .iter()
        .position(|t| matches!(t, Token::LParen))
        .ok_or_else(|| Error::Ddl(format!("`{ctx}`: expected a column list in parentheses")))?;
    let mut depth = 0usize;
    let mut close = None;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close.ok_or_else(|| Error::Ddl(format!("`{ctx}`: unbalanced parentheses")))?;

    // Split the column list into top-level items; pull out WATERMARK FOR.
    let mut items: Vec<Vec<Token>> = vec![Vec::new()];
    let mut depth = 0usize;
    for t in &toks[open + 1..close] {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => {
                items.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = items.last_mut() {
            last.push(t.clone());
        }
    }
    let mut watermark = None;
    let mut columns_sql = Vec::new();
    for item in items {
        if item.first().is_some_and(|t| is_word(t, "WATERMARK")) {
            if watermark.is_some() {
                return Err(Error::Ddl(format!(
                    "`{ctx}`: more than one WATERMARK clause"
                )));
            }
            watermark = Some(parse_watermark(&ctx, &item)?);
        } else if !item.is_empty() {
            columns_sql.push(
                item.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
    }

    // WITH ( 'key' = 'value', ... ) after the column list.
    let rest = &toks[close + 1..];
    let with = rest
        .iter()
        .position(|t| is_kw(t, Keyword::WITH))
        .ok_or_else(|| Error::Ddl(format!("`{ctx}`: expected WITH ('connector' = ...)")))?;
    if !rest[..with].is_empty() {
        return Err(Error::Ddl(format!(
            "`{ctx}`: unexpected `{}` between the column list and WITH",
            rest[..with]
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    let opts = &rest[with + 1..];
    if !matches!(opts.first(), Some(Token::LParen)) || !matches!(opts.last(), Some(Token::RParen)) {
        return Err(Error::Ddl(format!(
            "`{ctx}`: WITH takes a parenthesised list of 'key' = 'value' options"
        )));
    }
    let mut options = BTreeMap::new();
    for opt in opts[1..opts.len() - 1].split(|t| matches!(t, Token::Comma)) {
        if opt.is_empty() {
            continue;
        }
        let (key, value) = match opt {
            [k, Token::Eq, v] => (token_text(k), token_text(v)),
            _ => (None, None),
        };
        let (Some(key), Some(value)) = (key, value) else {
            return Err(Error::Ddl(format!(
                "`{ctx}`: cannot read option `{}`; options are written 'key' = 'value'",
                opt.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        };
        if options.insert(key.to_lowercase(), value).is_some() {
            return Err(Error::Ddl(format!(
                "`{ctx}`: option '{key}' is given twice"
            )));
        }
    }
    if !options.contains_key("connector") {
        return Err(Error::Ddl(format!(
            "`{ctx}`: the 'connector' option is missing; accepted connectors: {}",
            crate::connector::CONNECTORS.join(", ")
        )));
    }

    // Parse `CREATE TABLE name (columns)` with sqlparser.
    let head: Vec<String> = toks[..open].iter().map(ToString::to_string).collect();
    let create = format!("{} ({})", head.join(" "), columns_sql.join(", "));
    let parsed = Parser::parse_sql(&GenericDialect {}, &create)
        .map_err(|e| Error::Ddl(format!("`{ctx}`: {e}")))?;
    let Some(Statement::CreateTable(ct)) = parsed.into_iter().next() else {
        return Err(Error::Ddl(format!("`{ctx}`: expected CREATE TABLE")));
    };
    let name = ct
        .name
        .0
        .last()
        .and_then(|p| p.as_ident().map(|i| i.value.clone()))
        .ok_or_else(|| Error::Ddl(format!("`{ctx}`: cannot read the table name")))?;
    let mut fields = Vec::new();
    for col in &ct.columns {
        let dt = arrow_type(&col.data_type).ok_or_else(|| {
            Error::Ddl(format!(
                "table '{name}', column '{}': type {} is not supported; accepted: STRING, VARCHAR, DOUBLE, FLOAT, BIGINT, INT, SMALLINT, TINYINT, BOOLEAN, TIMESTAMP(p), DATE",
                col.name.value, col.data_type
            ))
        })?;
        let not_null = col
            .options
            .iter()
            .any(|o| matches!(o.option, ast::ColumnOption::NotNull));
        fields.push(Field::new(col.name.value.clone(), dt, !not_null));
    }
    if fields.is_empty() {
        return Err(Error::Ddl(format!("table '{name}' declares no columns")));
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    if let Some(wm) = &watermark {
        match schema.field_with_name(&wm.column) {
            Ok(f) if matches!(f.data_type(), DataType::Timestamp(_, _) | DataType::Int64) => {}
            Ok(f) => {
                return Err(Error::Ddl(format!(
                    "table '{name}': WATERMARK FOR {}: the column is {}, a TIMESTAMP (or BIGINT microseconds) is required",
                    wm.column,
                    f.data_type()
                )));
            }
            Err(_) => {
                return Err(Error::Ddl(format!(
                    "table '{name}': WATERMARK FOR {}: no such column; columns: {}",
                    wm.column,
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(TableDef {
        name,
        schema,
        watermark,
        options,
    })
}

fn parse_watermark(ctx: &str, item: &[Token]) -> Result<WatermarkDef> {
    let bad = |why: &str| {
        Error::Ddl(format!(
            "`{ctx}`: {why}; expected WATERMARK FOR <column> AS <column> [- INTERVAL '<n>' <unit>]"
        ))
    };
    if item.len() < 5 || !is_kw(&item[1], Keyword::FOR) || !is_kw(&item[3], Keyword::AS) {
        return Err(bad("cannot read the WATERMARK clause"));
    }
    let column = token_text(&item[2]).ok_or_else(|| bad("expected a column after FOR"))?;
    let expr_sql: String = item[4..]
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let expr = Parser::new(&GenericDialect {})
        .try_with_sql(&expr_sql)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            match p.peek_token().token {
                Token::EOF => Ok(e),
                t => Err(
                    datafusion::sql::sqlparser::parser::ParserError::ParserError(format!(
                        "unexpected `{t}` after `{e}`"
                    )),
                ),
            }
        })
        .map_err(|e| bad(&format!("cannot parse `{expr_sql}`: {e}")))?;
    let same_column =
        |e: &Expr| matches!(e, Expr::Identifier(i) if i.value.eq_ignore_ascii_case(&column));
    let delay_micros = match &expr {
        e if same_column(e) => 0,
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Minus,
            right,
        } if same_column(left) => match right.as_ref() {
            Expr::Interval(iv) => {
                let value = iv.value.to_string();
                let value = value.trim_matches('\'');
                let text = match &iv.leading_field {
                    Some(unit) => format!("{value} {unit}"),
                    None => value.to_string(),
                };
                parse_duration_micros(&text).map_err(|e| bad(&e))?
            }
            _ => return Err(bad("the delay must be an INTERVAL")),
        },
        _ => return Err(bad(&format!("unsupported watermark expression `{expr}`"))),
    };
    if delay_micros < 0 {
        return Err(bad("the delay must not be negative"));
    }
    Ok(WatermarkDef {
        column,
        delay_micros,
    })
}

/// A duration such as `5 SECOND`, `5 seconds`, `1.5s`, `200ms`, `2 min`, in
/// microseconds.
pub fn parse_duration_micros(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("cannot read the duration '{text}': expected a number and a unit such as 500ms, 5s, 2 min"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let per: f64 = match unit.as_str() {
        "us" | "microsecond" | "microseconds" => 1.0,
        "ms" | "millisecond" | "milliseconds" => 1e3,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1e6,
        "m" | "min" | "mins" | "minute" | "minutes" => 60e6,
        "h" | "hour" | "hours" => 3600e6,
        "d" | "day" | "days" => 86_400e6,
        other => {
            return Err(format!(
                "unknown unit '{other}' in the duration '{text}'; accepted: us, ms, s, min, h, d"
            ));
        }
    };
    let v = num * per;
    if !v.is_finite() || v.abs() > 1e17 {
        return Err(format!("the duration '{text}' is out of range"));
    }
    Ok(v.round() as i64)
}

fn timestamp_unit(precision: Option<u64>) -> TimeUnit {
    match precision {
        Some(0) => TimeUnit::Second,
        Some(1..=3) => TimeUnit::Millisecond,
        None | Some(4..=6) => TimeUnit::Microsecond,
        Some(_) => TimeUnit::Nanosecond,
    }
}

fn arrow_type(t: &ast::DataType) -> Option<DataType> {
    use ast::DataType as D;
    Some(match t {
        D::String(_)
        | D::Varchar(_)
        | D::Text
        | D::Char(_)
        | D::Character(_)
        | D::CharacterVarying(_)
        | D::CharVarying(_)
        | D::Nvarchar(_) => DataType::Utf8,
        D::Double(_) | D::DoublePrecision | D::Float64 | D::Float8 => DataType::Float64,
        D::Float(_) | D::Real | D::Float4 | D::Float32 => DataType::Float32,
        D::BigInt(_) | D::Int64 | D::Int8(_) => DataType::Int64,
        D::Int(_) | D::Integer(_) | D::Int4(_) | D::Int32 => DataType::Int32,
        D::SmallInt(_) | D::Int2(_) | D::Int16 => DataType::Int16,
        D::TinyInt(_) => DataType::Int8,
        D::Boolean | D::Bool => DataType::Boolean,
        D::Timestamp(p, tz) => {
            let tz = match tz {
                ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => Some("+00:00".into()),
                _ => None,
            };
            DataType::Timestamp(timestamp_unit(*p), tz)
        }
        D::Datetime(p) => DataType::Timestamp(timestamp_unit(*p), None),
        D::Date => DataType::Date32,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn flink_ddl_with_watermark_and_options() {
        let job = parse_job(
            "CREATE TABLE payments (user_id STRING, amount DOUBLE, ts TIMESTAMP(3), \
             WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector' = 'kafka', \
             'topic' = 'payments', 'properties.bootstrap.servers' = '127.0.0.1:9092', \
             'scan.startup.mode' = 'earliest-offset', 'format' = 'json');\n\
             INSERT INTO alerts SELECT * FROM ML_DETECT_ANOMALIES(payments, 'amount', 'ts', '{\"partitionBy\":\"user_id\"}');",
        )
        .unwrap();
        let t = &job.tables[0];
        assert_eq!(t.name, "payments");
        assert_eq!(t.connector(), "kafka");
        assert_eq!(t.options["properties.bootstrap.servers"], "127.0.0.1:9092");
        assert_eq!(
            t.watermark,
            Some(WatermarkDef {
                column: "ts".into(),
                delay_micros: 5_000_000
            })
        );
        assert_eq!(t.schema.field(0).data_type(), &DataType::Utf8);
        assert_eq!(
            t.schema.field(2).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, None)
        );
        assert_eq!(job.query.sink.as_deref(), Some("alerts"));
        assert!(job.query.select.starts_with("SELECT * FROM ML_DETECT"));
    }

    #[test]
    fn bad_ddl_names_what_is_wrong() {
        let cases = [
            (
                "CREATE TABLE t (a GEOMETRY) WITH ('connector' = 'datagen'); SELECT 1",
                "type GEOMETRY is not supported",
            ),
            (
                "CREATE TABLE t (a INT) WITH ('format' = 'json'); SELECT 1",
                "'connector' option is missing",
            ),
            (
                "CREATE TABLE t (a INT, WATERMARK FOR b AS b) WITH ('connector' = 'datagen'); SELECT 1",
                "WATERMARK FOR b: no such column",
            ),
            (
                "CREATE TABLE t (ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' FORTNIGHT) WITH ('connector' = 'datagen'); SELECT 1",
                "WATERMARK",
            ),
            (
                "CREATE TABLE t (a INT) WITH ('connector' = 'datagen')",
                "the job has no query",
            ),
            (
                "CREATE TABLE t (a INT) WITH ('connector' = 'datagen'); SELECT 1; SELECT 2",
                "exactly one query",
            ),
        ];
        for (sql, want) in cases {
            let err = parse_job(sql).unwrap_err().to_string();
            assert!(err.contains(want), "{sql}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_micros("5 SECOND").unwrap(), 5_000_000);
        assert_eq!(parse_duration_micros("200ms").unwrap(), 200_000);
        assert_eq!(parse_duration_micros("1.5 min").unwrap(), 90_000_000);
        assert!(parse_duration_micros("5 parsecs").is_err());
    }

    #[test]
    fn plain_scripts_are_not_jobs() {
        assert!(!is_job(
            "CREATE EXTERNAL TABLE m (ts TIMESTAMP, v DOUBLE) STORED AS CSV LOCATION 'x.csv'; SELECT * FROM m;"
        ));
        assert!(!is_job(
            "CREATE TABLE t (a INT); INSERT INTO t VALUES (1); SELECT * FROM t;"
        ));
        assert!(is_job(
            "CREATE TABLE s (a INT) WITH ('connector' = 'stdout'); INSERT INTO s SELECT 1"
        ));
    }
}
