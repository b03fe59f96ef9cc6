//! ZAP (RFC 27): asking the authentication handler at `inproc://zeromq.zap.01` whether a client
//! may connect, without blocking the I/O thread.
//!
//! A server socket gets a DEALER connected to the handler. The handshake of each client stops
//! at its credentials; the request goes out with a delimiter frame first (so that a REP handler
//! works, as RFC 27 asks), the reply comes back through the DEALER's readiness fd on the I/O
//! thread's loop, and the handshake goes on with the verdict. With no handler bound, a CURVE
//! client is accepted and a PLAIN one refused, as libzmq does.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use ferromq_zmtp::{AuthReply, AuthRequest, Credentials, Mechanism, Metadata};

use crate::context::ContextShared;
use crate::error::Result;
use crate::message::Message;
use crate::socket::Socket;

/// Where ZAP handlers bind.
pub(crate) const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// A server socket's link to the ZAP handler.
#[derive(Debug)]
pub(crate) struct ZapClient {
    dealer: Socket,
    ctx: Weak<ContextShared>,
    next_id: u64,
    /// Requests sent and not yet answered: request id to pipe key.
    waiting: HashMap<u64, usize>,
}

impl ZapClient {
    pub(crate) fn new(ctx: &Arc<ContextShared>) -> Result<ZapClient> {
        let dealer = ctx.socket(ferromq_zmtp::SocketType::Dealer)?;
        dealer.set_linger(Some(std::time::Duration::ZERO))?;
        dealer.connect(ZAP_ENDPOINT)?;
        Ok(ZapClient {
            dealer,
            ctx: Arc::downgrade(ctx),
            next_id: 0,
            waiting: HashMap::new(),
        })
    }

    /// The descriptor the I/O thread watches for replies.
    pub(crate) fn fd(&self) -> Result<RawFd> {
        Ok(self.dealer.fd()?.as_raw_fd())
    }

    /// Whether a handler is bound to ask.
    pub(crate) fn handler_present(&self) -> bool {
        self.ctx
            .upgrade()
            .is_some_and(|ctx| ctx.is_bound(&ZAP_ENDPOINT["inproc://".len()..]))
    }

    /// Sends the request for pipe `key`'s client. `address` is the client's IP address,
    /// `identity` the server socket's routing id, as libzmq sends them.
    pub(crate) fn ask(
        &mut self,
        key: usize,
        domain: &Bytes,
        address: &str,
        identity: &Bytes,
        request: &AuthRequest,
    ) -> Result<()> {
        self.next_id += 1;
        let mut msg = Message::new();
        msg.push(Bytes::new());
        msg.push(Bytes::from_static(b"1.0"));
        msg.push(Bytes::from(self.next_id.to_string()));
        msg.push(domain.clone());
        msg.push(Bytes::copy_from_slice(address.as_bytes()));
        msg.push(identity.clone());
        msg.push(Bytes::copy_from_slice(
            mechanism_name(&request.mechanism).as_bytes(),
        ));
        match &request.credentials {
            Credentials::Plain { username, password } => {
                msg.push(username.clone());
                msg.push(password.clone());
            }
            Credentials::Curve { public_key } => msg.push(Bytes::copy_from_slice(&public_key.0)),
        }
        self.dealer.try_send(msg)?;
        self.waiting.insert(self.next_id, key);
        Ok(())
    }

    /// The verdicts that have arrived, with the pipe each is for. A malformed reply is a
    /// refusal with status 500, as a broken handler must not let anyone in.
    pub(crate) fn answers(&mut self) -> Vec<(usize, AuthReply)> {
        let mut answers = Vec::new();
        while self.dealer.events().is_ok_and(|e| e.pollin) {
            let Ok(msg) = self.dealer.try_recv() else {
                break;
            };
            let (id, reply) = parse_reply(&msg);
            if let Some(key) = id.and_then(|id| self.waiting.remove(&id)) {
                answers.push((key, reply));
            }
        }
        answers
    }

    /// Forgets the request of a pipe that has gone.
    pub(crate) fn forget(&mut self, key: usize) {
        self.waiting.retain(|_, k| *k != key);
    }
}

fn refusal(text: &str) -> AuthReply {
    AuthReply::Refuse {
        status_code: 500,
        text: format!("malformed ZAP reply: {text}"),
    }
}

/// Reads `["", "1.0", request id, status code, status text, user id, metadata]`.
fn parse_reply(msg: &Message) -> (Option<u64>, AuthReply) {
    let f = msg.frames();
    if f.len() != 7 || !f[0].is_empty() || f[1] != "1.0" {
        let id = f
            .get(2)
            .and_then(|id| std::str::from_utf8(id).ok()?.parse().ok());
        return (
            id,
            refusal("expected 7 frames starting with an empty frame and 1.0"),
        );
    }
    let id = std::str::from_utf8(&f[2])
        .ok()
        .and_then(|id| id.parse().ok());
    let text = String::from_utf8_lossy(&f[4]).into_owned();
    let reply = match std::str::from_utf8(&f[3])
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
    {
        Some(200) => match Metadata::decode(&f[6]) {
            Ok(properties) => AuthReply::Accept {
                user_id: f[5].to_bytes(),
                properties,
            },
            Err(e) => refusal(&e.to_string()),
        },
        Some(code @ (300 | 400 | 500)) => AuthReply::Refuse {
            status_code: code,
            text,
        },
        _ => refusal("the status code is not 200, 300, 400 or 500"),
    };
    (id, reply)
}

/// The mechanism's name as a ZAP request carries it.
fn mechanism_name(mechanism: &Mechanism) -> &str {
    match mechanism {
        Mechanism::Null => "NULL",
        Mechanism::Plain => "PLAIN",
        Mechanism::Curve => "CURVE",
        Mechanism::Other(name) => name,
    }
}
