//! Socket options, set and read with typed methods named after libzmq's `ZMQ_*` options.
//!
//! Options that shape connections (high-water marks, heartbeats, TCP settings, routing ids)
//! apply to connections made after they are set; those that shape the pattern (`req_relaxed`,
//! `router_mandatory`, `xpub_verbose`, ...) and the timeouts apply at once.

use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::options::{Options, ReconnectStop};
use crate::socket::Socket;

/// A setter and a getter for an option that needs no checking; with a function after the
/// type, the value passes through it on the way in.
macro_rules! plain_option {
    ($(#[$doc:meta])* $set:ident, $get:ident, $field:ident: $ty:ty) => {
        plain_option!($(#[$doc])* $set, $get, $field: $ty, std::convert::identity);
    };
    ($(#[$doc:meta])* $set:ident, $get:ident, $field:ident: $ty:ty, $map:path) => {
        $(#[$doc])*
        pub fn $set(&self, value: $ty) -> Result<()> {
            self.set_option(|o| o.$field = $map(value));
            Ok(())
        }

        /// The value set with the setter of the same name.
        pub fn $get(&self) -> $ty {
            self.option(|o| o.$field.clone())
        }
    };
}

/// A duration that libzmq spells with a zero or -1 for "none" is `None` here; zero is taken
/// as `None` too.
fn some_nonzero(value: Option<Duration>) -> Option<Duration> {
    value.filter(|d| !d.is_zero())
}

impl Socket {
    fn set_option(&self, f: impl FnOnce(&mut Options)) {
        self.with_core(|core| {
            f(&mut core.options);
            core.options_changed();
        });
    }

    fn option<T>(&self, f: impl FnOnce(&Options) -> T) -> T {
        self.with_core(|core| f(&core.options))
    }

    plain_option!(
        /// Outbound high-water mark, in messages per peer (0: no limit). Default 1000.
        set_sndhwm, sndhwm, sndhwm: usize
    );
    plain_option!(
        /// Inbound high-water mark, in messages per peer (0: no limit). Default 1000.
        set_rcvhwm, rcvhwm, rcvhwm: usize
    );
    plain_option!(
        /// How long `send` waits; `None` for ever (the default), zero not at all.
        set_sndtimeo, sndtimeo, sndtimeo: Option<Duration>
    );
    plain_option!(
        /// How long `recv` waits; `None` for ever (the default), zero not at all.
        set_rcvtimeo, rcvtimeo, rcvtimeo: Option<Duration>
    );
    plain_option!(
        /// How long messages still queued are kept after the socket is dropped, to be written
        /// to their peers; `None` waits for ever (the default, as in libzmq).
        set_linger, linger, linger: Option<Duration>
    );
    plain_option!(
        /// The pause between reconnection attempts. Default 100 ms.
        set_reconnect_ivl, reconnect_ivl, reconnect_ivl: Duration
    );
    plain_option!(
        /// The longest pause between reconnection attempts: the pause starts at
        /// `reconnect_ivl` and doubles after each failure up to this. Zero (the default)
        /// keeps it constant.
        set_reconnect_ivl_max, reconnect_ivl_max, reconnect_ivl_max: Duration
    );
    plain_option!(
        /// When to stop reconnecting: on a refused connection, on a failed handshake, or never
        /// (the default). A connection given up on is removed, as `disconnect` would.
        set_reconnect_stop, reconnect_stop, reconnect_stop: ReconnectStop
    );
    plain_option!(
        /// The largest inbound frame accepted; a peer that sends a larger one is
        /// disconnected. `None` (the default) sets no limit.
        set_maxmsgsize, maxmsgsize, maxmsgsize: Option<u64>
    );
    plain_option!(
        /// REQ: allow a new request before the last one's reply came; the stale reply is
        /// dropped. Default off: a second send is a `State` error.
        set_req_relaxed, req_relaxed, req_relaxed: bool
    );
    plain_option!(
        /// REQ: tag each request with an id and accept only the reply carrying it (use with
        /// `req_relaxed`, so that a late reply to an abandoned request is never taken for the
        /// new one).
        set_req_correlate, req_correlate, req_correlate: bool
    );
    plain_option!(
        /// ROUTER: make an unroutable message a `HostUnreachable` error instead of dropping it;
        /// a send to a peer at its high-water mark then waits (up to `sndtimeo`) instead of
        /// dropping.
        set_router_mandatory, router_mandatory, router_mandatory: bool
    );
    plain_option!(
        /// ROUTER: a new peer whose routing id is in use takes it over, and the old connection
        /// is closed. Default off: the new peer is refused.
        set_router_handover, router_handover, router_handover: bool
    );
    plain_option!(
        /// ROUTER, DEALER, REQ: send an empty message to every new peer, so that a ROUTER on
        /// the other side learns this socket's routing id at once.
        set_probe_router, probe_router, probe_router: bool
    );
    plain_option!(
        /// XPUB: pass every subscription to the user, not only the first of each topic.
        set_xpub_verbose, xpub_verbose, xpub_verbose: bool
    );
    plain_option!(
        /// XPUB: pass every subscription and every cancellation to the user.
        set_xpub_verboser, xpub_verboser, xpub_verboser: bool
    );
    plain_option!(
        /// XPUB: subscriptions are not applied by the socket; the user reads each and applies
        /// it for the peer that sent it with `subscribe` (or `unsubscribe`).
        set_xpub_manual, xpub_manual, xpub_manual: bool
    );
    plain_option!(
        /// XPUB: a message sent to every subscriber when it connects (and reconnects).
        set_xpub_welcome_msg, xpub_welcome_msg, xpub_welcome_msg: Option<Bytes>
    );
    plain_option!(
        /// PUB, XPUB: at a subscriber's high-water mark, wait (up to `sndtimeo`; `WouldBlock`
        /// from `try_send`) instead of dropping the message for it.
        set_xpub_nodrop, xpub_nodrop, xpub_nodrop: bool
    );
    plain_option!(
        /// PUB, XPUB, SUB: deliver what does not match the subscriptions instead of what does.
        /// Both ends of a PUB-SUB connection must agree.
        set_invert_matching, invert_matching, invert_matching: bool
    );
    plain_option!(
        /// Keep only the newest message in each queue, for peers that want the latest state
        /// and nothing older (tcp and ipc; single-part messages).
        set_conflate, conflate, conflate: bool
    );
    plain_option!(
        /// Queue messages only for peers whose connection is complete, so that a message is
        /// never load-balanced to a peer that is not there yet.
        set_immediate, immediate, immediate: bool
    );
    plain_option!(
        /// TCP keepalive probes: `Some(true)` on, `Some(false)` off, `None` the system's
        /// setting (the default).
        set_tcp_keepalive, tcp_keepalive, tcp_keepalive: Option<bool>
    );
    plain_option!(
        /// Idle time before the first keepalive probe (with `tcp_keepalive` on).
        set_tcp_keepalive_idle, tcp_keepalive_idle, tcp_keepalive_idle: Option<Duration>
    );
    plain_option!(
        /// Unanswered keepalive probes before the connection is dropped.
        set_tcp_keepalive_cnt, tcp_keepalive_cnt, tcp_keepalive_cnt: Option<u32>
    );
    plain_option!(
        /// Time between keepalive probes.
        set_tcp_keepalive_intvl, tcp_keepalive_intvl, tcp_keepalive_intvl: Option<Duration>
    );
    plain_option!(
        /// The kernel's send buffer size for each connection, in bytes (`None`: the system's).
        set_sndbuf, sndbuf, sndbuf: Option<usize>
    );
    plain_option!(
        /// The kernel's receive buffer size for each connection, in bytes (`None`: the
        /// system's).
        set_rcvbuf, rcvbuf, rcvbuf: Option<usize>
    );
    plain_option!(
        /// The IP type-of-service byte (DSCP and ECN) of outgoing TCP packets.
        set_tos, tos, tos: Option<u32>
    );
    plain_option!(
        /// Use IPv6 as well as IPv4: `tcp://*` binds both and host names may resolve to IPv6
        /// addresses. Default off, as in libzmq. Literal addresses are used as written.
        set_ipv6, ipv6, ipv6: bool
    );

    /// The routing id this socket gives its peers (1 to 255 bytes, not starting with 0).
    pub fn set_routing_id(&self, id: impl Into<Bytes>) -> Result<()> {
        let id = id.into();
        if id.is_empty() || id.len() > 255 || id[0] == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "routing_id must be 1 to 255 bytes and must not start with a zero byte",
            ));
        }
        self.set_option(|o| o.routing_id = id);
        Ok(())
    }

    /// The routing id set with `set_routing_id` (empty when none was).
    pub fn routing_id(&self) -> Bytes {
        self.option(|o| o.routing_id.clone())
    }

    /// ROUTER: the routing id to give the peer of the next `connect` (instead of the peer's
    /// own or a generated one).
    pub fn set_connect_routing_id(&self, id: impl Into<Bytes>) -> Result<()> {
        let id = id.into();
        if id.is_empty() || id.len() > 255 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "connect_routing_id must be 1 to 255 bytes",
            ));
        }
        self.set_option(|o| o.connect_routing_id = Some(id));
        Ok(())
    }

    plain_option!(
        /// How long a new connection may take to finish its handshake. `None` (or zero): no
        /// limit. Default 30 s.
        set_handshake_ivl, handshake_ivl, handshake_ivl: Option<Duration>, some_nonzero
    );
    plain_option!(
        /// Send a ZMTP PING to each ZMTP 3.1 peer this often; `None` (the default) sends none.
        set_heartbeat_ivl, heartbeat_ivl, heartbeat_ivl: Option<Duration>, some_nonzero
    );
    plain_option!(
        /// Close a connection when nothing arrives this long after a PING. `None` (the
        /// default) uses `heartbeat_ivl`.
        set_heartbeat_timeout, heartbeat_timeout, heartbeat_timeout: Option<Duration>, some_nonzero
    );

    /// Ask peers to close the connection when they hear nothing from this socket for this
    /// long (sent in PINGs, in tenths of a second, at most 6553.5 s).
    pub fn set_heartbeat_ttl(&self, ttl: Option<Duration>) -> Result<()> {
        if ttl.is_some_and(|t| t.as_millis() > 6_553_599) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "heartbeat_ttl is at most 6553599 ms",
            ));
        }
        self.set_option(|o| o.heartbeat_ttl = some_nonzero(ttl));
        Ok(())
    }

    /// The value set with `set_heartbeat_ttl`.
    pub fn heartbeat_ttl(&self) -> Option<Duration> {
        self.option(|o| o.heartbeat_ttl)
    }

    /// Adds an application property, sent to every peer in the handshake, where messages
    /// report it (`Message::property`). The name must start with `X-` and hold only letters,
    /// digits and `-_.+`, as ZMTP and libzmq's `ZMQ_METADATA` require; setting a name again
    /// replaces its value.
    pub fn set_metadata(&self, name: &str, value: impl Into<Bytes>) -> Result<()> {
        let valid = name.len() > 2
            && name.len() <= 255
            && name[..2].eq_ignore_ascii_case("X-")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
        if !valid {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("metadata name {name:?}: must start with X- and hold only letters, digits and -_.+"),
            ));
        }
        let value = value.into();
        self.set_option(|o| {
            o.metadata.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            o.metadata.push((name.to_string(), value));
        });
        Ok(())
    }

    /// The application properties set with `set_metadata`.
    pub fn metadata(&self) -> Vec<(String, Bytes)> {
        self.option(|o| o.metadata.clone())
    }

    /// PLAIN (RFC 24): this side is the server, and asks the ZAP handler bound at
    /// `inproc://zeromq.zap.01` (an [`crate::Authenticator`], say) about every client's username
    /// and password; with no handler bound, no client gets in, as in libzmq. Credentials cross
    /// the network in clear: use PLAIN on trusted networks only.
    pub fn set_plain_server(&self, on: bool) -> Result<()> {
        if on {
            self.start_zap()?;
        }
        self.set_option(|o| o.plain_server = on);
        Ok(())
    }

    /// The value set with `set_plain_server`.
    pub fn plain_server(&self) -> bool {
        self.option(|o| o.plain_server)
    }

    /// PLAIN: this side is a client and gives this username (at most 255 bytes).
    pub fn set_plain_username(&self, username: impl Into<Bytes>) -> Result<()> {
        let username = plain_credential("plain_username", username.into())?;
        self.set_option(|o| o.plain_username = Some(username));
        Ok(())
    }

    /// PLAIN: the client's password (at most 255 bytes).
    pub fn set_plain_password(&self, password: impl Into<Bytes>) -> Result<()> {
        let password = plain_credential("plain_password", password.into())?;
        self.set_option(|o| o.plain_password = Some(password));
        Ok(())
    }

    /// The username set with `set_plain_username`.
    pub fn plain_username(&self) -> Option<Bytes> {
        self.option(|o| o.plain_username.clone())
    }

    plain_option!(
        /// The ZAP domain sent with each authentication request (RFC 27); empty by default.
        set_zap_domain, zap_domain, zap_domain: Bytes
    );
    plain_option!(
        /// With an empty ZAP domain, authenticate nobody instead of asking the handler about
        /// everybody (RFC 27 strictly; libzmq's `ZMQ_ZAP_ENFORCE_DOMAIN`). Off by default.
        set_zap_enforce_domain, zap_enforce_domain, zap_enforce_domain: bool
    );

    /// CURVE (RFC 25, 26): this side is the server; it needs its secret key
    /// (`set_curve_secretkey`) and asks the ZAP handler about every client's public key (with
    /// no handler bound, every client with a valid handshake is let in, as libzmq does).
    pub fn set_curve_server(&self, on: bool) -> Result<()> {
        if on {
            self.start_zap()?;
        }
        self.set_option(|o| o.curve_server = on);
        Ok(())
    }

    /// The value set with `set_curve_server`.
    pub fn curve_server(&self) -> bool {
        self.option(|o| o.curve_server)
    }

    /// CURVE: this side's long-term public key, as 32 bytes or 40 characters of Z85. A client
    /// that leaves it unset uses the one its secret key derives.
    pub fn set_curve_publickey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = curve_key("curve_publickey", key.as_ref())?;
        self.set_option(|o| o.curve_publickey = Some(key));
        Ok(())
    }

    /// CURVE: this side's long-term secret key, as 32 bytes or 40 characters of Z85.
    pub fn set_curve_secretkey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = curve_key("curve_secretkey", key.as_ref())?;
        self.set_option(|o| o.curve_secretkey = Some(key));
        Ok(())
    }

    /// CURVE: the server's public key, which makes this side a client; 32 bytes or 40
    /// characters of Z85.
    pub fn set_curve_serverkey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = curve_key("curve_serverkey", key.as_ref())?;
        self.set_option(|o| o.curve_serverkey = Some(key));
        Ok(())
    }

    /// The public key set with `set_curve_publickey`, in Z85.
    pub fn curve_publickey(&self) -> Option<String> {
        self.option(|o| o.curve_publickey)
            .and_then(|k| ferromq_zmtp::z85::encode(&k).ok())
    }

    /// The server key set with `set_curve_serverkey`, in Z85.
    pub fn curve_serverkey(&self) -> Option<String> {
        self.option(|o| o.curve_serverkey)
            .and_then(|k| ferromq_zmtp::z85::encode(&k).ok())
    }
}
fn plain_credential(option: &str, value: Bytes) -> Result<Bytes> {
    if value.len() > 255 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{option} is at most 255 bytes"),
        ));
    }
    Ok(value)
}

/// A CURVE key from 32 bytes, or from 40 characters of Z85 (with or without a final NUL), as
/// libzmq takes them.
fn curve_key(option: &str, key: &[u8]) -> Result<[u8; 32]> {
    let key = key
        .strip_suffix(&[0])
        .filter(|k| k.len() == 40)
        .unwrap_or(key);
    let bytes = match key.len() {
        32 => key.to_vec(),
        40 => {
            let text = std::str::from_utf8(key).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("{option}: not Z85 text"),
                )
            })?;
            ferromq_zmtp::z85::decode(text)
                .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("{option}: {e}")))?
        }
        n => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{option}: a key is 32 bytes or 40 characters of Z85, not {n}"),
            ))
        }
    };
    bytes.try_into().map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("{option}: not 32 bytes"),
        )
    })
}
