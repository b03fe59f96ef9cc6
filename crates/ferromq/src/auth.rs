//! A ready-made ZAP handler (RFC 27), like CZMQ's `zauth`: it answers the authentication
//! requests of every PLAIN and CURVE server socket of a context, from lists you give it.
//!
//! ```
//! use ferromq::{Authenticator, Context, SocketType};
//! let ctx = Context::new();
//! let auth = Authenticator::start(&ctx)?;
//! auth.allow_plain("admin", "secret");
//! let server = ctx.socket(SocketType::Pull)?;
//! server.set_plain_server(true)?;
//! server.bind("tcp://127.0.0.1:*")?;
//! # Ok::<(), ferromq::Error>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;

use crate::context::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::frame::Frame;
use crate::message::Message;
use crate::zap::ZAP_ENDPOINT;

/// Who may connect.
#[derive(Debug, Default)]
struct Rules {
    /// When not empty, only these addresses may connect.
    allowed: HashSet<IpAddr>,
    denied: HashSet<IpAddr>,
    /// PLAIN usernames and their passwords.
    passwords: HashMap<Bytes, Bytes>,
    /// CURVE public keys let in, unless any key is.
    curve_keys: HashSet<[u8; 32]>,
    curve_any: bool,
}

impl Rules {
    /// The verdict on one request: status code, status text and user id.
    fn decide(
        &self,
        address: &str,
        mechanism: &[u8],
        credentials: &[Frame],
    ) -> (&'static str, String, Bytes) {
        let ip: Option<IpAddr> = address.parse().ok();
        if !self.allowed.is_empty() && !ip.is_some_and(|ip| self.allowed.contains(&ip)) {
            return (
                "400",
                format!("address {address} is not on the allowed list"),
                Bytes::new(),
            );
        }
        if ip.is_some_and(|ip| self.denied.contains(&ip)) {
            return ("400", format!("address {address} is denied"), Bytes::new());
        }
        match (mechanism, credentials) {
            (b"NULL", []) => ("200", "OK".into(), Bytes::new()),
            (b"PLAIN", [username, password]) => match self.passwords.get(&username[..]) {
                Some(known) if known == password => ("200", "OK".into(), username.to_bytes()),
                _ => ("400", "wrong username or password".into(), Bytes::new()),
            },
            (b"CURVE", [key]) => {
                let known =
                    <[u8; 32]>::try_from(key.as_ref()).is_ok_and(|k| self.curve_keys.contains(&k));
                if self.curve_any || known {
                    let user_id = crate::z85::encode(key).map(Bytes::from).unwrap_or_default();
                    ("200", "OK".into(), user_id)
                } else {
                    ("400", "unknown public key".into(), Bytes::new())
                }
            }
            _ => (
                "400",
                "unknown mechanism or malformed credentials".into(),
                Bytes::new(),
            ),
        }
    }
}

/// A ZAP handler bound at `inproc://zeromq.zap.01` in the context, on a thread of its own,
/// until dropped. By default it lets every address in, and no PLAIN or CURVE client: say whom
/// to let in with the methods below, at any time. Address rules apply to the clients of PLAIN
/// and CURVE servers, whose handshakes ask the handler.
pub struct Authenticator {
    rules: Arc<Mutex<Rules>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Binds the handler; fails if another is bound in this context.
    pub fn start(ctx: &Context) -> Result<Authenticator> {
        let handler = ctx.socket(crate::SocketType::Rep)?;
        handler.set_rcvtimeo(Some(Duration::from_millis(50)))?;
        handler.set_linger(Some(Duration::ZERO))?;
        handler.bind(ZAP_ENDPOINT)?;
        let rules = Arc::new(Mutex::new(Rules::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopping) = (Arc::clone(&rules), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("ferromq-zap".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    let request = match handler.recv() {
                        Ok(request) => request,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                        Err(_) => return,
                    };
                    let reply = answer(&lock(&shared), &request);
                    if handler.send(reply).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::io("cannot start the authenticator", e))?;
        Ok(Authenticator {
            rules,
            stop,
            thread: Some(thread),
        })
    }

    fn rules(&self) -> MutexGuard<'_, Rules> {
        lock(&self.rules)
    }

    /// Lets in only the addresses allowed this way (once any is).
    pub fn allow(&self, address: IpAddr) {
        self.rules().allowed.insert(address);
    }

    /// Keeps an address out.
    pub fn deny(&self, address: IpAddr) {
        self.rules().denied.insert(address);
    }

    /// Lets a PLAIN client in with this username and password.
    pub fn allow_plain(&self, username: impl Into<Bytes>, password: impl Into<Bytes>) {
        self.rules()
            .passwords
            .insert(username.into(), password.into());
    }

    /// Lets a CURVE client in with this public key (32 bytes, or 40 characters of Z85).
    pub fn allow_curve(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = curve_key(key.as_ref())?;
        self.rules().curve_keys.insert(key);
        Ok(())
    }

    /// Lets in the CURVE public keys found in a directory: each file holds one, in Z85, alone
    /// on a line or as CZMQ's certificates write it (`public-key = "..."`). Returns how many
    /// were read.
    pub fn allow_curve_dir(&self, dir: &Path) -> Result<usize> {
        let mut read = 0;
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for line in text.lines() {
                let line = line.trim();
                let value = line.strip_prefix("public-key").map_or(line, |rest| {
                    rest.trim_start()
                        .trim_start_matches('=')
                        .trim()
                        .trim_matches('"')
                });
                if let Ok(key) = curve_key(value.as_bytes()) {
                    self.rules().curve_keys.insert(key);
                    read += 1;
                    break;
                }
            }
        }
        Ok(read)
    }

    /// Lets in every CURVE client whose handshake is sound, whatever its key: encryption
    /// without authentication.
    pub fn allow_any_curve(&self) {
        self.rules().curve_any = true;
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(rules: &Mutex<Rules>) -> MutexGuard<'_, Rules> {
    rules.lock().unwrap_or_else(|e| e.into_inner())
}

fn curve_key(key: &[u8]) -> Result<[u8; 32]> {
    let bytes = match key.len() {
        32 => key.to_vec(),
        40 => std::str::from_utf8(key)
            .ok()
            .and_then(|text| crate::z85::decode(text).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    "a CURVE key in Z85 is 40 valid characters",
                )
            })?,
        n => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("a CURVE key is 32 bytes or 40 characters of Z85, not {n}"),
            ))
        }
    };
    bytes
        .try_into()
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, "a CURVE key is 32 bytes"))
}

/// The reply to `[version, request id, domain, address, identity, mechanism, credentials...]`
/// (a REP socket has taken the delimiter off).
fn answer(rules: &Rules, request: &Message) -> Message {
    let f = request.frames();
    let (code, text, user_id) = if f.len() < 6 || f[0] != "1.0" {
        ("500", "malformed ZAP request".to_string(), Bytes::new())
    } else {
        rules.decide(&String::from_utf8_lossy(&f[3]), &f[5], &f[6..])
    };
    let request_id = f.get(1).cloned().unwrap_or_default();
    Message::from(vec![
        Frame::from("1.0"),
        request_id,
        Frame::from(code),
        Frame::from(text),
        Frame::from(user_id),
        Frame::new(),
    ])
}
