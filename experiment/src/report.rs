//! The report a device sends: `{"arm":"candidate","bit":1}`, and nothing else.
//!
//! No id, no history, no cookie, no time: the arm (which the report must name for the server
//! to count it) and one randomized bit (see `response`). The server reads it strictly: a
//! body that is longer than [`MAX_REPORT_BYTES`], is not this JSON object, names an arm the
//! experiment does not have, carries any other field, or a bit other than 0 or 1 is refused.

use std::fmt;

use serde::Deserialize;

use crate::arm::Arm;
use crate::response::randomize;

/// The longest report body the server reads; the longest valid one is 28 bytes.
pub const MAX_REPORT_BYTES: usize = 64;

/// One device's report for one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The arm the device ranked with.
    pub arm: Arm,
    /// The randomized outcome (see `response::randomize`).
    pub bit: bool,
}

/// Why a report was refused; `Display` names the field and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// The body is longer than [`MAX_REPORT_BYTES`].
    TooLong {
        /// The body's length.
        bytes: usize,
    },
    /// The body is not a report object (serde_json's message, with its line and column).
    Malformed(String),
    /// The arm is not one of this experiment's (the value, cut to 32 characters).
    UnknownArm(String),
    /// The bit is not 0 or 1.
    Bit(u64),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::TooLong { bytes } => write!(
                f,
                "report: the body has {bytes} bytes, more than the {MAX_REPORT_BYTES} a report may have"
            ),
            ReportError::Malformed(message) => write!(
                f,
                "report: {message} (expected {{\"arm\":\"control\"|\"candidate\",\"bit\":0|1}})"
            ),
            ReportError::UnknownArm(arm) => write!(
                f,
                "report: arm {arm:?} is not an arm of this experiment (control, candidate)"
            ),
            ReportError::Bit(bit) => write!(f, "report: bit {bit} is not 0 or 1"),
        }
    }
}

impl std::error::Error for ReportError {}

/// The wire form, read with unknown fields refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    arm: String,
    bit: u64,
}

impl Report {
    /// The report of a device in `arm` whose true outcome is `truth`, randomized with a fresh
    /// uniform `draw` in `[0, 1)`.
    pub fn new(arm: Arm, truth: bool, draw: f64) -> Report {
        Report {
            arm,
            bit: randomize(truth, draw),
        }
    }

    /// The body the device sends.
    pub fn to_json(&self) -> String {
        let bit = if self.bit { "1" } else { "0" };
        ["{\"arm\":\"", self.arm.name(), "\",\"bit\":", bit, "}"].concat()
    }

    /// Reads a body the way the server does.
    pub fn parse(body: &[u8]) -> Result<Report, ReportError> {
        if body.len() > MAX_REPORT_BYTES {
            return Err(ReportError::TooLong { bytes: body.len() });
        }
        // serde would also read the struct from an array (`["control", 1]`): only the object
        // is the wire format.
        if body.trim_ascii_start().first() == Some(&b'[') {
            return Err(ReportError::Malformed(
                "an array, where a report is an object like {\"arm\":\"control\",\"bit\":1}".into(),
            ));
        }
        let wire: Wire = serde_json::from_slice(body)
            .map_err(|error| ReportError::Malformed(error.to_string()))?;
        let arm = Arm::from_name(&wire.arm)
            .ok_or_else(|| ReportError::UnknownArm(wire.arm.chars().take(32).collect()))?;
        let bit = match wire.bit {
            0 => false,
            1 => true,
            other => return Err(ReportError::Bit(other)),
        };
        Ok(Report { arm, bit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_object_is_a_report() {
        for body in [
            r#"["control", 1]"#,
            " [\"candidate\",0]",
            "1",
            "\"control\"",
            "",
        ] {
            let error = Report::parse(body.as_bytes()).unwrap_err();
            assert!(
                matches!(error, ReportError::Malformed(_)),
                "{body}: {error:?}"
            );
        }
        assert!(Report::parse(b" {\"arm\":\"control\",\"bit\":1}").is_ok());
    }

    #[test]
    fn a_report_is_the_arm_and_the_bit() {
        let report = Report {
            arm: Arm::Candidate,
            bit: true,
        };
        assert_eq!(report.to_json(), r#"{"arm":"candidate","bit":1}"#);
        for arm in Arm::ALL {
            for bit in [false, true] {
                let report = Report { arm, bit };
                let json = report.to_json();
                assert!(json.len() <= 28, "{json}");
                assert_eq!(Report::parse(json.as_bytes()), Ok(report));
            }
        }
    }

    #[test]
    fn a_report_carries_the_randomized_bit() {
        assert!(Report::new(Arm::Control, true, 0.1).bit);
        assert!(!Report::new(Arm::Control, true, 0.9).bit);
    }

    fn refused(body: &str) -> String {
        Report::parse(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn bad_reports_are_refused_naming_what_is_wrong() {
        assert_eq!(
            refused(r#"{"arm":"treatment","bit":1}"#),
            r#"report: arm "treatment" is not an arm of this experiment (control, candidate)"#
        );
        assert_eq!(
            refused(r#"{"arm":"control","bit":2}"#),
            "report: bit 2 is not 0 or 1"
        );
        assert!(refused(r#"{"arm":"control","bit":1,"user":7}"#).contains("unknown field `user`"));
        assert!(refused(r#"{"arm":"control"}"#).contains("missing field `bit`"));
        assert!(refused(r#"{"arm":"control","bit":-1}"#).contains("bit"));
        assert!(refused(r#"{"arm":"control","bit":true}"#).contains("invalid type"));
        assert!(refused("").contains("EOF"));
        assert!(refused("\u{0}").contains("line 1 column 1"));
        let long = format!(r#"{{"arm":"control","bit":1}}{}"#, " ".repeat(60));
        assert_eq!(
            refused(&long),
            format!(
                "report: the body has {} bytes, more than the 64 a report may have",
                long.len()
            )
        );
        let arm = "x".repeat(40);
        assert!(refused(&format!(r#"{{"arm":"{arm}","bit":1}}"#))
            .contains(&format!("\"{}\"", "x".repeat(32))));
    }
}
