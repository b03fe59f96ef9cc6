//! `ferromq`: send, receive and measure ZeroMQ traffic from the command line.

#![forbid(unsafe_code)]

mod deadline;
mod format;
mod monitor;
mod perf;
mod proxy;
mod recv;
mod security;
mod send;
mod socket_args;
mod system;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferromq",
    version,
    about = "A pure-Rust ZeroMQ: send, receive and measure messages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive messages and print one per line.
    Recv(recv::Args),
    /// Send the given messages, or each line of standard input.
    Send(send::Args),
    /// Open a socket and print its events (listening, accepted, handshake_succeeded, ...).
    Monitor(monitor::Args),
    /// Throughput and latency tools with the interface of libzmq's perf programs.
    #[command(subcommand)]
    Perf(perf::Command),
    /// Move messages both ways between a frontend and a backend socket (a ROUTER/DEALER queue,
    /// an XSUB/XPUB forwarder, a PULL/PUSH streamer) until SIGINT or SIGTERM.
    Proxy(proxy::Args),
    /// Print a new CURVE key pair in Z85, as two lines: `public: KEY` and `secret: KEY` (a file
    /// holding them can be given as --curve-secretkey @FILE).
    Keygen,
    /// Run the processes a system manifest lists, restarting them by their policy, serving
    /// the service directory, until SIGINT or SIGTERM stops them all in reverse order.
    Run(system::RunArgs),
    /// Show a running system's processes: pid, state, restarts, uptime.
    Ps(system::PsArgs),
    /// Print the endpoints a running system's directory has for a service, one a line.
    Lookup(system::LookupArgs),
}

/// Bad arguments: one line naming the argument, exit status 2.
pub(crate) fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("ferromq: {message}");
    ExitCode::from(2)
}

/// Log lines go to standard error: warnings (a peer that broke the protocol) by default, more
/// with `FERROMQ_LOG=debug`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERROMQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::MissingRequiredArgument {
                // clap names the missing arguments on the lines after its first.
                if let Some(clap::error::ContextValue::Strings(names)) =
                    e.get(clap::error::ContextKind::InvalidArg)
                {
                    return usage_error(format!("missing {}", names.join(", ")));
                }
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            return usage_error(first.trim_start_matches("error: "));
        }
    };
    match cli.command {
        Command::Recv(args) => recv::run(args),
        Command::Send(args) => send::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Perf(cmd) => perf::run(cmd),
        Command::Proxy(args) => proxy::run(args),
        Command::Keygen => security::keygen(),
        Command::Run(args) => system::run(args),
        Command::Ps(args) => system::ps(args),
        Command::Lookup(args) => system::lookup(args),
    }
}
