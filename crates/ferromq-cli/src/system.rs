//! `ferromq run`, `ferromq ps` and `ferromq lookup`: the system runtime on the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ferromq::directory::{Directory, DIRECTORY_ENV};
use ferromq::Context;
use ferromq_system::{control, state_file, Manifest};

/// How long `ps` waits for the supervisor's answer.
const ANSWER: Duration = Duration::from_secs(3);

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// The system's manifest (TOML): its [[process]] tables.
    manifest: PathBuf,
}

/// Which running system a command talks to.
#[derive(clap::Args, Debug)]
pub(crate) struct Target {
    /// The system's name (by default the only one running).
    #[arg(long, value_name = "NAME")]
    system: Option<String>,
    /// The directory's endpoint, instead of finding the system by name (by default
    /// $FERROMQ_DIRECTORY when it is set).
    #[arg(long, value_name = "EP")]
    directory: Option<String>,
}

impl Target {
    fn endpoint(&self) -> Result<String, String> {
        if let Some(ep) = &self.directory {
            return Ok(ep.clone());
        }
        if self.system.is_none() {
            if let Ok(ep) = std::env::var(DIRECTORY_ENV) {
                return Ok(ep);
            }
        }
        state_file::find(&state_file::runtime_dir(), self.system.as_deref()).map(|r| r.directory)
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct PsArgs {
    /// Print the supervisor's latest events (start, ready, exit, restart, stop steps) instead,
    /// one a line after the time in ms since the Unix epoch.
    #[arg(long)]
    events: bool,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args, Debug)]
pub(crate) struct LookupArgs {
    /// The service's name.
    name: String,
    /// Wait up to this long for the name to appear.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    wait: u64,
    #[command(flatten)]
    target: Target,
}

pub(crate) fn run(args: RunArgs) -> ExitCode {
    let manifest = match Manifest::load(&args.manifest) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ferromq: {e}");
            return ExitCode::from(2);
        }
    };
    match ferromq_system::run(manifest) {
        Ok(ending) => ExitCode::from(ending.exit_code()),
        Err(e) => {
            eprintln!("ferromq: {e}");
            ExitCode::from(1)
        }
    }
}

pub(crate) fn ps(args: PsArgs) -> ExitCode {
    if args.events {
        return events(&args.target);
    }
    let result = args
        .target
        .endpoint()
        .and_then(|ep| control::ps(&ep, ANSWER));
    let (system, rows) = match result {
        Ok(found) => found,
        Err(e) => {
            eprintln!("ferromq: {e}");
            return ExitCode::from(1);
        }
    };
    println!("system {system}");
    println!(
        "{:<16} {:>8} {:>8} {:<9} {:>8} {:>8}  LAST EXIT",
        "NAME", "INSTANCE", "PID", "STATE", "RESTARTS", "UPTIME"
    );
    for row in rows {
        println!(
            "{:<16} {:>8} {:>8} {:<9} {:>8} {:>8}  {}",
            row.name,
            row.instance,
            row.pid.map_or("-".into(), |p| p.to_string()),
            row.state,
            row.restarts,
            control::format_uptime(row.uptime),
            row.last_exit.as_deref().unwrap_or("-"),
        )
    }
    ExitCode::SUCCESS
}

fn events(target: &Target) -> ExitCode {
    match target
        .endpoint()
        .and_then(|ep| control::events(&ep, ANSWER))
    {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferromq: {e}");
            ExitCode::from(1)
        }
    }
}

pub(crate) fn lookup(args: LookupArgs) -> ExitCode {
    let endpoint = match args.target.endpoint() {
        Ok(ep) => ep,
        Err(e) => {
            eprintln!("ferromq: {e}");
            return ExitCode::from(1);
        }
    };
    let ctx = Context::new();
    let directory = Directory::connect(&ctx, &endpoint, "ferromq-lookup");
    match directory.lookup(&args.name, Duration::from_millis(args.wait)) {
        Ok(endpoints) if endpoints.is_empty() => {
            eprintln!("ferromq: no service named {:?}", args.name);
            ExitCode::from(1)
        }
        Ok(endpoints) => {
            for ep in endpoints {
                println!("{ep}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferromq: {e}");
            ExitCode::from(1)
        }
    }
}
