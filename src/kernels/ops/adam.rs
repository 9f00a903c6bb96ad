//! `adam.wgsl`: one Adam step over a flat parameter buffer, with the clip coefficient.

use super::{wgsl_params, word, Buf};
use crate::gpu::ProgramBuilder;
use crate::kernels::Kernels;

wgsl_params! {
    /// `AdamParams`: p -= step_size * m / (sqrt(v) / bc2_sqrt + eps) after the moment
    /// updates, with the gradient scaled by the clip coefficient stats[1].
    pub struct AdamParams in "adam.wgsl" {
        pub n: u32,
        pub step_size: f32,
        pub bc2_sqrt: f32,
        pub beta1: f32,
        pub beta2: f32,
        pub eps: f32,
        /// Workgroups in the grid-stride loop.
        pub groups: u32,
        /// 1 - beta computed in f64 on the host, as torch does.
        pub one_minus_beta1: f32,
        pub one_minus_beta2: f32,
        /// Every clipped gradient element is clamped to ±clip_value (f32::MAX: off).
        pub clip_value: f32,
    }
}

/// Workgroups of an Adam dispatch over `n` parameters.
pub fn adam_groups(n: usize) -> u32 {
    n.div_ceil(256).clamp(1, 4096) as u32
}

impl AdamParams {
    /// Step `t` (from 1) over `n` parameters; bias corrections in f64, as torch computes
    /// them on the host.
    pub fn step(n: usize, lr: f64, beta1: f64, beta2: f64, eps: f64, t: u64) -> AdamParams {
        let t = t as f64;
        let bc1 = 1.0 - beta1.powf(t);
        let bc2 = 1.0 - beta2.powf(t);
        AdamParams {
            n: word(n),
            step_size: (lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            beta1: beta1 as f32,
            beta2: beta2 as f32,
            eps: eps as f32,
            groups: adam_groups(n),
            one_minus_beta1: (1.0 - beta1) as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            clip_value: f32::MAX,
        }
    }
}

impl AdamParams {
    /// The same step with every gradient element clamped to ±`value` first (samplernn's
    /// elementwise clip; None or a non-finite value: off).
    pub fn with_clip_value(mut self, value: Option<f64>) -> AdamParams {
        self.clip_value = match value {
            Some(v) if v.is_finite() => v as f32,
            _ => f32::MAX,
        };
        self
    }
}

impl Kernels {
    /// Adam over the first `n` floats, its parameters read from a slot the host rewrites
    /// each step (`Program::write_slot` with `AdamParams::step(n, ..)`); returns the slot.
    pub fn record_adam(
        &self,
        pb: &mut ProgramBuilder,
        n: usize,
        grads: Buf,
        stats: Buf,
        params: Buf,
        m: Buf,
        v: Buf,
    ) -> u32 {
        for (what, b) in [("grads", grads), ("params", params), ("m", m), ("v", v)] {
            b.check(&format!("adam {what}"), 0, n);
        }
        stats.check("adam clip coefficient", 1, 1);
        let slot = pb.slot(&[]);
        pb.dispatch_at(
            &self.adam,
            &[grads.id, stats.id, params.id, m.id, v.id],
            slot,
            [adam_groups(n), 1, 1],
        );
        slot
    }
}
