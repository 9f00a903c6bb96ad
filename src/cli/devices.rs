//! `gruwave devices`: the adapters wgpu sees, and the one gruwave opens.

use crate::Gpu;
use anyhow::Result;
use std::process::ExitCode;

pub fn run() -> Result<ExitCode> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    if adapters.is_empty() {
        println!("no GPU adapters found");
    }
    // Opening the device is the only sure way to know which one gruwave picks: it is
    // exactly what every command does.
    let picked = Gpu::new();
    let chosen = picked.as_ref().ok().map(|g| &g.info);
    println!("adapters:");
    for a in &adapters {
        let i = a.get_info();
        let mark = if chosen.is_some_and(|c| c.name == i.name && c.backend == i.backend) {
            "*"
        } else {
            " "
        };
        println!(
            "{mark} {} | backend {:?} | type {:?} | driver {} {}",
            i.name, i.backend, i.device_type, i.driver, i.driver_info
        );
    }
    match picked {
        Ok(gpu) => {
            println!("gruwave uses (*): {}", gpu.describe());
            println!("features: {}", gpu.capabilities());
            if gpu.is_software() {
                println!(
                    "note: this is a software adapter: it works, but slowly; commands pick \
                     smaller defaults on it"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("gruwave can use none of them: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
