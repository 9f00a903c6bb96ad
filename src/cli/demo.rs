//! `gruwave demo`: the first command to run. Trains on the bundled clips with a budget
//! that suits the adapter, then shows where the model and the training curve are.

use super::train::{self, TrainArgs};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "On a GPU the demo trains the `small` model for two minutes; on a \
    software adapter (no GPU) it trains `tiny` for 400 steps instead, which also takes about two \
    minutes. It replaces an earlier demo in the same folder."
)]
pub struct DemoArgs {
    /// WAV files or folders to train on [default: the clips bundled in assets/]
    pub data: Vec<PathBuf>,
    /// Folder for the results
    #[arg(long, short, default_value = "gruwave-demo", value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let (gpu, kernels) = super::open_gpu()?;
    let mut train_args = TrainArgs {
        data: args.data,
        out: Some(args.out),
        force: true,
        ..Default::default()
    };
    if gpu.is_software() {
        // About 2 GFLOP/s: tiny for 400 steps is what fits in about two minutes.
        eprintln!(
            "note: {} is a software adapter, so the demo trains the tiny model for 400 steps \
             (on a GPU: the small model for 2 minutes)",
            gpu.info.name
        );
        train_args.config = Some("tiny".into());
        // Validation is the costly part there (forward passes over all 24 s): twice.
        train_args.steps = Some(400);
        train_args.valid_every = Some(200);
    } else {
        train_args.config = Some("small".into());
        train_args.minutes = Some(2.0);
        train_args.valid_every = Some(250);
    }
    train_args.checkpoint_every = Some(0);
    let prepared = train::prepare(&train_args)?;
    let outcome = train::train(&train_args, prepared, &gpu, &kernels)?;
    super::train_loop::print_outcome(&outcome);
    Ok(if outcome.interrupted {
        ExitCode::from(super::EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}
