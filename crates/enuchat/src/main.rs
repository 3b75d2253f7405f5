//! `enuchat`: the server and its admin commands in one binary.

mod cli;
mod commands;
mod config;
mod logging;

use clap::Parser;

/// mimalloc instead of the system allocator: glibc's malloc showed in every
/// profile of the server (consolidating and trimming free lists, with TLB
/// flushes across cores when it hands memory back).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let config = match config::Config::resolve(&cli.global) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    logging::init(config.log_format);
    match commands::run(cli.command, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
