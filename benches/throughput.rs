//! criterion benches of the same paths as `gruwave bench`: one full training step (upload,
//! forward, backward, clip, Adam) and sampling 1 and 64 streams. Configs come from
//! GRUWAVE_BENCH_CONFIGS (default: tiny on a software adapter, tiny,small,base otherwise).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gruwave::model::{init_params, ParamLayout, Preset};
use gruwave::sample::{SampleOptions, Sampler};
use gruwave::{Gpu, Kernels, TrainOptions, Trainer};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn configs(gpu: &Gpu) -> Vec<Preset> {
    let names = std::env::var("GRUWAVE_BENCH_CONFIGS").unwrap_or_else(|_| {
        if gpu.is_software() {
            "tiny"
        } else {
            "tiny,small,base"
        }
        .to_string()
    });
    names
        .split(',')
        .map(|n| Preset::by_name(n.trim()).expect("known config"))
        .collect()
}

fn benches(c: &mut Criterion) {
    let gpu = Gpu::new().expect("a GPU adapter");
    eprintln!("benchmarking on {}", gpu.describe());
    let k = Arc::new(Kernels::new(&gpu));
    for p in configs(&gpu) {
        let layout = ParamLayout::new(&p.model);
        let init = init_params(&layout, 0);
        let mut g = c.benchmark_group(format!("train/{}", p.name));
        g.throughput(Throughput::Elements((p.batch * p.tbptt) as u64));
        g.sample_size(10).measurement_time(Duration::from_secs(5));
        let mut tr = Trainer::new(
            &gpu,
            &k,
            &layout,
            &init,
            p.batch,
            p.tbptt,
            TrainOptions::default(),
        )
        .unwrap();
        let toks: Vec<u32> = (0..p.batch * (p.tbptt + 1))
            .map(|i| (i * 7919 % p.model.vocab) as u32)
            .collect();
        let reset = vec![false; p.batch];
        g.bench_function("step", |b| b.iter(|| tr.step(&toks, &reset).unwrap()));
        g.finish();
        for streams in [1, 64] {
            let mut g = c.benchmark_group(format!("sample/{}", p.name));
            let mut s = Sampler::new(&gpu, &k, &layout, &init, streams).unwrap();
            let n = s.block() * 4;
            g.throughput(Throughput::Elements((n * streams) as u64));
            g.sample_size(10).measurement_time(Duration::from_secs(5));
            let opts = SampleOptions::default();
            g.bench_function(format!("{streams}_streams"), |b| {
                b.iter_custom(|iters| {
                    let t0 = Instant::now();
                    for _ in 0..iters {
                        s.generate(n, &opts, &mut |_| {}).unwrap();
                    }
                    t0.elapsed()
                })
            });
            g.finish();
        }
    }
}

criterion_group!(throughput, benches);
criterion_main!(throughput);
