//! The event loop: many tcp peers on one thread with a timer that keeps time, blocking work
//! off the loop, handlers that change the loop while it runs, and stopping on signals.

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ferromq::{
    Context, Error, ErrorKind, Events, Poller, Reactor, Socket, SocketType, StopHandle, Stopped,
};

const IN: Events = Events {
    pollin: true,
    pollout: false,
};

/// The tests that measure time take turns, so that they do not measure each other.
static TIMED: Mutex<()> = Mutex::new(());

fn timed() -> std::sync::MutexGuard<'static, ()> {
    TIMED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `build` and then the reactor on a thread of its own; returns what `build` sent
/// back, a handle to stop the loop, and the thread (which yields `run`'s result).
fn spawn_loop<T: Send + 'static>(
    build: impl FnOnce(&mut Reactor) -> T + Send + 'static,
) -> (T, StopHandle, thread::JoinHandle<ferromq::Result<Stopped>>) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut reactor = Reactor::new()?;
        let value = build(&mut reactor);
        tx.send((value, reactor.stop_handle())).ok();
        reactor.run()
    });
    let (value, stop) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the loop thread starts");
    (value, stop, handle)
}

fn join_loop(handle: thread::JoinHandle<ferromq::Result<Stopped>>) -> ferromq::Result<Stopped> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the loop did not stop within 10 s"
        );
        thread::sleep(Duration::from_millis(5));
    }
    handle.join().expect("the loop thread does not panic")
}

const PEERS: usize = 1000;
const ROUNDS: usize = 5;
/// Requests in flight at once per client thread.
const WINDOW: usize = 10;
const TICK: Duration = Duration::from_millis(10);
/// The longest gap allowed between two ticks of a 10 ms timer while 1,000 peers are served.
/// A tick is late by the handler call going on when it falls due. Measured on the 2-core
/// machine over a dozen runs: the largest gap was 10-19 ms in a release build, and 16-60 ms in
/// a debug build, where a socket call sometimes waits for the socket's lock while its I/O
/// thread works through a batch of reads. The bounds leave about three times that, and in a
/// debug build more: a gap of 154 ms was seen while a full build shared the two cores, which
/// is the scheduler, not the loop (a loop that served its peers before its timers would leave
/// a gap as long as the traffic, seconds).
const MAX_GAP: Duration = if cfg!(debug_assertions) {
    Duration::from_millis(300)
} else {
    Duration::from_millis(50)
};
/// The share of the ticks due during the traffic that must come (in percent). A late tick
/// skips those it missed, so the gaps above cost ticks: in a debug build, with the file's other
/// tests running beside it, 75 % to 94 % came in ten runs on the 2-core machine, 70 % and 72 %
/// in two CI runs; in a release build, run alone, all of them (six runs). A loop that served
/// its peers before its timers would have none until the traffic ended.
const MIN_TICKS_PERCENT: u128 = if cfg!(debug_assertions) { 60 } else { 80 };

/// One client thread: its DEALERs connect and make one round trip each, wait at `ready` for
/// the other thread and the test, then send `ROUNDS` requests each and check every reply.
fn run_dealers(
    endpoint: &str,
    first: usize,
    count: usize,
    ready: &Barrier,
) -> Result<usize, String> {
    let ctx = Context::new();
    let dealers: Vec<Socket> = (0..count)
        .map(|_| {
            let dealer = ctx.socket(SocketType::Dealer).map_err(|e| e.to_string())?;
            dealer
                .set_sndtimeo(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            dealer.connect(endpoint).map_err(|e| e.to_string())?;
            Ok(dealer)
        })
        .collect::<Result<_, String>>()?;
    let mut poller = Poller::new().map_err(|e| e.to_string())?;
    for dealer in &dealers {
        poller.add(dealer, IN).map_err(|e| e.to_string())?;
    }
    exchange(&dealers, &mut poller, first, 1)?;
    ready.wait();
    exchange(&dealers, &mut poller, first, ROUNDS)
}

/// Each dealer sends `rounds` requests, one at a time, and checks each reply; `WINDOW`
/// requests are in flight at once, passed from dealer to dealer.
fn exchange(
    dealers: &[Socket],
    poller: &mut Poller<'_>,
    first: usize,
    rounds: usize,
) -> Result<usize, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = vec![0; dealers.len()];
    let mut answered = vec![0; dealers.len()];
    let mut turns: VecDeque<usize> = (0..dealers.len()).collect();
    let mut in_flight = 0;
    loop {
        while in_flight < WINDOW {
            let Some(i) = turns.pop_front() else { break };
            dealers[i]
                .send(format!("{}:{}", first + i, sent[i]))
                .map_err(|e| format!("dealer {}: {e}", first + i))?;
            sent[i] += 1;
            in_flight += 1;
        }
        if in_flight == 0 {
            return Ok(answered.iter().sum());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{in_flight} replies missing after 60 s"));
        }
        for (i, _) in poller.wait(Some(left)).map_err(|e| e.to_string())? {
            while let Ok(reply) = dealers[i].try_recv() {
                let expected = format!("{}:{}", first + i, answered[i]);
                if answered[i] == sent[i] || reply.frames() != [expected.as_bytes()] {
                    return Err(format!(
                        "dealer {} got {reply:?}, not {expected}",
                        first + i
                    ));
                }
                answered[i] += 1;
                in_flight -= 1;
                if sent[i] < rounds {
                    turns.push_back(i);
                }
            }
        }
    }
}

#[test]
fn one_loop_serves_a_thousand_tcp_peers_and_its_timer_keeps_time() {
    let _timed = timed();
    // The tick times, in an Arc so the test can read them after the loop stops.
    let ticks = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let record = Arc::clone(&ticks);
    let ((endpoint, _server_ctx), stop, handle) = spawn_loop(move |reactor| {
        let ctx = Context::new();
        let router = ctx.socket(SocketType::Router).unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.last_endpoint();
        reactor
            .add_socket(router, IN, |_, socket, _| {
                let request = socket.try_recv()?;
                socket.send(request)
            })
            .unwrap();
        reactor
            .add_interval(TICK, move |_| {
                record.lock().unwrap().push(Instant::now());
                Ok(())
            })
            .unwrap();
        (endpoint, ctx)
    });

    let ready = Arc::new(Barrier::new(3));
    let halves: Vec<_> = [0, PEERS / 2]
        .into_iter()
        .map(|first| {
            let endpoint = endpoint.clone();
            let ready = Arc::clone(&ready);
            thread::spawn(move || run_dealers(&endpoint, first, PEERS / 2, &ready))
        })
        .collect();
    ready.wait();
    let started = Instant::now();
    let mut answered = 0;
    for half in halves {
        answered += half.join().expect("a client thread").expect("every reply");
    }
    let finished = Instant::now();
    stop.stop();
    assert_eq!(join_loop(handle).unwrap(), Stopped::Requested);
    assert_eq!(answered, PEERS * ROUNDS);

    let during: Vec<Instant> = ticks
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|t| *t >= started && *t <= finished)
        .collect();
    let elapsed = finished - started;
    let largest = during
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let expected = elapsed.as_nanos() / TICK.as_nanos();
    eprintln!(
        "{} round trips in {elapsed:?}; {} ticks ({expected} on schedule), largest gap {largest:?}",
        PEERS * ROUNDS,
        during.len(),
    );
    assert!(
        elapsed > TICK * 10,
        "traffic lasted {elapsed:?}: too short to judge the timer"
    );
    assert!(largest < MAX_GAP, "a gap of {largest:?} between ticks");
    // Few ticks are skipped overall, though each late one skips those it missed.
    assert!(
        during.len() as u128 + 2 >= expected * MIN_TICKS_PERCENT / 100,
        "{} ticks in {elapsed:?}",
        during.len()
    );
}

#[test]
fn blocking_work_runs_off_the_loop_and_its_result_comes_back_on_the_loop_thread() {
    let _timed = timed();
    let ((slow_endpoint, fast_endpoint, _ctx), stop, handle) = spawn_loop(|reactor| {
        let ctx = Context::new();
        let slow = ctx.socket(SocketType::Rep).unwrap();
        slow.bind("tcp://127.0.0.1:*").unwrap();
        let fast = ctx.socket(SocketType::Rep).unwrap();
        fast.bind("tcp://127.0.0.1:*").unwrap();
        let endpoints = (slow.last_endpoint(), fast.last_endpoint());
        let loop_thread = thread::current().id();
        reactor
            .add_socket(slow, IN, move |reactor, socket, _| {
                socket.try_recv()?;
                let me = reactor.current_handler().expect("in a handler");
                reactor.spawn_blocking(
                    move || {
                        thread::sleep(Duration::from_millis(200));
                        thread::current().id()
                    },
                    move |reactor, worker| {
                        let here = thread::current().id();
                        let answer = format!(
                            "worker elsewhere: {}, result on the loop thread: {}",
                            worker != loop_thread,
                            here == loop_thread
                        );
                        reactor.socket(me).expect("the slow socket").send(answer)
                    },
                )?;
                Ok(())
            })
            .unwrap();
        reactor
            .add_socket(fast, IN, |_, socket, _| {
                let request = socket.try_recv()?;
                socket.send(request)
            })
            .unwrap();
        (endpoints.0, endpoints.1, ctx)
    });

    let ctx = Context::new();
    let slow = ctx.socket(SocketType::Req).unwrap();
    slow.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    slow.connect(&slow_endpoint).unwrap();
    let fast = ctx.socket(SocketType::Req).unwrap();
    fast.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    fast.connect(&fast_endpoint).unwrap();
    // Connected and answered once before the clock starts.
    fast.send("warm-up").unwrap();
    fast.recv().unwrap();

    let asked = Instant::now();
    slow.send("take your time").unwrap();
    let mut round_trips = Vec::new();
    while asked.elapsed() < Duration::from_millis(180) {
        let start = Instant::now();
        fast.send("quick").unwrap();
        assert_eq!(fast.recv().unwrap().frames()[0], "quick");
        round_trips.push(start.elapsed());
        thread::sleep(Duration::from_millis(5));
    }
    let reply = slow.recv().unwrap();
    let waited = asked.elapsed();
    stop.stop();
    assert_eq!(join_loop(handle).unwrap(), Stopped::Requested);

    assert_eq!(
        reply.frames()[0],
        "worker elsewhere: true, result on the loop thread: true"
    );
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    let slowest = round_trips.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{} answers during the sleep, slowest {slowest:?}",
        round_trips.len()
    );
    assert!(round_trips.len() >= 10, "{round_trips:?}");
    assert!(slowest < Duration::from_millis(50), "{round_trips:?}");
}

#[test]
fn handlers_add_and_remove_handlers_and_a_cancelled_timer_never_fires() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://reactor-add-remove").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect("inproc://reactor-add-remove").unwrap();
    push.send("first").unwrap();
    push.send("second").unwrap();

    let mut reactor = Reactor::new().unwrap();
    let start = Instant::now();
    let log = Rc::new(RefCell::new(Vec::<String>::new()));

    let cancelled_fired = Rc::new(Cell::new(false));
    let fired = Rc::clone(&cancelled_fired);
    let cancelled = reactor
        .add_timer(Duration::from_millis(50), move |_| {
            fired.set(true);
            Ok(())
        })
        .unwrap();

    // A once-timer that cancels the other timer and adds a socket handler, which handles
    // one message and then removes itself.
    let adder_log = Rc::clone(&log);
    reactor
        .add_timer(Duration::from_millis(20), move |reactor| {
            assert!(reactor.remove(cancelled));
            assert!(!reactor.remove(cancelled), "already gone");
            let log = Rc::clone(&adder_log);
            reactor.add_socket(pull, IN, move |reactor, socket, _| {
                let msg = socket.try_recv()?;
                log.borrow_mut().push(format!(
                    "{} after {} ms",
                    String::from_utf8_lossy(&msg.frames()[0]),
                    start.elapsed().as_millis() / 10 * 10
                ));
                let me = reactor.current_handler().expect("in a handler");
                assert!(reactor.remove(me));
                assert!(reactor.socket(me).is_none());
                Ok(())
            })?;
            Ok(())
        })
        .unwrap();

    // A repeating timer that removes itself on its third tick.
    let ticks = Rc::new(Cell::new(0));
    let counter = Rc::clone(&ticks);
    reactor
        .add_interval(Duration::from_millis(5), move |reactor| {
            counter.set(counter.get() + 1);
            if counter.get() == 3 {
                let me = reactor.current_handler().expect("in a handler");
                assert!(reactor.remove(me));
            }
            Ok(())
        })
        .unwrap();

    reactor
        .add_timer(Duration::from_millis(150), |reactor| {
            reactor.stop();
            Ok(())
        })
        .unwrap();

    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert!(!cancelled_fired.get(), "a cancelled timer fired");
    assert_eq!(ticks.get(), 3);
    let log = log.borrow();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].starts_with("first after "), "{log:?}");
    // Nothing is left: the next run says so at once.
    assert_eq!(reactor.run().unwrap(), Stopped::NothingToWaitFor);
}

#[test]
fn after_stop_no_other_handler_runs_and_run_can_go_on() {
    let mut reactor = Reactor::new().unwrap();
    let calls = Rc::new(RefCell::new(Vec::new()));
    for name in ["first", "second"] {
        let calls = Rc::clone(&calls);
        reactor
            .add_timer(Duration::ZERO, move |reactor| {
                calls.borrow_mut().push(name);
                reactor.stop();
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    assert_eq!(*calls.borrow(), ["first"]);
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    assert_eq!(*calls.borrow(), ["first", "second"]);
    assert_eq!(reactor.run().unwrap(), Stopped::NothingToWaitFor);
}

#[test]
fn a_stop_handle_stops_the_loop_from_another_thread() {
    let mut reactor = Reactor::new().unwrap();
    reactor
        .add_interval(Duration::from_secs(1), |_| Ok(()))
        .unwrap();
    let stop = reactor.stop_handle();
    let start = Instant::now();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        stop.stop();
    });
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    assert!(start.elapsed() < Duration::from_millis(900));
    stopper.join().unwrap();
    // A stop asked for before `run` is not lost.
    reactor.stop_handle().stop();
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
}

#[test]
fn a_handler_error_stops_the_loop_and_the_handler_stays() {
    let mut reactor = Reactor::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let count = Rc::clone(&calls);
    reactor
        .add_interval(Duration::from_millis(1), move |reactor| {
            count.set(count.get() + 1);
            match count.get() {
                1 => Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "the first tick fails",
                )),
                2 => {
                    // Running the loop again from inside it is refused, not a panic.
                    let nested = reactor.run().unwrap_err();
                    assert_eq!(nested.kind(), ErrorKind::State);
                    reactor.stop();
                    Ok(())
                }
                _ => Ok(()),
            }
        })
        .unwrap();
    let err = reactor.run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.to_string(), "the first tick fails");
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    assert_eq!(calls.get(), 2);

    let zero = reactor
        .add_interval(Duration::ZERO, |_| Ok(()))
        .unwrap_err();
    assert_eq!(zero.kind(), ErrorKind::InvalidArgument);
    let never = reactor.add_timer(Duration::MAX, |_| Ok(())).unwrap_err();
    assert_eq!(never.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_busy_socket_does_not_starve_another_and_every_message_is_handled() {
    let ctx = Context::new();
    let busy = ctx.socket(SocketType::Pull).unwrap();
    busy.bind("inproc://reactor-busy").unwrap();
    let quiet = ctx.socket(SocketType::Pull).unwrap();
    quiet.bind("inproc://reactor-quiet").unwrap();
    let to_busy = ctx.socket(SocketType::Push).unwrap();
    to_busy.connect("inproc://reactor-busy").unwrap();
    let to_quiet = ctx.socket(SocketType::Push).unwrap();
    to_quiet.connect("inproc://reactor-quiet").unwrap();
    for i in 0..500 {
        to_busy.send(format!("{i}")).unwrap();
    }
    to_quiet.send("hello").unwrap();

    let mut reactor = Reactor::new().unwrap();
    reactor.set_max_batch(16);
    let order = Rc::new(RefCell::new(Vec::new()));
    let busy_order = Rc::clone(&order);
    reactor
        .add_socket(busy, IN, move |reactor, socket, _| {
            socket.try_recv()?;
            busy_order.borrow_mut().push("busy");
            if busy_order.borrow().len() == 501 {
                reactor.stop();
            }
            Ok(())
        })
        .unwrap();
    let quiet_order = Rc::clone(&order);
    reactor
        .add_socket(quiet, IN, move |reactor, socket, _| {
            socket.try_recv()?;
            quiet_order.borrow_mut().push("quiet");
            if quiet_order.borrow().len() == 501 {
                reactor.stop();
            }
            Ok(())
        })
        .unwrap();
    reactor
        .add_timer(Duration::from_secs(10), |_| {
            Err(Error::new(ErrorKind::WouldBlock, "not every message came"))
        })
        .unwrap();
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    let order = order.borrow();
    let quiet_at = order.iter().position(|s| *s == "quiet").unwrap();
    assert!(
        quiet_at <= 16,
        "the quiet socket waited for {quiet_at} calls"
    );
    assert_eq!(order.iter().filter(|s| **s == "busy").count(), 500);
}

#[test]
fn a_raw_fd_handler_is_called_while_its_fd_is_readable_and_owns_it() {
    use std::io::{Read, Write};
    let (reader, mut writer) = UnixStream::pair().unwrap();
    reader.set_nonblocking(true).unwrap();
    writer.write_all(b"abc").unwrap();
    let mut reactor = Reactor::new().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&got);
    let id = reactor
        .add_fd(
            reader,
            IN,
            move |reactor, stream: &mut UnixStream, ready| {
                assert!(ready.pollin);
                let mut byte = [0u8; 1];
                // One byte per call: the fd stays readable, so the handler is called again.
                if stream.read(&mut byte).unwrap_or(0) == 1 {
                    sink.borrow_mut().push(byte[0]);
                }
                if sink.borrow().len() == 3 {
                    reactor.stop();
                }
                Ok(())
            },
        )
        .unwrap();
    reactor
        .add_timer(Duration::from_secs(10), |_| {
            Err(Error::new(ErrorKind::WouldBlock, "the fd was not served"))
        })
        .unwrap();
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    assert_eq!(*got.borrow(), b"abc");
    assert!(reactor.take_socket(id).is_none(), "not a socket");
    assert!(reactor.remove(id));
    // The reactor dropped the reader: the writer sees the peer gone.
    assert!(writer.write_all(&[0; 1 << 20]).is_err());
}

#[test]
fn a_socket_can_be_taken_back_after_run() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://reactor-take").unwrap();
    let mut reactor = Reactor::new().unwrap();
    let id = reactor.add_socket(pull, IN, |_, _, _| Ok(())).unwrap();
    assert!(reactor.socket(id).is_some());
    let pull = reactor.take_socket(id).expect("the socket");
    assert!(reactor.socket(id).is_none());
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect("inproc://reactor-take").unwrap();
    push.send("still works").unwrap();
    assert_eq!(pull.recv().unwrap().frames()[0], "still works");
}

/// The child's side of the signal tests: runs only when the parent test asks for it.
#[test]
#[ignore = "run by the signal tests in a child process"]
fn signal_child() {
    let Ok(mode) = std::env::var("FERROMQ_REACTOR_SIGNAL_CHILD") else {
        return;
    };
    let mut reactor = Reactor::new().unwrap();
    if mode != "default" {
        reactor.stop_on_signals().unwrap();
    }
    reactor
        .add_timer(Duration::ZERO, |_| {
            println!("ready");
            Ok(())
        })
        .unwrap();
    // A child left behind by a failed parent ends by itself.
    reactor
        .add_timer(Duration::from_secs(30), |reactor| {
            reactor.stop();
            Ok(())
        })
        .unwrap();
    let stopped = reactor.run().unwrap();
    println!("stopped: {stopped:?}");
    if mode == "twice" {
        println!("ready again");
        // Outside `run` the signal has its default action again.
        thread::sleep(Duration::from_secs(10));
        println!("still alive");
    }
}

/// A child process that a failing test does not leave behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

/// Starts the child, waits for `ready`, sends `signal`; returns the child's output lines and
/// its exit status.
fn signal_a_child(mode: &str, signals: &[&str]) -> (Vec<String>, std::process::ExitStatus) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "signal_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("FERROMQ_REACTOR_SIGNAL_CHILD", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let child = &mut child.0;
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    for signal in signals {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("the child gets ready");
            // libtest prints the test's name on the same line, before the child's words.
            let ready = line.contains("ready");
            lines.push(line);
            if ready {
                break;
            }
        }
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the child did not exit within 10 s of the signal"
        );
        thread::sleep(Duration::from_millis(10));
    };
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
        lines.push(line);
    }
    (lines, status)
}

#[test]
fn sigterm_and_sigint_make_run_return_when_asked_for() {
    for (signal, number) in [("TERM", 15), ("INT", 2)] {
        let (lines, status) = signal_a_child("catch", &[signal]);
        assert!(status.success(), "SIG{signal}: {status:?} {lines:?}");
        let expected = format!("stopped: Signal({number})");
        assert!(
            lines.iter().any(|l| l.contains(&expected)),
            "SIG{signal}: {lines:?}"
        );
    }
}

#[test]
fn signals_keep_their_default_action_unless_the_loop_catches_them() {
    // Without stop_on_signals the reactor leaves SIGTERM alone: it ends the process.
    let (lines, status) = signal_a_child("default", &["TERM"]);
    assert_eq!(status.signal(), Some(15), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("stopped")), "{lines:?}");

    // With it, the first SIGTERM stops the loop; once `run` has returned, the next one ends
    // the process as usual.
    let (lines, status) = signal_a_child("twice", &["TERM", "TERM"]);
    assert_eq!(status.signal(), Some(15), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("stopped: Signal(15)")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("still alive")),
        "{lines:?}"
    );
}

#[test]
fn blocking_jobs_share_a_few_threads_the_queue_is_bounded_and_a_removed_job_is_not_reported() {
    let mut reactor = Reactor::new().unwrap();
    // The first jobs wait for the test to let them go, holding every thread of the pool.
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let threads = Rc::new(RefCell::new(HashSet::new()));
    let reported = Rc::new(Cell::new(0));
    let expected = Rc::new(Cell::new(usize::MAX));
    let mut ids = Vec::new();
    let mut refused = None;
    for i in 0..Reactor::BLOCKING_THREADS + Reactor::MAX_QUEUED_JOBS + 1 {
        let gate = Arc::clone(&gate);
        let (seen, reported, expected) = (
            Rc::clone(&threads),
            Rc::clone(&reported),
            Rc::clone(&expected),
        );
        let spawned = reactor.spawn_blocking(
            move || {
                if i < Reactor::BLOCKING_THREADS {
                    let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
                }
                thread::current().id()
            },
            move |reactor, worker| {
                seen.borrow_mut().insert(worker);
                reported.set(reported.get() + 1);
                if reported.get() == expected.get() {
                    reactor.stop();
                }
                Ok(())
            },
        );
        match spawned {
            Ok(id) => ids.push(id),
            Err(e) => {
                refused = Some((i, e.kind()));
                break;
            }
        }
    }
    // The first jobs may not all have reached a thread yet: the queue can fill a little sooner.
    let (at, kind) = refused.expect("a full queue refuses a job");
    assert_eq!(kind, ErrorKind::WouldBlock);
    assert!(
        (Reactor::MAX_QUEUED_JOBS..=Reactor::MAX_QUEUED_JOBS + Reactor::BLOCKING_THREADS)
            .contains(&at),
        "refused at {at}"
    );
    // The last job is removed: its result is dropped unseen.
    assert!(reactor.remove(*ids.last().unwrap()));
    expected.set(ids.len() - 1);
    for _ in 0..Reactor::BLOCKING_THREADS {
        release.send(()).unwrap();
    }
    let guard = reactor
        .add_timer(Duration::from_secs(20), |_| {
            Err(Error::new(
                ErrorKind::WouldBlock,
                "not every job was reported",
            ))
        })
        .unwrap();
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    assert_eq!(reported.get(), ids.len() - 1);
    // Time for the removed job to finish: it is still not reported.
    reactor.remove(guard);
    reactor
        .add_timer(Duration::from_millis(100), |_| Ok(()))
        .unwrap();
    assert_eq!(reactor.run().unwrap(), Stopped::NothingToWaitFor);
    assert_eq!(reported.get(), ids.len() - 1);
    let threads = threads.borrow();
    assert!(
        !threads.is_empty() && threads.len() <= Reactor::BLOCKING_THREADS,
        "{} threads ran the jobs",
        threads.len()
    );
}

#[test]
fn a_panic_in_a_blocking_job_resumes_on_the_loop_thread() {
    let mut reactor = Reactor::new().unwrap();
    reactor
        .spawn_blocking(|| -> u32 { panic!("the job fails") }, |_, _| Ok(()))
        .unwrap();
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.run())).unwrap_err();
    assert_eq!(outcome.downcast_ref::<&str>(), Some(&"the job fails"));
    // The pool's thread survived the panic and takes the next job.
    reactor
        .spawn_blocking(
            || 7,
            |reactor, n| {
                assert_eq!(n, 7);
                reactor.stop();
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
}

#[test]
fn a_writable_socket_is_served_while_it_asks_for_pollout() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://reactor-pollout").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect("inproc://reactor-pollout").unwrap();
    let out = Events {
        pollin: false,
        pollout: true,
    };
    let mut reactor = Reactor::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let count = Rc::clone(&calls);
    reactor
        .add_socket(push, out, move |reactor, socket, ready| {
            assert!(ready.pollout && !ready.pollin);
            count.set(count.get() + 1);
            socket.try_send(format!("{}", count.get()))?;
            if count.get() == 100 {
                // Nothing more to send: stop asking, and end the loop a little later.
                let me = reactor.current_handler().expect("in a handler");
                reactor.set_events(me, Events::default())?;
                reactor.add_timer(Duration::from_millis(50), |reactor| {
                    reactor.stop();
                    Ok(())
                })?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(reactor.run().unwrap(), Stopped::Requested);
    assert_eq!(calls.get(), 100);
    for i in 1..=100 {
        assert_eq!(
            pull.try_recv().unwrap().frames()[0],
            format!("{i}").as_bytes()
        );
    }
    assert!(pull.try_recv().is_err());
}
