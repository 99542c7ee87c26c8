//! A NAB corpus on disk: `data/<category>/<name>.csv` (`timestamp,value`),
//! `labels/combined_windows.json` (file -> list of `[start, end]` timestamps)
//! and `config/profiles.json` (profile -> `CostMatrix` weights); and results
//! directories in NAB's layout (`<category>/<detector>_<name>.csv` with an
//! `anomaly_score` column).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use crate::csv::Csv;
use crate::error::{Error, Result};
use crate::scorer::{CostMatrix, FileInput, Profile, Window};
use crate::time::parse_timestamp;

/// The labels file, relative to the corpus root.
pub const LABELS: &str = "labels/combined_windows.json";
/// The profiles file, relative to the corpus root.
pub const PROFILES: &str = "config/profiles.json";
/// The data directory, relative to the corpus root.
pub const DATA: &str = "data";

/// One data file with its labelled windows.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// Its path under `data/`, as the labels name it (`realKnownCause/nyc_taxi.csv`).
    pub name: String,
    /// Microseconds since the epoch, one per row.
    pub timestamps: Vec<i64>,
    /// The `value` column (NaN where it is empty or not finite).
    pub values: Vec<f64>,
    /// Labelled windows as row indices, sorted and disjoint.
    pub windows: Vec<Window>,
}

impl CorpusFile {
    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.timestamps.len()
    }

    /// `category` and `name.csv` of [`CorpusFile::name`].
    pub fn split_name(&self) -> (&str, &str) {
        self.name.rsplit_once('/').unwrap_or(("", &self.name))
    }

    /// 1 for rows inside a window, else 0 (NAB's `label` column).
    pub fn labels(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.rows()];
        for w in &self.windows {
            for l in out.iter_mut().take(w.end + 1).skip(w.start) {
                *l = 1;
            }
        }
        out
    }
}

/// A loaded corpus: every file the labels name, and the profiles.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The directory it was loaded from.
    pub root: PathBuf,
    /// Files in label order (sorted by name).
    pub files: Vec<CorpusFile>,
    /// Profiles in the order `config/profiles.json` lists them.
    pub profiles: Vec<Profile>,
}

impl Corpus {
    /// Load `root/labels/combined_windows.json`, `root/config/profiles.json`
    /// and every data file the labels name.
    pub fn load(root: &Path) -> Result<Corpus> {
        if !root.is_dir() {
            return Err(Error::NotACorpus {
                dir: root.to_path_buf(),
                problem: "it does not exist or is not a directory".into(),
            });
        }
        let missing: Vec<&str> = [DATA, LABELS, PROFILES]
            .into_iter()
            .filter(|p| !root.join(p).exists())
            .map(|p| if p == DATA { "data/" } else { p })
            .collect();
        if !missing.is_empty() {
            return Err(Error::NotACorpus {
                dir: root.to_path_buf(),
                problem: format!("missing {}", missing.join(", ")),
            });
        }
        let profiles = load_profiles(&root.join(PROFILES))?;
        let labels = load_labels(&root.join(LABELS))?;
        let data_dir = root.join(DATA);
        let absent: Vec<&str> = labels
            .keys()
            .filter(|name| !data_dir.join(name).is_file())
            .map(String::as_str)
            .collect();
        if !absent.is_empty() {
            return Err(Error::NotACorpus {
                dir: root.to_path_buf(),
                problem: format!(
                    "missing {} data file(s) that {LABELS} names: {}",
                    absent.len(),
                    list(
                        &absent
                            .iter()
                            .map(|n| format!("data/{n}"))
                            .collect::<Vec<_>>()
                    )
                ),
            });
        }
        let mut files = Vec::with_capacity(labels.len());
        for (name, windows) in &labels {
            let (timestamps, values) = read_data(&data_dir.join(name))?;
            let windows = resolve_windows(name, windows, &timestamps)?;
            files.push(CorpusFile {
                name: name.clone(),
                timestamps,
                values,
                windows,
            });
        }
        Ok(Corpus {
            root: root.to_path_buf(),
            files,
            profiles,
        })
    }

    /// Rows over all files.
    pub fn rows(&self) -> usize {
        self.files.iter().map(CorpusFile::rows).sum()
    }

    /// Labelled windows over all files.
    pub fn windows(&self) -> usize {
        self.files.iter().map(|f| f.windows.len()).sum()
    }

    /// The scorer's view of the corpus with one anomaly-score column per file.
    pub fn inputs<'a>(&'a self, anomaly: &'a [Vec<f64>]) -> Result<Vec<FileInput<'a>>> {
        if anomaly.len() != self.files.len() {
            return Err(Error::Invalid(format!(
                "{} anomaly-score columns for {} corpus files",
                anomaly.len(),
                self.files.len()
            )));
        }
        self.files
            .iter()
            .zip(anomaly)
            .map(|(f, a)| {
                if a.len() == f.rows() {
                    Ok(FileInput {
                        anomaly: a,
                        windows: &f.windows,
                    })
                } else {
                    Err(Error::Invalid(format!(
                        "{}: {} anomaly scores for {} rows",
                        f.name,
                        a.len(),
                        f.rows()
                    )))
                }
            })
            .collect()
    }

    /// Read a results directory in NAB's layout: for each corpus file
    /// `category/name.csv`, the one file `dir/category/<detector>_name.csv`,
    /// and its `anomaly_score` column. Its rows must match the data file's
    /// (same count; same timestamps when it has a `timestamp` column).
    pub fn read_results(
        &self,
        dir: &Path,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Vec<f64>>> {
        if !dir.is_dir() {
            return Err(Error::Results(format!(
                "results directory {} does not exist or is not a directory; expected <category>/<detector>_<name>.csv files as NAB writes them",
                dir.display()
            )));
        }
        let mut paths = Vec::with_capacity(self.files.len());
        let mut missing = Vec::new();
        for f in &self.files {
            match find_result(dir, f)? {
                Some(p) => paths.push(p),
                None => missing.push(f.name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::Results(format!(
                "{} has no results for {} of the {} corpus files: {} (expected {}/<category>/<detector>_<name>.csv with an anomaly_score column)",
                dir.display(),
                missing.len(),
                self.files.len(),
                list(&missing),
                dir.display()
            )));
        }
        let mut out = Vec::with_capacity(self.files.len());
        for (n, (f, path)) in self.files.iter().zip(&paths).enumerate() {
            out.push(read_result(path, f)?);
            progress(n + 1, self.files.len());
        }
        Ok(out)
    }
}

/// At most five names, then how many more.
fn list(names: &[String]) -> String {
    let mut s = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(&format!(" and {} more", names.len() - 5));
    }
    s
}

fn read_json(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

/// `{"name": {"CostMatrix": {"tpWeight": .., "fpWeight": .., "fnWeight": ..}}, ...}`,
/// keeping the file's order.
fn load_profiles(path: &Path) -> Result<Vec<Profile>> {
    #[derive(Deserialize)]
    struct Weights {
        #[serde(rename = "tpWeight")]
        tp: f64,
        #[serde(rename = "fpWeight")]
        fp: f64,
        #[serde(rename = "fnWeight")]
        fn_: f64,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "CostMatrix")]
        cost: Weights,
    }
    struct Ordered(Vec<(String, Entry)>);
    impl<'de> Deserialize<'de> for Ordered {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Ordered;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object of profiles")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                    let mut v = Vec::new();
                    while let Some(entry) = m.next_entry::<String, Entry>()? {
                        v.push(entry);
                    }
                    Ok(Ordered(v))
                }
            }
            d.deserialize_map(V)
        }
    }
    let text = read_json(path)?;
    let Ordered(entries) = serde_json::from_str(&text).map_err(|e| {
        Error::format(
            path.display(),
            format!(
                "{e}; expected {{\"<profile>\": {{\"CostMatrix\": {{\"tpWeight\": n, \"fpWeight\": n, \"fnWeight\": n}}}}, ...}}"
            ),
        )
    })?;
    if entries.is_empty() {
        return Err(Error::format(
            path.display(),
            "no profiles; expected at least one, e.g. \"standard\"",
        ));
    }
    let mut profiles: Vec<Profile> = Vec::with_capacity(entries.len());
    for (name, e) in entries {
        let w = e.cost;
        if ![w.tp, w.fp, w.fn_].iter().all(|x| x.is_finite()) {
            return Err(Error::format(
                path.display(),
                format!("profile '{name}': weights must be finite numbers"),
            ));
        }
        if crate::report::RESERVED_KEYS.contains(&name.as_str()) {
            return Err(Error::format(
                path.display(),
                format!(
                    "profile name '{name}' is reserved for the report; rename the profile (reserved: {})",
                    crate::report::RESERVED_KEYS.join(", ")
                ),
            ));
        }
        if profiles.iter().any(|p| p.name == name) {
            return Err(Error::format(
                path.display(),
                format!("profile '{name}' appears twice"),
            ));
        }
        profiles.push(Profile {
            name,
            cost: CostMatrix {
                tp: w.tp,
                fp: w.fp,
                fn_: w.fn_,
            },
        });
    }
    Ok(profiles)
}

type Labels = BTreeMap<String, Vec<(String, String)>>;

fn load_labels(path: &Path) -> Result<Labels> {
    let text = read_json(path)?;
    let labels: Labels = serde_json::from_str(&text).map_err(|e| {
        Error::format(
            path.display(),
            format!(
                "{e}; expected {{\"<category>/<name>.csv\": [[\"<start timestamp>\", \"<end timestamp>\"], ...], ...}}"
            ),
        )
    })?;
    if labels.is_empty() {
        return Err(Error::format(
            path.display(),
            "names no data files; expected at least one \"<category>/<name>.csv\" key",
        ));
    }
    if let Some(bad) = labels
        .keys()
        .find(|k| k.split('/').any(|c| c.is_empty() || c == ".." || c == "."))
    {
        return Err(Error::format(
            path.display(),
            format!("'{bad}' is not a path under data/; expected \"<category>/<name>.csv\""),
        ));
    }
    Ok(labels)
}

/// The `timestamp` and `value` columns of a data file.
fn read_data(path: &Path) -> Result<(Vec<i64>, Vec<f64>)> {
    let csv = Csv::read(path)?;
    let (ti, vi) = (csv.column("timestamp")?, csv.column("value")?);
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    csv.for_each_row(|line, fields| {
        let t = parse_timestamp(fields[ti]).ok_or_else(|| {
            csv.error_at(
                line,
                format!("timestamp '{}' is not 'YYYY-MM-DD HH:MM:SS'", fields[ti]),
            )
        })?;
        let v = match fields[vi] {
            "" => f64::NAN,
            text => text
                .parse::<f64>()
                .map_err(|_| csv.error_at(line, format!("value '{text}' is not a number")))?,
        };
        ts.push(t);
        vs.push(v);
        Ok(())
    })?;
    Ok((ts, vs))
}

/// Map each window's timestamps to row indices (first row with that
/// timestamp, as NAB's `timestamps.index`); windows must be sorted, disjoint,
/// and start and end on rows of the file.
fn resolve_windows(name: &str, windows: &[(String, String)], ts: &[i64]) -> Result<Vec<Window>> {
    let at = |text: &str| -> Result<usize> {
        let t = parse_timestamp(text).ok_or_else(|| {
            Error::format(
                LABELS,
                format!("{name}: window timestamp '{text}' is not 'YYYY-MM-DD HH:MM:SS[.ffffff]'"),
            )
        })?;
        ts.iter().position(|x| *x == t).ok_or_else(|| {
            Error::format(
                LABELS,
                format!(
                    "{name}: window timestamp '{text}' is not a row of data/{name}; windows must start and end on timestamps of the file"
                ),
            )
        })
    };
    let mut out: Vec<Window> = Vec::with_capacity(windows.len());
    for (start, end) in windows {
        let w = Window {
            start: at(start)?,
            end: at(end)?,
        };
        if w.end < w.start {
            return Err(Error::format(
                LABELS,
                format!("{name}: window [{start}, {end}] ends before it starts"),
            ));
        }
        if out.last().is_some_and(|p| w.start <= p.end) {
            return Err(Error::format(
                LABELS,
                format!(
                    "{name}: window [{start}, {end}] overlaps or precedes the one before it; windows must be sorted and disjoint"
                ),
            ));
        }
        out.push(w);
    }
    Ok(out)
}

/// The results file of a corpus file: in `dir/<category>/`, a file named
/// `<prefix>_<name>.csv`. Several candidates are narrowed to those whose
/// prefix has no `_` (NAB strips the detector name up to the first `_`).
fn find_result(dir: &Path, f: &CorpusFile) -> Result<Option<PathBuf>> {
    let (category, name) = f.split_name();
    let cat_dir = dir.join(category);
    let entries = match std::fs::read_dir(&cat_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &cat_dir, e)),
    };
    let suffix = format!("_{name}");
    let mut candidates: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.len() > suffix.len() && n.ends_with(&suffix))
        .collect();
    if candidates.len() > 1 {
        candidates.retain(|n| !n[..n.len() - suffix.len()].contains('_'));
    }
    match candidates.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(cat_dir.join(one))),
        many => Err(Error::Results(format!(
            "{}: several results files match {}: {}",
            cat_dir.display(),
            f.name,
            many.join(", ")
        ))),
    }
}

fn read_result(path: &Path, f: &CorpusFile) -> Result<Vec<f64>> {
    let csv = Csv::read(path)?;
    let ai = csv.column("anomaly_score")?;
    let ti = csv.find_column("timestamp");
    let mut out = Vec::with_capacity(f.rows());
    csv.for_each_row(|line, fields| {
        let row = out.len();
        if row >= f.rows() {
            return Err(csv.error_at(
                line,
                format!("more rows than data/{} ({})", f.name, f.rows()),
            ));
        }
        if let Some(ti) = ti {
            let t = parse_timestamp(fields[ti]);
            if t != Some(f.timestamps[row]) {
                return Err(csv.error_at(
                    line,
                    format!(
                        "timestamp '{}' differs from row {} of data/{} ({}); results must hold the data file's rows in order",
                        fields[ti],
                        row + 1,
                        f.name,
                        crate::time::format_timestamp(f.timestamps[row])
                    ),
                ));
            }
        }
        let a: f64 = fields[ai].parse().map_err(|_| {
            csv.error_at(
                line,
                format!("anomaly_score '{}' is not a number", fields[ai]),
            )
        })?;
        if a.is_nan() {
            return Err(csv.error_at(line, "anomaly_score is NaN; expected a number in [0, 1]"));
        }
        out.push(a);
        Ok(())
    })?;
    if out.len() != f.rows() {
        return Err(Error::Results(format!(
            "{}: {} rows, but data/{} has {}",
            path.display(),
            out.len(),
            f.name,
            f.rows()
        )));
    }
    Ok(out)
}
