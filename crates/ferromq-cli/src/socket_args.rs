//! The arguments every socket-opening command shares: a type, where to bind or connect, and
//! the security mechanism.

use std::process::ExitCode;

use clap::Args;
use ferromq::{Authenticator, Context, Socket, SocketType};

use crate::security::SecurityArgs;
use crate::usage_error;

#[derive(Args, Debug)]
pub(crate) struct SocketArgs {
    /// Socket type: PAIR, PUB, SUB, XPUB, XSUB, PUSH, PULL, REQ, REP, DEALER, ROUTER, STREAM
    /// (any case).
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type)]
    pub socket_type: SocketType,
    /// Endpoint to bind to (repeatable), e.g. tcp://*:5555, ipc:///tmp/feed.
    #[arg(long, value_name = "EP")]
    pub bind: Vec<String>,
    /// Endpoint to connect to (repeatable), e.g. tcp://127.0.0.1:5555.
    #[arg(long, value_name = "EP")]
    pub connect: Vec<String>,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// A socket with what it needs beside it: a PLAIN server's authenticator lives as long as it.
pub(crate) struct OpenSocket {
    socket: Socket,
    _authenticator: Option<Authenticator>,
}

impl std::ops::Deref for OpenSocket {
    type Target = Socket;

    fn deref(&self) -> &Socket {
        &self.socket
    }
}

fn parse_type(name: &str) -> Result<SocketType, String> {
    let upper = name.to_ascii_uppercase();
    SocketType::from_name(upper.as_bytes()).ok_or_else(|| format!("unknown socket type {name:?}"))
}

impl SocketArgs {
    /// Opens the socket, binds and connects; a bad endpoint is a usage error.
    pub(crate) fn open(&self, ctx: &Context) -> Result<OpenSocket, ExitCode> {
        let socket = self.create(ctx)?;
        self.attach(&socket)?;
        Ok(socket)
    }

    /// Creates the socket with its security options, without binding or connecting it yet:
    /// the mechanism must be set before the first connection starts.
    pub(crate) fn create(&self, ctx: &Context) -> Result<OpenSocket, ExitCode> {
        if self.bind.is_empty() && self.connect.is_empty() {
            return Err(usage_error(
                "give at least one --bind or --connect endpoint",
            ));
        }
        let security = self.security.check().map_err(usage_error)?;
        let socket = ctx
            .socket(self.socket_type)
            .map_err(|e| usage_error(format!("--type: {e}")))?;
        let authenticator = security.apply(ctx, &socket).map_err(|e| {
            eprintln!("ferromq: {e}");
            ExitCode::from(1)
        })?;
        Ok(OpenSocket {
            socket,
            _authenticator: authenticator,
        })
    }

    /// Binds and connects the socket to the endpoints given.
    pub(crate) fn attach(&self, socket: &Socket) -> Result<(), ExitCode> {
        for ep in &self.bind {
            socket
                .bind(ep)
                .map_err(|e| usage_error(format!("--bind: {e}")))?;
        }
        for ep in &self.connect {
            socket
                .connect(ep)
                .map_err(|e| usage_error(format!("--connect: {e}")))?;
        }
        Ok(())
    }
}
