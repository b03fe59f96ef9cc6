//! A socket's endpoints: binding, connecting, and the pipes they make or remove.

use std::sync::Arc;

use bytes::Bytes;

use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::inproc::InprocEnd;
use crate::io_thread::token;
use crate::monitor::Event;
use crate::pipe::{Pipe, PipeKind, StreamPipe};
use crate::transport::{ipc, tcp};

use super::{Bound, SocketCore, LISTENER};

impl SocketCore {
    pub(crate) fn bind(&mut self, text: &str, endpoint: &Endpoint) -> Result<()> {
        let bound = match endpoint {
            Endpoint::Tcp { host, port } => tcp::bind(text, host, *port, self.options.ipv6),
            Endpoint::Ipc(addr) => ipc::bind(text, addr),
            Endpoint::Inproc(_) => unreachable!("inproc is bound by the context"),
        };
        let (mut listener, bound) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                self.emit(
                    || Event::BindFailed {
                        reason: e.to_string(),
                    },
                    text,
                    "",
                );
                return Err(e);
            }
        };
        let entry = self.listeners.vacant_entry();
        let key = entry.key() as u32;
        listener
            .register(&self.io.registry, token(self.id, key | LISTENER))
            .map_err(|e| Error::io(text, e))?;
        entry.insert(Bound {
            listener,
            endpoint: bound.clone(),
        });
        tracing::debug!(endpoint = %bound, "listening");
        self.emit(|| Event::Listening, &bound, "");
        self.last_endpoint = bound;
        Ok(())
    }

    pub(crate) fn connect(&mut self, text: &str, endpoint: Endpoint) {
        let routing_id = self.options.connect_routing_id.take();
        let connecting = StreamPipe::connecting(
            endpoint,
            self.options.reconnect_ivl,
            Arc::clone(&self.signal),
        );
        let pipe = Pipe::new(connecting, text, false, routing_id);
        let key = self.pipes.slab.insert(pipe);
        // With `immediate`, the pattern learns of the pipe only once it is connected.
        if !self.options.immediate {
            self.pipes.slab[key].attached = true;
            self.pattern.attach(&mut self.pipes, key);
        }
        self.last_endpoint = text.to_string();
        self.dial(key);
        self.sweep();
        self.arm_timer();
    }

    /// Adds an inproc pipe, from a connect (`routing_id` is its `connect_routing_id`) or from a
    /// peer connecting to this socket's bind; its peer is known at once, so it is connected at
    /// once.
    pub(crate) fn attach_inproc(
        &mut self,
        end: InprocEnd,
        endpoint: &str,
        connect: Option<Option<Bytes>>,
    ) {
        let pipe = match connect {
            Some(routing_id) => Pipe::new(PipeKind::Inproc(end), endpoint, false, routing_id),
            None => Pipe::new(PipeKind::Inproc(end), endpoint, true, None),
        };
        let key = self.pipes.slab.insert(pipe);
        self.attach(key);
        self.notify = true;
    }

    /// Introduces a pipe whose peer is known to the pattern.
    pub(super) fn attach(&mut self, key: usize) {
        if self.pattern.attach(&mut self.pipes, key) {
            self.pipes.slab[key].attached = true;
            self.connected(key);
        } else {
            self.refuse(key);
        }
    }

    /// Tells the pattern that a pipe's handshake is done.
    pub(super) fn connected(&mut self, key: usize) {
        if !self.pattern.connected(&mut self.pipes, key) {
            self.refuse(key);
        }
    }

    pub(super) fn refuse(&mut self, key: usize) {
        let reason = format!("the {} socket refused this peer", self.socket_type.name());
        self.pipes.close(key, &reason);
    }

    pub(crate) fn unbind(&mut self, text: &str) -> Result<()> {
        let key = self
            .listeners
            .iter()
            .find(|(_, b)| b.endpoint == text)
            .map(|(k, _)| k)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::AddressNotAvailable,
                    format!("cannot unbind {text}: not bound"),
                )
            })?;
        let mut bound = self.listeners.remove(key);
        bound.listener.deregister(&self.io.registry);
        self.emit(|| Event::Closed, &bound.endpoint, "");
        self.close_pipes(|p| matches!(&p.kind, PipeKind::Stream(s) if s.listener == Some(key)));
        Ok(())
    }

    /// Closes the inproc pipes of peers that came in through `text` (unbinding it).
    pub(crate) fn unbind_inproc(&mut self, text: &str) {
        self.close_pipes(|p| p.bound && p.endpoint == text);
    }

    pub(crate) fn disconnect(&mut self, text: &str) -> Result<()> {
        let found = self.close_pipes(|p| p.endpoint == text && !p.bound);
        if found {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::AddressNotAvailable,
                format!("cannot disconnect {text}: not connected"),
            ))
        }
    }

    pub(super) fn close_pipes(&mut self, which: impl Fn(&Pipe) -> bool) -> bool {
        let keys: Vec<usize> = self
            .pipes
            .slab
            .iter()
            .filter(|(_, p)| which(p))
            .map(|(k, _)| k)
            .collect();
        for &key in &keys {
            self.remove_pipe(key);
        }
        !keys.is_empty()
    }

    pub(super) fn remove_pipe(&mut self, key: usize) {
        self.pipes.forget(key);
        let mut pipe = self.pipes.slab.remove(key);
        if pipe.attached {
            self.pattern.detach(&mut self.pipes, key);
        }
        match &mut pipe.kind {
            PipeKind::Stream(s) => {
                if let Some(conn) = s.conn.as_mut() {
                    conn.stream.deregister(&self.io.registry);
                }
            }
            PipeKind::Inproc(end) => end.close(),
        }
        self.notify = true;
    }
}
