//! Spectra of rendered audio, shared by the rendering tests.

use realfft::RealFftPlanner;

/// Hann-windowed magnitude spectrum of `x` (length a power of two is not required).
pub fn spectrum(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut input: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v * (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()))
        .collect();
    let mut out = fft.make_output_vec();
    fft.process(&mut input, &mut out).unwrap();
    out.iter().map(|c| c.norm()).collect()
}

/// The `k` strongest local maxima, in Hz (parabolic interpolation), strongest first;
/// maxima within 15 Hz of a stronger one are the same peak's skirt.
pub fn strongest_peaks(mag: &[f64], bin_hz: f64, k: usize) -> Vec<f64> {
    let mut maxima: Vec<usize> = (1..mag.len() - 1)
        .filter(|&i| mag[i] > mag[i - 1] && mag[i] >= mag[i + 1])
        .collect();
    maxima.sort_by(|&a, &b| mag[b].total_cmp(&mag[a]));
    let mut peaks: Vec<f64> = Vec::new();
    for i in maxima {
        let (a, b, c) = (mag[i - 1].ln(), mag[i].ln(), mag[i + 1].ln());
        let f = (i as f64 + 0.5 * (a - c) / (a - 2.0 * b + c)) * bin_hz;
        if peaks.iter().all(|p| (p - f).abs() > 15.0) {
            peaks.push(f);
        }
        if peaks.len() == k {
            break;
        }
    }
    peaks
}
