//! `mapio`: the command-line tool of the mapio library.
//!
//! Thin by design: this file parses the command line (clap derive) and
//! dispatches; each subcommand is a short function in `src/cmd/<name>.rs`
//! that calls the library. Exit codes are defined in `src/cmd/mod.rs`.

mod cmd;
mod demo;

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
    Index(cmd::index::Args),
    At(cmd::at::Args),
    History(cmd::history::Args),
    Export(cmd::export::Args),
    Bench(cmd::bench::Args),
    /// The main job: a particle simulation that streams every particle's
    /// state, every step, into a continuous log from several threads, while
    /// a second process follows the log live.
    Demo(demo::DemoArgs),
    /// (internal) The follower process of `demo`.
    #[command(hide = true)]
    DemoFollow {
        log: std::path::PathBuf,
    },
    /// (internal) One rank (writer process) of `demo --ranks`.
    #[command(hide = true)]
    DemoRank(demo::RankArgs),
}

/// The demo's status: 0, or 1 when its own checks failed.
fn exit_of(code: i32) -> cmd::Exit {
    if code == 0 {
        cmd::Exit::Ok
    } else {
        cmd::Exit::Damage
    }
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
        Command::Index(a) => cmd::index::run(a),
        Command::At(a) => cmd::at::run(a),
        Command::History(a) => cmd::history::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Demo(a) => demo::run(&a).map(exit_of),
        Command::DemoFollow { log } => demo::follow_main(&log).map(exit_of),
        Command::DemoRank(a) => demo::rank_main(&a).map(exit_of),
    };
    cmd::finish(outcome)
}
