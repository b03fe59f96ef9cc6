//! `Socket::events`: readiness without waiting, as libzmq's `ZMQ_EVENTS` reports it.

use std::time::{Duration, Instant};

use ferromq::{Context, Events, Socket, SocketType};

/// Polls `events` until `want` holds, for up to five seconds.
fn wait_for(socket: &Socket, want: impl Fn(Events) -> bool) -> Events {
    let start = Instant::now();
    loop {
        let events = socket.events().unwrap();
        if want(events) {
            return events;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "still {events:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn push_and_pull_report_readiness_and_nothing_is_lost_by_asking() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.bind("tcp://127.0.0.1:*").unwrap();
    assert_eq!(
        push.events().unwrap(),
        Events {
            pollin: false,
            pollout: false
        },
        "no peer yet"
    );
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.connect(&push.last_endpoint()).unwrap();
    wait_for(&push, |e| e.pollout);
    assert_eq!(
        pull.events().unwrap(),
        Events {
            pollin: false,
            pollout: false
        }
    );
    push.send("first").unwrap();
    push.send("second").unwrap();
    wait_for(&pull, |e| e.pollin);
    // Asking twice takes nothing away.
    assert!(pull.events().unwrap().pollin);
    assert_eq!(pull.try_recv().unwrap().frames()[0], "first");
    pull.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(pull.recv().unwrap().frames()[0], "second");
    assert!(!pull.events().unwrap().pollin);
}

#[test]
fn req_and_rep_follow_their_turns() {
    let ctx = Context::new();
    let rep = ctx.socket(SocketType::Rep).unwrap();
    rep.bind("inproc://turns").unwrap();
    let req = ctx.socket(SocketType::Req).unwrap();
    req.connect("inproc://turns").unwrap();
    assert!(req.events().unwrap().pollout);
    assert!(!rep.events().unwrap().pollout, "REP has nothing to answer");
    req.send("q").unwrap();
    assert!(!req.events().unwrap().pollout, "REQ awaits its reply");
    assert_eq!(
        wait_for(&rep, |e| e.pollin),
        Events {
            pollin: true,
            pollout: false
        }
    );
    rep.recv().unwrap();
    assert!(rep.events().unwrap().pollout);
    rep.send("a").unwrap();
    wait_for(&req, |e| e.pollin);
    assert_eq!(req.recv().unwrap().frames()[0], "a");
    assert!(req.events().unwrap().pollout);
}

#[test]
fn a_sub_is_not_readable_for_messages_it_filters_out() {
    let ctx = Context::new();
    let publisher = ctx.socket(SocketType::Pub).unwrap();
    publisher.bind("inproc://filtered").unwrap();
    let sub = ctx.socket(SocketType::Sub).unwrap();
    sub.subscribe("wanted").unwrap();
    sub.connect("inproc://filtered").unwrap();
    assert!(publisher.events().unwrap().pollout);
    assert!(!sub.events().unwrap().pollout);
    let start = Instant::now();
    loop {
        publisher.send("unwanted").unwrap();
        if sub.events().unwrap().pollin {
            panic!("a filtered message made the SUB readable");
        }
        if start.elapsed() > Duration::from_millis(200) {
            break;
        }
    }
    publisher.send("wanted").unwrap();
    wait_for(&sub, |e| e.pollin);
    assert_eq!(sub.recv().unwrap().frames()[0], "wanted");
    assert!(!sub.rcvmore());
}
