//! Socket options, with libzmq's defaults.

use std::time::Duration;

use bytes::Bytes;

/// When a connecting socket stops trying (libzmq's `ZMQ_RECONNECT_STOP`); by default it never
/// does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconnectStop {
    /// Stop when the connection is refused: nothing listens there.
    pub conn_refused: bool,
    /// Stop when the handshake fails: the peer is not a ZeroMQ peer this socket can talk to.
    pub handshake_failed: bool,
}

/// The options of one socket. Set through the typed methods of [`crate::Socket`].
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Outbound high-water mark in messages per peer; 0 means no limit.
    pub sndhwm: usize,
    /// Inbound high-water mark in messages per peer; 0 means no limit.
    pub rcvhwm: usize,
    /// How long queued messages are kept after close; `None` waits for ever.
    pub linger: Option<Duration>,
    /// How long `recv` waits; `None` waits for ever.
    pub rcvtimeo: Option<Duration>,
    /// How long `send` waits; `None` waits for ever.
    pub sndtimeo: Option<Duration>,
    /// This socket's routing id, sent as the `Identity` property.
    pub routing_id: Bytes,
    /// Pause before reconnecting.
    pub reconnect_ivl: Duration,
    /// Longest pause before reconnecting, when the pause doubles after each failure; zero
    /// (the default) keeps it at `reconnect_ivl`.
    pub reconnect_ivl_max: Duration,
    /// When to give up reconnecting.
    pub reconnect_stop: ReconnectStop,
    /// ZMTP heartbeats.
    pub heartbeat_ivl: Option<Duration>,
    pub heartbeat_timeout: Option<Duration>,
    pub heartbeat_ttl: Option<Duration>,
    /// Largest accepted inbound frame; `None` means no limit.
    pub maxmsgsize: Option<u64>,
    /// How long a peer may take to finish the handshake; `None` means no limit.
    pub handshake_ivl: Option<Duration>,
    /// The routing id a ROUTER gives the peer of its next `connect`.
    pub connect_routing_id: Option<Bytes>,
    /// REQ: a new request may be sent before the last reply came; the stale reply is dropped.
    pub req_relaxed: bool,
    /// REQ: each request carries an id, and only the reply with that id is accepted.
    pub req_correlate: bool,
    /// ROUTER: an unroutable message is an error instead of being dropped.
    pub router_mandatory: bool,
    /// ROUTER: a new peer with a routing id in use takes it over instead of being refused.
    pub router_handover: bool,
    /// ROUTER, DEALER, REQ: send an empty message to each new peer.
    pub probe_router: bool,
    /// Application properties (`X-...`) sent to every peer in the handshake.
    pub metadata: Vec<(String, Bytes)>,
    /// XPUB: pass every subscription to the user, not only the first of each topic.
    pub xpub_verbose: bool,
    /// XPUB: pass every subscription and cancellation to the user.
    pub xpub_verboser: bool,
    /// XPUB: the user applies subscriptions (with `subscribe`) instead of the socket.
    pub xpub_manual: bool,
    /// XPUB: a message sent to every new subscriber.
    pub xpub_welcome_msg: Option<Bytes>,
    /// PUB, XPUB: wait (or fail with `WouldBlock`) instead of dropping at a full subscriber.
    pub xpub_nodrop: bool,
    /// PUB, XPUB, SUB: deliver what does not match the subscriptions instead.
    pub invert_matching: bool,
    /// Keep only the last message in each queue.
    pub conflate: bool,
    /// Queue messages only for peers whose connection is complete.
    pub immediate: bool,
    /// TCP keepalive: `None` leaves the system's setting.
    pub tcp_keepalive: Option<bool>,
    pub tcp_keepalive_idle: Option<Duration>,
    pub tcp_keepalive_cnt: Option<u32>,
    pub tcp_keepalive_intvl: Option<Duration>,
    /// Kernel buffer sizes for TCP and IPC connections: `None` leaves the system's.
    pub sndbuf: Option<usize>,
    pub rcvbuf: Option<usize>,
    /// The IP type-of-service byte of outgoing packets.
    pub tos: Option<u32>,
    /// Use IPv6 as well as IPv4: `*` binds both, and names may resolve to IPv6 addresses.
    pub ipv6: bool,
    /// The I/O threads the socket may use, one bit each (0: any).
    pub affinity: u64,
    /// PLAIN: this side is the server and authenticates clients.
    pub plain_server: bool,
    /// PLAIN: this side is a client with these credentials.
    pub plain_username: Option<Bytes>,
    pub plain_password: Option<Bytes>,
    /// The ZAP domain sent with each authentication request.
    pub zap_domain: Bytes,
    /// With an empty domain, authenticate nobody (RFC 27 strictly) instead of everybody.
    pub zap_enforce_domain: bool,
    /// CURVE: this side is the server.
    pub curve_server: bool,
    /// CURVE: this side's long-term key pair, and (on a client) the server's public key.
    pub curve_publickey: Option<[u8; 32]>,
    pub curve_secretkey: Option<[u8; 32]>,
    pub curve_serverkey: Option<[u8; 32]>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sndhwm: 1000,
            rcvhwm: 1000,
            linger: None,
            rcvtimeo: None,
            sndtimeo: None,
            routing_id: Bytes::new(),
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::ZERO,
            reconnect_stop: ReconnectStop::default(),
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl: None,
            maxmsgsize: None,
            handshake_ivl: Some(Duration::from_secs(30)),
            connect_routing_id: None,
            req_relaxed: false,
            req_correlate: false,
            router_mandatory: false,
            router_handover: false,
            probe_router: false,
            metadata: Vec::new(),
            xpub_verbose: false,
            xpub_verboser: false,
            xpub_manual: false,
            xpub_welcome_msg: None,
            xpub_nodrop: false,
            invert_matching: false,
            conflate: false,
            immediate: false,
            tcp_keepalive: None,
            tcp_keepalive_idle: None,
            tcp_keepalive_cnt: None,
            tcp_keepalive_intvl: None,
            sndbuf: None,
            rcvbuf: None,
            tos: None,
            ipv6: false,
            affinity: 0,
            plain_server: false,
            plain_username: None,
            plain_password: None,
            zap_domain: Bytes::new(),
            zap_enforce_domain: false,
            curve_server: false,
            curve_publickey: None,
            curve_secretkey: None,
            curve_serverkey: None,
        }
    }
}
