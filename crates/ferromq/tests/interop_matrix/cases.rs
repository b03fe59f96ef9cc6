//! The rows of the matrix: one scenario per socket pattern, written once for "first" and
//! "second" ends so that ferromq plays each side against every peer.

use std::time::{Duration, Instant};

use ferromq::{Context, Event, SocketType};

use crate::common::{pattern, Frames, Peer};
use crate::link::{describe, End, Link, DEALER_ID, PLAIN_PASSWORD, PLAIN_USER, TIMEOUT};

/// A row of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    PushPull,
    PubSub,
    ReqRep,
    DealerRouter,
    Pair,
    XpubXsub,
    Curve,
    Plain,
}

/// The mechanism a case runs under.
pub enum Security {
    Null,
    Curve,
    Plain,
}

/// A column's way of linking: which socket of the case ferromq plays, and which side binds
/// (for CURVE and PLAIN the binding side is the server).
#[derive(Clone, Copy, Debug)]
pub struct Direction {
    pub ferro_first: bool,
    pub ferro_binds: bool,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction {
            ferro_first: true,
            ferro_binds: true,
        },
        Direction {
            ferro_first: true,
            ferro_binds: false,
        },
        Direction {
            ferro_first: false,
            ferro_binds: true,
        },
        Direction {
            ferro_first: false,
            ferro_binds: false,
        },
    ];

    /// `f→p fb`: ferromq plays the first socket, the peer the second; ferromq binds.
    pub fn label(self) -> &'static str {
        match (self.ferro_first, self.ferro_binds) {
            (true, true) => "f→p fb",
            (true, false) => "f→p pb",
            (false, true) => "p→f fb",
            (false, false) => "p→f pb",
        }
    }
}

impl Case {
    pub const ALL: [Case; 8] = [
        Case::PushPull,
        Case::PubSub,
        Case::ReqRep,
        Case::DealerRouter,
        Case::Pair,
        Case::XpubXsub,
        Case::Curve,
        Case::Plain,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Case::PushPull => "PUSH/PULL",
            Case::PubSub => "PUB/SUB, filtered",
            Case::ReqRep => "REQ/REP",
            Case::DealerRouter => "DEALER/ROUTER",
            Case::Pair => "PAIR",
            Case::XpubXsub => "XPUB/XSUB",
            Case::Curve => "CURVE, REQ/REP",
            Case::Plain => "PLAIN, REQ/REP",
        }
    }

    /// The case's (first, second) socket types: the first sends first.
    pub fn types(self) -> (SocketType, SocketType) {
        match self {
            Case::PushPull => (SocketType::Push, SocketType::Pull),
            Case::PubSub => (SocketType::Pub, SocketType::Sub),
            Case::ReqRep | Case::Curve | Case::Plain => (SocketType::Req, SocketType::Rep),
            Case::DealerRouter => (SocketType::Dealer, SocketType::Router),
            Case::Pair => (SocketType::Pair, SocketType::Pair),
            Case::XpubXsub => (SocketType::XPub, SocketType::XSub),
        }
    }

    pub fn security(self) -> Security {
        match self {
            Case::Curve => Security::Curve,
            Case::Plain => Security::Plain,
            _ => Security::Null,
        }
    }

    /// Runs the scenario over a joined link; panics with what went wrong.
    pub fn run(self, link: &Link, peer: &mut Peer) {
        let plain_server_is_peer = self == Case::Plain && !link.direction.ferro_binds;
        {
            let (mut first, mut second) = End::pair(link, peer);
            match self {
                Case::PushPull => push_pull(&mut first, &mut second),
                Case::PubSub => pub_sub(&mut first, &mut second),
                Case::ReqRep | Case::Curve => req_rep(&mut first, &mut second, None),
                Case::Plain => {
                    let user = link.direction.ferro_binds.then_some(PLAIN_USER);
                    req_rep(&mut first, &mut second, user)
                }
                Case::DealerRouter => dealer_router(&mut first, &mut second),
                Case::Pair => pair(&mut first, &mut second),
                Case::XpubXsub => xpub_xsub(&mut first, &mut second),
            }
        }
        if plain_server_is_peer {
            wrong_password_refused(&link.endpoint);
        }
    }
}

/// Messages in the shapes framing gets wrong: multipart, empty frames, a 0-byte message, both
/// sides of the 255-byte short/long frame boundary, and a frame of 70 kB.
fn sample_messages() -> Vec<Frames> {
    let all_bytes: Vec<u8> = (0..=255).collect();
    vec![
        vec![b"hello".to_vec()],
        vec![b"key".to_vec(), Vec::new(), b"value".to_vec()],
        vec![Vec::new()],
        vec![
            all_bytes[..255].to_vec(),
            all_bytes.clone(),
            pattern(70_000, 1),
        ],
        (0..12u8).map(|i| vec![i; usize::from(i)]).collect(),
        vec![b"last".to_vec()],
    ]
}

/// Every message arrives whole and in order.
fn push_pull(push: &mut End, pull: &mut End) {
    let msgs = sample_messages();
    for msg in &msgs {
        push.send(msg);
    }
    for (i, msg) in msgs.iter().enumerate() {
        pull.expect(msg, &format!("message {i} of {}", msgs.len()));
    }
    pull.expect_nothing("after the last message");
}

const SYNC: &[u8] = b"a-sync";

/// The subscriber of "a" gets a1 and a2, never b1.
fn pub_sub(publisher: &mut End, subscriber: &mut End) {
    subscriber.subscribe(b"a");
    wait_for_subscription(publisher, subscriber);
    expect_filtering(publisher, subscriber);
}

/// Publishes SYNC until the subscriber gets one: a subscription reaches a PUB unannounced.
fn wait_for_subscription(publisher: &mut End, subscriber: &mut End) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        publisher.send(&[SYNC]);
        match subscriber.recv_within(Duration::from_millis(100)) {
            Some(msg) if msg == [SYNC] => return,
            Some(msg) => panic!("expected {SYNC:?}, got {}", describe(&msg)),
            None if Instant::now() < deadline => {}
            None => panic!(
                "{}: the subscription of {} never took effect",
                publisher.name(),
                subscriber.name()
            ),
        }
    }
}

/// Publishes a1, b1, a2 to a subscriber of "a": a1 and a2 arrive, in order, and b1 does not.
fn expect_filtering(publisher: &mut End, subscriber: &mut End) {
    publisher.send(&[b"a1".as_slice()]);
    publisher.send(&[b"b1".as_slice()]);
    publisher.send(&[b"a2".as_slice(), b"", b"body"]);
    let mut got = Vec::new();
    while got.len() < 2 {
        match subscriber.recv() {
            Some(msg) if msg == [SYNC] && got.is_empty() => {}
            Some(msg) => got.push(msg),
            None => panic!(
                "{}: only {} of a1, a2 arrived",
                subscriber.name(),
                got.len()
            ),
        }
    }
    let expected: [Frames; 2] = [
        vec![b"a1".to_vec()],
        vec![b"a2".to_vec(), Vec::new(), b"body".to_vec()],
    ];
    if got != expected {
        panic!(
            "{} subscribed to \"a\" got {} then {} (b1 must be filtered out)",
            subscriber.name(),
            describe(&got[0]),
            describe(&got[1])
        );
    }
    subscriber.expect_nothing("after a2");
}

/// Three round trips; each reply names its request. `user`: ferromq is the PLAIN server and
/// must see that user name on every message it receives.
fn req_rep(req: &mut End, rep: &mut End, user: Option<&str>) {
    for i in 0..3 {
        let question = format!("question {i}");
        req.send(&[question.as_bytes()]);
        rep.expect(&[question.as_bytes()], "the request, without its envelope");
        let answer = format!("answer {i}");
        rep.send(&[answer.as_bytes(), b"", b"second part"]);
        req.expect(&[answer.as_bytes(), b"", b"second part"], "the reply");
        let Some(user) = user else { continue };
        for end in [&*req, &*rep].into_iter().filter(|e| e.is_ferromq()) {
            let got = end.user_id();
            assert!(
                got == Some(user.as_bytes()),
                "{}: User-Id {:?}, expected {user:?}",
                end.name(),
                got.map(String::from_utf8_lossy)
            );
        }
    }
}

/// The ROUTER sees the DEALER's routing id and its replies go back by it; a reply to an
/// unknown id goes nowhere.
fn dealer_router(dealer: &mut End, router: &mut End) {
    for i in 0..3 {
        let job = format!("job {i}");
        dealer.send(&[b"".as_slice(), job.as_bytes()]);
        router.expect(
            &[DEALER_ID, b"", job.as_bytes()],
            "the envelope and the job",
        );
        let done = format!("done {i}");
        router.send(&[DEALER_ID, b"", done.as_bytes()]);
        dealer.expect(&[b"".as_slice(), done.as_bytes()], "the routed reply");
    }
    router.send(&[b"nobody".as_slice(), b"", b"lost"]);
    router.send(&[DEALER_ID, b"", b"last"]);
    dealer.expect(
        &[b"".as_slice(), b"last"],
        "the next reply (one to an unknown id must be dropped)",
    );
}

/// Messages both ways, alternating.
fn pair(a: &mut End, b: &mut End) {
    for i in 0..3 {
        let ping = format!("ping {i}");
        a.send(&[ping.as_bytes(), b"", &[i; 300]]);
        b.expect(&[ping.as_bytes(), b"", &[i; 300]], "a's message");
        let pong = format!("pong {i}");
        b.send(&[pong.as_bytes()]);
        a.expect(&[pong.as_bytes()], "b's message");
    }
}

/// The XSUB's subscribe and cancel messages reach the XPUB's user, and the filter holds in
/// between and not after.
fn xpub_xsub(xpub: &mut End, xsub: &mut End) {
    xsub.send(&[b"\x01a"]);
    xpub.expect(&[b"\x01a"], "the subscription message");
    expect_filtering(xpub, xsub);
    xsub.send(&[b"\x00a"]);
    xpub.expect(&[b"\x00a"], "the cancel message");
    xpub.send(&[b"a3"]);
    xsub.expect_nothing("after the cancel");
}

/// A ferromq client with a wrong password is refused by the peer's ZAP handler, and says so.
fn wrong_password_refused(endpoint: &str) {
    let ctx = Context::new();
    let req = ctx.socket(SocketType::Req).expect("socket");
    req.set_linger(Some(Duration::ZERO)).expect("linger");
    req.set_plain_username(PLAIN_USER).expect("username");
    req.set_plain_password(format!("not {PLAIN_PASSWORD}"))
        .expect("password");
    let events = req.monitor().expect("monitor");
    req.connect(endpoint).expect("connect");
    let _ = req.try_send("must not arrive");
    let deadline = Instant::now() + TIMEOUT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(Some(left)).map(|e| e.event) {
            Ok(Event::HandshakeFailedAuth { status: 400 }) => return,
            Ok(Event::HandshakeSucceeded) => panic!("a wrong PLAIN password was let in"),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("a wrong PLAIN password was not refused with 400 within {TIMEOUT:?}");
}
