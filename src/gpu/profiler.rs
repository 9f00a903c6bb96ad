//! Per-kernel GPU time from timestamp queries written inside compute passes.

use super::Gpu;
use anyhow::{bail, Result};
use std::collections::BTreeMap;

pub struct Profiler {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    capacity: u32,
    /// Kernel name and counted floating-point operations of each bracketed dispatch.
    names: Vec<(String, f64)>,
}

/// Total time, call count and counted floating-point operations of one kernel.
#[derive(Clone, Debug, Default)]
pub struct KernelTime {
    pub calls: usize,
    pub nanos: f64,
    pub flops: f64,
}

impl KernelTime {
    /// Achieved GFLOP/s, where the kernel's arithmetic is counted.
    pub fn gflops(&self) -> Option<f64> {
        (self.flops > 0.0 && self.nanos > 0.0).then(|| self.flops / self.nanos)
    }
}

impl Profiler {
    /// `None` when the adapter cannot write timestamps inside passes.
    pub fn new(gpu: &Gpu, max_dispatches: usize) -> Option<Profiler> {
        let need = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        if !gpu.features.contains(need) {
            return None;
        }
        let capacity = (2 * max_dispatches).min(4096) as u32;
        let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profiler"),
            ty: wgpu::QueryType::Timestamp,
            count: capacity,
        });
        let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profiler resolve"),
            size: capacity as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(Profiler {
            set,
            resolve,
            capacity,
            names: Vec::new(),
        })
    }

    pub(super) fn begin(&mut self, pass: &mut wgpu::ComputePass<'_>, name: &str, flops: f64) {
        let i = self.names.len() as u32 * 2;
        if i + 1 < self.capacity {
            pass.write_timestamp(&self.set, i);
        }
        self.names.push((name.to_string(), flops));
    }

    pub(super) fn end(&mut self, pass: &mut wgpu::ComputePass<'_>) {
        let i = self.names.len() as u32 * 2 - 1;
        if i < self.capacity {
            pass.write_timestamp(&self.set, i);
        }
    }

    /// Resolve the queries recorded into `enc`, submit, and sum the time per kernel name.
    pub fn finish(
        &mut self,
        gpu: &Gpu,
        mut enc: wgpu::CommandEncoder,
    ) -> Result<BTreeMap<String, KernelTime>> {
        let n = ((self.names.len() * 2) as u32).min(self.capacity);
        if n == 0 {
            bail!("profiler recorded nothing");
        }
        enc.resolve_query_set(&self.set, 0..n, &self.resolve, 0);
        gpu.queue.submit([enc.finish()]);
        let ticks: Vec<u64> = gpu.read(&self.resolve, 0, n as usize)?;
        let period = gpu.queue.get_timestamp_period() as f64;
        let mut out: BTreeMap<String, KernelTime> = BTreeMap::new();
        for (k, (name, flops)) in self.names.iter().enumerate().take(n as usize / 2) {
            let dt = ticks[2 * k + 1].saturating_sub(ticks[2 * k]) as f64 * period;
            let e = out.entry(name.clone()).or_default();
            e.calls += 1;
            e.nanos += dt;
            e.flops += flops;
        }
        self.names.clear();
        Ok(out)
    }
}
