//! The CURVE mechanism (RFC 25, with the commands of CurveZMQ, RFC 26): HELLO, WELCOME,
//! INITIATE and READY, after which every frame is a MESSAGE box (`CurveCodec`).
//!
//! Four key pairs meet: the client's and server's long-term ones (C, S) and one short-term
//! pair each for this connection (C', S'). The server keeps S' only inside the cookie it gives
//! the client, boxed under a cookie key of its own; that key is drawn afresh for every
//! connection when HELLO arrives and wiped as soon as INITIATE brings the cookie back (or the
//! handshake is dropped), so a cookie is good for one connection only.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::SalsaBox;
use crypto_secretbox::{KeyInit, XSalsa20Poly1305};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::{unexpected, Step};
use crate::curve::{cipher, nonce, open, seal, KEY_LEN, TAG_LEN};
use crate::{
    AuthRequest, Command, Credentials, CurveCodec, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    Mechanism, Metadata, ProtocolError,
};

const HELLO: &[u8] = b"HELLO";
const WELCOME: &[u8] = b"WELCOME";
const INITIATE: &[u8] = b"INITIATE";
const READY: &[u8] = b"READY";

/// Nonce prefixes: 16 bytes before a short nonce, 8 before a long one.
const HELLO_NONCE: &[u8; 16] = b"CurveZMQHELLO---";
const WELCOME_NONCE: &[u8; 8] = b"WELCOME-";
const COOKIE_NONCE: &[u8; 8] = b"COOKIE--";
const INITIATE_NONCE: &[u8; 16] = b"CurveZMQINITIATE";
const VOUCH_NONCE: &[u8; 8] = b"VOUCH---";
const READY_NONCE: &[u8; 16] = b"CurveZMQREADY---";

const SHORT_NONCE_LEN: usize = 8;
const LONG_NONCE_LEN: usize = 16;

/// The CurveZMQ version in HELLO: 1.0.
const VERSION: [u8; 2] = [1, 0];
/// HELLO's zeros that make it larger than WELCOME, against amplification.
const HELLO_PADDING: usize = 72;
/// What HELLO's signature box holds.
const SIGNATURE: [u8; 64] = [0; 64];
/// The data after each command's name (RFC 26, "High-level Grammar").
const HELLO_LEN: usize = 2 + HELLO_PADDING + KEY_LEN + SHORT_NONCE_LEN + TAG_LEN + 64;
const COOKIE_LEN: usize = LONG_NONCE_LEN + TAG_LEN + 2 * KEY_LEN;
const WELCOME_LEN: usize = LONG_NONCE_LEN + TAG_LEN + KEY_LEN + COOKIE_LEN;
const VOUCH_LEN: usize = LONG_NONCE_LEN + TAG_LEN + 2 * KEY_LEN;
const MIN_INITIATE_LEN: usize = COOKIE_LEN + SHORT_NONCE_LEN + TAG_LEN + KEY_LEN + VOUCH_LEN;
const MIN_READY_LEN: usize = SHORT_NONCE_LEN + TAG_LEN;

/// `n` random bytes.
fn random<const N: usize>(rng: &mut dyn CryptoRngCore) -> [u8; N] {
    let mut bytes = [0; N];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// A 32-byte key from a slice known to hold one.
fn key_at(bytes: &[u8]) -> [u8; KEY_LEN] {
    let mut key = [0; KEY_LEN];
    key.copy_from_slice(&bytes[..KEY_LEN]);
    key
}

fn other(name: &'static [u8], data: Vec<u8>) -> Command {
    Command::Other {
        name: Bytes::from_static(name),
        data: data.into(),
    }
}

/// The next short nonce to send, counting up from 1 as libzmq does.
fn take_nonce(next: &mut u64) -> Result<[u8; SHORT_NONCE_LEN], ProtocolError> {
    let nonce = next.to_be_bytes();
    *next = next.checked_add(1).ok_or(ProtocolError::NoncesExhausted)?;
    Ok(nonce)
}

fn short_nonce_value(bytes: &[u8]) -> u64 {
    let mut value = [0; SHORT_NONCE_LEN];
    value.copy_from_slice(&bytes[..SHORT_NONCE_LEN]);
    u64::from_be_bytes(value)
}

/// A CURVE client's keys and progress.
pub(super) struct Client {
    server_key: CurvePublicKey,
    public_key: CurvePublicKey,
    secret_key: CurveSecretKey,
    /// C' and c': this connection's key pair.
    transient: CurveKeyPair,
    next_nonce: u64,
    progress: ClientProgress,
}

enum ClientProgress {
    /// HELLO is sent; WELCOME is awaited.
    Welcome,
    /// INITIATE is sent; READY is awaited. The box is C' to S'.
    Ready(SalsaBox),
    /// READY is in: the box and the server's nonce go to the codec.
    Done { cipher: SalsaBox, peer_nonce: u64 },
    /// The box has gone to the codec, or the handshake failed.
    Finished,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("curve::Client")
            .field("server_key", &self.server_key)
            .field("next_nonce", &self.next_nonce)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(super) fn new(
        server_key: CurvePublicKey,
        public_key: CurvePublicKey,
        secret_key: CurveSecretKey,
        rng: &mut dyn CryptoRngCore,
    ) -> Client {
        Client {
            server_key,
            public_key,
            secret_key,
            transient: CurveKeyPair::generate(rng),
            next_nonce: 1,
            progress: ClientProgress::Welcome,
        }
    }

    /// HELLO: C', and a box of zeros from C' to S that only the right server can open.
    pub(super) fn hello(&mut self, out: &mut BytesMut) -> Result<(), ProtocolError> {
        let short = take_nonce(&mut self.next_nonce)?;
        let signature = seal(
            &cipher(&self.server_key, &self.transient.secret),
            &nonce(HELLO_NONCE, &short),
            &SIGNATURE,
            "HELLO box",
        )?;
        let mut data = Vec::with_capacity(HELLO_LEN);
        data.extend_from_slice(&VERSION);
        data.extend_from_slice(&[0; HELLO_PADDING]);
        data.extend_from_slice(&self.transient.public.0);
        data.extend_from_slice(&short);
        data.extend_from_slice(&signature);
        other(HELLO, data).encode(out);
        Ok(())
    }

    pub(super) fn on_command(
        &mut self,
        command: Command,
        metadata: &Metadata,
        out: &mut BytesMut,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Step, ProtocolError> {
        // Any error ends the handshake, so the progress taken here need not be put back.
        match (
            std::mem::replace(&mut self.progress, ClientProgress::Finished),
            command,
        ) {
            (ClientProgress::Welcome, Command::Other { name, data }) if name == WELCOME => {
                self.progress = ClientProgress::Ready(self.on_welcome(&data, metadata, out, rng)?);
                Ok(Step::Continue)
            }
            (ClientProgress::Ready(cipher), Command::Other { name, data }) if name == READY => {
                if data.len() < MIN_READY_LEN {
                    return Err(ProtocolError::BadCommand("READY shorter than 30 bytes"));
                }
                let (short, sealed) = data.split_at(SHORT_NONCE_LEN);
                let plaintext = open(&cipher, &nonce(READY_NONCE, short), sealed, "READY box")?;
                let peer = Metadata::parse(plaintext.into())?;
                self.progress = ClientProgress::Done {
                    cipher,
                    peer_nonce: short_nonce_value(short),
                };
                Ok(Step::Done(peer))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// Opens WELCOME for S' and the cookie, and answers with INITIATE: the cookie, then C, the
    /// vouch and our metadata in a box from C' to S'. Returns that box, for READY and after.
    fn on_welcome(
        &mut self,
        data: &[u8],
        metadata: &Metadata,
        out: &mut BytesMut,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<SalsaBox, ProtocolError> {
        if data.len() != WELCOME_LEN {
            return Err(ProtocolError::BadCommand("WELCOME is not 168 bytes"));
        }
        let (long, sealed) = data.split_at(LONG_NONCE_LEN);
        let welcome = open(
            &cipher(&self.server_key, &self.transient.secret),
            &nonce(WELCOME_NONCE, long),
            sealed,
            "WELCOME box",
        )?;
        let server_transient = CurvePublicKey(key_at(&welcome));
        let cookie = &welcome[KEY_LEN..];

        // The vouch: C' and S in a box from C to S', proving we hold c.
        let vouch_nonce: [u8; LONG_NONCE_LEN] = random(rng);
        let mut vouched = [0; 2 * KEY_LEN];
        vouched[..KEY_LEN].copy_from_slice(&self.transient.public.0);
        vouched[KEY_LEN..].copy_from_slice(&self.server_key.0);
        let vouch = seal(
            &cipher(&server_transient, &self.secret_key),
            &nonce(VOUCH_NONCE, &vouch_nonce),
            &vouched,
            "vouch",
        )?;

        let mut plaintext = BytesMut::with_capacity(KEY_LEN + VOUCH_LEN);
        plaintext.put_slice(&self.public_key.0);
        plaintext.put_slice(&vouch_nonce);
        plaintext.put_slice(&vouch);
        metadata.encode(&mut plaintext);
        let session = cipher(&server_transient, &self.transient.secret);
        let short = take_nonce(&mut self.next_nonce)?;
        let sealed = seal(
            &session,
            &nonce(INITIATE_NONCE, &short),
            &plaintext,
            "INITIATE box",
        )?;
        let mut data = Vec::with_capacity(COOKIE_LEN + SHORT_NONCE_LEN + sealed.len());
        data.extend_from_slice(cookie);
        data.extend_from_slice(&short);
        data.extend_from_slice(&sealed);
        other(INITIATE, data).encode(out);
        Ok(session)
    }

    /// The codec for the frames that follow, and the server's long-term key.
    pub(super) fn finish(&mut self) -> Option<(CurveCodec, CurvePublicKey)> {
        match std::mem::replace(&mut self.progress, ClientProgress::Finished) {
            ClientProgress::Done { cipher, peer_nonce } => Some((
                CurveCodec::new(cipher, false, self.next_nonce, peer_nonce),
                self.server_key,
            )),
            _ => None,
        }
    }
}

/// A CURVE server's keys and progress.
pub(super) struct Server {
    /// S and s.
    keypair: CurveKeyPair,
    next_nonce: u64,
    progress: ServerProgress,
}

enum ServerProgress {
    Hello,
    /// WELCOME is sent; INITIATE is awaited with the cookie, which only `cookie_key` opens.
    Initiate {
        cookie_key: Zeroizing<[u8; KEY_LEN]>,
        client_transient: CurvePublicKey,
        peer_nonce: u64,
    },
    /// The client has proven its long-term key; the verdict on it is awaited.
    Authenticating(Box<Proven>),
    /// Accepted; READY goes out once the client's metadata is checked.
    Accepted(Box<Proven>),
    /// The box has gone to the codec, or the handshake failed.
    Finished,
}

/// What INITIATE proved: the box from S' to C', the client's long-term key and its metadata.
struct Proven {
    cipher: SalsaBox,
    client_key: CurvePublicKey,
    metadata: Metadata,
    peer_nonce: u64,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("curve::Server")
            .field("public_key", &self.keypair.public)
            .field("next_nonce", &self.next_nonce)
            .finish_non_exhaustive()
    }
}

impl Server {
    pub(super) fn new(secret_key: CurveSecretKey) -> Server {
        Server {
            keypair: CurveKeyPair {
                public: crate::curve_public(&secret_key),
                secret: secret_key,
            },
            next_nonce: 1,
            progress: ServerProgress::Hello,
        }
    }

    pub(super) fn on_command(
        &mut self,
        command: Command,
        out: &mut BytesMut,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Step, ProtocolError> {
        // Any error ends the handshake, so the progress taken here need not be put back.
        match (
            std::mem::replace(&mut self.progress, ServerProgress::Finished),
            command,
        ) {
            (ServerProgress::Hello, Command::Other { name, data }) if name == HELLO => {
                self.progress = self.on_hello(&data, out, rng)?;
                Ok(Step::Continue)
            }
            (
                ServerProgress::Initiate {
                    cookie_key,
                    client_transient,
                    peer_nonce,
                },
                Command::Other { name, data },
            ) if name == INITIATE => {
                let proven = self.on_initiate(data, cookie_key, client_transient, peer_nonce)?;
                let public_key = proven.client_key;
                self.progress = ServerProgress::Authenticating(Box::new(proven));
                Ok(Step::Authenticate(AuthRequest {
                    mechanism: Mechanism::Curve,
                    credentials: Credentials::Curve { public_key },
                }))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// Checks HELLO and answers with WELCOME: S' and the cookie, in a box from S to C'.
    fn on_hello(
        &self,
        data: &[u8],
        out: &mut BytesMut,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<ServerProgress, ProtocolError> {
        if data.len() != HELLO_LEN {
            return Err(ProtocolError::BadCommand("HELLO is not 200 bytes"));
        }
        let (version, rest) = data.split_at(VERSION.len());
        if version != VERSION {
            return Err(ProtocolError::BadCommand("HELLO is not for CurveZMQ 1.0"));
        }
        let (padding, rest) = rest.split_at(HELLO_PADDING);
        if padding.iter().any(|&b| b != 0) {
            return Err(ProtocolError::BadCommand("HELLO padding is not all zeros"));
        }
        let (client_transient, rest) = rest.split_at(KEY_LEN);
        let client_transient = CurvePublicKey(key_at(client_transient));
        let (short, sealed) = rest.split_at(SHORT_NONCE_LEN);
        let to_client = cipher(&client_transient, &self.keypair.secret);
        let signature = open(&to_client, &nonce(HELLO_NONCE, short), sealed, "HELLO box")?;
        if signature != SIGNATURE {
            return Err(ProtocolError::BadCommand(
                "HELLO signature is not all zeros",
            ));
        }

        // The cookie: C' and s' under a key only this connection knows.
        let transient = CurveKeyPair::generate(rng);
        let cookie_key = Zeroizing::new(random::<KEY_LEN>(rng));
        let cookie_nonce: [u8; LONG_NONCE_LEN] = random(rng);
        let mut cookie_plaintext = Zeroizing::new([0; 2 * KEY_LEN]);
        cookie_plaintext[..KEY_LEN].copy_from_slice(&client_transient.0);
        cookie_plaintext[KEY_LEN..].copy_from_slice(transient.secret.as_bytes());
        let cookie_box = seal(
            &XSalsa20Poly1305::new(cookie_key.as_ref().into()),
            &nonce(COOKIE_NONCE, &cookie_nonce),
            cookie_plaintext.as_ref(),
            "cookie",
        )?;

        let mut welcome = Vec::with_capacity(KEY_LEN + COOKIE_LEN);
        welcome.extend_from_slice(&transient.public.0);
        welcome.extend_from_slice(&cookie_nonce);
        welcome.extend_from_slice(&cookie_box);
        let welcome_nonce: [u8; LONG_NONCE_LEN] = random(rng);
        let sealed = seal(
            &to_client,
            &nonce(WELCOME_NONCE, &welcome_nonce),
            &welcome,
            "WELCOME box",
        )?;
        let mut data = Vec::with_capacity(WELCOME_LEN);
        data.extend_from_slice(&welcome_nonce);
        data.extend_from_slice(&sealed);
        other(WELCOME, data).encode(out);
        Ok(ServerProgress::Initiate {
            cookie_key,
            client_transient,
            peer_nonce: short_nonce_value(short),
        })
    }

    /// Opens INITIATE: the cookie gives back s', the box C and the vouch, which must be C' and
    /// S from C to S'.
    fn on_initiate(
        &self,
        data: Bytes,
        cookie_key: Zeroizing<[u8; KEY_LEN]>,
        client_transient: CurvePublicKey,
        peer_nonce: u64,
    ) -> Result<Proven, ProtocolError> {
        if data.len() < MIN_INITIATE_LEN {
            return Err(ProtocolError::BadCommand("INITIATE shorter than 257 bytes"));
        }
        let (cookie, rest) = data.split_at(COOKIE_LEN);
        let (cookie_nonce, cookie_box) = cookie.split_at(LONG_NONCE_LEN);
        let cookie = Zeroizing::new(open(
            &XSalsa20Poly1305::new(cookie_key.as_ref().into()),
            &nonce(COOKIE_NONCE, cookie_nonce),
            cookie_box,
            "cookie",
        )?);
        drop(cookie_key);
        if cookie[..KEY_LEN] != client_transient.0 {
            return Err(ProtocolError::BadCommand(
                "cookie is for another connection",
            ));
        }
        let server_transient = CurveSecretKey::from_bytes(key_at(&cookie[KEY_LEN..]));

        let (short, sealed) = rest.split_at(SHORT_NONCE_LEN);
        let nonce_value = short_nonce_value(short);
        if nonce_value <= peer_nonce {
            return Err(ProtocolError::BadNonce {
                nonce: nonce_value,
                last: peer_nonce,
            });
        }
        let session = cipher(&client_transient, &server_transient);
        let plaintext = Bytes::from(open(
            &session,
            &nonce(INITIATE_NONCE, short),
            sealed,
            "INITIATE box",
        )?);
        let client_key = CurvePublicKey(key_at(&plaintext));
        let vouch = &plaintext[KEY_LEN..KEY_LEN + VOUCH_LEN];
        let (vouch_nonce, vouch_box) = vouch.split_at(LONG_NONCE_LEN);
        let vouched = open(
            &cipher(&client_key, &server_transient),
            &nonce(VOUCH_NONCE, vouch_nonce),
            vouch_box,
            "vouch",
        )?;
        if vouched[..KEY_LEN] != client_transient.0 || vouched[KEY_LEN..] != self.keypair.public.0 {
            return Err(ProtocolError::BadCommand("vouch is for another connection"));
        }
        Ok(Proven {
            cipher: session,
            client_key,
            metadata: Metadata::parse(plaintext.slice(KEY_LEN + VOUCH_LEN..))?,
            peer_nonce: nonce_value,
        })
    }

    /// The authenticator accepted the client: its metadata is next to be checked.
    pub(super) fn on_accept(&mut self) -> Step {
        match std::mem::replace(&mut self.progress, ServerProgress::Finished) {
            ServerProgress::Authenticating(proven) => {
                let metadata = proven.metadata.clone();
                self.progress = ServerProgress::Accepted(proven);
                Step::Done(metadata)
            }
            _ => Step::Continue,
        }
    }

    /// Sends READY, our metadata in a box from S' to C'; returns the codec for the frames
    /// that follow, and the client's long-term key.
    pub(super) fn finish(
        &mut self,
        metadata: &Metadata,
        out: &mut BytesMut,
    ) -> Result<Option<(CurveCodec, CurvePublicKey)>, ProtocolError> {
        let ServerProgress::Accepted(proven) =
            std::mem::replace(&mut self.progress, ServerProgress::Finished)
        else {
            return Ok(None);
        };
        let mut plaintext = BytesMut::new();
        metadata.encode(&mut plaintext);
        let short = take_nonce(&mut self.next_nonce)?;
        let sealed = seal(
            &proven.cipher,
            &nonce(READY_NONCE, &short),
            &plaintext,
            "READY box",
        )?;
        let mut data = Vec::with_capacity(SHORT_NONCE_LEN + sealed.len());
        data.extend_from_slice(&short);
        data.extend_from_slice(&sealed);
        other(READY, data).encode(out);
        let Proven {
            cipher,
            client_key,
            peer_nonce,
            ..
        } = *proven;
        Ok(Some((
            CurveCodec::new(cipher, true, self.next_nonce, peer_nonce),
            client_key,
        )))
    }
}
