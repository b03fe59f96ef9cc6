//! One ferromq socket linked to one foreign peer: the security each side needs, binding and
//! connecting, and the two ends as values a scenario can drive alike.

use std::time::{Duration, Instant};

use ferromq::{
    curve_keypair, Authenticator, Context, ErrorKind, Event, Monitor, Socket, SocketType,
};

use crate::cases::{Case, Direction, Security};
use crate::common::{encode_frame, send_frames, Frames, IpcEndpoint, Peer, Transport};

/// How long anything that must happen may take: generous, for a loaded two-core machine.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// How long to watch for a message that must not arrive.
pub const QUIET: Duration = Duration::from_millis(300);

/// The PLAIN user every PLAIN server of the matrix lets in.
pub const PLAIN_USER: &str = "admin";
pub const PLAIN_PASSWORD: &str = "secret";

/// The ferromq side of a link and what it needs to stay up.
pub struct Link {
    pub ctx: Context,
    pub socket: Socket,
    pub events: Monitor,
    pub direction: Direction,
    /// The endpoint the connecting side connected to.
    pub endpoint: String,
    /// Whether ferromq finished a handshake with the peer.
    handshaken: bool,
    _ipc: Option<IpcEndpoint>,
    _auth: Option<Authenticator>,
}

impl Link {
    /// The ferromq socket of `case` on the side `direction` gives it, not yet joined.
    pub fn new(case: Case, direction: Direction) -> Result<Link, String> {
        let ctx = Context::new();
        let kind = case.ferromq_type(direction);
        let socket = ctx
            .socket(kind)
            .map_err(|e| format!("ferromq {}: {e}", kind.name()))?;
        let setup = || -> ferromq::Result<Monitor> {
            socket.set_rcvtimeo(Some(TIMEOUT))?;
            socket.set_sndtimeo(Some(TIMEOUT))?;
            socket.set_linger(Some(Duration::ZERO))?;
            socket.monitor()
        };
        let events = setup().map_err(|e| format!("ferromq {}: {e}", kind.name()))?;
        Ok(Link {
            ctx,
            socket,
            events,
            direction,
            endpoint: String::new(),
            handshaken: false,
            _ipc: None,
            _auth: None,
        })
    }

    /// Gives the peer its socket, sets up the case's security on both sides (the binding side
    /// is the server), then binds one side and connects the other.
    pub fn join(&mut self, case: Case, peer: &mut Peer, transport: Transport) {
        let peer_type = case.peer_type(self.direction);
        peer.socket(peer_type.name());
        let ms = i64::try_from(TIMEOUT.as_millis()).expect("timeout fits");
        peer.set("RCVTIMEO", ms);
        peer.set("SNDTIMEO", ms);
        peer.set("LINGER", 0);
        if case == Case::DealerRouter {
            set_dealer_id(self, peer);
        }
        match case.security() {
            Security::Null => {}
            Security::Curve => self.curve(peer),
            Security::Plain => self.plain(peer),
        }
        self.bind_and_connect(peer, transport);
        if let Err(why) = self.await_handshake() {
            panic!("{why}");
        }
    }

    /// Waits for ferromq to finish the handshake with the peer, so that a peer ferromq cannot
    /// talk to fails at once, with the reason, instead of at the first timeout.
    fn await_handshake(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(e) = self.events.recv_timeout(Some(left)) else {
                break;
            };
            if let Some(failure) = failure(&e.event) {
                return Err(format!("ferromq: {failure}"));
            }
            if e.event == Event::HandshakeSucceeded {
                self.handshaken = true;
                return Ok(());
            }
        }
        Err(format!(
            "ferromq: no handshake with the peer finished in {TIMEOUT:?}"
        ))
    }

    fn bind_and_connect(&mut self, peer: &mut Peer, transport: Transport) {
        let ipc = matches!(transport, Transport::Ipc).then(|| IpcEndpoint::new("matrix"));
        let address = match &ipc {
            Some(ipc) => ipc.endpoint(),
            None => "tcp://127.0.0.1:*".to_string(),
        };
        let name = self.socket.socket_type().name();
        if self.direction.ferro_binds {
            self.socket
                .bind(&address)
                .unwrap_or_else(|e| panic!("ferromq {name} bind {address}: {e}"));
            self.endpoint = self.socket.last_endpoint();
            peer.connect(&self.endpoint);
        } else {
            self.endpoint = peer.bind(&address);
            self.socket
                .connect(&self.endpoint)
                .unwrap_or_else(|e| panic!("ferromq {name} connect {}: {e}", self.endpoint));
        }
        self._ipc = ipc;
    }

    /// CURVE keys for both sides: the server's pair, and the client's with the server's
    /// public key. Keys cross to the peer as Z85 text, which every binding takes.
    fn curve(&mut self, peer: &mut Peer) {
        let server = curve_keypair();
        let client = curve_keypair();
        let (server_public, server_secret) = (server.public.to_z85(), server.secret.to_z85());
        let (client_public, client_secret) = (client.public.to_z85(), client.secret.to_z85());
        let s = &self.socket;
        if self.direction.ferro_binds {
            s.set_curve_server(true).expect("curve_server");
            s.set_curve_secretkey(&server_secret).expect("secret key");
            peer.set_bytes("CURVE_SERVERKEY", server_public.as_bytes());
            peer.set_bytes("CURVE_PUBLICKEY", client_public.as_bytes());
            peer.set_bytes("CURVE_SECRETKEY", client_secret.as_bytes());
        } else {
            peer.set("CURVE_SERVER", 1);
            peer.set_bytes("CURVE_SECRETKEY", server_secret.as_bytes());
            s.set_curve_serverkey(&server_public).expect("server key");
            s.set_curve_publickey(&client_public).expect("public key");
            s.set_curve_secretkey(&client_secret).expect("secret key");
        }
    }

    /// PLAIN: the server's ZAP handler knows one user, the client logs in as that user.
    fn plain(&mut self, peer: &mut Peer) {
        if self.direction.ferro_binds {
            let auth = Authenticator::start(&self.ctx).expect("ferromq authenticator");
            auth.allow_plain(PLAIN_USER, PLAIN_PASSWORD);
            self._auth = Some(auth);
            self.socket.set_plain_server(true).expect("plain_server");
            peer.set_bytes("PLAIN_USERNAME", PLAIN_USER.as_bytes());
            peer.set_bytes("PLAIN_PASSWORD", PLAIN_PASSWORD.as_bytes());
        } else {
            peer.ok(&format!("allow-plain {PLAIN_USER} {PLAIN_PASSWORD}"));
            peer.set("PLAIN_SERVER", 1);
            self.socket
                .set_plain_username(PLAIN_USER)
                .expect("plain_username");
            self.socket
                .set_plain_password(PLAIN_PASSWORD)
                .expect("plain_password");
        }
    }

    /// What ferromq's monitor saw after the handshake, for a failure message: a failed
    /// handshake or a lost connection.
    pub fn diagnosis(&self) -> String {
        if !self.handshaken {
            return String::new();
        }
        let mut seen = Vec::new();
        while let Ok(e) = self.events.recv_timeout(Some(Duration::ZERO)) {
            if let Some(text) = failure(&e.event) {
                seen.push(text);
            } else if let Event::Disconnected { reason } = e.event {
                seen.push(format!("disconnected: {reason}"));
            }
        }
        seen.dedup();
        match seen.first() {
            Some(first) => format!("ferromq saw {first}"),
            None => String::new(),
        }
    }
}

/// A failed handshake in words.
fn failure(event: &Event) -> Option<String> {
    match event {
        Event::HandshakeFailedProtocol { reason, .. }
        | Event::HandshakeFailedNoDetail { reason } => Some(format!("{}: {reason}", event.name())),
        Event::HandshakeFailedAuth { status } => Some(format!("{} {status}", event.name())),
        _ => None,
    }
}

/// The DEALER of a DEALER/ROUTER case names itself, so the ROUTER's envelopes can be checked.
pub const DEALER_ID: &[u8] = b"dealer-7";

fn set_dealer_id(link: &Link, peer: &mut Peer) {
    if link.direction.ferro_first {
        link.socket.set_routing_id(DEALER_ID).expect("routing id");
    } else {
        peer.set_bytes("ROUTING_ID", DEALER_ID);
    }
}

/// One end of a link, ferromq or the peer, so that each scenario is written once.
pub enum End<'a> {
    Ferro {
        socket: &'a Socket,
        /// The `User-Id` of the last message received.
        user_id: Option<Vec<u8>>,
    },
    Peer(&'a mut Peer),
}

impl<'a> End<'a> {
    /// The two ends of a link: (the case's first socket, its second).
    pub fn pair(link: &'a Link, peer: &'a mut Peer) -> (End<'a>, End<'a>) {
        let ferro = End::Ferro {
            socket: &link.socket,
            user_id: None,
        };
        if link.direction.ferro_first {
            (ferro, End::Peer(peer))
        } else {
            (End::Peer(peer), ferro)
        }
    }

    pub fn name(&self) -> String {
        match self {
            End::Ferro { socket, .. } => format!("ferromq {}", socket.socket_type().name()),
            End::Peer(peer) => peer.name().to_string(),
        }
    }

    pub fn is_ferromq(&self) -> bool {
        matches!(self, End::Ferro { .. })
    }

    pub fn user_id(&self) -> Option<&[u8]> {
        match self {
            End::Ferro { user_id, .. } => user_id.as_deref(),
            End::Peer(_) => None,
        }
    }

    pub fn send<F: AsRef<[u8]>>(&mut self, frames: &[F]) {
        let name = self.name();
        match self {
            End::Ferro { socket, .. } => send_frames(socket, frames, &name),
            End::Peer(peer) => peer.send(frames),
        }
    }

    /// The next message, or `None` when the receive timeout ran out.
    pub fn recv(&mut self) -> Option<Frames> {
        let name = self.name();
        match self {
            End::Ferro { socket, user_id } => match socket.recv() {
                Ok(msg) => {
                    *user_id = msg.property("User-Id").map(<[u8]>::to_vec);
                    Some(msg.iter().map(|f| f.to_vec()).collect())
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                Err(e) => panic!("{name}: recv failed: {e}"),
            },
            End::Peer(peer) => peer.recv(),
        }
    }

    fn set_recv_timeout(&mut self, timeout: Duration) {
        match self {
            End::Ferro { socket, .. } => socket.set_rcvtimeo(Some(timeout)).expect("rcvtimeo"),
            End::Peer(peer) => peer.set("RCVTIMEO", timeout.as_millis() as i64),
        }
    }

    /// Receives with a shorter timeout than usual, then restores the usual one.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<Frames> {
        self.set_recv_timeout(timeout);
        let msg = self.recv();
        self.set_recv_timeout(TIMEOUT);
        msg
    }

    /// A message that must arrive, byte for byte.
    pub fn expect<F: AsRef<[u8]>>(&mut self, expected: &[F], what: &str) {
        let name = self.name();
        let expected: Frames = expected.iter().map(|f| f.as_ref().to_vec()).collect();
        match self.recv() {
            Some(got) if got == expected => {}
            Some(got) => panic!(
                "{name}: {what}: got {}, expected {}",
                describe(&got),
                describe(&expected)
            ),
            None => panic!("{name}: {what}: nothing arrived in {TIMEOUT:?}"),
        }
    }

    /// Checks that nothing (more) arrives.
    pub fn expect_nothing(&mut self, what: &str) {
        if let Some(msg) = self.recv_within(QUIET) {
            panic!("{}: {what}: got {}", self.name(), describe(&msg));
        }
    }

    pub fn subscribe(&mut self, topic: &[u8]) {
        let name = self.name();
        match self {
            End::Ferro { socket, .. } => socket
                .subscribe(topic)
                .unwrap_or_else(|e| panic!("{name}: subscribe: {e}")),
            End::Peer(peer) => peer.subscribe(topic),
        }
    }
}

/// A short account of a message: text where it is text, lengths for large frames.
pub fn describe(msg: &Frames) -> String {
    let frames: Vec<String> = msg
        .iter()
        .map(|f| match std::str::from_utf8(f) {
            Ok(text) if f.len() <= 32 => format!("{text:?}"),
            _ if f.len() <= 16 => format!("0x{}", encode_frame(f)),
            _ => format!("<{} bytes>", f.len()),
        })
        .collect();
    format!("[{}]", frames.join(", "))
}

/// The ferromq socket type of `case` on the side `direction` gives it.
impl Case {
    pub fn ferromq_type(self, direction: Direction) -> SocketType {
        let (first, second) = self.types();
        if direction.ferro_first {
            first
        } else {
            second
        }
    }

    pub fn peer_type(self, direction: Direction) -> SocketType {
        let (first, second) = self.types();
        if direction.ferro_first {
            second
        } else {
            first
        }
    }
}
