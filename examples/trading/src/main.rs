//! The trading example's Rust parts, one per process: `ferromq-trading feed|gateway|exchange|
//! recorder|strategy`. The supervisor starts each (examples/trading/system.toml); they find
//! each other through its directory. See examples/trading/README.md.

mod book;
mod exchange;
mod feed;
mod gateway;
mod ledger;
mod market;
mod part;
mod recorder;
mod risk;
mod strategy;
mod ticks;
mod wire;

use std::process::ExitCode;

use part::Part;

const USAGE: &str = "usage: ferromq-trading feed|gateway|exchange|recorder|strategy";

fn main() -> ExitCode {
    let role = std::env::args().nth(1).unwrap_or_default();
    let run: fn(Part) -> Result<(), String> = match role.as_str() {
        "feed" => feed::run,
        "gateway" => gateway::run,
        "exchange" => exchange::run,
        "recorder" => recorder::run,
        "strategy" => strategy::run,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let part = match Part::start() {
        Ok(part) => part,
        Err(e) => {
            eprintln!("{role}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = part.ctx.clone();
    let result = run(part);
    // Written what the sockets still hold (each lingers a little at most), then exit.
    ctx.terminate();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{role}: {e}");
            ExitCode::FAILURE
        }
    }
}
