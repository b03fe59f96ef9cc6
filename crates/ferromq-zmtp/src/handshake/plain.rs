//! The PLAIN mechanism (RFC 24): the client sends its username and password in HELLO, the
//! server has them checked, then WELCOME, INITIATE and READY carry no secrets.

use bytes::{BufMut, Bytes, BytesMut};

use super::{unexpected, Step};
use crate::command::take_short;
use crate::{AuthRequest, Command, Credentials, Mechanism, Metadata, ProtocolError};

const HELLO: &[u8] = b"HELLO";
const WELCOME: &[u8] = b"WELCOME";
const INITIATE: &[u8] = b"INITIATE";

/// A PLAIN client's progress.
#[derive(Debug)]
pub(super) enum Client {
    /// HELLO is sent; WELCOME is awaited.
    Welcome,
    /// INITIATE is sent; READY is awaited.
    Ready,
}

/// A PLAIN server's progress.
#[derive(Debug)]
pub(super) enum Server {
    Hello,
    /// HELLO went to the authenticator; its verdict is awaited.
    Authenticating,
    /// WELCOME is sent; INITIATE is awaited, then READY goes back.
    Initiate,
}

/// How libzmq 4.3's PLAIN server starts ERROR: it writes the name as the C string
/// `"\x05ERROR"`, whose hex escape takes the E in, so the body starts with 0x5E and "RROR"
/// and the reason follows at once. Its clients expect just that.
const LIBZMQ_ERROR: &[u8] = &[0x5E, b'R', b'R', b'O', b'R'];

/// Parses a command for a client, taking libzmq's ERROR as the ERROR it means, so that a
/// refusal is reported as one.
pub(super) fn decode_command(body: Bytes) -> Result<Command, ProtocolError> {
    if body.starts_with(LIBZMQ_ERROR) {
        let mut data = body.slice(LIBZMQ_ERROR.len()..);
        let reason = take_field(&mut data, "error reason runs past the end")?;
        return Ok(Command::Error { reason });
    }
    Command::decode(body)
}

/// HELLO: username and password, each with a 1-byte size.
pub(super) fn hello(username: &[u8], password: &[u8]) -> Command {
    let (username, password) = (
        &username[..username.len().min(255)],
        &password[..password.len().min(255)],
    );
    let mut data = BytesMut::with_capacity(2 + username.len() + password.len());
    data.put_u8(username.len() as u8);
    data.put_slice(username);
    data.put_u8(password.len() as u8);
    data.put_slice(password);
    Command::Other {
        name: Bytes::from_static(HELLO),
        data: data.freeze(),
    }
}

/// Splits a 1-byte-sized field off the front of `data`; `what` names it in the error.
fn take_field(data: &mut Bytes, what: &'static str) -> Result<Bytes, ProtocolError> {
    take_short(data).ok_or(ProtocolError::BadCommand(what))
}

impl Client {
    pub(super) fn on_command(
        &mut self,
        command: Command,
        metadata: &Metadata,
        out: &mut BytesMut,
    ) -> Result<Step, ProtocolError> {
        match (&*self, command) {
            (Client::Welcome, Command::Other { name, data }) if name == WELCOME => {
                if !data.is_empty() {
                    return Err(ProtocolError::BadCommand("WELCOME has a body"));
                }
                Command::Other {
                    name: Bytes::from_static(INITIATE),
                    data: encoded(metadata),
                }
                .encode(out);
                *self = Client::Ready;
                Ok(Step::Continue)
            }
            (Client::Ready, Command::Ready(peer)) => Ok(Step::Done(peer)),
            (_, other) => Err(unexpected(&other)),
        }
    }
}

impl Server {
    pub(super) fn on_command(&mut self, command: Command) -> Result<Step, ProtocolError> {
        match (&mut *self, command) {
            (Server::Hello, Command::Other { name, mut data }) if name == HELLO => {
                let username = take_field(&mut data, "HELLO username runs past the end")?;
                let password = take_field(&mut data, "HELLO password runs past the end")?;
                if !data.is_empty() {
                    return Err(ProtocolError::BadCommand(
                        "HELLO has bytes after the password",
                    ));
                }
                *self = Server::Authenticating;
                Ok(Step::Authenticate(AuthRequest {
                    mechanism: Mechanism::Plain,
                    credentials: Credentials::Plain { username, password },
                }))
            }
            (Server::Initiate, Command::Other { name, data }) if name == INITIATE => {
                Ok(Step::Done(Metadata::parse(data)?))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// The authenticator accepted the client: WELCOME.
    pub(super) fn on_accept(&mut self, out: &mut BytesMut) -> Step {
        Command::Other {
            name: Bytes::from_static(WELCOME),
            data: Bytes::new(),
        }
        .encode(out);
        *self = Server::Initiate;
        Step::Continue
    }
}

/// Metadata in its wire form.
fn encoded(metadata: &Metadata) -> Bytes {
    let mut data = BytesMut::new();
    metadata.encode(&mut data);
    data.freeze()
}
