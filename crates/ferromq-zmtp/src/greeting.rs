//! The 64-byte greeting that opens every ZMTP 3.x connection.

use crate::ProtocolError;

/// Length of a full ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

/// A ZMTP protocol version, as carried in greeting bytes 10 and 11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

/// A security mechanism name, 20 bytes on the wire, padded with zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    Null,
    Plain,
    Curve,
    /// Any other name, kept so that the mismatch can be reported.
    Other(String),
}

/// A decoded greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub version: Version,
    pub mechanism: Mechanism,
    pub as_server: bool,
}

/// Byte offsets of the greeting's fields (RFC 23, "Formal Grammar").
const SIGNATURE_END: usize = 9;
const MAJOR: usize = 10;
const MINOR: usize = 11;
const MECHANISM: std::ops::Range<usize> = 12..32;
const AS_SERVER: usize = 32;

impl Mechanism {
    /// The name as carried in the greeting.
    pub(crate) fn name(&self) -> &str {
        match self {
            Mechanism::Null => "NULL",
            Mechanism::Plain => "PLAIN",
            Mechanism::Curve => "CURVE",
            Mechanism::Other(name) => name,
        }
    }

    /// Parses the 20-byte field: an ASCII name, then zeros only.
    fn decode(field: &[u8]) -> Result<Mechanism, ProtocolError> {
        let len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        let (name, padding) = field.split_at(len);
        if padding.iter().any(|&b| b != 0) {
            return Err(ProtocolError::BadGreeting(
                "mechanism has bytes after its padding",
            ));
        }
        if !name.iter().all(u8::is_ascii_graphic) {
            return Err(ProtocolError::BadGreeting(
                "mechanism is not printable ASCII",
            ));
        }
        Ok(match name {
            b"NULL" => Mechanism::Null,
            b"PLAIN" => Mechanism::Plain,
            b"CURVE" => Mechanism::Curve,
            other => Mechanism::Other(other.iter().map(|&b| char::from(b)).collect()),
        })
    }
}

/// Whether `bytes` (at least 10 of them) start with a ZMTP 2.0+ signature: 0xFF, padding that
/// means nothing, then a byte whose low bit is set (RFC 23, "Backwards Interoperability").
pub(crate) fn is_signature(bytes: &[u8]) -> bool {
    bytes[0] == 0xFF && bytes[SIGNATURE_END] & 1 == 1
}

impl Greeting {
    /// The 64 bytes this greeting is on the wire.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut bytes = [0; GREETING_LEN];
        bytes[0] = 0xFF;
        bytes[SIGNATURE_END] = 0x7F;
        bytes[MAJOR] = self.version.major;
        bytes[MINOR] = self.version.minor;
        let name = self.mechanism.name().as_bytes();
        let len = name.len().min(MECHANISM.len());
        bytes[MECHANISM.start..MECHANISM.start + len].copy_from_slice(&name[..len]);
        bytes[AS_SERVER] = u8::from(self.as_server);
        bytes
    }

    /// Decodes a full ZMTP 3.x greeting.
    pub fn decode(bytes: &[u8; GREETING_LEN]) -> Result<Greeting, ProtocolError> {
        if !is_signature(bytes) {
            return Err(ProtocolError::BadGreeting("bad signature"));
        }
        let version = Version {
            major: bytes[MAJOR],
            minor: bytes[MINOR],
        };
        if version.major < 3 {
            return Err(ProtocolError::UnsupportedVersion {
                major: version.major,
                minor: version.minor,
            });
        }
        Ok(Greeting {
            version,
            mechanism: Mechanism::decode(&bytes[MECHANISM])?,
            // Only 0 and 1 are defined; the filler and anything else unknown is not checked, so
            // that later versions can use them (RFC 23, "Version Negotiation").
            as_server: bytes[AS_SERVER] != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NULL greeting for ZMTP 3.1, byte by byte as in RFC 37, "Worked Example".
    fn null_greeting() -> [u8; GREETING_LEN] {
        let mut g = [0u8; GREETING_LEN];
        g[0] = 0xFF; // signature
        g[9] = 0x7F;
        g[10] = 3; // major
        g[11] = 1; // minor
        g[12..16].copy_from_slice(b"NULL");
        g[32] = 0; // as-server; bytes 33..64 are filler
        g
    }

    #[test]
    fn encodes_a_null_greeting() {
        let greeting = Greeting {
            version: Version { major: 3, minor: 1 },
            mechanism: Mechanism::Null,
            as_server: false,
        };
        assert_eq!(greeting.encode(), null_greeting());
        assert_eq!(Greeting::decode(&null_greeting()), Ok(greeting));
    }

    #[test]
    fn round_trips_every_mechanism() {
        for mechanism in [
            Mechanism::Null,
            Mechanism::Plain,
            Mechanism::Curve,
            Mechanism::Other("GSSAPI".into()),
            Mechanism::Other("X-01234567890123456_".into()),
        ] {
            let greeting = Greeting {
                version: Version { major: 3, minor: 0 },
                mechanism,
                as_server: true,
            };
            assert_eq!(Greeting::decode(&greeting.encode()), Ok(greeting));
        }
    }

    #[test]
    fn padding_is_not_interpreted_and_later_versions_are_accepted() {
        let mut g = null_greeting();
        g[1..9].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        g[9] = 0xFF;
        g[10] = 4;
        g[11] = 7;
        let greeting = Greeting::decode(&g).unwrap();
        assert_eq!(greeting.version, Version { major: 4, minor: 7 });
    }

    #[test]
    fn rejects_a_bad_signature() {
        let mut g = null_greeting();
        g[0] = 0xFE;
        assert!(matches!(
            Greeting::decode(&g),
            Err(ProtocolError::BadGreeting(_))
        ));
        let mut g = null_greeting();
        g[9] = 0x7E;
        assert!(matches!(
            Greeting::decode(&g),
            Err(ProtocolError::BadGreeting(_))
        ));
    }

    #[test]
    fn rejects_older_versions() {
        let mut g = null_greeting();
        g[10] = 2;
        g[11] = 0;
        assert_eq!(
            Greeting::decode(&g),
            Err(ProtocolError::UnsupportedVersion { major: 2, minor: 0 })
        );
    }

    #[test]
    fn rejects_a_malformed_mechanism() {
        let mut g = null_greeting();
        g[17] = b'X'; // after the NUL that ends "NULL"
        assert!(matches!(
            Greeting::decode(&g),
            Err(ProtocolError::BadGreeting(_))
        ));
        let mut g = null_greeting();
        g[12] = 0xC3;
        assert!(matches!(
            Greeting::decode(&g),
            Err(ProtocolError::BadGreeting(_))
        ));
    }

    #[test]
    fn keeps_an_unknown_mechanism() {
        let mut g = null_greeting();
        g[12..18].copy_from_slice(b"GSSAPI");
        assert_eq!(
            Greeting::decode(&g).unwrap().mechanism,
            Mechanism::Other("GSSAPI".into())
        );
    }
}
