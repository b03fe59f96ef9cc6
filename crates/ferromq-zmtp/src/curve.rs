//! CURVE keys and the boxes of CurveZMQ (RFC 26), and the codec that carries every frame of a
//! CURVE connection as a MESSAGE command once the handshake is done.
//!
//! The cryptography is NaCl's `crypto_box` (X25519, XSalsa20, Poly1305) and `crypto_secretbox`
//! from the RustCrypto crates; nothing here does arithmetic on keys itself.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::AeadInPlace;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use rand_core::{CryptoRngCore, OsRng};
use zeroize::Zeroize;

use crate::{frame_header, z85, Command, Frame, ProtocolError, Z85Error};

/// Bytes in a CURVE public or secret key.
pub const KEY_LEN: usize = 32;

/// The Poly1305 tag at the front of every box.
pub(crate) const TAG_LEN: usize = 16;

/// A long-term or short-term public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurvePublicKey(pub [u8; KEY_LEN]);

/// A secret key, wiped from memory when dropped and never printed.
#[derive(Clone)]
pub struct CurveSecretKey([u8; KEY_LEN]);

/// A key pair, as `zmq_curve_keypair` makes one.
#[derive(Debug, Clone)]
pub struct CurveKeyPair {
    pub public: CurvePublicKey,
    pub secret: CurveSecretKey,
}

/// Reads 40 Z85 characters as a key.
fn key_from_z85(text: &str) -> Result<[u8; KEY_LEN], Z85Error> {
    let mut bytes = z85::decode(text)?;
    let key =
        <[u8; KEY_LEN]>::try_from(&bytes[..]).map_err(|_| Z85Error::KeyLength { len: bytes.len() });
    bytes.zeroize();
    key
}

impl CurvePublicKey {
    /// Reads a key in the 40-character Z85 form that libzmq's socket options take.
    pub fn from_z85(text: &str) -> Result<CurvePublicKey, Z85Error> {
        key_from_z85(text).map(CurvePublicKey)
    }

    pub fn to_z85(&self) -> String {
        z85::encode(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurvePublicKey({})", self.to_z85())
    }
}

impl CurveSecretKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> CurveSecretKey {
        CurveSecretKey(bytes)
    }

    /// Reads a key in the 40-character Z85 form that libzmq's socket options take.
    pub fn from_z85(text: &str) -> Result<CurveSecretKey, Z85Error> {
        key_from_z85(text).map(CurveSecretKey)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub fn to_z85(&self) -> String {
        z85::encode(&self.0).unwrap_or_default()
    }

    /// Draws a new secret key from `rng`.
    pub(crate) fn generate(rng: &mut dyn CryptoRngCore) -> CurveSecretKey {
        let mut bytes = [0; KEY_LEN];
        rng.fill_bytes(&mut bytes);
        CurveSecretKey(bytes)
    }
}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveSecretKey(..)")
    }
}

impl Drop for CurveSecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl CurveKeyPair {
    /// A new key pair from `rng`.
    pub(crate) fn generate(rng: &mut dyn CryptoRngCore) -> CurveKeyPair {
        let secret = CurveSecretKey::generate(rng);
        CurveKeyPair {
            public: curve_public(&secret),
            secret,
        }
    }
}

/// A new random key pair, from the operating system's generator (`zmq_curve_keypair`).
pub fn curve_keypair() -> CurveKeyPair {
    CurveKeyPair::generate(&mut OsRng)
}

/// The public key of a secret key: X25519 with the base point (`zmq_curve_public`).
pub fn curve_public(secret: &CurveSecretKey) -> CurvePublicKey {
    CurvePublicKey(SecretKey::from(secret.0).public_key().to_bytes())
}

/// The box between one side's secret key and the other's public key, with the shared key
/// computed once (`crypto_box_beforenm`).
pub(crate) fn cipher(public: &CurvePublicKey, secret: &CurveSecretKey) -> SalsaBox {
    SalsaBox::new(&PublicKey::from(public.0), &SecretKey::from(secret.0))
}

/// The 24-byte nonce: a fixed prefix, then a short (8-byte) or long (16-byte) nonce.
pub(crate) fn nonce(prefix: &[u8], tail: &[u8]) -> crypto_box::Nonce {
    let mut nonce = crypto_box::Nonce::default();
    nonce[..prefix.len()].copy_from_slice(prefix);
    nonce[prefix.len()..].copy_from_slice(tail);
    nonce
}

/// Boxes `plaintext`: the tag, then the ciphertext, as NaCl lays a box out. `what` names it in
/// the error.
pub(crate) fn seal<C: AeadInPlace>(
    cipher: &C,
    nonce: &GenericArray<u8, C::NonceSize>,
    plaintext: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, ProtocolError> {
    let mut sealed = vec![0; TAG_LEN + plaintext.len()];
    sealed[TAG_LEN..].copy_from_slice(plaintext);
    let tag = cipher
        .encrypt_in_place_detached(nonce, b"", &mut sealed[TAG_LEN..])
        .map_err(|_| ProtocolError::EncryptionFailed(what))?;
    sealed[..TAG_LEN].copy_from_slice(&tag);
    Ok(sealed)
}

/// Opens a box made by `seal`; `what` names it in the error.
pub(crate) fn open<C: AeadInPlace>(
    cipher: &C,
    nonce: &GenericArray<u8, C::NonceSize>,
    sealed: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, ProtocolError> {
    let failed = ProtocolError::DecryptionFailed(what);
    if sealed.len() < TAG_LEN {
        return Err(failed);
    }
    let (tag, ciphertext) = sealed.split_at(TAG_LEN);
    let mut plaintext = ciphertext.to_vec();
    cipher
        .decrypt_in_place_detached(nonce, b"", &mut plaintext, GenericArray::from_slice(tag))
        .map_err(|_| failed)?;
    Ok(plaintext)
}

/// The 16-byte prefixes of MESSAGE nonces, by sender (RFC 26, "The MESSAGE Command").
pub(crate) const MESSAGE_FROM_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
pub(crate) const MESSAGE_FROM_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";

const MESSAGE: &[u8] = b"MESSAGE";
/// The name with its size: how a MESSAGE body starts.
const MESSAGE_NAME: &[u8] = b"\x07MESSAGE";

/// Flags inside a MESSAGE box: MORE (RFC 26), and COMMAND, with which libzmq sends commands
/// such as PING and SUBSCRIBE once a connection is encrypted.
const MORE: u8 = 0x01;
const COMMAND: u8 = 0x02;

/// Name, short nonce and flags: what a MESSAGE holds besides the frame's body and the tag.
const MESSAGE_OVERHEAD: usize = 1 + MESSAGE.len() + 8 + TAG_LEN + 1;

/// Turns frames into MESSAGE commands and back on a connection whose CURVE handshake is done.
///
/// A MESSAGE goes out as libzmq sends it: the command's bytes in a message frame with no
/// flags, MORE and COMMAND being inside the box. Both that and a command frame are taken in.
///
/// Each side numbers its commands with a short nonce that must only grow, so a MESSAGE that is
/// replayed or comes out of order is refused; so is any other frame, and any box that does
/// not open. Every error is fatal to the connection. Not `Clone`: two codecs would send the
/// same nonce twice under one key.
pub struct CurveCodec {
    cipher: SalsaBox,
    send_prefix: &'static [u8; 16],
    receive_prefix: &'static [u8; 16],
    /// The short nonce of the next command sent.
    next_nonce: u64,
    /// The short nonce of the last command received.
    peer_nonce: u64,
}

impl fmt::Debug for CurveCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveCodec")
            .field("next_nonce", &self.next_nonce)
            .field("peer_nonce", &self.peer_nonce)
            .finish_non_exhaustive()
    }
}

impl CurveCodec {
    pub(crate) fn new(
        cipher: SalsaBox,
        as_server: bool,
        next_nonce: u64,
        peer_nonce: u64,
    ) -> CurveCodec {
        let (send_prefix, receive_prefix) = if as_server {
            (MESSAGE_FROM_SERVER, MESSAGE_FROM_CLIENT)
        } else {
            (MESSAGE_FROM_CLIENT, MESSAGE_FROM_SERVER)
        };
        CurveCodec {
            cipher,
            send_prefix,
            receive_prefix,
            next_nonce,
            peer_nonce,
        }
    }

    /// Appends one message frame, boxed in a MESSAGE, to `out`.
    pub fn encode_message(
        &mut self,
        out: &mut BytesMut,
        more: bool,
        body: &[u8],
    ) -> Result<(), ProtocolError> {
        self.seal(out, if more { MORE } else { 0 }, body)
    }

    /// Appends a command (PING, SUBSCRIBE, ...), boxed in a MESSAGE, to `out`.
    pub fn encode_command(
        &mut self,
        out: &mut BytesMut,
        command: &Command,
    ) -> Result<(), ProtocolError> {
        let mut body = BytesMut::new();
        command.encode_body(&mut body);
        self.seal(out, COMMAND, &body)
    }

    /// Opens a frame read from the connection; returns the frame it carries.
    pub fn decode(&mut self, frame: Frame) -> Result<Frame, ProtocolError> {
        let data = match frame {
            Frame::Message { body, .. } if body.starts_with(MESSAGE_NAME) => {
                body.slice(MESSAGE_NAME.len()..)
            }
            Frame::Command(Command::Other { name, data }) if name == MESSAGE => data,
            Frame::Command(other) => {
                return Err(ProtocolError::UnexpectedCommand(
                    String::from_utf8_lossy(other.name()).into_owned(),
                ))
            }
            Frame::Message { .. } => {
                return Err(ProtocolError::UnexpectedCommand(
                    "message in clear on a CURVE connection".into(),
                ))
            }
        };
        if data.len() < MESSAGE_OVERHEAD - MESSAGE_NAME.len() {
            return Err(ProtocolError::BadCommand("MESSAGE shorter than 33 bytes"));
        }
        let (short_nonce, sealed) = data.split_at(8);
        let nonce_value = u64::from_be_bytes(short_nonce.try_into().unwrap_or_default());
        if nonce_value <= self.peer_nonce {
            return Err(ProtocolError::BadNonce {
                nonce: nonce_value,
                last: self.peer_nonce,
            });
        }
        let plaintext = open(
            &self.cipher,
            &nonce(self.receive_prefix, short_nonce),
            sealed,
            "MESSAGE box",
        )?;
        self.peer_nonce = nonce_value;
        let mut plaintext = Bytes::from(plaintext);
        let flags = plaintext[0];
        let body = plaintext.split_off(1);
        match flags {
            0 | MORE => Ok(Frame::Message {
                more: flags == MORE,
                body,
            }),
            COMMAND => Ok(Frame::Command(Command::decode(body)?)),
            _ => Err(ProtocolError::BadCommand("MESSAGE with reserved flags set")),
        }
    }

    /// Appends a MESSAGE whose box holds `flags` and `body`, encrypting in place.
    fn seal(&mut self, out: &mut BytesMut, flags: u8, body: &[u8]) -> Result<(), ProtocolError> {
        let short_nonce = self.next_nonce.to_be_bytes();
        self.next_nonce = self
            .next_nonce
            .checked_add(1)
            .ok_or(ProtocolError::NoncesExhausted)?;
        let size = MESSAGE_OVERHEAD + body.len();
        let (header, header_len) = frame_header(false, false, size);
        let start = out.len();
        out.reserve(header_len + size);
        out.put_slice(&header[..header_len]);
        out.put_slice(MESSAGE_NAME);
        out.put_slice(&short_nonce);
        let tag_at = out.len();
        out.put_bytes(0, TAG_LEN);
        out.put_u8(flags);
        out.put_slice(body);
        let nonce = nonce(self.send_prefix, &short_nonce);
        match self
            .cipher
            .encrypt_in_place_detached(&nonce, b"", &mut out[tag_at + TAG_LEN..])
        {
            Ok(tag) => {
                out[tag_at..tag_at + TAG_LEN].copy_from_slice(&tag);
                Ok(())
            }
            Err(_) => {
                // Never let the clear text out.
                out.truncate(start);
                Err(ProtocolError::EncryptionFailed("MESSAGE box"))
            }
        }
    }
}
