//! The handshake of one connection: greeting, then the mechanism's commands (NULL: READY).

use bytes::{Bytes, BytesMut};

use crate::{Metadata, ProtocolError, SocketType, Version};

/// What this side says about itself in the handshake.
#[derive(Debug, Clone)]
pub struct HandshakeConfig {
    pub socket_type: SocketType,
    /// The `Identity` property (ZMQ_ROUTING_ID); may be empty.
    pub routing_id: Bytes,
    /// Further properties to send in READY (`X-...` application metadata).
    pub properties: Vec<(String, Bytes)>,
}

/// What the handshake learnt about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The version both sides speak: the lower of the two.
    pub version: Version,
    pub socket_type: SocketType,
    /// The peer's `Identity` property, empty if it sent none.
    pub routing_id: Bytes,
    /// Every property the peer sent in READY.
    pub properties: Metadata,
}

/// The handshake state machine of one connection.
#[derive(Debug)]
pub struct Handshake {
    _private: (),
}

impl Handshake {
    /// Starts a handshake; the first bytes to send are ready at once.
    pub fn new(config: HandshakeConfig) -> Handshake {
        todo!()
    }

    /// Moves the bytes this side must send next into `out` (possibly none).
    pub fn write_to(&mut self, out: &mut BytesMut) {
        todo!()
    }

    /// Consumes handshake bytes from the front of `input`. Returns the peer once the handshake
    /// is complete; any bytes after it (the first frames) stay in `input`. After an error, the
    /// bytes `write_to` yields (an ERROR command) should be sent before closing.
    pub fn read_from(&mut self, input: &mut BytesMut) -> Result<Option<PeerInfo>, ProtocolError> {
        todo!()
    }
}
