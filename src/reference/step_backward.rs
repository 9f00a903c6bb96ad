//! Twin of `gru_step_backward.wgsl` (`gru_step_backward` and its sliced variant).

use crate::kernels::ops::step_backward::StepBackwardParams;
use crate::kernels::ops::us;

/// The slices of one layer's backward step, as `kernels::ops::step_backward::StepBackwardBufs`.
pub struct StepBackwardBufs<'a> {
    /// The parameters (W_hh).
    pub w: &'a [f64],
    pub gates: &'a [f64],
    pub hseq: &'a [f64],
    pub dh_out: &'a [f64],
    pub dgi: &'a mut [f64],
    pub dgh: &'a mut [f64],
    pub dhs: &'a mut [f64],
}

/// One backward step (see `StepBackwardParams`): dh_t = (when has_next) dgh_{t+1}·W_hh +
/// z_{t+1}·dh_{t+1}; with `final_` that is the gradient of h0 and all; otherwise + dh_out_t,
/// then dgi_t and dgh_t of the gates saved by the forward.
pub fn gru_step_backward(p: &StepBackwardParams, b: &mut StepBackwardBufs) {
    let (batch, h) = (us(p.batch), us(p.hidden));
    for row in 0..batch {
        for j in 0..h {
            let mut dh = 0.0;
            if p.has_next != 0 {
                let g_next = us(p.next_gh_off) + row * 3 * h;
                let carry: f64 = (0..3 * h)
                    .map(|i| b.dgh[g_next + i] * b.w[us(p.whh_off) + i * h + j])
                    .sum();
                let z_next = b.gates[us(p.next_gate_off) + row * 4 * h + h + j];
                dh = carry + z_next * b.dhs[us(p.next_dh_off) + row * h + j];
            }
            if p.final_ == 0 {
                dh += b.dh_out[us(p.dout_off) + row * h + j];
            }
            b.dhs[us(p.cur_dh_off) + row * h + j] = dh;
            if p.final_ != 0 {
                continue;
            }
            let g_row = us(p.cur_gate_off) + row * 4 * h;
            let [r, z, n, ghn] = [0, 1, 2, 3].map(|q| b.gates[g_row + q * h + j]);
            let hprev = b.hseq[us(p.hprev_off) + row * h + j];
            let dn_pre = dh * (1.0 - z) * (1.0 - n * n);
            let dz_pre = dh * (hprev - n) * z * (1.0 - z);
            let dr_pre = dn_pre * ghn * r * (1.0 - r);
            let at = us(p.cur_gi_off) + row * 3 * h;
            for (q, (dgi, dgh)) in [(dr_pre, dr_pre), (dz_pre, dz_pre), (dn_pre, dn_pre * r)]
                .into_iter()
                .enumerate()
            {
                b.dgi[at + q * h + j] = dgi;
                b.dgh[at + q * h + j] = dgh;
            }
        }
    }
}
