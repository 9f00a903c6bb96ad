//! Kernels and programs. A `Kernel` is one compute pipeline built once. A `Program` is a
//! fixed list of dispatches and copies recorded once (bind groups and per-dispatch
//! parameters included) and replayed every step, so a step costs only encoding.
//!
//! Every kernel takes binding 0 as a small uniform block of u32 parameters selected by a
//! dynamic offset into one shared arena, and its storage buffers at bindings 1..=n.

use super::Gpu;
use std::collections::HashMap;
use std::sync::Arc;

/// How a kernel uses one storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// Bytes per parameter slot: the largest `min_uniform_buffer_offset_alignment` wgpu allows.
pub const SLOT_BYTES: usize = 256;
pub const SLOT_WORDS: usize = SLOT_BYTES / 4;

pub struct Kernel {
    pub name: String,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    bindings: usize,
}

impl Kernel {
    pub fn new(
        gpu: &Gpu,
        module: &wgpu::ShaderModule,
        entry: &str,
        access: &[Access],
    ) -> Arc<Kernel> {
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: wgpu::BufferSize::new(SLOT_BYTES as u64),
            },
            count: None,
        }];
        for (i, a) in access.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *a == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = gpu
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(entry),
                entries: &entries,
            });
        let pl = gpu
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(entry),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pl),
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        Arc::new(Kernel {
            name: entry.to_string(),
            pipeline,
            layout,
            bindings: access.len(),
        })
    }
}

/// Index of a buffer registered with a `ProgramBuilder`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufId(pub usize);

enum Op {
    Dispatch {
        kernel: Arc<Kernel>,
        bind_group: usize,
        offset: u32,
        groups: [u32; 3],
        /// Floating-point operations the dispatch does (0: not counted), for the profile.
        flops: f64,
    },
    Copy {
        src: BufId,
        src_offset: u64,
        dst: BufId,
        dst_offset: u64,
        bytes: u64,
    },
}

/// Records a program. Buffers are registered once; bind groups are shared between
/// dispatches that use the same kernel and buffers.
#[derive(Default)]
pub struct ProgramBuilder {
    buffers: Vec<wgpu::Buffer>,
    params: Vec<u32>,
    ops: Vec<Op>,
    bind_keys: HashMap<(usize, Vec<usize>), usize>,
    bind_sets: Vec<(Arc<Kernel>, Vec<BufId>)>,
}

impl ProgramBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn buffer(&mut self, buf: &wgpu::Buffer) -> BufId {
        self.buffers.push(buf.clone());
        BufId(self.buffers.len() - 1)
    }

    /// Reserve a parameter slot; returns its byte offset in the arena.
    pub fn slot(&mut self, params: &[u32]) -> u32 {
        assert!(params.len() <= SLOT_WORDS, "too many kernel parameters");
        let offset = (self.params.len() * 4) as u32;
        self.params.extend_from_slice(params);
        self.params
            .resize(self.params.len() + SLOT_WORDS - params.len(), 0);
        offset
    }

    /// Append one dispatch of `kernel` over `groups` workgroups with fresh parameters.
    pub fn dispatch(
        &mut self,
        kernel: &Arc<Kernel>,
        bufs: &[BufId],
        params: &[u32],
        groups: [u32; 3],
    ) {
        let offset = self.slot(params);
        self.dispatch_at(kernel, bufs, offset, groups);
    }

    /// Append a dispatch that reads its parameters from an existing slot (one the host
    /// rewrites between runs, such as Adam's step number).
    pub fn dispatch_at(
        &mut self,
        kernel: &Arc<Kernel>,
        bufs: &[BufId],
        offset: u32,
        groups: [u32; 3],
    ) {
        assert_eq!(
            bufs.len(),
            kernel.bindings,
            "{}: wrong number of buffers",
            kernel.name
        );
        if groups.contains(&0) {
            return;
        }
        let key = (
            Arc::as_ptr(kernel) as usize,
            bufs.iter().map(|b| b.0).collect(),
        );
        let next = self.bind_sets.len();
        let bind_group = *self.bind_keys.entry(key).or_insert(next);
        if bind_group == next {
            self.bind_sets.push((kernel.clone(), bufs.to_vec()));
        }
        self.ops.push(Op::Dispatch {
            kernel: kernel.clone(),
            bind_group,
            offset,
            groups,
            flops: 0.0,
        });
    }

    /// Count `flops` floating-point operations for the last dispatch (shown as GFLOP/s in
    /// profiles); call right after `dispatch` for the kernels that do arithmetic in bulk.
    pub fn flops(&mut self, n: f64) {
        if let Some(Op::Dispatch { flops, .. }) = self.ops.last_mut() {
            *flops = n;
        }
    }

    pub fn copy(&mut self, src: BufId, src_offset: u64, dst: BufId, dst_offset: u64, bytes: u64) {
        if bytes > 0 {
            self.ops.push(Op::Copy {
                src,
                src_offset,
                dst,
                dst_offset,
                bytes,
            });
        }
    }

    pub fn build(self, gpu: &Gpu) -> Program {
        let words = self.params.len().max(SLOT_WORDS);
        let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel parameters"),
            size: (words * 4) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if !self.params.is_empty() {
            gpu.queue
                .write_buffer(&uniform, 0, bytemuck::cast_slice(&self.params));
        }
        let bind_groups = self
            .bind_sets
            .iter()
            .map(|(kernel, bufs)| {
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &uniform,
                        offset: 0,
                        size: wgpu::BufferSize::new(SLOT_BYTES as u64),
                    }),
                }];
                for (i, b) in bufs.iter().enumerate() {
                    entries.push(wgpu::BindGroupEntry {
                        binding: i as u32 + 1,
                        resource: self.buffers[b.0].as_entire_binding(),
                    });
                }
                gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&kernel.name),
                    layout: &kernel.layout,
                    entries: &entries,
                })
            })
            .collect();
        Program {
            buffers: self.buffers,
            uniform,
            ops: self.ops,
            bind_groups,
        }
    }
}

/// A recorded program, replayed with `encode`.
pub struct Program {
    buffers: Vec<wgpu::Buffer>,
    uniform: wgpu::Buffer,
    ops: Vec<Op>,
    bind_groups: Vec<wgpu::BindGroup>,
}

impl Program {
    /// Rewrite a parameter slot reserved with `ProgramBuilder::slot`.
    pub fn write_slot(&self, gpu: &Gpu, offset: u32, params: &[u32]) {
        gpu.queue
            .write_buffer(&self.uniform, offset as u64, bytemuck::cast_slice(params));
    }

    pub fn dispatches(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| matches!(o, Op::Dispatch { .. }))
            .count()
    }

    /// Encode every op. With a profiler, a timestamp pair brackets each dispatch.
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder, mut prof: Option<&mut super::Profiler>) {
        let mut i = 0;
        while i < self.ops.len() {
            match &self.ops[i] {
                Op::Copy {
                    src,
                    src_offset,
                    dst,
                    dst_offset,
                    bytes,
                } => {
                    enc.copy_buffer_to_buffer(
                        &self.buffers[src.0],
                        *src_offset,
                        &self.buffers[dst.0],
                        *dst_offset,
                        *bytes,
                    );
                    i += 1;
                }
                Op::Dispatch { .. } => {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: None,
                    });
                    while let Some(Op::Dispatch {
                        kernel,
                        bind_group,
                        offset,
                        groups,
                        flops,
                    }) = self.ops.get(i)
                    {
                        if let Some(p) = prof.as_deref_mut() {
                            p.begin(&mut pass, &kernel.name, *flops);
                        }
                        pass.set_pipeline(&kernel.pipeline);
                        pass.set_bind_group(0, &self.bind_groups[*bind_group], &[*offset]);
                        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                        if let Some(p) = prof.as_deref_mut() {
                            p.end(&mut pass);
                        }
                        i += 1;
                    }
                }
            }
        }
    }
}
