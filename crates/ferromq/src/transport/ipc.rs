//! `ipc://`: Unix domain sockets, by path or (on Linux) by abstract name.

use std::io;
use std::os::unix::net::SocketAddr;
use std::path::PathBuf;

use crate::endpoint::IpcAddr;
use crate::error::{Error, ErrorKind, Result};

use super::{Listener, Stream};

/// A bound Unix listener; removes its socket file when dropped.
#[derive(Debug)]
pub(crate) struct IpcListener {
    pub(crate) inner: mio::net::UnixListener,
    path: Option<PathBuf>,
}

impl Drop for IpcListener {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn socket_addr(addr: &IpcAddr) -> io::Result<SocketAddr> {
    match addr {
        IpcAddr::Path(path) => SocketAddr::from_pathname(path),
        IpcAddr::Abstract(name) => abstract_addr(name),
        IpcAddr::Generated => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ipc://* cannot be connected to",
        )),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket names exist only on Linux",
    ))
}

fn generated_path() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("ferromq-{}-{nanos:x}-{n}.sock", std::process::id()))
}

/// Binds; a socket file left behind by a dead process is replaced, a live one is not.
pub(crate) fn bind(text: &str, addr: &IpcAddr) -> Result<(Listener, String)> {
    let (addr, endpoint) = match addr {
        IpcAddr::Generated => {
            let path = generated_path();
            let endpoint = format!("ipc://{}", path.display());
            (IpcAddr::Path(path), endpoint)
        }
        other => (other.clone(), text.to_string()),
    };
    let sockaddr = socket_addr(&addr).map_err(|e| Error::io(text, e))?;
    if let IpcAddr::Path(path) = &addr {
        if path.exists() {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(Error::new(
                        ErrorKind::AddressInUse,
                        format!("cannot bind to {text}: another process is listening there"),
                    ))
                }
                Err(_) => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
    let inner = mio::net::UnixListener::bind_addr(&sockaddr)
        .map_err(|e| Error::io(format!("cannot bind to {text}"), e))?;
    let path = match addr {
        IpcAddr::Path(p) => Some(p),
        _ => None,
    };
    Ok((Listener::Ipc(IpcListener { inner, path }), endpoint))
}

/// Starts a non-blocking connect.
pub(crate) fn connect(addr: &IpcAddr) -> io::Result<Stream> {
    let sockaddr = socket_addr(addr)?;
    let std_stream = std::os::unix::net::UnixStream::connect_addr(&sockaddr)?;
    std_stream.set_nonblocking(true)?;
    Ok(Stream::Ipc(mio::net::UnixStream::from_std(std_stream)))
}
