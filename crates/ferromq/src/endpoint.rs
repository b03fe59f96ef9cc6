//! Endpoints (`tcp://host:port`, `ipc://path`, `inproc://name`), parsed once at the edge.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

/// Where a TCP endpoint's host part points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TcpHost {
    /// `*`: every interface (bind only).
    Any,
    /// A literal address (IPv6 in brackets in the string).
    Ip(IpAddr),
    /// A name to resolve when connecting or binding.
    Name(String),
}

/// Where an IPC endpoint lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpcAddr {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket name (written `ipc://@name`).
    Abstract(Vec<u8>),
    /// `ipc://*`: a fresh path chosen at bind time.
    Generated,
}

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `tcp://host:port`; port 0 (written `*` or `0`) asks for an ephemeral port.
    Tcp { host: TcpHost, port: u16 },
    /// `ipc://...`
    Ipc(IpcAddr),
    /// `inproc://name`
    Inproc(String),
}

fn invalid(text: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidEndpoint,
        format!("invalid endpoint {text:?}: {why}"),
    )
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(text: &str) -> Result<Endpoint> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| invalid(text, "expected transport://address"))?;
        match scheme {
            "tcp" => parse_tcp(text, rest),
            "ipc" => parse_ipc(text, rest),
            "inproc" => {
                if rest.is_empty() {
                    Err(invalid(text, "the inproc name is empty"))
                } else {
                    Ok(Endpoint::Inproc(rest.to_string()))
                }
            }
            "" => Err(invalid(text, "the transport is missing")),
            other => Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!("invalid endpoint {text:?}: transport {other:?} is not supported (use tcp, ipc or inproc)"),
            )),
        }
    }
}

fn parse_tcp(text: &str, rest: &str) -> Result<Endpoint> {
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| invalid(text, "the port is missing"))?;
    let port = match port {
        "*" | "0" => 0,
        "" => return Err(invalid(text, "the port is missing")),
        p => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid(text, "port is not a number from 1 to 65535"))?,
    };
    let host = if host == "*" {
        TcpHost::Any
    } else if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| invalid(text, "unclosed '[' in the host"))?;
        let ip: IpAddr = inner
            .parse()
            .map_err(|_| invalid(text, "not an IPv6 address between the brackets"))?;
        TcpHost::Ip(ip)
    } else if host.is_empty() {
        return Err(invalid(
            text,
            "the host is missing (use * for every interface)",
        ));
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        TcpHost::Ip(ip)
    } else if host.contains(':') {
        return Err(invalid(text, "an IPv6 address must be written in brackets"));
    } else if host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        TcpHost::Name(host.to_string())
    } else {
        return Err(invalid(text, "the host is not a valid name or address"));
    };
    Ok(Endpoint::Tcp { host, port })
}

fn parse_ipc(text: &str, rest: &str) -> Result<Endpoint> {
    if rest.is_empty() {
        return Err(invalid(text, "the path is empty"));
    }
    if rest == "*" {
        return Ok(Endpoint::Ipc(IpcAddr::Generated));
    }
    if let Some(name) = rest.strip_prefix('@') {
        if name.is_empty() {
            return Err(invalid(text, "the abstract name is empty"));
        }
        if name.len() > 106 {
            return Err(invalid(text, "the abstract name is longer than 106 bytes"));
        }
        return Ok(Endpoint::Ipc(IpcAddr::Abstract(name.as_bytes().to_vec())));
    }
    if rest.len() > 107 {
        return Err(invalid(text, "the path is longer than 107 bytes"));
    }
    Ok(Endpoint::Ipc(IpcAddr::Path(PathBuf::from(rest))))
}

impl Endpoint {
    /// The addresses a TCP endpoint stands for, looked up now.
    /// With `ipv6`, `*` is every IPv6 and IPv4 interface and names may resolve to IPv6
    /// addresses; without it, both mean IPv4 only. A literal address is taken as written.
    pub(crate) fn resolve_tcp(
        host: &TcpHost,
        port: u16,
        ipv6: bool,
    ) -> std::io::Result<Vec<SocketAddr>> {
        match host {
            TcpHost::Any if ipv6 => Ok(vec![SocketAddr::from(([0u16; 8], port))]),
            TcpHost::Any => Ok(vec![SocketAddr::from(([0, 0, 0, 0], port))]),
            TcpHost::Ip(ip) => Ok(vec![SocketAddr::new(*ip, port)]),
            TcpHost::Name(name) => {
                let addrs: Vec<SocketAddr> = (name.as_str(), port)
                    .to_socket_addrs()?
                    .filter(|a| ipv6 || a.is_ipv4())
                    .collect();
                if addrs.is_empty() {
                    let what = if ipv6 {
                        "no address"
                    } else {
                        "no IPv4 address (set ipv6 to use IPv6)"
                    };
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{name} has {what}"),
                    ));
                }
                Ok(addrs)
            }
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => {
                let port = if *port == 0 {
                    "*".to_string()
                } else {
                    port.to_string()
                };
                match host {
                    TcpHost::Any => write!(f, "tcp://*:{port}"),
                    TcpHost::Ip(IpAddr::V6(ip)) => write!(f, "tcp://[{ip}]:{port}"),
                    TcpHost::Ip(ip) => write!(f, "tcp://{ip}:{port}"),
                    TcpHost::Name(name) => write!(f, "tcp://{name}:{port}"),
                }
            }
            Endpoint::Ipc(IpcAddr::Path(p)) => write!(f, "ipc://{}", p.display()),
            Endpoint::Ipc(IpcAddr::Abstract(name)) => {
                write!(f, "ipc://@{}", String::from_utf8_lossy(name))
            }
            Endpoint::Ipc(IpcAddr::Generated) => write!(f, "ipc://*"),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

/// The `tcp://` form of a bound or connected address, as `last_endpoint` reports it.
pub(crate) fn tcp_endpoint_string(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Endpoint> {
        s.parse()
    }

    #[test]
    fn tcp_forms() {
        assert_eq!(
            parse("tcp://127.0.0.1:5555").unwrap(),
            Endpoint::Tcp {
                host: TcpHost::Ip([127, 0, 0, 1].into()),
                port: 5555
            }
        );
        assert_eq!(
            parse("tcp://*:*").unwrap(),
            Endpoint::Tcp {
                host: TcpHost::Any,
                port: 0
            }
        );
        assert_eq!(
            parse("tcp://[::1]:0").unwrap(),
            Endpoint::Tcp {
                host: TcpHost::Ip("::1".parse().unwrap()),
                port: 0
            }
        );
        assert_eq!(
            parse("tcp://localhost:80").unwrap(),
            Endpoint::Tcp {
                host: TcpHost::Name("localhost".into()),
                port: 80
            }
        );
    }

    #[test]
    fn tcp_errors_name_the_problem() {
        let e = parse("tcp://:x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidEndpoint);
        assert!(e.to_string().contains("port"), "{e}");
        assert!(parse("tcp://host")
            .unwrap_err()
            .to_string()
            .contains("port is missing"));
        // As in libzmq, the port follows the last colon, so a bare IPv6 literal is accepted.
        assert_eq!(
            parse("tcp://::1:5").unwrap(),
            Endpoint::Tcp {
                host: TcpHost::Ip("::1".parse().unwrap()),
                port: 5
            }
        );
        assert!(parse("tcp://::zz:5")
            .unwrap_err()
            .to_string()
            .contains("brackets"));
        assert!(parse("tcp://[::1:5").is_err());
        assert!(parse("tcp://h:70000").is_err());
        assert!(parse("tcp://bad host:1").is_err());
    }

    #[test]
    fn ipc_and_inproc_forms() {
        assert_eq!(
            parse("ipc:///tmp/x.sock").unwrap(),
            Endpoint::Ipc(IpcAddr::Path("/tmp/x.sock".into()))
        );
        assert_eq!(
            parse("ipc://@name").unwrap(),
            Endpoint::Ipc(IpcAddr::Abstract(b"name".to_vec()))
        );
        assert_eq!(parse("ipc://*").unwrap(), Endpoint::Ipc(IpcAddr::Generated));
        assert_eq!(parse("inproc://a").unwrap(), Endpoint::Inproc("a".into()));
        assert!(parse("inproc://").is_err());
        assert!(parse("ipc://").is_err());
    }

    #[test]
    fn unknown_transport_is_named() {
        let e = parse("udp://x:1").unwrap_err();
        assert!(e.to_string().contains("\"udp\""), "{e}");
        assert!(parse("no-scheme").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "tcp://127.0.0.1:5",
            "tcp://[::1]:7",
            "tcp://*:*",
            "ipc://@n",
            "inproc://q",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }
}
