//! Waiting on many sockets and file descriptors at once.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ferromq::{poll, Context, Events, PollItem, Poller, SocketType};

const IN: Events = Events {
    pollin: true,
    pollout: false,
};
const OUT: Events = Events {
    pollin: false,
    pollout: true,
};

#[test]
fn only_the_socket_with_a_message_is_reported() {
    let ctx = Context::new();
    let pulls: Vec<_> = (0..100)
        .map(|i| {
            let pull = ctx.socket(SocketType::Pull).unwrap();
            pull.bind(&format!("inproc://many-{i}")).unwrap();
            pull
        })
        .collect();
    let mut poller = Poller::new().unwrap();
    let indexes: Vec<usize> = pulls.iter().map(|p| poller.add(p, IN).unwrap()).collect();
    assert!(poller
        .wait(Some(Duration::from_millis(50)))
        .unwrap()
        .is_empty());

    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect("inproc://many-73").unwrap();
    push.send("to 73").unwrap();
    let ready = poller.wait(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready, vec![(indexes[73], IN)]);
    // Still ready until received.
    assert_eq!(
        poller.wait(Some(Duration::ZERO)).unwrap(),
        vec![(indexes[73], IN)]
    );
    assert_eq!(pulls[73].try_recv().unwrap().frames()[0], "to 73");
    assert!(poller.wait(Some(Duration::ZERO)).unwrap().is_empty());
}

#[test]
fn a_wait_wakes_when_a_tcp_message_arrives_and_times_out_otherwise() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut poller = Poller::new().unwrap();
    let index = poller.add(&pull, IN).unwrap();
    let start = Instant::now();
    assert!(poller
        .wait(Some(Duration::from_millis(100)))
        .unwrap()
        .is_empty());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(1),
        "{waited:?}"
    );

    let endpoint = pull.last_endpoint();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let ctx = Context::new();
        let push = ctx.socket(SocketType::Push).unwrap();
        push.connect(&endpoint).unwrap();
        push.send("late").unwrap();
    });
    let start = Instant::now();
    assert_eq!(
        poller.wait(Some(Duration::from_secs(5))).unwrap(),
        vec![(index, IN)]
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(pull.try_recv().unwrap().frames()[0], "late");
    sender.join().unwrap();
}

#[test]
fn messages_a_recv_took_ahead_are_reported_at_once() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&pull.last_endpoint()).unwrap();
    let mut poller = Poller::new().unwrap();
    let index = poller.add(&pull, IN).unwrap();
    assert!(poller
        .wait(Some(Duration::from_millis(50)))
        .unwrap()
        .is_empty());

    for i in 0..10 {
        push.send(i.to_string()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    // `events` lowers the fd the arrival raised; the `recv` after it takes the nine messages
    // behind the first ahead, and nothing raises the fd for them.
    assert!(pull.events().unwrap().pollin);
    assert_eq!(pull.recv().unwrap().frames()[0], "0");
    let start = Instant::now();
    assert_eq!(
        poller.wait(Some(Duration::from_secs(1))).unwrap(),
        vec![(index, IN)]
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    for i in 1..10 {
        assert_eq!(pull.try_recv().unwrap().frames()[0], i.to_string().as_str());
    }
    assert!(poller.wait(Some(Duration::ZERO)).unwrap().is_empty());
    assert!(!pull.events().unwrap().pollin);
}

#[test]
fn pollout_comes_when_a_push_gets_a_peer() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.bind("tcp://127.0.0.1:*").unwrap();
    let mut poller = Poller::new().unwrap();
    let index = poller.add(&push, OUT).unwrap();
    assert!(
        poller
            .wait(Some(Duration::from_millis(50)))
            .unwrap()
            .is_empty(),
        "no peer yet"
    );
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.connect(&push.last_endpoint()).unwrap();
    assert_eq!(
        poller.wait(Some(Duration::from_secs(5))).unwrap(),
        vec![(index, OUT)]
    );
}

#[test]
fn raw_fds_are_level_triggered_beside_sockets() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://beside").unwrap();
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let mut poller = Poller::new().unwrap();
    let socket_index = poller.add(&pull, IN).unwrap();
    let fd_index = poller.add_fd(b.as_raw_fd(), IN).unwrap();
    a.write_all(b"x").unwrap();
    assert_eq!(
        poller.wait(Some(Duration::from_secs(5))).unwrap(),
        vec![(fd_index, IN)]
    );
    // Not read yet: reported again.
    assert_eq!(
        poller.wait(Some(Duration::from_secs(5))).unwrap(),
        vec![(fd_index, IN)]
    );
    let mut byte = [0u8];
    b.read_exact(&mut byte).unwrap();
    assert!(poller
        .wait(Some(Duration::from_millis(50)))
        .unwrap()
        .is_empty());
    poller.remove(fd_index).unwrap();
    a.write_all(b"y").unwrap();
    assert!(
        poller
            .wait(Some(Duration::from_millis(50)))
            .unwrap()
            .is_empty(),
        "removed"
    );
    let _ = socket_index;
}

#[test]
fn zmq_poll_sets_revents() {
    let ctx = Context::new();
    let quiet = ctx.socket(SocketType::Pull).unwrap();
    quiet.bind("inproc://quiet").unwrap();
    let busy = ctx.socket(SocketType::Pull).unwrap();
    busy.bind("inproc://busy").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect("inproc://busy").unwrap();
    push.send("m").unwrap();
    let mut items = [
        PollItem::socket(&quiet, IN),
        PollItem::socket(&busy, IN),
        PollItem::socket(&push, OUT),
    ];
    assert_eq!(poll(&mut items, Some(Duration::from_secs(1))).unwrap(), 2);
    assert_eq!(items[0].revents, Events::default());
    assert_eq!(items[1].revents, IN);
    assert_eq!(items[2].revents, OUT);
}
