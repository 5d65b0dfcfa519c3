//! `mapio`: the command-line tool of the mapio library.
//!
//! Thin by design: this file parses the command line (clap derive) and
//! dispatches; each subcommand is a short function in `src/cmd/<name>.rs`
//! that calls the library. Exit codes are defined in `src/cmd/mod.rs`.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Memory-mapped files, NumPy arrays and continuous logs: inspect, print,
/// follow, verify and recover them.
#[derive(Parser, Debug)]
#[command(
    name = "mapio",
    version,
    after_help = "Run `mapio --help` for the exit codes.",
    after_long_help = cmd::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; its `Args` live in `cmd::<name>`.
#[derive(Subcommand, Debug)]
enum Command {
    Create(cmd::create::Args),
    Info(cmd::info::Args),
    Cat(cmd::cat::Args),
    Tail(cmd::tail::Args),
    Verify(cmd::verify::Args),
    Recover(cmd::recover::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Create(a) => cmd::create::run(a),
        Command::Info(a) => cmd::info::run(a),
        Command::Cat(a) => cmd::cat::run(a),
        Command::Tail(a) => cmd::tail::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Recover(a) => cmd::recover::run(a),
    };
    cmd::finish(outcome)
}
