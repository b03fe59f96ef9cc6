//! `ferromq proxy`: libzmq's built-in proxy between two sockets, until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferromq::{Context, ErrorKind, Socket, SocketType};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::usage_error;

/// How long messages the proxy has already taken may take to go out once it is told to stop.
const LINGER: Duration = Duration::from_secs(1);

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Frontend socket type (required), e.g. ROUTER (a queue), XSUB (a forwarder), PULL (a
    /// streamer).
    // Checked in `run` rather than by clap, whose error for a missing argument does not name it
    // on its first line.
    #[arg(long, value_name = "TYPE", value_parser = parse_type)]
    frontend: Option<SocketType>,
    /// Endpoint for the frontend to bind to (repeatable).
    #[arg(long, value_name = "EP")]
    frontend_bind: Vec<String>,
    /// Endpoint for the frontend to connect to (repeatable).
    #[arg(long, value_name = "EP")]
    frontend_connect: Vec<String>,
    /// Backend socket type (required), e.g. DEALER, XPUB, PUSH.
    #[arg(long, value_name = "TYPE", value_parser = parse_type)]
    backend: Option<SocketType>,
    /// Endpoint for the backend to bind to (repeatable).
    #[arg(long, value_name = "EP")]
    backend_bind: Vec<String>,
    /// Endpoint for the backend to connect to (repeatable).
    #[arg(long, value_name = "EP")]
    backend_connect: Vec<String>,
    /// Bind a PUB socket here that publishes a copy of every message moved either way
    /// (copies a slow subscriber cannot take are dropped, never waited for).
    #[arg(long, value_name = "EP")]
    capture: Option<String>,
}

fn parse_type(name: &str) -> Result<SocketType, String> {
    let upper = name.to_ascii_uppercase();
    SocketType::from_name(upper.as_bytes()).ok_or_else(|| format!("unknown socket type {name:?}"))
}

/// Opens one side; `flag` names it in usage errors.
fn open(
    ctx: &Context,
    flag: &str,
    socket_type: Option<SocketType>,
    binds: &[String],
    connects: &[String],
) -> Result<Socket, ExitCode> {
    let Some(socket_type) = socket_type else {
        return Err(usage_error(format!(
            "{flag}: give the socket type, e.g. {flag} ROUTER"
        )));
    };
    if binds.is_empty() && connects.is_empty() {
        return Err(usage_error(format!(
            "{flag}: give at least one {flag}-bind or {flag}-connect endpoint"
        )));
    }
    let socket = ctx
        .socket(socket_type)
        .map_err(|e| usage_error(format!("{flag}: {e}")))?;
    let _ = socket.set_linger(Some(LINGER));
    for ep in binds {
        socket
            .bind(ep)
            .map_err(|e| usage_error(format!("{flag}-bind: {e}")))?;
    }
    for ep in connects {
        socket
            .connect(ep)
            .map_err(|e| usage_error(format!("{flag}-connect: {e}")))?;
    }
    Ok(socket)
}

/// Runs the proxy until SIGINT or SIGTERM, then exits 0.
pub(crate) fn run(args: Args) -> ExitCode {
    // Caught before any endpoint is opened, so that a signal never kills the process halfway.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("ferromq: cannot catch SIGINT and SIGTERM: {e}");
            return ExitCode::from(1);
        }
    };
    let ctx = Context::new();
    let sockets = open(
        &ctx,
        "--frontend",
        args.frontend,
        &args.frontend_bind,
        &args.frontend_connect,
    )
    .and_then(|frontend| {
        let backend = open(
            &ctx,
            "--backend",
            args.backend,
            &args.backend_bind,
            &args.backend_connect,
        )?;
        Ok((frontend, backend))
    });
    let (frontend, backend) = match sockets {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    let capture = match &args.capture {
        None => None,
        Some(ep) => {
            let capture = ctx.socket(SocketType::Pub).and_then(|capture| {
                let _ = capture.set_linger(Some(LINGER));
                capture.bind(ep)?;
                Ok(capture)
            });
            match capture {
                Ok(capture) => Some(capture),
                Err(e) => return usage_error(format!("--capture: {e}")),
            }
        }
    };
    // A signal shuts the context down, which ends the proxy with `Terminated`.
    let signalled = Arc::new(AtomicBool::new(false));
    let stop = ctx.clone();
    let flag = Arc::clone(&signalled);
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            flag.store(true, Ordering::SeqCst);
            stop.shutdown();
        }
    });
    let result = ferromq::proxy(&frontend, &backend, capture.as_ref());
    drop((frontend, backend, capture));
    // Gives what the proxy already took up to `LINGER` to be written.
    ctx.terminate();
    match result {
        Err(e) if e.kind() == ErrorKind::Terminated && signalled.load(Ordering::SeqCst) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferromq: {e}");
            ExitCode::from(1)
        }
        Ok(()) => ExitCode::SUCCESS,
    }
}
