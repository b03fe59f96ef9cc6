//! Command frames (READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG, ...) and handshake metadata.

use bytes::{Bytes, BytesMut};

use crate::ProtocolError;

/// Metadata properties, as carried by READY: an ordered list of name and value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(pub Vec<(String, Bytes)>);

impl Metadata {
    /// The value of a property; names compare case-insensitively (RFC 23).
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        todo!()
    }

    /// Appends the wire form: name-size (1 byte), name, value-size (4 bytes), value.
    pub fn encode(&self, out: &mut BytesMut) {
        todo!()
    }

    /// Parses a property list, checking every length against what is left.
    pub fn decode(data: &[u8]) -> Result<Metadata, ProtocolError> {
        todo!()
    }
}

/// A ZMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ready(Metadata),
    Error { reason: Bytes },
    Subscribe(Bytes),
    Cancel(Bytes),
    Ping { ttl: u16, context: Bytes },
    Pong { context: Bytes },
    Join(Bytes),
    Leave(Bytes),
    /// A command this crate does not interpret (for example a mechanism's own).
    Other { name: Bytes, data: Bytes },
}

impl Command {
    /// Appends the whole command frame (header included) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        todo!()
    }

    /// Parses the body of a command frame.
    pub fn decode(body: Bytes) -> Result<Command, ProtocolError> {
        todo!()
    }
}
