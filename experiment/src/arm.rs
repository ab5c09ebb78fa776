//! The two arms of an experiment and how a device joins one.

/// An arm of an experiment: the serving model or the one on trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    /// The serving model, `model.bin`.
    Control,
    /// The model on trial.
    Candidate,
}

impl Arm {
    /// Both arms, in the order of [`Arm::index`].
    pub const ALL: [Arm; 2] = [Arm::Control, Arm::Candidate];

    /// The arm's name on the wire and in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Control => "control",
            Arm::Candidate => "candidate",
        }
    }

    /// The arm called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Arm> {
        Arm::ALL.into_iter().find(|arm| arm.name() == name)
    }

    /// 0 for control, 1 for candidate: the arm's place in [`Arm::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The arm of a device whose kept draw is `draw` (uniform in `[0, 1)`), when the candidate
/// takes `candidate_share` of the devices: the candidate below the share, control above.
///
/// The draw stays on the device, so the server learns a device's arm only from its reports.
/// A draw that is not a number joins control: a broken draw never puts anyone on trial.
pub fn assign(draw: f64, candidate_share: f64) -> Arm {
    if draw < candidate_share {
        Arm::Candidate
    } else {
        Arm::Control
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_below_the_draw_is_the_candidates() {
        assert_eq!(assign(0.0, 0.1), Arm::Candidate);
        assert_eq!(assign(0.099, 0.1), Arm::Candidate);
        assert_eq!(assign(0.1, 0.1), Arm::Control);
        assert_eq!(assign(0.99, 0.1), Arm::Control);
        assert_eq!(assign(f64::NAN, 0.1), Arm::Control);
        assert_eq!(assign(0.5, 0.0), Arm::Control);
    }

    #[test]
    fn names_round_trip() {
        for arm in Arm::ALL {
            assert_eq!(Arm::from_name(arm.name()), Some(arm));
            assert_eq!(Arm::ALL[arm.index()], arm);
        }
        assert_eq!(Arm::from_name("Control"), None);
        assert_eq!(Arm::from_name(""), None);
    }
}
