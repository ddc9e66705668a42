//! `aurora`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use aurora::commands;
use aurora::settings::{LogFormat, Settings};
use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: requests and the ingest writer allocate and free
/// on different threads, where glibc's per-thread arenas spend their time consolidating. Its
/// `override` feature makes it serve SQLite's allocations too (measured: ingest throughput up,
/// at the cost of freed pages kept for reuse; see the commits). The 2.x line (`v2`) keeps less
/// of that memory than 3.x under the same load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Aurora investigates incidents: alerts open incidents, evidence is gathered from your
/// telemetry, likely root causes are ranked, and a cited report is written.
#[derive(Parser)]
#[command(
    name = "aurora",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
struct Cli {
    /// Configuration file [default: ./aurora.toml when it exists]
    #[arg(long, global = true, value_name = "FILE", env = "AURORA_CONFIG")]
    config: Option<PathBuf>,

    /// Log format; overrides log.format
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve on embedded defaults, generate a realistic incident, investigate it and print the
    /// report
    Demo(commands::demo::Args),
    /// Run the server: web UI, API and background workers
    Serve(commands::serve::Args),
    /// Investigate an incident (or an offline telemetry snapshot) in the foreground
    Investigate(commands::investigate::Args),
    /// Apply database migrations and exit
    Migrate,
    /// Print the effective configuration, with secrets redacted
    Config,
    /// Chat with the agent of a running Aurora: a conversation in the terminal, one question
    /// (--ask), or the sessions (--list)
    Chat(commands::chat::Args),
    /// Manage users and API tokens
    #[command(subcommand)]
    Admin(commands::admin::Command),
    /// The knowledge base: add documents, list, search, delete
    #[command(subcommand)]
    Kb(commands::kb::Command),
    /// Embedding models: install the built-in one
    #[command(subcommand)]
    Models(commands::kb::ModelsCommand),
    /// Rank root causes on labelled telemetry and report AC@1, AC@3, AC@5 and Avg@5
    Eval(commands::eval::EvalArgs),
    /// Rank the likely root-cause services of one telemetry snapshot, with the evidence
    Analyze(commands::eval::AnalyzeArgs),
    /// Print version information
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    aurora::install_crypto_provider();
    match cli.command {
        Command::Version => {
            println!(
                "aurora {} (commit {})",
                aurora::BUILD.version,
                aurora::BUILD.commit
            );
            return ExitCode::SUCCESS;
        }
        // Offline analysis needs neither configuration nor runtime.
        Command::Eval(args) => return report(commands::eval::eval(&args)),
        Command::Analyze(args) => return report(commands::eval::analyze(&args)),
        // A client of a running server: it needs no configuration either.
        Command::Chat(args) => return report(commands::chat::run(args)),
        _ => {}
    }
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(format) = cli.log_format {
        settings.log.format = format;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => commands::demo::run(settings, args).await,
            Command::Serve(args) => commands::serve::run(settings, args).await,
            Command::Investigate(args) => commands::investigate::run(settings, args).await,
            Command::Migrate => commands::migrate(settings).await,
            Command::Config => {
                print!("{}", settings.to_redacted_toml());
                Ok(())
            }
            Command::Admin(command) => commands::admin::run(settings, command).await,
            Command::Kb(command) => commands::kb::run(settings, command).await,
            Command::Models(command) => commands::kb::models(settings, command).await,
            Command::Version | Command::Eval(_) | Command::Analyze(_) | Command::Chat(_) => Ok(()),
        }
    });
    report(outcome)
}

fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
