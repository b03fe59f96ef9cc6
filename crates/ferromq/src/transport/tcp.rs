//! `tcp://`: binding and connecting.

use std::io;
use std::net::SocketAddr;

use crate::endpoint::{tcp_endpoint_string, Endpoint, TcpHost};
use crate::error::{Error, Result};

use super::{Listener, Stream};

/// Binds a listener; returns it with the endpoint actually bound (the real port for `*`).
pub(crate) fn bind(
    text: &str,
    host: &TcpHost,
    port: u16,
    ipv6: bool,
) -> Result<(Listener, String)> {
    let addrs = Endpoint::resolve_tcp(host, port, ipv6).map_err(|e| Error::io(text, e))?;
    let mut last_err = None;
    for addr in addrs {
        match listen(addr) {
            Ok(listener) => {
                let local = listener.local_addr().map_err(|e| Error::io(text, e))?;
                return Ok((Listener::Tcp(listener), tcp_endpoint_string(local)));
            }
            Err(e) => last_err = Some(e),
        }
    }
    let err =
        last_err.unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, "no address"));
    Err(Error::io(format!("cannot bind to {text}"), err))
}

fn listen(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Looks a host up (a name may take the resolver's time: call it off the event loop) and
/// picks the first address.
pub(crate) fn resolve(host: &TcpHost, port: u16, ipv6: bool) -> io::Result<SocketAddr> {
    Endpoint::resolve_tcp(host, port, ipv6)?
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the host name has no address"))
}

/// Starts a non-blocking connect.
pub(crate) fn connect(addr: SocketAddr) -> io::Result<Stream> {
    let stream = mio::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    Ok(Stream::Tcp(stream))
}
