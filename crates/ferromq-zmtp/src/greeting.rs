//! The 64-byte greeting that opens every ZMTP 3.x connection.

use crate::ProtocolError;

/// Length of a full ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

/// A ZMTP protocol version, as carried in greeting bytes 10 and 11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

/// A security mechanism name, 20 bytes on the wire, padded with zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    Null,
    Plain,
    Curve,
    /// Any other name, kept so that the mismatch can be reported.
    Other(String),
}

/// A decoded greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub version: Version,
    pub mechanism: Mechanism,
    pub as_server: bool,
}

impl Greeting {
    /// The 64 bytes this greeting is on the wire.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        todo!()
    }

    /// Decodes a full ZMTP 3.x greeting.
    pub fn decode(bytes: &[u8; GREETING_LEN]) -> Result<Greeting, ProtocolError> {
        todo!()
    }
}
