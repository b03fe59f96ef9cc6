//! The one error type of the library.

use std::fmt;

/// What kind of failure an [`Error`] is; each maps to one errno of the C API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The call would have to wait (EAGAIN): a non-blocking call, or a timeout ran out.
    WouldBlock,
    /// The context was terminated (ETERM).
    Terminated,
    /// An endpoint string is malformed or names an unsupported transport (EINVAL, EPROTONOSUPPORT).
    InvalidEndpoint,
    /// The address is already bound by someone else (EADDRINUSE).
    AddressInUse,
    /// The address does not exist on this machine, or nothing is bound there (EADDRNOTAVAIL, ENOENT).
    AddressNotAvailable,
    /// The operation is not possible on this socket type (ENOTSUP).
    NotSupported,
    /// The operation is not possible in the socket's current state (EFSM).
    State,
    /// An option value or argument is out of range (EINVAL).
    InvalidArgument,
    /// The message could not be routed to its peer (EHOSTUNREACH).
    HostUnreachable,
    /// The message is larger than allowed (EMSGSIZE).
    MessageTooLarge,
    /// An operating-system I/O error.
    Io,
}

/// An error, with a message naming the endpoint, option or peer concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The result of a ferromq call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` described by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn would_block(what: &str) -> Error {
        Error::new(ErrorKind::WouldBlock, what)
    }

    pub(crate) fn terminated() -> Error {
        Error::new(ErrorKind::Terminated, "the context was terminated")
    }

    pub(crate) fn io(context: impl fmt::Display, err: std::io::Error) -> Error {
        let kind = match err.kind() {
            std::io::ErrorKind::AddrInUse => ErrorKind::AddressInUse,
            std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::NotFound => {
                ErrorKind::AddressNotAvailable
            }
            std::io::ErrorKind::WouldBlock => ErrorKind::WouldBlock,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
