//! [`Step`]: one row's result from the detectors that are driven row by row
//! outside the [`crate::model::Model`] trait ([`crate::spikedip`],
//! [`crate::changepoint`], [`crate::robust`]).

use crate::flags::{self, Status};

/// One scored (or unscored) row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// `Ok` (scored), `Warmup` (learned, not scored) or `Skipped` (not learned).
    pub status: Status,
    /// The row's score in the detector's own units (NaN unless `Ok`).
    pub score: f64,
    /// The row is flagged.
    pub anomaly: bool,
    /// The row lies above the detector's centre (up); false: below (down).
    pub up: bool,
    /// The detector's expected value, or NaN when it has none.
    pub forecast: f64,
    /// Lower band in the value's units, or NaN when the detector has none.
    pub lower: f64,
    /// Upper band in the value's units, or NaN when the detector has none.
    pub upper: f64,
}

impl Step {
    /// An unscored row: every number NaN, not anomalous, not up.
    pub fn missing(status: Status) -> Step {
        Step {
            status,
            score: f64::NAN,
            anomaly: false,
            up: false,
            forecast: f64::NAN,
            lower: f64::NAN,
            upper: f64::NAN,
        }
    }

    /// The flag byte of [`crate::flags`] (anomaly, direction and status
    /// bits; no severity).
    pub fn flags(&self) -> u8 {
        let mut f = (self.status as u8) << flags::STATUS_SHIFT;
        if self.status == Status::Ok {
            if self.up {
                f |= flags::UP;
            }
            if self.anomaly {
                f |= flags::ANOMALY;
            }
        }
        f
    }
}
