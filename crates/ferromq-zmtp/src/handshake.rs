//! The handshake of one connection: greeting, then the mechanism's commands (NULL: READY).

use bytes::{Buf, Bytes, BytesMut};

use crate::greeting::{self, GREETING_LEN};
use crate::{
    Command, Frame, FrameDecoder, Greeting, Mechanism, Metadata, ProtocolError, SocketType, Version,
};

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

/// The version this side speaks.
const OUR_VERSION: Version = Version { major: 3, minor: 1 };

/// The signature and major version: what each side sends, and reads, before it knows whether
/// the other speaks ZMTP 3.x (RFC 23, "Version Negotiation").
const PARTIAL_GREETING_LEN: usize = 11;

/// The largest command frame taken before the handshake completes, so that a peer not yet
/// known can make us hold only a little memory (RFC 23, "Security Considerations").
const MAX_HANDSHAKE_FRAME: u64 = 64 * 1024;

/// The handshake state machine of one connection.
#[derive(Debug)]
pub struct Handshake {
    config: HandshakeConfig,
    security: Security,
    state: State,
    frames: FrameDecoder,
    /// Bytes waiting for `write_to`.
    pending: BytesMut,
}

/// Where the handshake is.
#[derive(Debug)]
enum State {
    /// Our signature and major version are sent; the peer's are awaited, to tell an older
    /// peer before saying more.
    Signature(PeerGreeting),
    /// The peer speaks ZMTP 3.x and all our greeting is sent; the rest of the peer's is awaited.
    Greeting(PeerGreeting),
    /// Greetings are exchanged; the security mechanism's commands are under way.
    Security {
        peer_version: Version,
    },
    Done,
    Failed(ProtocolError),
}

/// The security mechanism, with its own progress through its commands.
#[derive(Debug)]
enum Security {
    /// Each side sends READY with its metadata and takes the peer's; nothing is checked.
    Null,
}

/// The peer's greeting, as far as it has arrived.
#[derive(Debug, Clone, Copy)]
struct PeerGreeting {
    bytes: [u8; GREETING_LEN],
    received: usize,
}

impl PeerGreeting {
    /// Moves bytes from `input` until `upto` are in; returns whether they are.
    fn fill(&mut self, input: &mut BytesMut, upto: usize) -> bool {
        let n = upto.saturating_sub(self.received).min(input.len());
        self.bytes[self.received..self.received + n].copy_from_slice(&input[..n]);
        input.advance(n);
        self.received += n;
        self.received >= upto
    }

    /// Checks the signature and major version as far as they have arrived, so that an older
    /// peer is refused at its first distinguishing byte (RFC 23, "Backwards Interoperability").
    fn check_version(&self) -> Result<(), ProtocolError> {
        let zmtp_1_0 = ProtocolError::UnsupportedVersion { major: 1, minor: 0 };
        if self.received >= 1 && self.bytes[0] != 0xFF {
            return Err(zmtp_1_0);
        }
        if self.received >= 10 && !greeting::is_signature(&self.bytes) {
            return Err(zmtp_1_0);
        }
        let major = self.bytes[PARTIAL_GREETING_LEN - 1];
        if self.received >= PARTIAL_GREETING_LEN && major < 3 {
            // This byte is the "revision" of older peers: 0 for ZMTP 1.0 with a signature,
            // 1 for ZMTP 2.0 (RFC 15), whose next byte is the socket type, not a minor version.
            let major = if major == 0 { 1 } else { 2 };
            return Err(ProtocolError::UnsupportedVersion { major, minor: 0 });
        }
        Ok(())
    }
}

impl Security {
    fn mechanism(&self) -> Mechanism {
        match self {
            Security::Null => Mechanism::Null,
        }
    }

    /// Queues what this side says first, once the greetings are exchanged.
    fn start(&self, metadata: Metadata, out: &mut BytesMut) {
        match self {
            Security::Null => Command::Ready(metadata).encode(out),
        }
    }

    /// Takes one command from the peer; returns the peer's metadata once the mechanism is done.
    fn on_command(&mut self, command: Command) -> Result<Option<Metadata>, ProtocolError> {
        match (self, command) {
            (_, Command::Error { reason }) => Err(ProtocolError::PeerError(
                String::from_utf8_lossy(&reason).into_owned(),
            )),
            (Security::Null, Command::Ready(metadata)) => Ok(Some(metadata)),
            (_, other) => Err(ProtocolError::UnexpectedCommand(
                String::from_utf8_lossy(other.name()).into_owned(),
            )),
        }
    }
}

impl Handshake {
    /// Starts a handshake; the first bytes to send are ready at once.
    pub fn new(config: HandshakeConfig) -> Handshake {
        let mut handshake = Handshake {
            config,
            security: Security::Null,
            state: State::Signature(PeerGreeting {
                bytes: [0; GREETING_LEN],
                received: 0,
            }),
            frames: FrameDecoder::new(Some(MAX_HANDSHAKE_FRAME)),
            pending: BytesMut::new(),
        };
        let greeting = handshake.our_greeting();
        handshake
            .pending
            .extend_from_slice(&greeting[..PARTIAL_GREETING_LEN]);
        handshake
    }

    /// Moves the bytes this side must send next into `out` (possibly none).
    pub fn write_to(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(&self.pending);
        self.pending.clear();
    }

    /// Consumes handshake bytes from the front of `input`. Returns the peer once the handshake
    /// is complete; any bytes after it (the first frames) stay in `input`. After an error, the
    /// bytes `write_to` yields (an ERROR command) should be sent before closing.
    ///
    /// Once the peer has been returned, later calls return `Ok(None)` and leave `input` alone;
    /// once an error has been returned, later calls return it again.
    pub fn read_from(&mut self, input: &mut BytesMut) -> Result<Option<PeerInfo>, ProtocolError> {
        let result = self.advance(input);
        if let Err(err) = &result {
            self.state = State::Failed(err.clone());
        }
        result
    }

    fn advance(&mut self, input: &mut BytesMut) -> Result<Option<PeerInfo>, ProtocolError> {
        loop {
            match &mut self.state {
                State::Signature(peer) => {
                    let complete = peer.fill(input, PARTIAL_GREETING_LEN);
                    peer.check_version()?;
                    if !complete {
                        return Ok(None);
                    }
                    let peer = *peer;
                    let greeting = self.our_greeting();
                    self.pending
                        .extend_from_slice(&greeting[PARTIAL_GREETING_LEN..]);
                    self.state = State::Greeting(peer);
                }
                State::Greeting(peer) => {
                    if !peer.fill(input, GREETING_LEN) {
                        return Ok(None);
                    }
                    let greeting = Greeting::decode(&peer.bytes)?;
                    let ours = self.security.mechanism();
                    if greeting.mechanism != ours {
                        return Err(ProtocolError::MechanismMismatch {
                            ours: ours.name().to_owned(),
                            theirs: greeting.mechanism.name().to_owned(),
                        });
                    }
                    self.security.start(self.our_metadata(), &mut self.pending);
                    self.state = State::Security {
                        peer_version: greeting.version,
                    };
                }
                State::Security { peer_version } => {
                    let peer_version = *peer_version;
                    let command = match self.frames.decode(input)? {
                        None => return Ok(None),
                        Some(Frame::Command(command)) => command,
                        Some(Frame::Message { .. }) => {
                            return Err(ProtocolError::UnexpectedCommand("message".into()))
                        }
                    };
                    if let Some(metadata) = self.security.on_command(command)? {
                        let peer = self.accept(peer_version, metadata)?;
                        self.state = State::Done;
                        return Ok(Some(peer));
                    }
                }
                State::Done => return Ok(None),
                State::Failed(err) => return Err(err.clone()),
            }
        }
    }

    fn our_greeting(&self) -> [u8; GREETING_LEN] {
        Greeting {
            version: OUR_VERSION,
            mechanism: self.security.mechanism(),
            as_server: false,
        }
        .encode()
    }

    /// The properties we announce (RFC 23, "Connection Metadata"). Only the socket types a
    /// ROUTER routes back to by name send an Identity, as libzmq does.
    fn our_metadata(&self) -> Metadata {
        let config = &self.config;
        let socket_type = Bytes::from_static(config.socket_type.name().as_bytes());
        let mut properties = vec![("Socket-Type".to_owned(), socket_type)];
        if matches!(
            config.socket_type,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        ) {
            properties.push(("Identity".to_owned(), config.routing_id.clone()));
        }
        properties.extend(config.properties.iter().cloned());
        Metadata(properties)
    }

    /// Checks the peer's metadata; a peer refused for its socket type is told why with ERROR
    /// (RFC 23, "The Socket-Type Property").
    fn accept(
        &mut self,
        peer_version: Version,
        metadata: Metadata,
    ) -> Result<PeerInfo, ProtocolError> {
        let ours = self.config.socket_type;
        let Some(name) = metadata.get("Socket-Type") else {
            self.queue_error("Missing socket type");
            return Err(ProtocolError::MissingSocketType);
        };
        let socket_type = match SocketType::from_name(name) {
            Some(peer) if ours.is_compatible(peer) => peer,
            _ => {
                self.queue_error("Invalid socket type");
                return Err(ProtocolError::IncompatibleSocketType {
                    ours: ours.name(),
                    peer: String::from_utf8_lossy(name).into_owned(),
                });
            }
        };
        Ok(PeerInfo {
            version: peer_version.min(OUR_VERSION),
            socket_type,
            routing_id: metadata.get("Identity").cloned().unwrap_or_default(),
            properties: metadata,
        })
    }

    fn queue_error(&mut self, reason: &'static str) {
        Command::Error {
            reason: Bytes::from_static(reason.as_bytes()),
        }
        .encode(&mut self.pending);
    }
}

#[cfg(test)]
mod tests;
