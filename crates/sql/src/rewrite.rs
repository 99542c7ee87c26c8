//! Source-level rewrites that let other vendors' anomaly SQL run unchanged.
//!
//! DataFusion's parser does not know these constructs, so they are rewritten
//! on the token stream (sqlparser's tokenizer: quoting, comments and
//! whitespace survive) before a statement is parsed:
//!
//! * Confluent: `JSON_OBJECT('key' VALUE value, ...)` becomes the equivalent
//!   JSON string literal (values must be literals: numbers, strings,
//!   `TRUE`/`FALSE`/`NULL`).
//! * Kinesis: `SELECT STREAM` becomes `SELECT`; `TABLE(fn(...))` becomes
//!   `fn(...)`; `CURSOR(query)` becomes the subquery `(query)`; unquoted
//!   `ANOMALY_SCORE`, `ANOMALY_EXPLANATION` and `ROWTIME` (Kinesis folds
//!   unquoted names to upper case, DataFusion to lower) become quoted
//!   upper-case names.
//! * Azure Stream Analytics: `AnomalyDetection_SpikeAndDip(...)` and
//!   `AnomalyDetection_ChangePoint(...)` followed by
//!   `OVER ([PARTITION BY ...] LIMIT DURATION(unit, n) [WHEN cond])` become
//!   `fn(..., 'n<unit>', cond) OVER ([PARTITION BY ...])`: the duration and
//!   the learning condition travel as two extra arguments. ASA's
//!   `FROM input TIMESTAMP BY col` is removed from the FROM clause and
//!   becomes `ORDER BY col` in those OVER clauses: the event time.
//!
//! Statements that contain none of these come back unchanged (byte for byte).

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
use serde_json::{Map, Value};

/// Rewrite one statement (or a whole script): see the module docs.
pub fn rewrite(sql: &str) -> Result<String> {
    let upper = sql.to_ascii_uppercase();
    if ![
        "JSON_OBJECT",
        "STREAM",
        "CURSOR",
        "TABLE",
        "ANOMALYDETECTION_",
        "ANOMALY_",
        "TIMESTAMP",
        "ROWTIME",
    ]
    .iter()
    .any(|w| upper.contains(w))
    {
        return Ok(sql.to_string());
    }
    // Let DataFusion report tokenizer errors on the original text.
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(sql.to_string());
    };
    let mut t = Tokens { t: tokens };
    let mut changed = t.select_stream();
    changed |= t.table_wrappers();
    changed |= t.cursors();
    changed |= t.kinesis_columns();
    changed |= t.json_objects()?;
    let timestamp_by = t.timestamp_by()?;
    changed |= timestamp_by.is_some();
    changed |= t.azure_over(timestamp_by.as_deref())?;
    if !changed {
        return Ok(sql.to_string());
    }
    Ok(t.t.iter().map(ToString::to_string).collect())
}

struct Tokens {
    t: Vec<Token>,
}

fn is_ws(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

fn word_is(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
}

impl Tokens {
    /// The next non-whitespace token index at or after `i`.
    fn next(&self, mut i: usize) -> Option<usize> {
        while i < self.t.len() {
            if !is_ws(&self.t[i]) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// The previous non-whitespace token index before `i`.
    fn prev(&self, i: usize) -> Option<usize> {
        (0..i).rev().find(|&j| !is_ws(&self.t[j]))
    }

    /// The index of the `)` matching the `(` at `open`.
    fn close_of(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (j, tok) in self.t.iter().enumerate().skip(open) {
            match tok {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(j);
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn blank(&mut self, i: usize) {
        self.t[i] = Token::Whitespace(Whitespace::Space);
    }

    /// `SELECT STREAM ...` -> `SELECT ...`.
    fn select_stream(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.t.len() {
            if word_is(&self.t[i], "STREAM")
                && self.prev(i).is_some_and(|p| word_is(&self.t[p], "SELECT"))
            {
                self.blank(i);
                changed = true;
            }
        }
        changed
    }

    /// `TABLE(fn(...))` -> `fn(...)`, where `TABLE` starts a FROM item.
    fn table_wrappers(&mut self) -> bool {
        let mut changed = false;
        let mut i = 0;
        while i < self.t.len() {
            if word_is(&self.t[i], "TABLE")
                && let Some(open) = self.next(i + 1)
                && self.t[open] == Token::LParen
                && let Some(name) = self.next(open + 1)
                && matches!(self.t[name], Token::Word(_))
                && let Some(inner) = self.next(name + 1)
                && self.t[inner] == Token::LParen
                && let Some(close) = self.close_of(open)
            {
                self.blank(i);
                self.blank(open);
                self.blank(close);
                changed = true;
            }
            i += 1;
        }
        changed
    }

    /// Unquoted `ANOMALY_SCORE`, `ANOMALY_EXPLANATION`, `ROWTIME` -> quoted
    /// upper case.
    fn kinesis_columns(&mut self) -> bool {
        let mut changed = false;
        for tok in &mut self.t {
            if let Token::Word(w) = tok
                && w.quote_style.is_none()
                && (w.value.eq_ignore_ascii_case(crate::spec::ANOMALY_SCORE)
                    || w.value
                        .eq_ignore_ascii_case(crate::spec::ANOMALY_EXPLANATION)
                    || w.value.eq_ignore_ascii_case("ROWTIME"))
            {
                w.value = w.value.to_ascii_uppercase();
                w.quote_style = Some('"');
                changed = true;
            }
        }
        changed
    }

    /// `CURSOR(query)` -> `(query)`.
    fn cursors(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.t.len() {
            if word_is(&self.t[i], "CURSOR")
                && let Some(open) = self.next(i + 1)
                && self.t[open] == Token::LParen
            {
                self.blank(i);
                changed = true;
            }
        }
        changed
    }

    /// `JSON_OBJECT('k' VALUE v, ...)` -> `'{"k":v,...}'`.
    fn json_objects(&mut self) -> Result<bool> {
        let mut changed = false;
        let mut i = 0;
        while i < self.t.len() {
            if word_is(&self.t[i], "JSON_OBJECT")
                && let Some(open) = self.next(i + 1)
                && self.t[open] == Token::LParen
            {
                let Some(close) = self.close_of(open) else {
                    return plan_err!("JSON_OBJECT( has no closing parenthesis");
                };
                let obj = self.json_object_body(open + 1, close)?;
                // The token prints its text verbatim: double the quotes.
                let text = Value::Object(obj).to_string().replace('\'', "''");
                self.t[i] = Token::SingleQuotedString(text);
                self.t.drain(i + 1..=close);
                changed = true;
            }
            i += 1;
        }
        Ok(changed)
    }

    fn json_object_body(&self, start: usize, end: usize) -> Result<Map<String, Value>> {
        const USAGE: &str = "JSON_OBJECT('key' VALUE value, ...) with literal values (numbers, 'strings', TRUE, FALSE, NULL)";
        let items: Vec<&Token> = self.t[start..end].iter().filter(|t| !is_ws(t)).collect();
        let mut obj = Map::new();
        let mut k = 0;
        while k < items.len() {
            let key = match items[k] {
                Token::SingleQuotedString(s) => s.clone(),
                other => {
                    return plan_err!(
                        "JSON_OBJECT: expected a quoted key, got {other}; usage: {USAGE}"
                    );
                }
            };
            k += 1;
            if !items
                .get(k)
                .is_some_and(|t| word_is(t, "VALUE") || **t == Token::Colon)
            {
                return plan_err!("JSON_OBJECT: expected VALUE after key '{key}'; usage: {USAGE}");
            }
            k += 1;
            let negative = items.get(k).is_some_and(|t| **t == Token::Minus);
            if negative {
                k += 1;
            }
            let value = match items.get(k) {
                Some(Token::Number(n, _)) => {
                    let text = if negative { format!("-{n}") } else { n.clone() };
                    match serde_json::from_str::<Value>(&text) {
                        Ok(v @ Value::Number(_)) => v,
                        _ => match text.parse::<f64>() {
                            Ok(f) => Value::from(f),
                            Err(_) => {
                                return plan_err!(
                                    "JSON_OBJECT: '{key}' has an unreadable number {text}"
                                );
                            }
                        },
                    }
                }
                Some(Token::SingleQuotedString(s)) if !negative => Value::from(s.clone()),
                Some(t) if !negative && word_is(t, "TRUE") => Value::Bool(true),
                Some(t) if !negative && word_is(t, "FALSE") => Value::Bool(false),
                Some(t) if !negative && word_is(t, "NULL") => Value::Null,
                Some(other) => {
                    return plan_err!(
                        "JSON_OBJECT: the value of '{key}' must be a literal, got {other}; usage: {USAGE}"
                    );
                }
                None => return plan_err!("JSON_OBJECT: '{key}' has no value; usage: {USAGE}"),
            };
            obj.insert(key, value);
            k += 1;
            match items.get(k) {
                None => {}
                Some(Token::Comma) => k += 1,
                Some(other) => {
                    return plan_err!(
                        "JSON_OBJECT: expected ',' or ')', got {other}; usage: {USAGE}"
                    );
                }
            }
        }
        Ok(obj)
    }

    /// ASA's `TIMESTAMP BY col` (after a FROM item): every occurrence is
    /// removed; returns the column's tokens (one column per statement).
    fn timestamp_by(&mut self) -> Result<Option<Vec<Token>>> {
        let mut found: Option<Vec<Token>> = None;
        let mut i = 0;
        while i < self.t.len() {
            if word_is(&self.t[i], "TIMESTAMP")
                && let Some(by) = self.next(i + 1)
                && word_is(&self.t[by], "BY")
            {
                // The column: words joined by periods.
                let Some(mut j) = self.next(by + 1) else {
                    return plan_err!(
                        "TIMESTAMP BY needs a column, e.g. FROM input TIMESTAMP BY ts"
                    );
                };
                let start = j;
                let mut end = j;
                while j < self.t.len() {
                    match &self.t[j] {
                        Token::Word(_) => {
                            end = j;
                            match self.t.get(j + 1) {
                                Some(Token::Period) => j += 2,
                                _ => break,
                            }
                        }
                        other => {
                            return plan_err!(
                                "TIMESTAMP BY takes a column name, got {other}; e.g. FROM input TIMESTAMP BY ts"
                            );
                        }
                    }
                }
                let col: Vec<Token> = self.t[start..=end].to_vec();
                let text = |c: &[Token]| c.iter().map(ToString::to_string).collect::<String>();
                if let Some(prev) = &found
                    && text(prev) != text(&col)
                {
                    return plan_err!(
                        "one TIMESTAMP BY column per statement: found {} and {}",
                        text(prev),
                        text(&col)
                    );
                }
                found = Some(col);
                self.t.drain(i..=end);
                continue;
            }
            i += 1;
        }
        Ok(found)
    }

    /// ASA's `fn(args) OVER (... LIMIT DURATION(unit, n) [WHEN cond])`.
    fn azure_over(&mut self, timestamp_by: Option<&[Token]>) -> Result<bool> {
        let mut changed = false;
        let mut i = 0;
        while i < self.t.len() {
            let is_azure = matches!(&self.t[i], Token::Word(w) if w.quote_style.is_none()
                && (w.value.eq_ignore_ascii_case("AnomalyDetection_SpikeAndDip")
                    || w.value.eq_ignore_ascii_case("AnomalyDetection_ChangePoint")));
            if !is_azure {
                i += 1;
                continue;
            }
            let name = self.t[i].to_string();
            let Some(open) = self.next(i + 1).filter(|&o| self.t[o] == Token::LParen) else {
                i += 1;
                continue;
            };
            let Some(args_close) = self.close_of(open) else {
                return plan_err!("{name}( has no closing parenthesis");
            };
            let Some(over) = self
                .next(args_close + 1)
                .filter(|&o| word_is(&self.t[o], "OVER"))
            else {
                return plan_err!(
                    "{name} needs an OVER clause, e.g. OVER (PARTITION BY id LIMIT DURATION(second, 120)); accepted: OVER ([PARTITION BY cols] LIMIT DURATION(unit, n) [WHEN condition])"
                );
            };
            let Some(over_open) = self.next(over + 1).filter(|&o| self.t[o] == Token::LParen)
            else {
                return plan_err!("{name}: OVER must be followed by '('");
            };
            let Some(over_close) = self.close_of(over_open) else {
                return plan_err!("{name}: OVER( has no closing parenthesis");
            };
            // Find LIMIT DURATION(...) and WHEN ... at depth 1 inside OVER(...).
            let mut limit = None;
            let mut when = None;
            let mut depth = 0usize;
            for j in over_open + 1..over_close {
                match &self.t[j] {
                    Token::LParen => depth += 1,
                    Token::RParen => depth = depth.saturating_sub(1),
                    t if depth == 0 && word_is(t, "LIMIT") => limit = Some(j),
                    t if depth == 0 && word_is(t, "WHEN") => when = Some(j),
                    _ => {}
                }
            }
            let Some(limit) = limit else {
                return plan_err!(
                    "{name}: the OVER clause needs LIMIT DURATION(unit, n), e.g. OVER (LIMIT DURATION(second, 120)); units: second, minute, hour, day (and ss, s, mi, n, hh, dd)"
                );
            };
            let duration_end = when.unwrap_or(over_close);
            let dur: Vec<Token> = self.t[limit + 1..duration_end]
                .iter()
                .filter(|t| !is_ws(t))
                .cloned()
                .collect();
            let duration = match dur.as_slice() {
                [
                    d,
                    Token::LParen,
                    Token::Word(unit),
                    Token::Comma,
                    Token::Number(n, _),
                    Token::RParen,
                ] if word_is(d, "DURATION") => {
                    let u = match unit.value.to_ascii_lowercase().as_str() {
                        "second" | "ss" | "s" => "s",
                        "minute" | "mi" | "n" => "m",
                        "hour" | "hh" => "h",
                        "day" | "dd" | "d" => "d",
                        "millisecond" | "ms" => "ms",
                        other => {
                            return plan_err!(
                                "{name}: LIMIT DURATION unit '{other}' is not supported; accepted: second, minute, hour, day, millisecond (and ss, s, mi, n, hh, dd, ms)"
                            );
                        }
                    };
                    match n.parse::<u64>() {
                        Ok(v) if v > 0 => format!("{v}{u}"),
                        _ => {
                            return plan_err!(
                                "{name}: LIMIT DURATION length must be a whole number > 0, got {n}"
                            );
                        }
                    }
                }
                _ => {
                    return plan_err!(
                        "{name}: expected LIMIT DURATION(unit, n) in the OVER clause, e.g. LIMIT DURATION(minute, 20)"
                    );
                }
            };
            let cond: Vec<Token> = match when {
                Some(w) => self.t[w + 1..over_close].to_vec(),
                None => vec![Token::make_keyword("TRUE")],
            };
            if cond.iter().all(is_ws) {
                return plan_err!("{name}: WHEN needs a condition, e.g. WHEN id IS NOT NULL");
            }
            // Rebuild: fn(args, 'dur', (cond)) OVER (<partition part>)
            let mut out: Vec<Token> = self.t[..args_close].to_vec();
            out.push(Token::Comma);
            out.push(Token::Whitespace(Whitespace::Space));
            out.push(Token::SingleQuotedString(duration));
            out.push(Token::Comma);
            out.push(Token::Whitespace(Whitespace::Space));
            out.push(Token::LParen);
            out.extend(cond);
            out.push(Token::RParen);
            out.extend_from_slice(&self.t[args_close..=over_open]);
            out.extend_from_slice(&self.t[over_open + 1..limit]);
            if let Some(col) = timestamp_by {
                out.push(Token::Whitespace(Whitespace::Space));
                out.push(Token::make_keyword("ORDER"));
                out.push(Token::Whitespace(Whitespace::Space));
                out.push(Token::make_keyword("BY"));
                out.push(Token::Whitespace(Whitespace::Space));
                out.extend_from_slice(col);
            }
            out.push(Token::RParen);
            let resume = out.len();
            out.extend_from_slice(&self.t[over_close + 1..]);
            self.t = out;
            changed = true;
            i = resume;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn untouched_sql_is_byte_identical() {
        let sql = "SELECT a,  b -- note\nFROM t WHERE x = 'STREAM'";
        assert_eq!(rewrite(sql).unwrap(), sql);
    }

    #[test]
    fn json_object_becomes_a_string() {
        let out = rewrite(
            "SELECT f(v, ts, JSON_OBJECT('minTrainingSize' VALUE 64, 'c' VALUE 99.0, 'enableStl' VALUE TRUE, 'n' VALUE -1, 's' VALUE 'x''y')) FROM t",
        )
        .unwrap();
        assert_eq!(
            out,
            r#"SELECT f(v, ts, '{"c":99.0,"enableStl":true,"minTrainingSize":64,"n":-1,"s":"x''y"}') FROM t"#
        );
        let err = rewrite("SELECT JSON_OBJECT('a' VALUE b) FROM t").unwrap_err();
        assert!(err.to_string().contains("must be a literal"), "{err}");
    }

    #[test]
    fn kinesis_forms() {
        let out = rewrite(
            r#"SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM "S"), 100, 256))"#,
        )
        .unwrap();
        let squashed: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            squashed,
            r#"SELECT * FROM RANDOM_CUT_FOREST( (SELECT * FROM "S"), 100, 256)"#
        );
    }

    #[test]
    fn azure_over_clause() {
        let out = rewrite(
            "SELECT AnomalyDetection_SpikeAndDip(CAST(val AS float), 95, 120, 'spikesanddips') OVER (PARTITION BY id LIMIT DURATION(second, 120) WHEN id IS NOT NULL) AS sd FROM input",
        )
        .unwrap();
        let squashed: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            squashed,
            "SELECT AnomalyDetection_SpikeAndDip(CAST(val AS float), 95, 120, 'spikesanddips', '120s', ( id IS NOT NULL)) OVER (PARTITION BY id ) AS sd FROM input"
        );
        let out = rewrite(
            "SELECT AnomalyDetection_ChangePoint(CAST(val AS float), 80, 1200) OVER (LIMIT DURATION(minute, 20)) AS cp FROM input",
        )
        .unwrap();
        let squashed: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            squashed,
            "SELECT AnomalyDetection_ChangePoint(CAST(val AS float), 80, 1200, '20m', (TRUE)) OVER () AS cp FROM input"
        );
        let out = rewrite(
            "SELECT AnomalyDetection_ChangePoint(v, 80, 1200) OVER (PARTITION BY k LIMIT DURATION(hour, 1)) AS cp FROM input TIMESTAMP BY input.ts WHERE k > 1",
        )
        .unwrap();
        let squashed: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            squashed,
            "SELECT AnomalyDetection_ChangePoint(v, 80, 1200, '1h', (TRUE)) OVER (PARTITION BY k ORDER BY input.ts) AS cp FROM input WHERE k > 1"
        );
        let err = rewrite(
            "SELECT AnomalyDetection_ChangePoint(v, 80, 1200) OVER (LIMIT DURATION(week, 2)) FROM t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("accepted: second"), "{err}");
    }
}
