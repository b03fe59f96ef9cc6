//! Which security mechanism a connection uses, and the authentication a server hands to its
//! caller: the handshake stops with an `AuthRequest` and goes on once given an `AuthReply`, so
//! that the engine can ask a ZAP handler (RFC 27) in between without blocking.

use bytes::Bytes;

use crate::{CurvePublicKey, CurveSecretKey, Mechanism, Metadata};

/// The security mechanism of a connection and this side's role in it, as libzmq's
/// `ZMQ_PLAIN_*` and `ZMQ_CURVE_*` socket options choose them. The default is NULL.
#[derive(Debug, Clone, Default)]
pub enum Security {
    /// No authentication and no encryption (RFC 23).
    #[default]
    Null,
    /// A PLAIN client (RFC 24): `ZMQ_PLAIN_USERNAME` and `ZMQ_PLAIN_PASSWORD`, sent in clear.
    /// Each is cut at 255 bytes, the most a PLAIN HELLO can carry.
    PlainClient { username: Bytes, password: Bytes },
    /// A PLAIN server (`ZMQ_PLAIN_SERVER`): every client's credentials go to the authenticator.
    PlainServer,
    /// A CURVE client (RFC 25): the server's long-term public key (`ZMQ_CURVE_SERVERKEY`) and
    /// the client's own key pair (`ZMQ_CURVE_PUBLICKEY`, `ZMQ_CURVE_SECRETKEY`), with which the
    /// server may authenticate it.
    CurveClient {
        server_key: CurvePublicKey,
        public_key: CurvePublicKey,
        secret_key: CurveSecretKey,
    },
    /// A CURVE server (`ZMQ_CURVE_SERVER`) with its long-term secret key; its public key, which
    /// clients must know, is `curve_public(&secret_key)`. Every client's long-term public key
    /// goes to the authenticator.
    CurveServer { secret_key: CurveSecretKey },
}

/// What a client proved itself with, as a ZAP request carries it (RFC 27).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// PLAIN: the username and password from the client's HELLO.
    Plain { username: Bytes, password: Bytes },
    /// CURVE: the client's long-term public key, proven by its vouch.
    Curve { public_key: CurvePublicKey },
}

/// A client's credentials, waiting for the authenticator's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub mechanism: Mechanism,
    pub credentials: Credentials,
}

/// The authenticator's verdict on an `AuthRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReply {
    /// ZAP status 200. `user_id` and `properties` come back in `PeerInfo` as the connection's
    /// User-Id and ZAP metadata; either may be empty.
    Accept {
        user_id: Bytes,
        properties: Metadata,
    },
    /// ZAP status 300 (try later), 400 (refused) or 500 (authenticator failure). The client is
    /// sent ERROR with the status code alone, as libzmq does, so that a libzmq NULL or CURVE
    /// client reports an authentication failure with that code (its PLAIN client expects a
    /// misspelt ERROR and reports a protocol error); `text` stays on this side, in the error.
    Refuse { status_code: u16, text: String },
}

impl AuthReply {
    /// Accepts with no User-Id and no metadata, as libzmq does when no ZAP handler runs.
    pub fn accept() -> AuthReply {
        AuthReply::Accept {
            user_id: Bytes::new(),
            properties: Metadata::default(),
        }
    }
}
