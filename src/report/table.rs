//! Rendering report rows as an aligned table, CSV or JSON.
//!
//! Reports build a [`Table`] of typed [`Cell`]s once; each format decides how a cell looks. Only the
//! human table gets thousands separators and percent signs; CSV and JSON carry plain machine values
//! (a share is `0.125` there, `12.5%` in the table) so they load into a spreadsheet or `jq` as is.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// One value in a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A number shown with this many decimals in the table.
    Float(f64, usize),
    /// A fraction, shown as a percentage with one decimal in the table.
    Share(f64),
    /// A signed relative change (0.25 = +25%).
    Change(f64),
    Time(DateTime<Utc>),
    /// A flag: `*` in the table, `true`/`false` in CSV and JSON.
    Bool(bool),
    Missing,
}

impl Cell {
    fn numeric(&self) -> bool {
        !matches!(self, Cell::Text(_) | Cell::Time(_) | Cell::Bool(_))
    }

    /// How the aligned table shows the cell.
    pub fn human(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => group_thousands(&n.to_string()),
            Cell::Float(x, d) => group_thousands(&format!("{x:.d$}")),
            Cell::Share(x) => format!("{:.1}%", x * 100.0),
            Cell::Change(x) => format!("{:+.1}%", x * 100.0),
            Cell::Time(t) => t.format("%Y-%m-%d %H:%M").to_string(),
            Cell::Bool(b) => if *b { "*" } else { "" }.into(),
            Cell::Missing => "-".into(),
        }
    }

    /// How CSV shows the cell: full precision, no grouping, empty when missing.
    pub fn plain(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Float(x, _) | Cell::Share(x) | Cell::Change(x) => x.to_string(),
            Cell::Time(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
            Cell::Bool(b) => b.to_string(),
            Cell::Missing => String::new(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Int(n) => Value::from(*n),
            Cell::Float(x, _) | Cell::Share(x) | Cell::Change(x) => {
                serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number)
            }
            Cell::Time(t) => Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Missing => Value::Null,
        }
    }
}

/// `1234567.89` → `1,234,567.89`; the sign and decimals are kept.
pub fn group_thousands(number: &str) -> String {
    let (sign, rest) = match number.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", number),
    };
    let (int, frac) = match rest.find('.') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return number.to_string();
    }
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}{frac}")
}

/// A report's rows under named columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(columns: Vec<&'static str>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.aligned(),
            Format::Csv => self.csv(),
            Format::Json => self.json(),
        }
    }

    /// Columns padded to their widest cell; numbers right-aligned, text left-aligned.
    pub fn aligned(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(Cell::human).collect())
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|c| {
                cells
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.columns[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        // A column is right-aligned when its values are numbers (the first non-missing decides).
        let right: Vec<bool> = (0..self.columns.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| &r[c])
                    .find(|cell| **cell != Cell::Missing)
                    .is_none_or(Cell::numeric)
            })
            .collect();
        let line = |values: &[String]| {
            let parts: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    let pad = widths[c] - v.chars().count();
                    if right[c] {
                        format!("{}{v}", " ".repeat(pad))
                    } else {
                        format!("{v}{}", " ".repeat(pad))
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        let header: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let mut out = String::new();
        for l in [line(&header), rule.join("  ")]
            .into_iter()
            .chain(cells.iter().map(|r| line(r)))
        {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }

    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&self.columns);
        for r in &self.rows {
            let _ = w.write_record(r.iter().map(Cell::plain));
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// An array of objects keyed by column name.
    pub fn json(&self) -> String {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let obj: Map<String, Value> = self
                    .columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| (c.to_string(), v.json()))
                    .collect();
                Value::Object(obj)
            })
            .collect();
        let mut s = serde_json::to_string_pretty(&Value::Array(rows)).unwrap_or_default();
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn thousands_separators() {
        assert_eq!(group_thousands("0"), "0");
        assert_eq!(group_thousands("999"), "999");
        assert_eq!(group_thousands("1000"), "1,000");
        assert_eq!(group_thousands("-1234567"), "-1,234,567");
        assert_eq!(group_thousands("34123.456"), "34,123.456");
        assert_eq!(group_thousands("NaN"), "NaN");
    }

    fn sample() -> Table {
        let mut t = Table::new(vec!["asset", "posts", "share", "score", "bucket"]);
        let at = Utc.with_ymd_and_hms(2021, 1, 5, 10, 0, 0).unwrap();
        t.push(vec![
            Cell::Text("BTC".into()),
            Cell::Int(12345),
            Cell::Share(0.5),
            Cell::Float(0.25, 3),
            Cell::Time(at),
        ]);
        t.push(vec![
            Cell::Text("DOGE".into()),
            Cell::Int(7),
            Cell::Share(0.07),
            Cell::Missing,
            Cell::Time(at),
        ]);
        t
    }

    #[test]
    fn table_right_aligns_numbers_and_groups_thousands() {
        let out = sample().aligned();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "asset   posts  share  score  bucket");
        assert_eq!(lines[1], "-----  ------  -----  -----  ----------------");
        assert_eq!(lines[2], "BTC    12,345  50.0%  0.250  2021-01-05 10:00");
        assert_eq!(lines[3], "DOGE        7   7.0%      -  2021-01-05 10:00");
    }

    #[test]
    fn csv_and_json_carry_plain_values() {
        let csv = sample().csv();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("asset,posts,share,score,bucket"));
        assert_eq!(
            lines.next(),
            Some("BTC,12345,0.5,0.25,2021-01-05T10:00:00Z")
        );
        assert_eq!(lines.next(), Some("DOGE,7,0.07,,2021-01-05T10:00:00Z"));
        let json: Value = serde_json::from_str(&sample().json()).unwrap();
        assert_eq!(json[0]["posts"], 12345);
        assert_eq!(json[1]["score"], Value::Null);
        assert_eq!(json[1]["bucket"], "2021-01-05T10:00:00Z");
    }

    #[test]
    fn an_empty_table_is_an_empty_array_and_a_csv_header() {
        let t = Table::new(vec!["asset", "posts"]);
        assert_eq!(t.json(), "[]\n");
        assert_eq!(t.csv(), "asset,posts\n");
    }

    #[test]
    fn flags_are_booleans_in_json_and_csv() {
        let mut t = Table::new(vec!["lag", "best"]);
        t.push(vec![Cell::Int(1), Cell::Bool(true)]);
        t.push(vec![Cell::Int(2), Cell::Bool(false)]);
        let json: Value = serde_json::from_str(&t.json()).unwrap();
        assert_eq!(json[0]["best"], Value::Bool(true));
        assert_eq!(json[1]["best"], Value::Bool(false));
        assert_eq!(t.csv(), "lag,best\n1,true\n2,false\n");
        assert_eq!(t.aligned().lines().nth(2), Some("  1  *"));
    }
}
