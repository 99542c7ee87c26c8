//! The per-row flag byte shared by every host (see `wit/detector.wit`).
//!
//! bit 0 = is_anomaly; bit 1 = direction (1 up, 0 down); bits 2-3 = status
//! (0 ok, 1 warmup, 2 skipped); bits 4-7 reserved.

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
