//! The handshake of one connection: greeting, then the security mechanism's commands (NULL:
//! READY; PLAIN and CURVE: HELLO, WELCOME, INITIATE, READY), with a pause on a server while the
//! caller authenticates the client.

use bytes::{Buf, Bytes, BytesMut};
use rand_core::{CryptoRngCore, OsRng};

use crate::frame::message_header;
use crate::greeting::{self, GREETING_LEN};
use crate::{
    AuthReply, AuthRequest, Command, CurveCodec, CurvePublicKey, Frame, FrameDecoder, Framing,
    Greeting, Mechanism, Metadata, ProtocolError, Security, SocketType, Version,
};

mod curve;
mod plain;

/// What this side says about itself in the handshake.
#[derive(Debug, Clone)]
pub struct HandshakeConfig {
    pub socket_type: SocketType,
    /// The `Identity` property (ZMQ_ROUTING_ID); may be empty.
    pub routing_id: Bytes,
    /// Further properties to send in READY (`X-...` application metadata).
    pub properties: Vec<(String, Bytes)>,
    /// The security mechanism and this side's role in it; `Security::Null` by default.
    pub security: Security,
}

/// What the handshake learnt about the peer. Not `Clone`: the CURVE codec must stay unique.
#[derive(Debug)]
pub struct PeerInfo {
    /// The version both sides speak: the lower of the two (1.0 and 2.0 for older peers).
    pub version: Version,
    /// How frames are laid out from here on, both ways.
    pub framing: Framing,
    pub socket_type: SocketType,
    /// The peer's `Identity` property, empty if it sent none.
    pub routing_id: Bytes,
    /// Every property the peer sent in READY (or, from a client, in INITIATE).
    pub properties: Metadata,
    /// The User-Id the authenticator gave a server for this client; empty on a client and
    /// under NULL.
    pub user_id: Bytes,
    /// The metadata the authenticator gave with its verdict (ZAP metadata), which libzmq adds
    /// to the properties of every message from this peer.
    pub zap_properties: Metadata,
    /// Under CURVE, the peer's long-term public key: the server's on a client, the client's
    /// (as the authenticator saw it) on a server.
    pub curve_public_key: Option<CurvePublicKey>,
    /// Under CURVE, the codec every later frame goes through, both ways: frames go out only
    /// as `encode_message`/`encode_command` make them, and each frame read goes through
    /// `decode` before it means anything.
    pub codec: Option<CurveCodec>,
}

/// The version this side speaks.
const OUR_VERSION: Version = Version { major: 3, minor: 1 };

/// The signature: what each side sends, and reads, before it knows whether the other speaks
/// ZMTP 3.x, 2.0 or 1.0 (RFC 23, "Detecting ZMTP 1.0 and 2.0 Peers").
const SIGNATURE_LEN: usize = 10;

/// The signature and major version.
const PARTIAL_GREETING_LEN: usize = 11;

/// The largest command frame taken before the handshake completes, so that a peer not yet
/// known can make us hold only a little memory (RFC 23, "Security Considerations").
const MAX_HANDSHAKE_FRAME: u64 = 64 * 1024;

/// The handshake state machine of one connection.
#[derive(Debug)]
pub struct Handshake {
    config: HandshakeConfig,
    mechanism: MechanismState,
    /// What the authenticator said of the client, on a server.
    verdict: Verdict,
    /// The version in the peer's greeting, once it has come.
    peer_version: Version,
    state: State,
    frames: FrameDecoder,
    /// Bytes waiting for `write_to`.
    pending: BytesMut,
    /// Where CURVE's keys and nonces come from.
    rng: Rng,
}

/// A source of secure random bytes.
struct Rng(Box<dyn CryptoRngCore + Send>);

impl std::fmt::Debug for Rng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rng")
    }
}

/// Where the handshake is.
#[derive(Debug)]
enum State {
    /// Our signature is sent; the peer's is awaited. Its first byte, or its tenth, may show a
    /// ZMTP 1.0 peer, to which our signature was the start of an identity frame.
    Signature(PeerGreeting),
    /// The peer has a signature, and our major version is sent; the peer's is awaited.
    Major(PeerGreeting),
    /// The peer speaks ZMTP 1.0 with a signature (revision 0) or 2.0 (revision 1), and our
    /// socket type is sent; the peer's is awaited.
    LegacySocketType(Framing),
    /// An older peer's identity frame is awaited; our own is sent. ZMTP 1.0 without a
    /// signature names no socket type.
    LegacyIdentity {
        framing: Framing,
        socket_type: Option<SocketType>,
    },
    /// The peer speaks ZMTP 3.x and all our greeting is sent; the rest of the peer's is awaited.
    Greeting(PeerGreeting),
    /// Greetings are exchanged; the security mechanism's commands are under way.
    Security,
    /// A server has the client's credentials; the caller's verdict is awaited. Bytes that
    /// arrive meanwhile wait in the input.
    Authenticating {
        request: AuthRequest,
        reply: Option<AuthReply>,
    },
    Done,
    Failed(ProtocolError),
}

/// The security mechanism, with its own progress through its commands.
#[derive(Debug)]
enum MechanismState {
    /// Each side sends READY with its metadata and takes the peer's; nothing is checked.
    Null,
    PlainClient {
        username: Bytes,
        password: Bytes,
        progress: plain::Client,
    },
    PlainServer(plain::Server),
    CurveClient(curve::Client),
    CurveServer(curve::Server),
}

/// What a mechanism asks of the handshake after a command.
#[derive(Debug)]
enum Step {
    /// The next command from the peer is awaited.
    Continue,
    /// The client's credentials need the caller's verdict.
    Authenticate(AuthRequest),
    /// The mechanism is done; the peer's metadata is to be checked.
    Done(Metadata),
}

/// What a server learnt from its authenticator, for `PeerInfo`.
#[derive(Debug, Default)]
struct Verdict {
    user_id: Bytes,
    zap_properties: Metadata,
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
}

impl MechanismState {
    fn new(security: &Security, rng: &mut dyn CryptoRngCore) -> MechanismState {
        match security {
            Security::Null => MechanismState::Null,
            Security::PlainClient { username, password } => MechanismState::PlainClient {
                username: username.clone(),
                password: password.clone(),
                progress: plain::Client::Welcome,
            },
            Security::PlainServer => MechanismState::PlainServer(plain::Server::Hello),
            Security::CurveClient {
                server_key,
                public_key,
                secret_key,
            } => MechanismState::CurveClient(curve::Client::new(
                *server_key,
                *public_key,
                secret_key.clone(),
                rng,
            )),
            Security::CurveServer { secret_key } => {
                MechanismState::CurveServer(curve::Server::new(secret_key.clone()))
            }
        }
    }

    fn mechanism(&self) -> Mechanism {
        match self {
            MechanismState::Null => Mechanism::Null,
            MechanismState::PlainClient { .. } | MechanismState::PlainServer(_) => Mechanism::Plain,
            MechanismState::CurveClient(_) | MechanismState::CurveServer(_) => Mechanism::Curve,
        }
    }

    /// The greeting's as-server field; NULL has no roles, so it is 0 (RFC 23).
    fn as_server(&self) -> bool {
        matches!(
            self,
            MechanismState::PlainServer(_) | MechanismState::CurveServer(_)
        )
    }

    /// Whether this side may answer with ERROR: PLAIN and CURVE clients never send it
    /// (RFC 24, RFC 26).
    fn may_send_error(&self) -> bool {
        !matches!(
            self,
            MechanismState::PlainClient { .. } | MechanismState::CurveClient(_)
        )
    }

    /// How command bodies are parsed: CURVE's READY holds a box, not metadata, and a PLAIN
    /// client must understand libzmq's ERROR.
    fn command_parser(&self) -> fn(Bytes) -> Result<Command, ProtocolError> {
        match self {
            MechanismState::CurveClient(_) | MechanismState::CurveServer(_) => {
                Command::decode_opaque
            }
            MechanismState::PlainClient { .. } => plain::decode_command,
            MechanismState::Null | MechanismState::PlainServer(_) => Command::decode,
        }
    }

    /// Queues what this side says first, once the greetings are exchanged.
    fn start(&mut self, metadata: &Metadata, out: &mut BytesMut) -> Result<(), ProtocolError> {
        match self {
            MechanismState::Null => Command::Ready(metadata.clone()).encode(out),
            MechanismState::PlainClient {
                username, password, ..
            } => plain::hello(username, password).encode(out),
            MechanismState::CurveClient(client) => client.hello(out)?,
            MechanismState::PlainServer(_) | MechanismState::CurveServer(_) => {}
        }
        Ok(())
    }

    /// Takes one command from the peer.
    fn on_command(
        &mut self,
        command: Command,
        metadata: &Metadata,
        out: &mut BytesMut,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Step, ProtocolError> {
        match &command {
            Command::Error { reason } => return Err(peer_error(reason)),
            Command::Other { name, .. } if name == "HELLO" && !self.may_send_error() => {
                // Only a client sends HELLO, and we are one.
                return Err(role_mismatch(self.mechanism(), "client"));
            }
            _ => {}
        }
        match self {
            MechanismState::Null => match command {
                Command::Ready(peer) => Ok(Step::Done(peer)),
                other => Err(unexpected(&other)),
            },
            MechanismState::PlainClient { progress, .. } => {
                progress.on_command(command, metadata, out)
            }
            MechanismState::PlainServer(progress) => progress.on_command(command),
            MechanismState::CurveClient(client) => client.on_command(command, metadata, out, rng),
            MechanismState::CurveServer(server) => server.on_command(command, out, rng),
        }
    }

    /// The authenticator accepted the client.
    fn on_accept(&mut self, out: &mut BytesMut) -> Step {
        match self {
            MechanismState::PlainServer(progress) => progress.on_accept(out),
            MechanismState::CurveServer(server) => server.on_accept(),
            // Only a server asks for a verdict.
            MechanismState::Null
            | MechanismState::PlainClient { .. }
            | MechanismState::CurveClient(_) => Step::Continue,
        }
    }

    /// Queues what follows the peer's accepted metadata (a server's READY); returns CURVE's
    /// codec and the peer's long-term key.
    fn finish(
        &mut self,
        metadata: &Metadata,
        out: &mut BytesMut,
    ) -> Result<Option<(CurveCodec, CurvePublicKey)>, ProtocolError> {
        match self {
            MechanismState::PlainServer(_) => {
                Command::Ready(metadata.clone()).encode(out);
                Ok(None)
            }
            MechanismState::CurveClient(client) => Ok(client.finish()),
            MechanismState::CurveServer(server) => server.finish(metadata, out),
            MechanismState::Null | MechanismState::PlainClient { .. } => Ok(None),
        }
    }
}

fn role_mismatch(mechanism: Mechanism, role: &'static str) -> ProtocolError {
    ProtocolError::RoleMismatch {
        mechanism: mechanism.name().to_owned(),
        role,
    }
}

/// The error for a command the mechanism does not expect now.
fn unexpected(command: &Command) -> ProtocolError {
    ProtocolError::UnexpectedCommand(String::from_utf8_lossy(command.name()).into_owned())
}

/// The error for the peer's ERROR. A reason that is a ZAP status code (300, 400 or 500) is an
/// authentication failure, which is how a libzmq server reports one.
fn peer_error(reason: &[u8]) -> ProtocolError {
    match reason {
        [b'3'..=b'5', b'0', b'0'] => ProtocolError::AuthenticationFailed {
            status_code: u16::from(reason[0] - b'0') * 100,
            text: "refused by the server".into(),
        },
        _ => ProtocolError::PeerError(String::from_utf8_lossy(reason).into_owned()),
    }
}

impl Handshake {
    /// Starts a handshake; the first bytes to send are ready at once. CURVE's keys and nonces
    /// come from the operating system's secure generator.
    pub fn new(config: HandshakeConfig) -> Handshake {
        Handshake::with_rng(config, OsRng)
    }

    /// As `new`, with CURVE's keys and nonces drawn from `rng`, so that tests and fuzzers can
    /// make them repeatable. Anything else must be a cryptographically secure generator.
    pub fn with_rng(
        config: HandshakeConfig,
        rng: impl CryptoRngCore + Send + 'static,
    ) -> Handshake {
        let mut rng = Rng(Box::new(rng));
        let mut handshake = Handshake {
            mechanism: MechanismState::new(&config.security, &mut *rng.0),
            config,
            verdict: Verdict::default(),
            peer_version: OUR_VERSION,
            state: State::Signature(PeerGreeting {
                bytes: [0; GREETING_LEN],
                received: 0,
            }),
            frames: FrameDecoder::new(Some(MAX_HANDSHAKE_FRAME)),
            pending: BytesMut::new(),
            rng,
        };
        let greeting = handshake.our_greeting();
        handshake
            .pending
            .extend_from_slice(&greeting[..SIGNATURE_LEN]);
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
    /// `Ok(None)` with `auth_request` returning a request means the handshake waits for
    /// `auth_reply`, and takes no more input until then.
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

    /// On a server, the client's credentials while they wait for the caller's verdict; the
    /// caller authenticates them (through ZAP, say) and answers with `auth_reply`.
    pub fn auth_request(&self) -> Option<&AuthRequest> {
        match &self.state {
            State::Authenticating {
                request,
                reply: None,
                ..
            } => Some(request),
            _ => None,
        }
    }

    /// Gives the verdict on `auth_request`. The handshake goes on at the next `read_from`
    /// (call it even with no new input), after which `write_to` has the answer for the client:
    /// the mechanism's next command, or ERROR if refused. Ignored unless a verdict is awaited.
    pub fn auth_reply(&mut self, reply: AuthReply) {
        if let State::Authenticating { reply: slot, .. } = &mut self.state {
            slot.get_or_insert(reply);
        }
    }

    fn advance(&mut self, input: &mut BytesMut) -> Result<Option<PeerInfo>, ProtocolError> {
        loop {
            let step = match &mut self.state {
                State::Signature(peer) => {
                    let complete = peer.fill(input, SIGNATURE_LEN);
                    let unversioned =
                        peer.bytes[0] != 0xFF || (complete && !greeting::is_signature(&peer.bytes));
                    if peer.received > 0 && unversioned {
                        let received = peer.bytes[..peer.received].to_vec();
                        self.start_zmtp_1_0(&received, input)?;
                        continue;
                    }
                    if !complete {
                        return Ok(None);
                    }
                    let peer = *peer;
                    self.pending.extend_from_slice(
                        &self.our_greeting()[SIGNATURE_LEN..PARTIAL_GREETING_LEN],
                    );
                    self.state = State::Major(peer);
                    continue;
                }
                State::Major(peer) => {
                    if !peer.fill(input, PARTIAL_GREETING_LEN) {
                        return Ok(None);
                    }
                    let peer = *peer;
                    match peer.bytes[PARTIAL_GREETING_LEN - 1] {
                        0 => self.start_legacy(Framing::Zmtp1)?,
                        1 | 2 => self.start_legacy(Framing::Zmtp2)?,
                        _ => {
                            let greeting = self.our_greeting();
                            self.pending
                                .extend_from_slice(&greeting[PARTIAL_GREETING_LEN..]);
                            self.state = State::Greeting(peer);
                        }
                    }
                    continue;
                }
                State::LegacySocketType(framing) => {
                    let framing = *framing;
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let number = input.get_u8();
                    let ours = self.config.socket_type;
                    let socket_type = SocketType::from_legacy_number(number)
                        .filter(|&peer| ours.is_compatible(peer))
                        .ok_or_else(|| ProtocolError::IncompatibleSocketType {
                            ours: ours.name(),
                            peer: format!("number {number}"),
                        })?;
                    self.send_identity(framing);
                    self.state = State::LegacyIdentity {
                        framing,
                        socket_type: Some(socket_type),
                    };
                    continue;
                }
                State::LegacyIdentity {
                    framing,
                    socket_type,
                } => {
                    let (framing, socket_type) = (*framing, *socket_type);
                    // Without a signature, anything not a ZMTP 1.0 identity frame is garbage
                    // (an HTTP request, say), and is named so.
                    let decoded = self.frames.decode(input).map_err(|e| match socket_type {
                        None => ProtocolError::BadGreeting(
                            "neither a ZMTP signature nor a ZMTP 1.0 identity frame",
                        ),
                        Some(_) => e,
                    })?;
                    let routing_id = match decoded {
                        None => return Ok(None),
                        Some(Frame::Message { body, .. }) => body,
                        Some(Frame::Command(_)) => {
                            return Err(ProtocolError::UnexpectedCommand("command".into()))
                        }
                    };
                    self.state = State::Done;
                    return Ok(Some(self.legacy_peer(framing, socket_type, routing_id)));
                }
                State::Greeting(peer) => {
                    if !peer.fill(input, GREETING_LEN) {
                        return Ok(None);
                    }
                    let greeting = Greeting::decode(&peer.bytes)?;
                    self.check_greeting(&greeting)?;
                    self.mechanism
                        .start(&self.our_metadata(), &mut self.pending)?;
                    self.peer_version = greeting.version;
                    self.state = State::Security;
                    continue;
                }
                State::Security => {
                    let parser = self.mechanism.command_parser();
                    let command = match self.frames.decode_with(input, parser)? {
                        None => return Ok(None),
                        Some(Frame::Command(command)) => command,
                        Some(Frame::Message { .. }) => {
                            return Err(ProtocolError::UnexpectedCommand("message".into()))
                        }
                    };
                    let metadata = self.our_metadata();
                    self.mechanism.on_command(
                        command,
                        &metadata,
                        &mut self.pending,
                        &mut *self.rng.0,
                    )?
                }
                State::Authenticating { reply, .. } => match reply.take() {
                    None => return Ok(None),
                    Some(AuthReply::Refuse { status_code, text }) => {
                        // libzmq sends the bare status code, which its clients recognise.
                        let reason = Bytes::from(status_code.to_string());
                        Command::Error { reason }.encode(&mut self.pending);
                        return Err(ProtocolError::AuthenticationFailed { status_code, text });
                    }
                    Some(AuthReply::Accept {
                        user_id,
                        properties,
                    }) => {
                        self.verdict = Verdict {
                            user_id,
                            zap_properties: properties,
                        };
                        self.mechanism.on_accept(&mut self.pending)
                    }
                },
                State::Done => return Ok(None),
                State::Failed(err) => return Err(err.clone()),
            };
            match step {
                Step::Continue => self.state = State::Security,
                Step::Authenticate(request) => {
                    self.state = State::Authenticating {
                        request,
                        reply: None,
                    };
                }
                Step::Done(metadata) => {
                    let mut peer = self.accept(metadata)?;
                    if let Some((codec, key)) = self
                        .mechanism
                        .finish(&self.our_metadata(), &mut self.pending)?
                    {
                        peer.codec = Some(codec);
                        peer.curve_public_key = Some(key);
                    }
                    self.state = State::Done;
                    return Ok(Some(peer));
                }
            }
        }
    }

    /// Checks that the peer uses our mechanism, and is no server if we are one. libzmq sends
    /// as-server 0 whatever its role, so a 0 proves nothing: a client meeting a client finds
    /// out at the other's HELLO instead.
    fn check_greeting(&self, greeting: &Greeting) -> Result<(), ProtocolError> {
        let ours = self.mechanism.mechanism();
        if greeting.mechanism != ours {
            return Err(ProtocolError::MechanismMismatch {
                ours: ours.name().to_owned(),
                theirs: greeting.mechanism.name().to_owned(),
            });
        }
        if self.mechanism.as_server() && greeting.as_server {
            return Err(role_mismatch(ours, "server"));
        }
        Ok(())
    }

    /// Our greeting. Its padding carries the length of our identity plus one, so that a
    /// ZMTP 1.0 peer reads the signature as the header of our identity frame.
    fn our_greeting(&self) -> [u8; GREETING_LEN] {
        let mut greeting = Greeting {
            version: OUR_VERSION,
            mechanism: self.mechanism.mechanism(),
            as_server: self.mechanism.as_server(),
        }
        .encode();
        let identity_frame = self.config.routing_id.len() as u64 + 1;
        greeting[1..9].copy_from_slice(&identity_frame.to_be_bytes());
        greeting
    }

    /// Refuses an older peer unless both sides could speak its protocol: it knows only NULL
    /// security and the socket types of its time.
    fn check_legacy(&self, major: u8) -> Result<(), ProtocolError> {
        let unsupported = ProtocolError::UnsupportedVersion { major, minor: 0 };
        if self.mechanism.mechanism() != Mechanism::Null
            || self.config.socket_type.legacy_number().is_none()
        {
            return Err(unsupported);
        }
        Ok(())
    }

    /// The peer sent revision 0 or 1 after its signature: answer with our socket type, as a
    /// ZMTP 2.0 peer expects, and read its frames as it writes them.
    fn start_legacy(&mut self, framing: Framing) -> Result<(), ProtocolError> {
        self.check_legacy(if framing == Framing::Zmtp1 { 1 } else { 2 })?;
        let number = self.config.socket_type.legacy_number().unwrap_or_default();
        self.pending.extend_from_slice(&[number]);
        self.frames.set_framing(framing);
        self.state = State::LegacySocketType(framing);
        Ok(())
    }

    /// The peer has no signature: what it sent is the start of its identity frame. Ours was
    /// begun by our signature; its body follows.
    fn start_zmtp_1_0(
        &mut self,
        received: &[u8],
        input: &mut BytesMut,
    ) -> Result<(), ProtocolError> {
        self.check_legacy(1)?;
        let mut stream = BytesMut::with_capacity(received.len() + input.len());
        stream.extend_from_slice(received);
        stream.extend_from_slice(input);
        *input = stream;
        self.pending.extend_from_slice(&self.config.routing_id);
        self.frames.set_framing(Framing::Zmtp1);
        self.state = State::LegacyIdentity {
            framing: Framing::Zmtp1,
            socket_type: None,
        };
        Ok(())
    }

    /// Our identity frame, in an older peer's framing.
    fn send_identity(&mut self, framing: Framing) {
        let id = &self.config.routing_id;
        let (header, n) = message_header(framing, false, id.len());
        self.pending.extend_from_slice(&header[..n]);
        self.pending.extend_from_slice(id);
    }

    /// An older peer, described as a ZMTP 3.x peer would describe itself. ZMTP 1.0 names no
    /// socket type: the peer is taken to be the first type ours may talk to, as libzmq takes
    /// it to be anything.
    fn legacy_peer(
        &self,
        framing: Framing,
        socket_type: Option<SocketType>,
        routing_id: Bytes,
    ) -> PeerInfo {
        let ours = self.config.socket_type;
        let socket_type = socket_type
            .or_else(|| SocketType::ALL.into_iter().find(|&t| ours.is_compatible(t)))
            .unwrap_or(ours);
        let major = if framing == Framing::Zmtp1 { 1 } else { 2 };
        let properties = Metadata(vec![
            (
                "Socket-Type".to_owned(),
                Bytes::from_static(socket_type.name().as_bytes()),
            ),
            ("Identity".to_owned(), routing_id.clone()),
        ]);
        PeerInfo {
            version: Version { major, minor: 0 },
            framing,
            socket_type,
            routing_id,
            properties,
            user_id: Bytes::new(),
            zap_properties: Metadata::default(),
            curve_public_key: None,
            codec: None,
        }
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
    /// (RFC 23, "The Socket-Type Property"), where this side may send ERROR.
    fn accept(&mut self, metadata: Metadata) -> Result<PeerInfo, ProtocolError> {
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
        let verdict = std::mem::take(&mut self.verdict);
        Ok(PeerInfo {
            version: self.peer_version.min(OUR_VERSION),
            framing: Framing::Zmtp3,
            socket_type,
            routing_id: metadata.get("Identity").cloned().unwrap_or_default(),
            properties: metadata,
            user_id: verdict.user_id,
            zap_properties: verdict.zap_properties,
            curve_public_key: None,
            codec: None,
        })
    }

    fn queue_error(&mut self, reason: &'static str) {
        if self.mechanism.may_send_error() {
            Command::Error {
                reason: Bytes::from_static(reason.as_bytes()),
            }
            .encode(&mut self.pending);
        }
    }
}

#[cfg(test)]
mod tests;
