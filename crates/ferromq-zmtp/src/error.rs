//! Why a peer's bytes were refused.

/// A violation of ZMTP by the peer, or a peer this side cannot talk to. The connection that
/// produced it must be closed; nothing else is affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("invalid greeting: {0}")]
    BadGreeting(&'static str),
    #[error("peer speaks ZMTP {major}.{minor}, which is not supported")]
    UnsupportedVersion { major: u8, minor: u8 },
    #[error("security mechanism mismatch: we use {ours}, the peer uses {theirs}")]
    MechanismMismatch { ours: String, theirs: String },
    #[error("invalid frame: {0}")]
    BadFrame(&'static str),
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge { size: u64, limit: u64 },
    #[error("invalid command: {0}")]
    BadCommand(&'static str),
    #[error("unexpected command {0} during the handshake")]
    UnexpectedCommand(String),
    #[error("invalid metadata: {0}")]
    BadMetadata(&'static str),
    #[error("peer did not say its socket type")]
    MissingSocketType,
    #[error("peer socket type {peer} cannot talk to a {ours} socket")]
    IncompatibleSocketType { ours: &'static str, peer: String },
    #[error("peer sent ERROR: {0}")]
    PeerError(String),
    #[error("both peers are {role}s of the {mechanism} mechanism; one must be the server")]
    RoleMismatch {
        mechanism: String,
        role: &'static str,
    },
    #[error("authentication failed with status {status_code}: {text}")]
    AuthenticationFailed { status_code: u16, text: String },
    #[error("could not open the CURVE {0}: wrong key, or altered on the way")]
    DecryptionFailed(&'static str),
    #[error("could not encrypt the CURVE {0}")]
    EncryptionFailed(&'static str),
    #[error("CURVE short nonce {nonce} after {last}: a replayed or reordered command")]
    BadNonce { nonce: u64, last: u64 },
    #[error("CURVE short nonces are used up: no more commands can be sent")]
    NoncesExhausted,
}
