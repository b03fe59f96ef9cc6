//! Command frames (READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG, ...) and handshake metadata.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{frame_header, ProtocolError};

/// Metadata properties, as carried by READY: an ordered list of name and value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(pub Vec<(String, Bytes)>);

/// The longest PING context (RFC 37, "Connection Heartbeating").
const MAX_PING_CONTEXT: usize = 16;

/// The longest RADIO-DISH group (RFC 37, "The Radio-Dish Pattern").
const MAX_GROUP: usize = 255;

/// Whether `b` may appear in a property name (RFC 23, "The NULL Security Mechanism").
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+')
}

/// Appends a 1-byte size and the bytes it counts; longer input is cut at 255 bytes, as nothing
/// longer can be said in a 1-byte size.
fn put_short(out: &mut BytesMut, bytes: &[u8]) {
    let len = bytes.len().min(255);
    out.put_u8(len as u8);
    out.put_slice(&bytes[..len]);
}

/// Splits a 1-byte-sized field off the front of `data`, or `None` if it runs past the end.
pub(crate) fn take_short(data: &mut Bytes) -> Option<Bytes> {
    let len = usize::from(*data.first()?);
    if data.len() <= len {
        return None;
    }
    data.advance(1);
    Some(data.split_to(len))
}

/// Splits a command body into its name and the data after it.
fn split_name(body: Bytes) -> Result<(Bytes, Bytes), ProtocolError> {
    let mut data = body;
    let name =
        take_short(&mut data).ok_or(ProtocolError::BadCommand("command name runs past the end"))?;
    if name.is_empty() {
        return Err(ProtocolError::BadCommand("empty command name"));
    }
    Ok((name, data))
}

impl Metadata {
    /// The value of a property; names compare case-insensitively (RFC 23).
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Appends the wire form: name-size (1 byte), name, value-size (4 bytes), value.
    /// Names are taken to follow the RFC 23 grammar (1 to 255 of `A-Za-z0-9-_.+`) and values to
    /// be under 2 GiB: application properties are for the socket options to check.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        for (name, value) in &self.0 {
            put_short(out, name.as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
    }

    /// Parses a property list, checking every length against what is left.
    pub fn decode(data: &[u8]) -> Result<Metadata, ProtocolError> {
        Metadata::parse(Bytes::copy_from_slice(data))
    }

    /// As `decode`, with the values sharing the buffer of `data`.
    pub(crate) fn parse(mut data: Bytes) -> Result<Metadata, ProtocolError> {
        let mut properties = Vec::new();
        while !data.is_empty() {
            let name = take_short(&mut data).ok_or(ProtocolError::BadMetadata(
                "property name runs past the end",
            ))?;
            if name.is_empty() {
                return Err(ProtocolError::BadMetadata("empty property name"));
            }
            if !name.iter().all(|&b| is_name_char(b)) {
                return Err(ProtocolError::BadMetadata(
                    "invalid character in property name",
                ));
            }
            if data.len() < 4 {
                return Err(ProtocolError::BadMetadata("value size runs past the end"));
            }
            let len = data.get_u32();
            let len = usize::try_from(len)
                .ok()
                .filter(|&len| len <= data.len())
                .ok_or(ProtocolError::BadMetadata(
                    "property value runs past the end",
                ))?;
            let value = data.split_to(len);
            // Name characters are ASCII.
            let name = name.iter().map(|&b| char::from(b)).collect();
            properties.push((name, value));
        }
        Ok(Metadata(properties))
    }

    fn encoded_len(&self) -> usize {
        self.0
            .iter()
            .map(|(name, value)| 1 + name.len().min(255) + 4 + value.len())
            .sum()
    }
}

/// A ZMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ready(Metadata),
    Error {
        reason: Bytes,
    },
    Subscribe(Bytes),
    Cancel(Bytes),
    Ping {
        ttl: u16,
        context: Bytes,
    },
    Pong {
        context: Bytes,
    },
    Join(Bytes),
    Leave(Bytes),
    /// A command this crate does not interpret (for example a mechanism's own).
    Other {
        name: Bytes,
        data: Bytes,
    },
}

impl Command {
    /// Appends the whole command frame (header included) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let body_len = self.body_len();
        let (header, header_len) = frame_header(false, true, body_len);
        out.reserve(header_len + body_len);
        out.put_slice(&header[..header_len]);
        self.encode_body(out);
    }

    /// Appends the name and data, without a frame header: what CURVE boxes.
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.reserve(self.body_len());
        put_short(out, self.name());
        match self {
            Command::Ready(metadata) => metadata.encode(out),
            Command::Error { reason } => put_short(out, reason),
            Command::Ping { ttl, context } => {
                out.put_u16(*ttl);
                out.put_slice(context);
            }
            Command::Subscribe(data)
            | Command::Cancel(data)
            | Command::Pong { context: data }
            | Command::Join(data)
            | Command::Leave(data)
            | Command::Other { data, .. } => out.put_slice(data),
        }
    }

    /// Parses the body of a command frame.
    pub fn decode(body: Bytes) -> Result<Command, ProtocolError> {
        let (name, mut data) = split_name(body)?;
        Ok(match &name[..] {
            b"READY" => Command::Ready(Metadata::parse(data)?),
            b"ERROR" => Command::Error {
                reason: take_short(&mut data)
                    .ok_or(ProtocolError::BadCommand("error reason runs past the end"))?,
            },
            b"SUBSCRIBE" => Command::Subscribe(data),
            b"CANCEL" => Command::Cancel(data),
            b"PING" => {
                if data.len() < 2 {
                    return Err(ProtocolError::BadCommand("PING without a TTL"));
                }
                let ttl = data.get_u16();
                if data.len() > MAX_PING_CONTEXT {
                    return Err(ProtocolError::BadCommand("PING context over 16 bytes"));
                }
                Command::Ping { ttl, context: data }
            }
            b"PONG" => Command::Pong { context: data },
            b"JOIN" | b"LEAVE" if data.len() > MAX_GROUP => {
                return Err(ProtocolError::BadCommand("group over 255 bytes"));
            }
            b"JOIN" => Command::Join(data),
            b"LEAVE" => Command::Leave(data),
            _ => Command::Other { name, data },
        })
    }

    /// Parses a command body leaving all but ERROR as `Other`: CURVE's READY holds a box, not
    /// metadata.
    pub(crate) fn decode_opaque(body: Bytes) -> Result<Command, ProtocolError> {
        if body.starts_with(b"\x05ERROR") {
            return Command::decode(body);
        }
        let (name, data) = split_name(body)?;
        Ok(Command::Other { name, data })
    }

    /// The command name, as on the wire.
    pub(crate) fn name(&self) -> &[u8] {
        match self {
            Command::Ready(_) => b"READY",
            Command::Error { .. } => b"ERROR",
            Command::Subscribe(_) => b"SUBSCRIBE",
            Command::Cancel(_) => b"CANCEL",
            Command::Ping { .. } => b"PING",
            Command::Pong { .. } => b"PONG",
            Command::Join(_) => b"JOIN",
            Command::Leave(_) => b"LEAVE",
            Command::Other { name, .. } => name,
        }
    }

    fn body_len(&self) -> usize {
        1 + self.name().len().min(255) + self.data_len()
    }

    /// The length of everything after the name.
    fn data_len(&self) -> usize {
        match self {
            Command::Ready(metadata) => metadata.encoded_len(),
            Command::Error { reason } => 1 + reason.len().min(255),
            Command::Ping { context, .. } => 2 + context.len(),
            Command::Subscribe(data)
            | Command::Cancel(data)
            | Command::Pong { context: data }
            | Command::Join(data)
            | Command::Leave(data)
            | Command::Other { data, .. } => data.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Frame, FrameDecoder};
    use proptest::prelude::*;

    fn encoded(command: &Command) -> Vec<u8> {
        let mut out = BytesMut::new();
        command.encode(&mut out);
        out.to_vec()
    }

    /// Decodes `wire` as one whole command frame.
    fn decode_frame(wire: &[u8]) -> Result<Command, ProtocolError> {
        let mut input = BytesMut::from(wire);
        let frame = FrameDecoder::new(None).decode(&mut input)?;
        assert!(input.is_empty(), "frame left {} bytes", input.len());
        match frame {
            Some(Frame::Command(command)) => Ok(command),
            other => panic!("not a command frame: {other:?}"),
        }
    }

    /// Checks that `command` is exactly `wire`, both ways.
    fn check(command: Command, wire: &[u8]) {
        assert_eq!(encoded(&command), wire);
        assert_eq!(decode_frame(wire), Ok(command));
    }

    #[test]
    fn ready_with_socket_type_and_identity() {
        // RFC 37, "Worked Example": a DEALER's READY.
        let mut wire = vec![0x04, 41, 5];
        wire.extend_from_slice(b"READY");
        wire.push(11);
        wire.extend_from_slice(b"Socket-Type");
        wire.extend_from_slice(&[0, 0, 0, 6]);
        wire.extend_from_slice(b"DEALER");
        wire.push(8);
        wire.extend_from_slice(b"Identity");
        wire.extend_from_slice(&[0, 0, 0, 0]);
        let metadata = Metadata(vec![
            ("Socket-Type".into(), Bytes::from_static(b"DEALER")),
            ("Identity".into(), Bytes::new()),
        ]);
        check(Command::Ready(metadata), &wire);

        // The ROUTER's reply: Socket-Type only.
        let mut wire = vec![0x04, 28, 5];
        wire.extend_from_slice(b"READY");
        wire.push(11);
        wire.extend_from_slice(b"Socket-Type");
        wire.extend_from_slice(&[0, 0, 0, 6]);
        wire.extend_from_slice(b"ROUTER");
        let metadata = Metadata(vec![("Socket-Type".into(), Bytes::from_static(b"ROUTER"))]);
        check(Command::Ready(metadata), &wire);
    }

    #[test]
    fn error() {
        let mut wire = vec![0x04, 26, 5];
        wire.extend_from_slice(b"ERROR");
        wire.push(19);
        wire.extend_from_slice(b"Invalid socket type");
        let reason = Bytes::from_static(b"Invalid socket type");
        check(Command::Error { reason }, &wire);
    }

    #[test]
    fn subscribe_and_cancel() {
        let mut wire = vec![0x04, 13, 9];
        wire.extend_from_slice(b"SUBSCRIBE");
        wire.extend_from_slice(b"abc");
        check(Command::Subscribe(Bytes::from_static(b"abc")), &wire);

        let mut wire = vec![0x04, 7, 6];
        wire.extend_from_slice(b"CANCEL");
        check(Command::Cancel(Bytes::new()), &wire);
    }

    #[test]
    fn ping_and_pong() {
        // TTL 10 s is 100 tenths of a second.
        let mut wire = vec![0x04, 10, 4];
        wire.extend_from_slice(b"PING");
        wire.extend_from_slice(&[0x00, 0x64]);
        wire.extend_from_slice(b"ctx");
        let context = Bytes::from_static(b"ctx");
        check(
            Command::Ping {
                ttl: 100,
                context: context.clone(),
            },
            &wire,
        );

        let mut wire = vec![0x04, 8, 4];
        wire.extend_from_slice(b"PONG");
        wire.extend_from_slice(b"ctx");
        check(Command::Pong { context }, &wire);
    }

    #[test]
    fn join_and_leave() {
        let mut wire = vec![0x04, 9, 4];
        wire.extend_from_slice(b"JOIN");
        wire.extend_from_slice(b"news");
        check(Command::Join(Bytes::from_static(b"news")), &wire);

        let mut wire = vec![0x04, 10, 5];
        wire.extend_from_slice(b"LEAVE");
        wire.extend_from_slice(b"news");
        check(Command::Leave(Bytes::from_static(b"news")), &wire);
    }

    #[test]
    fn other_commands_are_kept() {
        let mut wire = vec![0x04, 8, 5];
        wire.extend_from_slice(b"HELLO");
        wire.extend_from_slice(&[1, 2]);
        let command = Command::Other {
            name: Bytes::from_static(b"HELLO"),
            data: Bytes::from_static(&[1, 2]),
        };
        check(command, &wire);
    }

    #[test]
    fn long_command() {
        let metadata = Metadata(vec![("X-Big".into(), Bytes::from(vec![7; 300]))]);
        let wire = encoded(&Command::Ready(metadata.clone()));
        // 1 + 5 + 1 + 5 + 4 + 300 bytes of body, so a long header.
        assert_eq!(&wire[..9], &[0x06, 0, 0, 0, 0, 0, 0, 0x01, 0x3C]);
        assert_eq!(decode_frame(&wire), Ok(Command::Ready(metadata)));
    }

    fn bad_command(body: &[u8]) -> bool {
        matches!(
            Command::decode(Bytes::copy_from_slice(body)),
            Err(ProtocolError::BadCommand(_))
        )
    }

    #[test]
    fn malformed_commands_are_refused() {
        assert!(bad_command(b""));
        assert!(bad_command(b"\x00data"));
        assert!(bad_command(b"\x06PING"));
        assert!(bad_command(b"\x05ERROR"));
        assert!(bad_command(b"\x05ERROR\x04abc"));
        assert!(bad_command(b"\x04PING"));
        assert!(bad_command(b"\x04PING\x00"));
        assert!(bad_command(b"\x04PING\x00\x01seventeen bytes!!"));
        let mut join = b"\x04JOIN".to_vec();
        join.extend_from_slice(&[b'g'; 256]);
        assert!(bad_command(&join));
        join.pop();
        assert!(!bad_command(&join));
        assert!(!bad_command(b"\x04PING\x00\x01sixteen bytes!!!"));
    }

    fn bad_metadata(data: &[u8]) -> bool {
        matches!(Metadata::decode(data), Err(ProtocolError::BadMetadata(_)))
    }

    #[test]
    fn malformed_metadata_is_refused() {
        // Value size 6 with only 5 bytes left.
        assert!(bad_metadata(b"\x04Name\x00\x00\x00\x06DEALE"));
        // Value size far past the end.
        assert!(bad_metadata(b"\x04Name\xFF\xFF\xFF\xFF"));
        // Value size itself cut short.
        assert!(bad_metadata(b"\x04Name\x00\x00\x00"));
        // Name past the end, empty, or with a character outside the grammar.
        assert!(bad_metadata(b"\x05Name"));
        assert!(bad_metadata(b"\x00\x00\x00\x00\x00"));
        assert!(bad_metadata(b"\x04Na e\x00\x00\x00\x00"));
        assert!(bad_metadata(b"\x04Na\xC3\xA9\x00\x00\x00\x00"));
        // A good property followed by a bad one.
        assert!(bad_metadata(b"\x01A\x00\x00\x00\x00\x01"));
        // As a READY command, the same is refused.
        assert!(matches!(
            Command::decode(Bytes::from_static(b"\x05READY\x04Name\x00\x00\x00\x09x")),
            Err(ProtocolError::BadMetadata(_))
        ));
    }

    #[test]
    fn metadata_names_ignore_case() {
        let metadata =
            Metadata::decode(b"\x0Bsocket-TYPE\x00\x00\x00\x03PUB\x05X-a.+\x00\x00\x00\x00")
                .unwrap();
        assert_eq!(
            metadata.get("Socket-Type"),
            Some(&Bytes::from_static(b"PUB"))
        );
        assert_eq!(metadata.get("x-A.+"), Some(&Bytes::new()));
        assert_eq!(metadata.get("Identity"), None);
        assert_eq!(Metadata::decode(b""), Ok(Metadata::default()));
    }

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
    }

    fn command() -> impl Strategy<Value = Command> {
        let property = ("[A-Za-z0-9._+-]{1,255}", bytes(300));
        prop_oneof![
            proptest::collection::vec(property, 0..5).prop_map(|p| Command::Ready(Metadata(p))),
            bytes(255).prop_map(|reason| Command::Error { reason }),
            bytes(300).prop_map(Command::Subscribe),
            bytes(300).prop_map(Command::Cancel),
            (any::<u16>(), bytes(16)).prop_map(|(ttl, context)| Command::Ping { ttl, context }),
            bytes(16).prop_map(|context| Command::Pong { context }),
            bytes(255).prop_map(Command::Join),
            bytes(255).prop_map(Command::Leave),
            // No command this crate knows starts with X.
            ("X[A-Z]{0,254}", bytes(300)).prop_map(|(name, data)| Command::Other {
                name: name.into(),
                data,
            }),
        ]
    }

    proptest! {
        #[test]
        fn commands_round_trip(command in command()) {
            let wire = encoded(&command);
            prop_assert_eq!(decode_frame(&wire), Ok(command));
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Command::decode(body.clone().into());
            let _ = Metadata::decode(&body);
        }
    }
}
