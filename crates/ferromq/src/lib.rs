//! ferromq: a memory-safe, pure-Rust ZeroMQ.
//!
//! It speaks ZMTP 3.x byte for byte with libzmq, pyzmq, JeroMQ and every other ZeroMQ peer,
//! over `tcp://`, `ipc://` and `inproc://`.
//!
//! ```
//! use ferromq::{Context, SocketType};
//!
//! let ctx = Context::new();
//! let publisher = ctx.socket(SocketType::Pub)?;
//! publisher.bind("tcp://127.0.0.1:*")?;
//! let subscriber = ctx.socket(SocketType::Sub)?;
//! subscriber.subscribe("weather.")?;
//! subscriber.connect(&publisher.last_endpoint())?;
//! # Ok::<(), ferromq::Error>(())
//! ```
// Two `unsafe` blocks, each with its SAFETY note: `transport` reads from the kernel into
// uninitialised memory, and `tokio_socket` registers the readiness fd with tokio.
#![deny(unsafe_code)]

mod auth;
mod connection;
mod context;
mod copy_block;
mod core;
pub mod directory;
mod endpoint;
mod error;
mod frame;
mod in_queue;
mod inproc;
mod io_thread;
mod message;
mod monitor;
mod options;
mod outbox;
mod pattern;
mod pipe;
mod poller;
mod proxy;
mod reactor;
mod signal;
mod socket;
mod socket_options;
mod spare_buffers;
#[cfg(feature = "tokio")]
mod tokio_socket;
mod transport;
mod waiter;
mod zap;

pub use auth::Authenticator;
pub use bytes::Bytes;
pub use context::Context;
pub use endpoint::{Endpoint, IpcAddr, TcpHost};
pub use error::{Error, ErrorKind, Result};
pub use ferromq_zmtp::SocketType;
/// Z85 (RFC 32), the printable form of CURVE keys, and CURVE key pairs.
pub use ferromq_zmtp::{
    curve_keypair, curve_public, z85, CurveKeyPair, CurvePublicKey, CurveSecretKey,
};
pub use frame::Frame;
pub use message::{IntoFrame, Message};
pub use monitor::{Event, Monitor, MonitorEvent};
pub use options::ReconnectStop;
pub use poller::{poll, PollItem, Poller};
pub use proxy::{proxy, proxy_steerable};
pub use reactor::{HandlerId, Reactor, StopHandle, Stopped};
pub use socket::{Events, Socket};
#[cfg(feature = "tokio")]
pub use tokio_socket::AsyncSocket;

/// The README's examples, compiled and run by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
