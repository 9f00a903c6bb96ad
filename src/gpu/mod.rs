//! The GPU context: adapter choice, device creation with checked limits, buffer helpers.

mod profiler;
mod program;
pub mod tuning_cache;

pub use profiler::{KernelTime, Profiler};
pub use program::{Access, BufId, Kernel, Program, ProgramBuilder};

use anyhow::{anyhow, bail, Context, Result};
use std::sync::Arc;

/// One wgpu device and what we learned about its adapter.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
}

/// Limits gruwave needs beyond wgpu's downlevel defaults; checked up front so a
/// small adapter fails with a sentence instead of a validation panic later.
fn required_limits(adapter: &wgpu::Limits) -> Result<wgpu::Limits> {
    let mut need = wgpu::Limits::downlevel_defaults();
    need.max_storage_buffers_per_shader_stage = 8;
    need.max_compute_invocations_per_workgroup = 256;
    need.max_compute_workgroup_size_x = 256;
    // sample_cell keeps a 24 KiB reduction array and the draw's scratch in workgroup memory.
    need.max_compute_workgroup_storage_size = 28672;
    let mut missing = Vec::new();
    if adapter.max_storage_buffers_per_shader_stage < need.max_storage_buffers_per_shader_stage {
        missing.push(format!(
            "max_storage_buffers_per_shader_stage {} < {}",
            adapter.max_storage_buffers_per_shader_stage, need.max_storage_buffers_per_shader_stage
        ));
    }
    if adapter.max_compute_invocations_per_workgroup < 256 {
        missing.push(format!(
            "max_compute_invocations_per_workgroup {} < 256",
            adapter.max_compute_invocations_per_workgroup
        ));
    }
    if adapter.max_compute_workgroup_storage_size < need.max_compute_workgroup_storage_size {
        missing.push(format!(
            "max_compute_workgroup_storage_size {} < {}",
            adapter.max_compute_workgroup_storage_size, need.max_compute_workgroup_storage_size
        ));
    }
    if !missing.is_empty() {
        bail!(
            "this GPU adapter lacks limits gruwave needs: {}",
            missing.join("; ")
        );
    }
    // Ask for everything the adapter has for sizes, so big models fit where the hardware allows.
    need.max_storage_buffer_binding_size = adapter.max_storage_buffer_binding_size;
    need.max_buffer_size = adapter.max_buffer_size;
    need.max_compute_workgroups_per_dimension = adapter.max_compute_workgroups_per_dimension;
    need.max_compute_workgroup_storage_size = adapter.max_compute_workgroup_storage_size;
    need.max_compute_workgroup_size_y = adapter.max_compute_workgroup_size_y.min(256);
    need.max_compute_workgroup_size_z = adapter.max_compute_workgroup_size_z.min(64);
    need.max_bind_groups = adapter.max_bind_groups.min(4);
    need.max_dynamic_uniform_buffers_per_pipeline_layout = 1;
    Ok(need)
}

const NO_ADAPTER_HELP: &str =
    "no GPU adapter found. gruwave needs a Vulkan, Metal or DX12 device: \
install your GPU's driver, or on Linux without a GPU install Mesa's software Vulkan \
(Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`). WGPU_BACKEND (vulkan, metal, dx12) \
and WGPU_ADAPTER_NAME pick among several adapters";

fn pick_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter> {
    // wgpu's own env helper panics when WGPU_ADAPTER_NAME matches nothing; we want an error
    // that lists what does exist.
    if let Ok(want) = std::env::var("WGPU_ADAPTER_NAME") {
        let want = want.to_lowercase();
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        return adapters
            .into_iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&want))
            .ok_or_else(|| {
                anyhow!("WGPU_ADAPTER_NAME={want:?} matches none of the adapters: {names:?}")
            });
    }
    let power = wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance);
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: power,
        compatible_surface: None,
        ..Default::default()
    }))
    .map_err(|e| anyhow!("{NO_ADAPTER_HELP} ({e})"))
}

impl Gpu {
    /// Open the adapter chosen by the environment (or the default high-performance one).
    pub fn new() -> Result<Arc<Gpu>> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pick_adapter(&instance)?;
        let info = adapter.get_info();
        let limits = required_limits(&adapter.limits())
            .with_context(|| format!("adapter {} ({:?})", info.name, info.backend))?;
        let optional = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::SUBGROUP;
        let features = adapter.features() & optional;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("gruwave"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .with_context(|| format!("cannot open a device on adapter {}", info.name))?;
        log::info!(
            "GPU adapter: {} ({:?}, {:?}, driver {} {})",
            info.name,
            info.backend,
            info.device_type,
            info.driver,
            info.driver_info
        );
        Ok(Arc::new(Gpu {
            device,
            queue,
            info,
            features,
            limits,
        }))
    }

    /// A one-line description: name, backend, device type, driver.
    pub fn describe(&self) -> String {
        let i = &self.info;
        format!(
            "{} ({:?}, {:?}, driver: {} {})",
            i.name, i.backend, i.device_type, i.driver, i.driver_info
        )
    }

    /// The optional features gruwave uses, as a line for `devices` and `bench`.
    pub fn capabilities(&self) -> String {
        let yes = |f: wgpu::Features| {
            if self.features.contains(f) {
                "yes"
            } else {
                "no"
            }
        };
        let subgroups = if self.has_subgroups() {
            format!(
                "yes (size {}..{})",
                self.info.subgroup_min_size, self.info.subgroup_max_size
            )
        } else {
            "no".to_string()
        };
        format!(
            "timestamp queries {}, subgroups {subgroups}, workgroup memory {} KiB, \
             {} invocations per workgroup",
            yes(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
            self.limits.max_compute_workgroup_storage_size / 1024,
            self.limits.max_compute_invocations_per_workgroup
        )
    }

    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Fail with a clear sentence when a buffer of `bytes` would not fit this adapter.
    pub fn check_buffer_size(&self, what: &str, bytes: u64) -> Result<()> {
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > max {
            bail!(
                "{what} needs a {:.1} MiB buffer but this adapter ({}) allows at most {:.1} MiB \
                 per storage binding: use a smaller batch, TBPTT length or model",
                bytes as f64 / 1048576.0,
                self.info.name,
                max as f64 / 1048576.0
            );
        }
        Ok(())
    }

    /// A zeroed storage buffer of `bytes` (rounded up to 4), usable as copy source and target.
    pub fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).div_ceil(4) * 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    pub fn storage_from<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> wgpu::Buffer {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let buf = self.storage(label, bytes.len() as u64);
        if !bytes.is_empty() {
            self.queue.write_buffer(&buf, 0, bytes);
        }
        buf
    }

    /// Copy `count` elements starting at element `offset` back to the host (waits for the GPU).
    pub fn read<T: bytemuck::Pod>(
        &self,
        buf: &wgpu::Buffer,
        offset: usize,
        count: usize,
    ) -> Result<Vec<T>> {
        let size = std::mem::size_of::<T>();
        let bytes = (count * size) as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.div_ceil(4) * 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buf, (offset * size) as u64, &staging, 0, bytes);
        self.queue.submit([enc.finish()]);
        self.map_read(&staging, bytes)
    }

    /// Map a MAP_READ buffer that a submitted command fills, wait, and copy it out.
    pub fn map_read<T: bytemuck::Pod>(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<T>> {
        self.map_read_after(staging, bytes, None)
    }

    /// As `map_read`, waiting only for submission `after` (later work keeps running).
    pub fn map_read_after<T: bytemuck::Pod>(
        &self,
        staging: &wgpu::Buffer,
        bytes: u64,
        after: Option<wgpu::SubmissionIndex>,
    ) -> Result<Vec<T>> {
        let slice = staging.slice(..bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait_for(after)?;
        rx.recv()
            .map_err(|_| anyhow!("GPU readback was dropped"))?
            .map_err(|e| anyhow!("GPU readback failed: {e}"))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| anyhow!("GPU readback mapping failed: {e:?}"))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        staging.unmap();
        Ok(out)
    }

    pub fn wait(&self) -> Result<()> {
        self.wait_for(None)
    }

    /// Wait until submission `idx` (or, with `None`, everything submitted) has finished.
    pub fn wait_for(&self, idx: Option<wgpu::SubmissionIndex>) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: idx,
                timeout: None,
            })
            .map_err(|e| anyhow!("GPU wait failed: {e}"))?;
        Ok(())
    }
}
