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
    /// Every socket type, so that wire names can be looked up.
    pub(crate) const ALL: [SocketType; 20] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
        SocketType::Stream,
        SocketType::Server,
        SocketType::Client,
        SocketType::Radio,
        SocketType::Dish,
        SocketType::Gather,
        SocketType::Scatter,
        SocketType::Peer,
        SocketType::Channel,
    ];

    /// The name used on the wire ("PAIR", "XPUB", ...).
    pub fn name(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
            SocketType::Server => "SERVER",
            SocketType::Client => "CLIENT",
            SocketType::Radio => "RADIO",
            SocketType::Dish => "DISH",
            SocketType::Gather => "GATHER",
            SocketType::Scatter => "SCATTER",
            SocketType::Peer => "PEER",
            SocketType::Channel => "CHANNEL",
        }
    }

    /// Parses a wire name; names are case-sensitive upper case as in the RFC.
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        Self::ALL
            .into_iter()
            .find(|ty| ty.name().as_bytes() == name)
    }

    /// The number a ZMTP 2.0 greeting carries for this type (libzmq's `ZMQ_PAIR` = 0 to
    /// `ZMQ_XSUB` = 10); the types added since have none and cannot talk to such a peer.
    pub fn legacy_number(self) -> Option<u8> {
        Self::ALL[..11]
            .iter()
            .position(|&ty| ty == self)
            .map(|n| n as u8)
    }

    /// The type a ZMTP 2.0 greeting names by number.
    pub fn from_legacy_number(number: u8) -> Option<SocketType> {
        Self::ALL[..11].get(usize::from(number)).copied()
    }

    /// Whether a socket of this type may complete a handshake with a peer of type `peer`
    /// (RFC 23 and 37, "socket type compatibility").
    pub fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        // STREAM talks raw TCP, not ZMTP, so it appears on neither side.
        matches!(
            (self, peer),
            (Pair, Pair)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Push, Pull)
                | (Pull, Push)
                | (Client, Server)
                | (Server, Client)
                | (Radio, Dish)
                | (Dish, Radio)
                | (Scatter, Gather)
                | (Gather, Scatter)
                | (Peer, Peer)
                | (Channel, Channel)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::SocketType::{self, *};

    #[test]
    fn wire_names_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for ty in SocketType::ALL {
            assert!(seen.insert(ty.name()), "duplicate name {}", ty.name());
            assert_eq!(SocketType::from_name(ty.name().as_bytes()), Some(ty));
        }
        assert_eq!(seen.len(), 20);
        assert_eq!(XPub.name(), "XPUB");
        assert_eq!(SocketType::from_name(b"push"), None);
        assert_eq!(SocketType::from_name(b"PUSH\0"), None);
        assert_eq!(SocketType::from_name(b""), None);
    }

    #[test]
    fn legacy_numbers_are_libzmqs() {
        assert_eq!(Pair.legacy_number(), Some(0));
        assert_eq!(Dealer.legacy_number(), Some(5));
        assert_eq!(Push.legacy_number(), Some(8));
        assert_eq!(XSub.legacy_number(), Some(10));
        assert_eq!(Stream.legacy_number(), None);
        assert_eq!(Client.legacy_number(), None);
        for n in 0..=10 {
            let ty = SocketType::from_legacy_number(n).unwrap();
            assert_eq!(ty.legacy_number(), Some(n));
        }
        assert_eq!(SocketType::from_legacy_number(11), None);
    }

    #[test]
    fn compatibility_table() {
        let legal: &[(SocketType, &[SocketType])] = &[
            (Pair, &[Pair]),
            (Pub, &[Sub, XSub]),
            (XPub, &[Sub, XSub]),
            (Sub, &[Pub, XPub]),
            (XSub, &[Pub, XPub]),
            (Req, &[Rep, Router]),
            (Rep, &[Req, Dealer]),
            (Dealer, &[Rep, Dealer, Router]),
            (Router, &[Req, Dealer, Router]),
            (Push, &[Pull]),
            (Pull, &[Push]),
            (Client, &[Server]),
            (Server, &[Client]),
            (Radio, &[Dish]),
            (Dish, &[Radio]),
            (Scatter, &[Gather]),
            (Gather, &[Scatter]),
            (Peer, &[Peer]),
            (Channel, &[Channel]),
            (Stream, &[]),
        ];
        for ours in SocketType::ALL {
            let peers = legal.iter().find(|(ty, _)| *ty == ours).unwrap().1;
            for peer in SocketType::ALL {
                assert_eq!(
                    ours.is_compatible(peer),
                    peers.contains(&peer),
                    "{} with {}",
                    ours.name(),
                    peer.name()
                );
                // The table is symmetric.
                assert_eq!(ours.is_compatible(peer), peer.is_compatible(ours));
            }
        }
    }
}
