//! Twin of `adam.wgsl`, and `Adam`, the optimiser state built on it.

/// The hyperparameters of one Adam step; the GPU's `AdamParams` are computed from them.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// The step number, from 1.
    pub t: u64,
    /// Gradient elements are clamped to ±clip_value after the clip coefficient
    /// (f64::INFINITY: off).
    pub clip_value: f64,
}

/// One Adam step over the first `n` parameters with the gradients scaled by the clip
/// coefficient stats[1]: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
pub fn adam(
    n: usize,
    grads: &[f64],
    stats: &[f64],
    params: &mut [f64],
    m: &mut [f64],
    v: &mut [f64],
    step: &AdamStep,
) {
    // beta^t underflows to 0 long before t reaches i32::MAX.
    let t = i32::try_from(step.t).unwrap_or(i32::MAX);
    let bias1 = 1.0 - step.beta1.powi(t);
    let bias2_sqrt = (1.0 - step.beta2.powi(t)).sqrt();
    let step_size = step.lr / bias1;
    for i in 0..n {
        let g = (grads[i] * stats[1]).clamp(-step.clip_value, step.clip_value);
        m[i] = step.beta1 * m[i] + (1.0 - step.beta1) * g;
        v[i] = step.beta2 * v[i] + (1.0 - step.beta2) * g * g;
        let denom = v[i].sqrt() / bias2_sqrt + step.eps;
        params[i] -= step_size * m[i] / denom;
    }
}

/// `torch.optim.Adam` without weight decay: bias-corrected moments, eps added after the
/// square root.
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// First moment (`exp_avg`), same layout as the parameters.
    pub m: Vec<f64>,
    /// Second moment (`exp_avg_sq`).
    pub v: Vec<f64>,
    /// Steps taken so far.
    pub t: u64,
}

impl Adam {
    /// Adam for `n` parameters with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8.
    pub fn new(n: usize, lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One update, step t = previous t + 1, with the gradients as given (clip first with
    /// `clip_grad_norm`).
    pub fn step(&mut self, params: &mut [f64], grads: &[f64]) {
        assert_eq!(
            params.len(),
            self.m.len(),
            "params length != Adam state length"
        );
        assert_eq!(
            grads.len(),
            self.m.len(),
            "grads length != Adam state length"
        );
        self.t += 1;
        let step = AdamStep {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            t: self.t,
            clip_value: f64::INFINITY,
        };
        let n = params.len();
        adam(
            n,
            grads,
            &[0.0, 1.0],
            params,
            &mut self.m,
            &mut self.v,
            &step,
        );
    }
}
