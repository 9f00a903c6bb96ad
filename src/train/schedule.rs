//! Learning-rate schedules: a linear warmup, then constant, cosine or linear decay to a
//! floor. The factor depends only on the step, so a resumed run follows it exactly.

use anyhow::{bail, Result};

/// The lr decays to this fraction of --lr at the horizon and stays there: a run continued
/// past its planned steps keeps learning, slowly.
pub const FLOOR: f64 = 0.1;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LrShape {
    #[default]
    Constant,
    Cosine,
    Linear,
}

impl LrShape {
    pub const ALL: [LrShape; 3] = [LrShape::Constant, LrShape::Cosine, LrShape::Linear];

    pub fn name(self) -> &'static str {
        match self {
            LrShape::Constant => "constant",
            LrShape::Cosine => "cosine",
            LrShape::Linear => "linear",
        }
    }

    pub fn by_name(name: &str) -> Result<LrShape> {
        match LrShape::ALL.into_iter().find(|s| s.name() == name) {
            Some(s) => Ok(s),
            None => bail!(
                "unknown learning-rate schedule '{name}': expected constant, cosine or linear"
            ),
        }
    }
}

/// A schedule: `warmup` steps rising linearly to --lr, then `shape` until step `horizon`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LrSchedule {
    pub shape: LrShape,
    pub warmup: u64,
    /// The step where a decaying schedule reaches its floor (the run's --steps).
    pub horizon: u64,
}

impl LrSchedule {
    /// The multiplier of --lr at optimiser step `t` (1 for the first step).
    pub fn factor(&self, t: u64) -> f64 {
        if t <= self.warmup {
            return t as f64 / self.warmup as f64;
        }
        let span = self.horizon.saturating_sub(self.warmup).max(1);
        let p = ((t - self.warmup - 1) as f64 / span as f64).min(1.0);
        let decay = match self.shape {
            LrShape::Constant => return 1.0,
            LrShape::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * p).cos()),
            LrShape::Linear => 1.0 - p,
        };
        FLOOR + (1.0 - FLOOR) * decay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_decay_to_the_floor() {
        let s = |shape, warmup| LrSchedule {
            shape,
            warmup,
            horizon: 100,
        };
        let c = s(LrShape::Constant, 0);
        assert!((1..500).all(|t| c.factor(t) == 1.0));
        let w = s(LrShape::Cosine, 10);
        assert_eq!(w.factor(1), 0.1);
        assert_eq!(w.factor(10), 1.0);
        assert_eq!(w.factor(11), 1.0);
        assert!((w.factor(56) - (FLOOR + (1.0 - FLOOR) * 0.5)).abs() < 1e-12);
        assert!((w.factor(100) - FLOOR).abs() < 0.01);
        assert_eq!(w.factor(1000), FLOOR);
        let l = s(LrShape::Linear, 0);
        assert!((l.factor(51) - (FLOOR + (1.0 - FLOOR) * 0.5)).abs() < 1e-12);
        assert!((1..200).all(|t| l.factor(t + 1) <= l.factor(t)));
        assert!(LrShape::by_name("step").is_err());
    }
}
