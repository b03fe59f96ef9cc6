//! What a received message tells about its sender.

mod common;

use std::time::Duration;

use ferromq::{Context, ErrorKind, SocketType};

use common::Peer;

#[test]
fn messages_carry_the_peers_handshake_properties() {
    let ctx = Context::new();
    let router = ctx.socket(SocketType::Router).unwrap();
    router.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    dealer.set_routing_id("dealer-7").unwrap();
    dealer.set_metadata("X-Service", "pricing").unwrap();
    dealer.connect(&router.last_endpoint()).unwrap();
    dealer.send("hello").unwrap();
    let msg = router.recv().unwrap();
    assert_eq!(msg.property("Socket-Type"), Some(&b"DEALER"[..]));
    assert_eq!(msg.property("Routing-Id"), Some(&b"dealer-7"[..]));
    assert_eq!(msg.property("Identity"), Some(&b"dealer-7"[..]));
    assert_eq!(msg.property("Peer-Address"), Some(&b"127.0.0.1"[..]));
    assert_eq!(msg.property("x-service"), Some(&b"pricing"[..]));
    assert_eq!(msg.property("X-Missing"), None);
    assert_eq!(
        ferromq::Message::from("made here").property("Socket-Type"),
        None
    );
}

#[test]
fn metadata_names_are_checked() {
    let ctx = Context::new();
    let s = ctx.socket(SocketType::Push).unwrap();
    for bad in ["Service", "X-", "X-has space", "X-\u{e9}"] {
        let e = s.set_metadata(bad, "v").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert!(e.to_string().contains("X-"), "{e}");
    }
    s.set_metadata("X-Ok_1.2+3", "v").unwrap();
}

/// libzmq's application metadata (ZMQ_METADATA) arrives as message properties.
#[test]
fn libzmq_application_metadata_arrives_as_properties() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut push = Peer::pyzmq_socket("pyzmq PUSH", "PUSH", Duration::from_secs(5));
    push.set_bytes("METADATA", b"X-Origin:python");
    push.connect(&pull.last_endpoint());
    push.send(&[b"hi"]);
    let msg = pull.recv().unwrap();
    assert_eq!(msg.property("X-Origin"), Some(&b"python"[..]));
    assert_eq!(msg.property("Socket-Type"), Some(&b"PUSH"[..]));
}
