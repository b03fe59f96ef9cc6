//! Measurements of the whole process (its memory, its threads). They run one after the other
//! in a single test, so that no other test, and no thread the test harness starts, disturbs
//! what they measure.

use std::time::{Duration, Instant};

use ferromq::{Context, ErrorKind, Socket, SocketType};

const WAIT: Duration = Duration::from_secs(5);

fn socket(ctx: &Context, kind: SocketType) -> Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_rcvtimeo(Some(WAIT)).unwrap();
    s.set_sndtimeo(Some(WAIT)).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    s
}

/// A subscriber that never reads: the publisher's memory stays bounded and the drops show.
#[test]
fn whole_process_measurements() {
    a_slow_subscriber_costs_bounded_memory_and_its_drops_are_counted();
    affinity_puts_the_sockets_io_on_the_chosen_thread();
}

fn a_slow_subscriber_costs_bounded_memory_and_its_drops_are_counted() {
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
    let ctx = Context::new();
    let publisher = socket(&ctx, SocketType::Pub);
    publisher.set_sndhwm(100).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let sub = socket(&ctx, SocketType::Sub);
    sub.set_rcvhwm(100).unwrap();
    sub.set_rcvbuf(Some(64 * 1024)).unwrap();
    sub.subscribe("").unwrap();
    sub.connect(&publisher.last_endpoint()).unwrap();
    let start = Instant::now();
    while sub.try_recv().is_err() {
        publisher.send("probe").unwrap();
        assert!(start.elapsed() < WAIT);
    }
    let body = vec![7u8; 1024];
    let before = rss_kib();
    for _ in 0..200_000 {
        publisher.send(body.as_slice()).unwrap();
    }
    let grown = rss_kib().saturating_sub(before);
    // 200,000 KiB were published; what is held is bounded by the high-water marks and the
    // kernel's buffers.
    assert!(grown < 32 * 1024, "the publisher grew by {grown} KiB");
    assert!(
        publisher.dropped_messages() > 100_000,
        "{} dropped",
        publisher.dropped_messages()
    );
}

/// The ids of this process's threads, in the order they were started.
fn thread_ids() -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| t.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// CPU time, in nanoseconds, of thread `tid` of this process.
fn thread_cpu_ns(tid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).unwrap();
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

fn affinity_puts_the_sockets_io_on_the_chosen_thread() {
    let before = thread_ids();
    let ctx = Context::with_io_threads(2).unwrap();
    let io: Vec<u32> = thread_ids()
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect();
    assert_eq!(io.len(), 2, "the context's two I/O threads");
    let mut pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(50).unwrap();
    let events = pull.monitor().unwrap();
    pull.set_affinity(0b10).unwrap();
    assert_eq!(
        (pull.affinity(), pull.rcvhwm()),
        (0b10, 50),
        "options survive the move"
    );
    pull.set_rcvtimeo(Some(WAIT)).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    assert_eq!(
        events.recv_timeout(Some(WAIT)).unwrap().event.name(),
        "listening",
        "the monitor survives"
    );
    let mut push = ctx.socket(SocketType::Push).unwrap();
    push.set_affinity(0b10).unwrap();
    push.connect(&pull.last_endpoint()).unwrap();
    let (io0, io1) = (thread_cpu_ns(io[0]), thread_cpu_ns(io[1]));
    // Sent from a thread of its own while nothing is received for a while: the writes block,
    // and the I/O thread goes on with them (a user's thread does the I/O it can on its own).
    let sender = std::thread::spawn(move || {
        let body = vec![0u8; 64 * 1024];
        for _ in 0..3000 {
            push.send(body.as_slice()).unwrap();
        }
        push
    });
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3000 {
        pull.recv().unwrap();
    }
    let mut push = sender.join().unwrap();
    let (io0, io1) = (thread_cpu_ns(io[0]) - io0, thread_cpu_ns(io[1]) - io1);
    assert!(
        io1 > 5 * io0.max(1_000_000),
        "thread 0 used {io0} ns, thread 1 {io1} ns"
    );

    assert_eq!(push.set_affinity(0b1).unwrap_err().kind(), ErrorKind::State);
    let mut other = ctx.socket(SocketType::Push).unwrap();
    assert_eq!(
        other.set_affinity(0b100).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}
