//! The directory protocol's frames (docs/directory.md): requests as a ROUTER receives them, and
//! replies addressed back to their sender.

use std::time::Duration;

use ferromq::{Frame, Message};

use crate::registry::Route;

/// One request, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Register {
        owner: String,
        service: String,
        endpoints: Vec<String>,
    },
    Unregister {
        owner: String,
        service: String,
    },
    Heartbeat {
        owner: String,
    },
    Bye {
        owner: String,
    },
    Lookup {
        service: String,
        wait: Duration,
    },
    List,
    Ps,
    Events,
}

/// Splits a message received on the ROUTER into its route and request, or the route and the
/// reason it is not a request (the reply to that is `ERROR reason`). `None` when not even a
/// route can be read (nothing to answer).
pub fn parse(msg: Message) -> Option<(Route, Result<Request, String>)> {
    let mut frames = msg.into_frames().into_iter();
    let peer = frames.next()?;
    let mut rest: Vec<Frame> = frames.collect();
    let delimiter = rest.first().is_some_and(|f| f.is_empty());
    if delimiter {
        rest.remove(0);
    }
    let peer = peer.into_bytes();
    Some((Route { peer, delimiter }, request(&rest)))
}

fn text(frame: &Frame, what: &str) -> Result<String, String> {
    let s = std::str::from_utf8(frame).map_err(|_| format!("{what} is not UTF-8"))?;
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    Ok(s.to_owned())
}

fn request(frames: &[Frame]) -> Result<Request, String> {
    let Some((command, args)) = frames.split_first() else {
        return Err("empty request".into());
    };
    let arity = |min: usize, max: usize, usage: &str| {
        if args.len() < min || args.len() > max {
            Err(format!("usage: {usage}"))
        } else {
            Ok(())
        }
    };
    match &command[..] {
        b"REGISTER" => {
            arity(3, usize::MAX, "REGISTER owner service endpoint...")?;
            Ok(Request::Register {
                owner: text(&args[0], "owner")?,
                service: text(&args[1], "service")?,
                endpoints: args[2..]
                    .iter()
                    .map(|f| text(f, "endpoint"))
                    .collect::<Result<_, _>>()?,
            })
        }
        b"UNREGISTER" => {
            arity(2, 2, "UNREGISTER owner service")?;
            Ok(Request::Unregister {
                owner: text(&args[0], "owner")?,
                service: text(&args[1], "service")?,
            })
        }
        b"HEARTBEAT" => {
            arity(1, 1, "HEARTBEAT owner")?;
            Ok(Request::Heartbeat {
                owner: text(&args[0], "owner")?,
            })
        }
        b"BYE" => {
            arity(1, 1, "BYE owner")?;
            Ok(Request::Bye {
                owner: text(&args[0], "owner")?,
            })
        }
        b"LOOKUP" => {
            arity(1, 2, "LOOKUP service [wait_ms]")?;
            let wait = match args.get(1) {
                None => Duration::ZERO,
                Some(ms) => Duration::from_millis(
                    text(ms, "wait_ms")?
                        .parse()
                        .map_err(|_| "wait_ms is not a number of milliseconds".to_string())?,
                ),
            };
            Ok(Request::Lookup {
                service: text(&args[0], "service")?,
                wait,
            })
        }
        b"LIST" => arity(0, 0, "LIST").map(|_| Request::List),
        b"PS" => arity(0, 0, "PS").map(|_| Request::Ps),
        b"EVENTS" => arity(0, 0, "EVENTS").map(|_| Request::Events),
        other => Err(format!(
            "unknown command {:?}",
            String::from_utf8_lossy(other)
        )),
    }
}

/// A message to `route` made of `frames`.
pub fn reply<I, F>(route: &Route, frames: I) -> Message
where
    I: IntoIterator<Item = F>,
    F: Into<Frame>,
{
    let mut msg = Message::new();
    msg.push(route.peer.clone());
    if route.delimiter {
        msg.push(Frame::new());
    }
    for frame in frames {
        msg.push(frame.into());
    }
    msg
}

/// `FOUND service endpoint...` or `NOTFOUND service`.
pub fn lookup_reply(route: &Route, service: &str, endpoints: &[String]) -> Message {
    if endpoints.is_empty() {
        reply(route, ["NOTFOUND".to_string(), service.to_string()])
    } else {
        let head = ["FOUND".to_string(), service.to_string()];
        reply(route, head.into_iter().chain(endpoints.iter().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(frames: &[&str]) -> Message {
        frames
            .iter()
            .map(|f| f.as_bytes().to_vec())
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn parses_dealer_and_req_requests() {
        let (route, req) =
            parse(msg(&["id", "REGISTER", "o", "s", "tcp://a:1", "ipc://b"])).unwrap();
        assert!(!route.delimiter);
        assert_eq!(
            req.unwrap(),
            Request::Register {
                owner: "o".into(),
                service: "s".into(),
                endpoints: vec!["tcp://a:1".into(), "ipc://b".into()]
            }
        );
        let (route, req) = parse(msg(&["id", "", "LOOKUP", "s", "250"])).unwrap();
        assert!(route.delimiter);
        assert_eq!(
            req.unwrap(),
            Request::Lookup {
                service: "s".into(),
                wait: Duration::from_millis(250)
            }
        );
        let reply = lookup_reply(&route, "s", &[]);
        assert_eq!(reply, msg(&["id", "", "NOTFOUND", "s"]));
    }

    #[test]
    fn malformed_requests_say_why() {
        let bad = |frames: &[&str]| parse(msg(frames)).unwrap().1.unwrap_err();
        assert!(bad(&["id", "REGISTER", "o", "s"]).contains("usage: REGISTER"));
        assert!(bad(&["id", "LOOKUP", "s", "soon"]).contains("wait_ms"));
        assert!(bad(&["id", "FLY"]).contains("unknown command \"FLY\""));
        assert!(bad(&["id"]).contains("empty"));
    }
}
