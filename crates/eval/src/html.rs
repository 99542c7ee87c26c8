//! `wasmad eval nab --report report.html`: one self-contained HTML file (no
//! scripts, no external resources) with the scores per profile and per
//! category beside NAB's published scoreboard, and one SVG chart per series:
//! the values, the detector's forecast band where it has one, NAB's label
//! windows shaded, the probationary rows greyed, and the rows detected at the
//! `standard` profile's threshold marked (green inside a window, red outside).
//!
//! Charts are drawn at most [`CHART_BUCKETS`] points wide: each bucket of rows
//! is drawn as its minimum and maximum, so a one-row spike is never lost to
//! down-sampling, and every detection is drawn, however many share a bucket.

use std::fmt::Write as _;

use crate::corpus::Corpus;
use crate::error::Result;
use crate::report::{Report, Source, format_normalised};
use crate::run::Bands;
use crate::scorer::{
    FileInput, normalise, null_score, perfect_score, probation_length, row_windows,
};

/// Buckets (x positions) per chart, at most.
pub const CHART_BUCKETS: usize = 900;

/// NAB's published scoreboard (standard, reward low FP, reward low FN), as
/// quoted in the project's quality issue; `None` where it gave no figure.
pub const SCOREBOARD: &[(&str, f64, Option<f64>, Option<f64>)] = &[
    ("ARTime", 74.9, Some(65.1), Some(80.4)),
    ("Numenta HTM", 70.5, Some(62.6), Some(75.2)),
    ("CAD OSE", 69.9, Some(67.0), Some(73.2)),
    ("earthgecko Skyline", 58.2, None, None),
    ("KNN CAD", 58.0, None, None),
    ("Relative Entropy", 54.6, None, None),
    ("Kinesis Random Cut Forest", 51.7, Some(38.4), Some(59.7)),
    ("Twitter ADVec", 47.1, None, None),
    ("Windowed Gaussian", 39.6, Some(20.9), Some(47.4)),
    ("Random", 11.0, None, None),
];

const W: f64 = 960.0;
const H: f64 = 170.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;

/// Escape text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for an axis label: few digits, no exponent for everyday sizes.
fn axis_label(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e7).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// The whole report as one HTML document. `anomaly` holds one NAB anomaly
/// score column per corpus file (as scored); `bands`, when the detector ran
/// here, each file's forecast band.
pub fn html_report(
    report: &Report,
    corpus: &Corpus,
    anomaly: &[Vec<f64>],
    bands: Option<&[Bands]>,
) -> Result<String> {
    let inputs = corpus.inputs(anomaly)?;
    let mut h = String::with_capacity(4 << 20);
    let title = match &report.source {
        Source::Detector { config, .. } => format!("wasmad on NAB: {config}"),
        Source::Results(dir) => format!("NAB scores of {dir}"),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"generator\" content=\"wasmad eval nab\">\
         <title>{}</title>\n<style>{}</style></head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        STYLE,
        esc(&title)
    );
    summary(&mut h, report);
    scoreboard(&mut h, report);
    categories(&mut h, report, corpus, &inputs);
    let standard = report
        .profiles
        .iter()
        .find(|p| p.name == "standard")
        .or(report.profiles.first());
    let _ = write!(
        h,
        "<h2>Series</h2>\n<p class=\"legend\"><span class=\"k value\"></span>value \
         <span class=\"k band\"></span>forecast band \
         <span class=\"k window\"></span>NAB label window \
         <span class=\"k probation\"></span>probation (not scored) \
         <span class=\"k tp\"></span>detection in a window \
         <span class=\"k fp\"></span>detection outside windows{}</p>\n",
        standard.map_or_else(String::new, |p| format!(
            " (detections: anomaly score &ge; {}, the <b>{}</b> threshold)",
            p.total.threshold,
            esc(&p.name)
        ))
    );
    for (i, (f, input)) in corpus.files.iter().zip(&inputs).enumerate() {
        let threshold = standard.map_or(f64::INFINITY, |p| p.total.threshold);
        let scored = standard.and_then(|p| p.files.get(i));
        let band = bands.and_then(|b| b.get(i));
        chart(&mut h, i, f, input, threshold, scored, band);
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

fn summary(h: &mut String, report: &Report) {
    let _ = write!(
        h,
        "<p>NAB v1.1 scoring over {} files, {} rows, {} label windows, in {:.1} s",
        report.files, report.rows, report.windows, report.seconds
    );
    if let Some(d) = report.detect_seconds {
        let _ = write!(h, " (detector {d:.1} s)");
    }
    h.push_str(".</p>\n");
    if let Source::Detector { effective, .. } = &report.source {
        let _ = writeln!(
            h,
            "<p>Effective config (one for the whole corpus): <code>{}</code></p>",
            esc(effective)
        );
    }
    h.push_str(
        "<table id=\"profiles\"><tr><th>profile</th><th>score</th><th>threshold</th>\
         <th>raw</th><th>TP rows</th><th>FP rows</th><th>FN rows</th><th>windows detected</th></tr>\n",
    );
    for p in &report.profiles {
        let c = &p.total.counts;
        let _ = writeln!(
            h,
            "<tr data-profile=\"{}\"><td>{}</td><td class=\"num\"><b>{}</b></td><td class=\"num\">{}</td>\
             <td class=\"num\">{:.3}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}/{}</td></tr>",
            esc(&p.name),
            esc(&p.name),
            format_normalised(p.normalised),
            p.total.threshold,
            p.total.score,
            c.tp,
            c.fp,
            c.fn_,
            c.windows_detected,
            c.windows
        );
    }
    h.push_str("</table>\n");
}

fn scoreboard(h: &mut String, report: &Report) {
    let ours = |name: &str| {
        report
            .profiles
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.normalised)
    };
    let rows_ours = (
        ours("standard"),
        ours("reward_low_FP_rate"),
        ours("reward_low_FN_rate"),
    );
    h.push_str(
        "<h2>Beside NAB's scoreboard</h2>\n<table id=\"scoreboard\"><tr><th>detector</th>\
         <th>standard</th><th>reward low FP</th><th>reward low FN</th></tr>\n",
    );
    let mut ours_written = false;
    let ours_row = |h: &mut String| {
        let _ = writeln!(
            h,
            "<tr class=\"ours\"><td><b>this run (wasmad)</b></td><td class=\"num\"><b>{}</b></td>\
             <td class=\"num\"><b>{}</b></td><td class=\"num\"><b>{}</b></td></tr>",
            format_normalised(rows_ours.0),
            format_normalised(rows_ours.1),
            format_normalised(rows_ours.2)
        );
    };
    for (name, std, low_fp, low_fn) in SCOREBOARD {
        if !ours_written && rows_ours.0.is_some_and(|o| o >= *std) {
            ours_row(h);
            ours_written = true;
        }
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{std:.1}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(name),
            low_fp.map_or_else(|| "&ndash;".into(), |v| format!("{v:.1}")),
            low_fn.map_or_else(|| "&ndash;".into(), |v| format!("{v:.1}")),
        );
    }
    if !ours_written {
        ours_row(h);
    }
    h.push_str(
        "</table>\n<p class=\"note\">Published figures from NAB's scoreboard (&ndash;: not quoted here). \
         Ours: one configuration for the whole corpus, thresholds swept per profile as NAB does.</p>\n",
    );
}

fn categories(h: &mut String, report: &Report, corpus: &Corpus, inputs: &[FileInput<'_>]) {
    let mut names: Vec<&str> = Vec::new();
    for f in &corpus.files {
        let c = f.split_name().0;
        if !names.contains(&c) {
            names.push(c);
        }
    }
    h.push_str("<h2>Per category</h2>\n<table id=\"categories\"><tr><th>category</th><th>files</th><th>windows</th>");
    for p in &report.profiles {
        let _ = write!(h, "<th>{}</th>", esc(&p.name));
    }
    h.push_str("</tr>\n");
    for cat in names {
        let idx: Vec<usize> = (0..corpus.files.len())
            .filter(|&i| corpus.files[i].split_name().0 == cat)
            .collect();
        let sub: Vec<FileInput<'_>> = idx.iter().map(|&i| inputs[i]).collect();
        let windows: usize = idx.iter().map(|&i| corpus.files[i].windows.len()).sum();
        let _ = write!(
            h,
            "<tr data-category=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{windows}</td>",
            esc(cat),
            esc(cat),
            idx.len()
        );
        for p in &report.profiles {
            let raw: f64 = idx
                .iter()
                .filter_map(|&i| p.files.get(i))
                .map(|s| s.score)
                .sum();
            let n = normalise(raw, null_score(&sub, &p.cost), perfect_score(&sub, &p.cost));
            let _ = write!(h, "<td class=\"num\">{}</td>", format_normalised(n));
        }
        h.push_str("</tr>\n");
    }
    h.push_str(
        "</table>\n<p class=\"note\">Each category normalised against its own null and perfect \
         detectors, at the corpus-wide threshold of each profile (categories without windows: n/a).</p>\n",
    );
}

/// Per-bucket minimum and maximum of the finite values of each of
/// `n_buckets` equal runs of rows (`None` for a bucket without any).
fn buckets(values: &[f64], n_buckets: usize) -> Vec<Option<(f64, f64)>> {
    let n = values.len();
    (0..n_buckets)
        .map(|b| {
            let lo = b * n / n_buckets;
            let hi = ((b + 1) * n / n_buckets).max(lo + 1).min(n);
            values[lo..hi].iter().filter(|v| v.is_finite()).fold(
                None,
                |acc: Option<(f64, f64)>, &v| {
                    Some(acc.map_or((v, v), |(a, b)| (a.min(v), b.max(v))))
                },
            )
        })
        .collect()
}

fn chart(
    h: &mut String,
    index: usize,
    f: &crate::corpus::CorpusFile,
    input: &FileInput<'_>,
    threshold: f64,
    scored: Option<&crate::scorer::Scored>,
    band: Option<&Bands>,
) {
    let n = f.rows();
    let probation = probation_length(n);
    let detections: Vec<usize> = (probation..n)
        .filter(|&i| input.anomaly[i] >= threshold)
        .collect();
    let window_of = row_windows(n, &f.windows);
    let _ = write!(
        h,
        "<section class=\"series\" id=\"s{index}\" data-file=\"{}\" data-rows=\"{n}\" data-windows=\"{}\" data-detections=\"{}\">\n<h3>{}</h3>\n<p class=\"meta\">{n} rows, {} windows",
        esc(&f.name),
        f.windows.len(),
        detections.len(),
        esc(&f.name),
        f.windows.len()
    );
    if let Some(s) = scored {
        let c = &s.counts;
        let _ = write!(
            h,
            "; standard: raw score {:.3}, windows detected {}/{}, {} detections outside windows",
            s.score, c.windows_detected, c.windows, c.fp
        );
    }
    h.push_str("</p>\n");
    if n == 0 {
        h.push_str("<p>(empty series)</p></section>\n");
        return;
    }
    let finite = f.values.iter().copied().filter(|v| v.is_finite());
    let (mut lo, mut hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        (lo, hi) = (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |i: f64| {
        LEFT + if n > 1 {
            i / (n - 1) as f64 * pw
        } else {
            pw / 2.0
        }
    };
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * ph;
    let nb = n.min(CHART_BUCKETS);
    let bx = |b: usize| x((b * n / nb) as f64);
    let _ = write!(
        h,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{}\">\
         <defs><clipPath id=\"c{index}\"><rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\"/></clipPath></defs>\
         <rect class=\"frame\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\"/>",
        esc(&f.name)
    );
    let _ = write!(
        h,
        "<rect class=\"probation\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{ph}\"/>",
        x(probation as f64) - LEFT
    );
    for w in &f.windows {
        let _ = write!(
            h,
            "<rect class=\"window\" x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{ph}\"/>",
            x(w.start as f64),
            (x(w.end as f64) - x(w.start as f64)).max(1.0)
        );
    }
    let _ = write!(h, "<g clip-path=\"url(#c{index})\">");
    if let Some(b) = band {
        let lower = buckets(&b.lower, nb);
        let upper = buckets(&b.upper, nb);
        // One polygon per run of buckets where both edges are known.
        let mut run: Vec<(f64, f64, f64)> = Vec::new();
        let flush = |run: &mut Vec<(f64, f64, f64)>, h: &mut String| {
            if run.len() >= 2 {
                h.push_str("<path class=\"band\" d=\"");
                for (k, (px, _, up)) in run.iter().enumerate() {
                    let _ = write!(h, "{}{px:.1},{:.1}", if k == 0 { "M" } else { "L" }, y(*up));
                }
                for (px, low, _) in run.iter().rev() {
                    let _ = write!(h, "L{px:.1},{:.1}", y(*low));
                }
                h.push_str("Z\"/>");
            }
            run.clear();
        };
        for bi in 0..nb {
            match (lower[bi], upper[bi]) {
                (Some((l, _)), Some((_, u))) => {
                    run.push((bx(bi), y_clamp(l, lo, hi), y_clamp(u, lo, hi)));
                }
                _ => flush(&mut run, h),
            }
        }
        flush(&mut run, h);
    }
    let vals = buckets(&f.values, nb);
    h.push_str("<path class=\"value\" d=\"");
    let mut pen_down = false;
    for (bi, v) in vals.iter().enumerate() {
        match v {
            Some((a, b)) => {
                let px = bx(bi);
                let _ = write!(
                    h,
                    "{}{px:.1},{:.1}",
                    if pen_down { "L" } else { "M" },
                    y(*b)
                );
                if a != b {
                    let _ = write!(h, "L{px:.1},{:.1}", y(*a));
                }
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    h.push_str("\"/>");
    for &i in &detections {
        let v = f.values[i];
        let cy = if v.is_finite() { y(v) } else { TOP + ph / 2.0 };
        let class = if window_of[i].is_some() { "tp" } else { "fp" };
        let _ = write!(
            h,
            "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{cy:.1}\" r=\"3\"><title>row {i}: value {v}, anomaly score {}</title></circle>",
            x(i as f64),
            input.anomaly[i]
        );
    }
    h.push_str("</g>");
    // Axes: value range on the left, first and last timestamps below.
    let _ = write!(
        h,
        "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
         <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
         <text class=\"axis\" x=\"{LEFT}\" y=\"{:.1}\">{}</text>\
         <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text></svg>\n</section>\n",
        LEFT - 4.0,
        TOP + 10.0,
        esc(&axis_label(hi)),
        LEFT - 4.0,
        TOP + ph,
        esc(&axis_label(lo)),
        H - 6.0,
        esc(&crate::time::format_timestamp(f.timestamps[0])),
        W - RIGHT,
        H - 6.0,
        esc(&crate::time::format_timestamp(f.timestamps[n - 1])),
    );
}

/// Keep band edges a little outside the plot so a huge band does not make
/// paths with enormous coordinates (the clip path hides the rest).
fn y_clamp(v: f64, lo: f64, hi: f64) -> f64 {
    let span = hi - lo;
    v.clamp(lo - span, hi + span)
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}\
h1{font-size:20px;word-break:break-all}h2{font-size:17px;margin-top:28px}h3{font-size:14px;margin:18px 0 2px}\
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3}\
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.ours td{background:#e8f4ff}\
.note,.meta{color:#555;font-size:12px;margin:2px 0}code{font-size:12px;word-break:break-all}\
svg.chart{display:block}.frame{fill:none;stroke:#bbb}.probation{fill:#000;opacity:.06}\
.window{fill:#f5a623;opacity:.25}.band{fill:#4a90d9;opacity:.22;stroke:none}\
.value{fill:none;stroke:#1f3b63;stroke-width:1}.tp{fill:#2e9d3a}.fp{fill:#d0021b}\
.axis{font-size:10px;fill:#555}.legend .k{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px;vertical-align:middle}\
.k.value{background:#1f3b63;height:2px}.k.band{background:#4a90d9;opacity:.4}.k.window{background:#f5a623;opacity:.5}\
.k.probation{background:#000;opacity:.12}.k.tp{background:#2e9d3a;border-radius:50%;width:8px;height:8px}\
.k.fp{background:#d0021b;border-radius:50%;width:8px;height:8px}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::CorpusFile;
    use crate::report::ThresholdSource;
    use crate::scorer::{CostMatrix, Profile, Window};
    use crate::{Thresholds, evaluate};

    fn corpus() -> Corpus {
        let n = 2000;
        let spiky = CorpusFile {
            name: "realCat/a<b>.csv".into(),
            timestamps: (0..n as i64)
                .map(|i| 1_400_000_000_000_000 + i * 300_000_000)
                .collect(),
            values: (0..n)
                .map(|i| match i {
                    1500 => 50.0,
                    700 => f64::NAN,
                    _ => (i as f64 / 30.0).sin(),
                })
                .collect(),
            windows: vec![Window {
                start: 1450,
                end: 1550,
            }],
        };
        let flat = CorpusFile {
            name: "artificialNoAnomaly/flat.csv".into(),
            timestamps: (0..300).collect(),
            values: vec![3.0; 300],
            windows: Vec::new(),
        };
        let profile = |name: &str, fp: f64, fn_: f64| Profile {
            name: name.into(),
            cost: CostMatrix { tp: 1.0, fp, fn_ },
        };
        Corpus {
            root: "corpus".into(),
            files: vec![spiky, flat],
            profiles: vec![
                profile("standard", 0.11, 1.0),
                profile("reward_low_FP_rate", 0.22, 1.0),
                profile("reward_low_FN_rate", 0.11, 2.0),
            ],
        }
    }

    fn report(corpus: &Corpus, anomaly: &[Vec<f64>]) -> Report {
        Report {
            source: Source::Results("res & co".into()),
            files: corpus.files.len(),
            rows: corpus.rows(),
            windows: corpus.windows(),
            seconds: 0.5,
            detect_seconds: None,
            profiles: evaluate(corpus, anomaly, &Thresholds::Sweep).unwrap(),
        }
    }

    #[test]
    fn every_series_gets_a_chart_with_its_detections_and_band() {
        let c = corpus();
        // One detection in the window (row 1500), one false positive (row 1800).
        let mut a0 = vec![0.1; 2000];
        a0[1500] = 0.9;
        a0[1800] = 0.8;
        let anomaly = vec![a0, vec![0.0; 300]];
        let r = report(&c, &anomaly);
        assert_eq!(r.profiles[0].threshold_source, ThresholdSource::Sweep);
        let bands = vec![
            Bands {
                lower: (0..2000)
                    .map(|i| if i < 100 { f64::NAN } else { -1.5 })
                    .collect(),
                upper: (0..2000)
                    .map(|i| if i < 100 { f64::NAN } else { 1e300 })
                    .collect(),
            },
            Bands {
                lower: vec![f64::NAN; 300],
                upper: vec![f64::NAN; 300],
            },
        ];
        let html = html_report(&r, &c, &anomaly, Some(&bands)).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<section class=\"series\"").count(), 2);
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 2);
        // Names are escaped; no coordinate is NaN or infinite.
        assert!(html.contains("realCat/a&lt;b&gt;.csv"));
        assert!(!html.contains("a<b>"));
        assert!(html.contains("res &amp; co"));
        for bad in ["NaN", "inf"] {
            assert!(
                !html.contains(&format!(",{bad}")) && !html.contains(&format!("\"{bad}")),
                "a {bad} coordinate"
            );
        }
        // The sweep's best standard threshold takes the window's detection;
        // the chart shows it as a true positive.
        let t = r.profiles[0].total.threshold;
        let expect = (0..2000)
            .filter(|&i| i >= 300 && anomaly[0][i] >= t)
            .count();
        assert!(html.contains(&format!("data-detections=\"{expect}\"")));
        assert!(html.contains("<circle class=\"tp\""));
        // One band polygon for the first file (its band starts at row 100), none for the flat one.
        assert_eq!(html.matches("<path class=\"band\"").count(), 1);
        // Scores per profile, per category, and the scoreboard.
        assert!(html.contains("data-profile=\"reward_low_FN_rate\""));
        assert!(html.contains("data-category=\"realCat\""));
        assert!(html.contains("data-category=\"artificialNoAnomaly\""));
        assert!(html.contains("Numenta HTM"));
        assert!(html.contains("this run (wasmad)"));
        // Without bands (results scored from elsewhere) there is no band at all.
        let plain = html_report(&r, &c, &anomaly, None).unwrap();
        assert!(!plain.contains("<path class=\"band\""));
    }

    #[test]
    fn column_count_mismatch_is_an_error_not_a_panic() {
        let c = corpus();
        let anomaly = vec![vec![0.0; 2000], vec![0.0; 300]];
        let r = report(&c, &anomaly);
        let e = html_report(&r, &c, &anomaly[..1], None).unwrap_err();
        assert!(e.to_string().contains("anomaly-score columns"), "{e}");
    }

    #[test]
    fn buckets_keep_one_row_spikes() {
        let mut v = vec![1.0; 10_000];
        v[4321] = 99.0;
        v[10] = f64::NAN;
        let b = buckets(&v, 900);
        assert_eq!(b.len(), 900);
        assert!(b.iter().flatten().any(|(_, hi)| *hi == 99.0));
        assert!(b.iter().all(Option::is_some));
        assert_eq!(buckets(&[f64::NAN, f64::NAN], 2), vec![None, None]);
        assert_eq!(buckets(&[1.0, 2.0, 3.0], 3).len(), 3);
    }
}
