//! ZMTP 3.x, the ZeroMQ wire protocol, without any I/O; it also speaks to ZMTP 1.0 and 2.0
//! peers, as RFC 23's backwards interoperability allows.
//!
//! This crate is fed bytes and yields frames, commands and bytes to write. It never touches a
//! socket, a thread or a clock, so every state a connection can be in is a plain value that tests
//! can drive with byte vectors. See RFC 23 (ZMTP 3.0) and RFC 37 (ZMTP 3.1).
#![forbid(unsafe_code)]

/// The random number traits `Handshake::with_rng` takes.
pub use rand_core;

pub mod command;
pub mod curve;
pub mod error;
pub mod frame;
pub mod greeting;
pub mod handshake;
pub mod security;
pub mod socket_type;
pub mod z85;

pub use command::{Command, Metadata};
pub use curve::{
    curve_keypair, curve_public, CurveCodec, CurveKeyPair, CurvePublicKey, CurveSecretKey,
};
pub use error::ProtocolError;
pub use frame::{
    encode_frame, frame_header, message_header, Frame, FrameDecoder, FrameHead, Framing,
    MAX_FRAME_SIZE,
};
pub use greeting::{Greeting, Mechanism, Version, GREETING_LEN};
pub use handshake::{Handshake, HandshakeConfig, PeerInfo};
pub use security::{AuthReply, AuthRequest, Credentials, Security};
pub use socket_type::SocketType;
pub use z85::Z85Error;
