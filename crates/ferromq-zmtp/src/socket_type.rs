//! The socket types of RFC 23 and 37, with the table of which may talk to which.

/// A ZeroMQ socket type, named as in the `Socket-Type` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketType {
    Pair,
    Pub,
    Sub,
    Req,
    Rep,
    Dealer,
    Router,
    Pull,
    Push,
    XPub,
    XSub,
    Stream,
    Server,
    Client,
    Radio,
    Dish,
    Gather,
    Scatter,
    Peer,
    Channel,
}

impl SocketType {
    /// The name used on the wire ("PAIR", "XPUB", ...).
    pub fn name(self) -> &'static str {
        todo!()
    }

    /// Parses a wire name; names are case-sensitive upper case as in the RFC.
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        todo!()
    }

    /// Whether a socket of this type may complete a handshake with a peer of type `peer`
    /// (RFC 23 and 37, "socket type compatibility").
    pub fn is_compatible(self, peer: SocketType) -> bool {
        todo!()
    }
}
