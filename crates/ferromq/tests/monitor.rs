//! Monitor events: what a socket reports about its endpoints and connections, in order.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use ferromq::{Context, Event, Monitor, MonitorEvent, SocketType};

use common::{free_tcp_port, Peer};

const WAIT: Duration = Duration::from_secs(5);

fn next(monitor: &Monitor) -> MonitorEvent {
    monitor
        .recv_timeout(Some(WAIT))
        .expect("no monitor event within 5 s")
}

/// The next event whose name is one of `names`, skipping others; panics on a timeout.
fn next_of(monitor: &Monitor, names: &[&str]) -> MonitorEvent {
    loop {
        let event = next(monitor);
        if names.contains(&event.event.name()) {
            return event;
        }
    }
}

#[test]
fn bind_connect_accept_handshake_and_disconnect_in_order() {
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Pull).unwrap();
    let server_events = server.monitor().unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.last_endpoint();
    let listening = next(&server_events);
    assert_eq!(
        (listening.event, listening.endpoint.as_str()),
        (Event::Listening, endpoint.as_str())
    );

    let client = ctx.socket(SocketType::Push).unwrap();
    let client_events = client.monitor().unwrap();
    client.connect(&endpoint).unwrap();
    let names: Vec<&str> = (0..3).map(|_| next(&client_events).event.name()).collect();
    assert_eq!(
        names,
        ["connect_delayed", "connected", "handshake_succeeded"]
    );

    let accepted = next(&server_events);
    assert_eq!(accepted.event, Event::Accepted);
    assert!(
        accepted.peer_address.starts_with("tcp://127.0.0.1:"),
        "{accepted:?}"
    );
    let handshake = next(&server_events);
    assert_eq!(handshake.event, Event::HandshakeSucceeded);
    assert_eq!(handshake.peer_address, accepted.peer_address);

    drop(client);
    let gone = next(&server_events);
    assert_eq!(gone.event.name(), "disconnected", "{gone:?}");
    assert_eq!(gone.endpoint, endpoint);
    assert_eq!(gone.peer_address, accepted.peer_address);

    server.unbind(&endpoint).unwrap();
    assert_eq!(next(&server_events).event, Event::Closed);
    drop(server);
    assert_eq!(next(&server_events).event, Event::MonitorStopped);
    assert!(
        server_events.recv_timeout(Some(WAIT)).is_err(),
        "events after monitor_stopped"
    );
}

#[test]
fn garbage_instead_of_a_greeting_is_a_protocol_failure() {
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Pull).unwrap();
    let events = server.monitor().unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let address = server
        .last_endpoint()
        .trim_start_matches("tcp://")
        .to_string();
    let mut raw = TcpStream::connect(address).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let failed = next_of(
        &events,
        &["handshake_failed_protocol", "handshake_succeeded"],
    );
    match failed.event {
        Event::HandshakeFailedProtocol { code, reason } => {
            assert_eq!(
                code & 0xF000_0000,
                0x1000_0000,
                "a ZMTP protocol error code: {code:#x}"
            );
            assert!(reason.contains("ZMTP"), "{reason}");
        }
        other => panic!("expected a protocol failure, got {other:?}"),
    }
    assert_eq!(next(&events).event.name(), "disconnected");
}

#[test]
fn a_handshake_that_never_finishes_fails_without_detail() {
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Pull).unwrap();
    server
        .set_handshake_ivl(Some(Duration::from_millis(200)))
        .unwrap();
    let events = server.monitor().unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let address = server
        .last_endpoint()
        .trim_start_matches("tcp://")
        .to_string();
    let mut raw = TcpStream::connect(address).unwrap();
    raw.write_all(&[0xFF, 0, 0, 0]).unwrap();
    let failed = next_of(
        &events,
        &["handshake_failed_no_detail", "handshake_failed_protocol"],
    );
    assert_eq!(
        failed.event.name(),
        "handshake_failed_no_detail",
        "{failed:?}"
    );
    assert!(failed.event.reason().unwrap().contains("handshake_ivl"));
}

#[test]
fn a_refused_connect_is_retried_with_its_interval() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_reconnect_ivl(Duration::from_millis(30)).unwrap();
    let events = push.monitor().unwrap();
    push.connect(&format!("tcp://127.0.0.1:{}", free_tcp_port()))
        .unwrap();
    let retried = next_of(&events, &["connect_retried", "connected"]);
    assert_eq!(
        retried.event,
        Event::ConnectRetried {
            interval: Duration::from_millis(30)
        }
    );
}

/// A libzmq peer killed with SIGKILL mid-stream: `disconnected`, then `connect_retried`;
/// when it is started again, traffic resumes with no call from the user.
#[test]
fn a_killed_peer_is_reported_and_traffic_resumes_when_it_returns() {
    let ctx = Context::new();
    let port = free_tcp_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_reconnect_ivl(Duration::from_millis(50)).unwrap();
    push.set_sndtimeo(Some(WAIT)).unwrap();
    let events = push.monitor().unwrap();

    let mut first = Peer::pyzmq_socket("pyzmq PULL", "PULL", WAIT);
    first.bind(&endpoint);
    push.connect(&endpoint).unwrap();
    push.send("one").unwrap();
    assert_eq!(first.recv().expect("first message"), vec![b"one".to_vec()]);
    next_of(&events, &["handshake_succeeded"]);

    first.kill();
    let gone = next_of(&events, &["disconnected"]);
    assert_eq!(gone.endpoint, endpoint);
    assert_eq!(next_of(&events, &["connect_retried"]).endpoint, endpoint);

    let mut second = Peer::pyzmq_socket("pyzmq PULL again", "PULL", WAIT);
    second.bind(&endpoint);
    next_of(&events, &["handshake_succeeded"]);
    push.send("two").unwrap();
    assert_eq!(
        second.recv().expect("traffic did not resume"),
        vec![b"two".to_vec()]
    );
}

#[test]
fn libzmq_format_on_an_inproc_pair() {
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Pull).unwrap();
    server
        .monitor_versioned("inproc://server-events", u64::MAX, 2)
        .unwrap();
    let reader = ctx.socket(SocketType::Pair).unwrap();
    reader.set_rcvtimeo(Some(WAIT)).unwrap();
    reader.connect("inproc://server-events").unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let msg = reader.recv().unwrap();
    let frames = msg.frames();
    assert_eq!(frames.len(), 5, "v2: event, count, value, local, remote");
    assert_eq!(
        frames[0].as_ref(),
        0x0008u64.to_ne_bytes(),
        "ZMQ_EVENT_LISTENING"
    );
    assert_eq!(frames[1].as_ref(), 1u64.to_ne_bytes());
    assert_eq!(frames[3], server.last_endpoint().as_bytes());
    assert!(frames[4].is_empty());

    let v1 = ctx.socket(SocketType::Pull).unwrap();
    v1.monitor_versioned("inproc://v1-events", 0x0008, 1)
        .unwrap();
    let reader = ctx.socket(SocketType::Pair).unwrap();
    reader.set_rcvtimeo(Some(WAIT)).unwrap();
    reader.connect("inproc://v1-events").unwrap();
    v1.bind("tcp://127.0.0.1:*").unwrap();
    let msg = reader.recv().unwrap();
    assert_eq!(
        msg.frames()[0].len(),
        6,
        "v1: 16-bit event and 32-bit value"
    );
    assert_eq!(msg.frames()[0][..2], 0x0008u16.to_ne_bytes());
    assert_eq!(msg.frames()[1], v1.last_endpoint().as_bytes());
    assert!(v1
        .monitor_versioned("tcp://127.0.0.1:1", u64::MAX, 2)
        .is_err());
}
