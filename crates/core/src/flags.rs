//! The per-row flag byte shared by every host (see `wit/detector.wit`).
//!
//! bit 0 = is_anomaly; bit 1 = direction (1 up, 0 down); bits 2-3 = status
//! (0 ok, 1 warmup, 2 skipped); bits 4-5 = severity of an anomaly (0 none,
//! 1 low, 2 medium, 3 high); bits 6-7 reserved.

/// Bit 0: the row is anomalous.
pub const ANOMALY: u8 = 0b0000_0001;
/// Bit 1: the row is above its forecast (up); clear means below (down).
pub const UP: u8 = 0b0000_0010;
/// Bits 2-3: status.
pub const STATUS_MASK: u8 = 0b0000_1100;
/// Status shift.
pub const STATUS_SHIFT: u8 = 2;

/// Why a row has (or has not) a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Scored against a trained baseline.
    Ok = 0,
    /// The row's key has not seen `minTrainingSize` rows yet: learned, not scored.
    Warmup = 1,
    /// NaN, infinite or NULL value: neither learned nor scored.
    Skipped = 2,
}

impl Status {
    /// The status held in a flag byte.
    pub fn from_flags(flags: u8) -> Status {
        match (flags & STATUS_MASK) >> STATUS_SHIFT {
            0 => Status::Ok,
            1 => Status::Warmup,
            _ => Status::Skipped,
        }
    }
    /// The name used in SQL output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warmup => "warmup",
            Status::Skipped => "skipped",
        }
    }
}

/// Bits 4-5: severity of an anomaly.
pub const SEVERITY_MASK: u8 = 0b0011_0000;
/// Severity shift.
pub const SEVERITY_SHIFT: u8 = 4;

/// How severe an anomaly is (from calibrated score bands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Not an anomaly (or no severity assigned).
    None = 0,
    /// Just outside the band.
    Low = 1,
    /// Well outside.
    Medium = 2,
    /// Far outside.
    High = 3,
}

impl Severity {
    /// The severity held in a flag byte.
    pub fn from_flags(flags: u8) -> Severity {
        match (flags & SEVERITY_MASK) >> SEVERITY_SHIFT {
            0 => Severity::None,
            1 => Severity::Low,
            2 => Severity::Medium,
            _ => Severity::High,
        }
    }
    /// The flag bits of this severity.
    pub fn bits(self) -> u8 {
        (self as u8) << SEVERITY_SHIFT
    }
    /// The name used in SQL output (`None` has none).
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Severity::None => None,
            Severity::Low => Some("low"),
            Severity::Medium => Some("medium"),
            Severity::High => Some("high"),
        }
    }
}

/// The flag byte of a warm-up row.
pub const WARMUP: u8 = (Status::Warmup as u8) << STATUS_SHIFT;
/// The flag byte of a skipped row.
pub const SKIPPED: u8 = (Status::Skipped as u8) << STATUS_SHIFT;

/// True if bit 0 is set.
pub fn is_anomaly(flags: u8) -> bool {
    flags & ANOMALY != 0
}

/// True if the row lies above its forecast.
pub fn is_up(flags: u8) -> bool {
    flags & UP != 0
}
