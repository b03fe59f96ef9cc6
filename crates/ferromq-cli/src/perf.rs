//! Perf tools with the interface and output of libzmq's `perf/` programs, so that either side
//! of a measurement can be swapped for libzmq's own.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use ferromq::{Context, Frame, Message, Socket, SocketType};

/// The subcommands are named after libzmq's programs (local_thr, remote_thr, ...).
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Bind a PULL socket, receive COUNT messages, print the throughput (libzmq's local_thr).
    LocalThr {
        bind_to: String,
        size: usize,
        count: u64,
    },
    /// Connect a PUSH socket and send COUNT messages of SIZE bytes (libzmq's remote_thr).
    RemoteThr {
        connect_to: String,
        size: usize,
        count: u64,
    },
    /// Both sides in one process over inproc (libzmq's inproc_thr).
    InprocThr { size: usize, count: u64 },
    /// Bind a REP socket and echo ROUNDTRIPS messages (libzmq's local_lat).
    LocalLat {
        bind_to: String,
        size: usize,
        roundtrips: u64,
    },
    /// Connect a REQ socket, time ROUNDTRIPS round trips, print the one-way latency
    /// (libzmq's remote_lat).
    RemoteLat {
        connect_to: String,
        size: usize,
        roundtrips: u64,
    },
    /// Both sides in one process over inproc (libzmq's inproc_lat).
    InprocLat { size: usize, roundtrips: u64 },
}

pub(crate) fn run(cmd: Command) -> ExitCode {
    let result = match cmd {
        Command::LocalThr {
            bind_to,
            size,
            count,
        } => local_thr(&bind_to, size, count),
        Command::RemoteThr {
            connect_to,
            size,
            count,
        } => remote_thr(&connect_to, size, count),
        Command::InprocThr { size, count } => inproc_thr(size, count),
        Command::LocalLat {
            bind_to,
            size,
            roundtrips,
        } => local_lat(&bind_to, size, roundtrips),
        Command::RemoteLat {
            connect_to,
            size,
            roundtrips,
        } => remote_lat(&connect_to, size, roundtrips),
        Command::InprocLat { size, roundtrips } => inproc_lat(size, roundtrips),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferromq perf: {e}");
            ExitCode::from(1)
        }
    }
}

/// A progress bar on standard error, only when it is a terminal.
struct Progress {
    total: u64,
    shown: u64,
    enabled: bool,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            total,
            shown: 0,
            enabled: std::io::stderr().is_terminal() && total >= 100,
        }
    }

    fn update(&mut self, done: u64) {
        if !self.enabled || done * 50 / self.total == self.shown {
            return;
        }
        self.shown = done * 50 / self.total;
        eprint!(
            "\r[{:<50}] {:>3}%",
            "#".repeat(self.shown as usize),
            done * 100 / self.total
        );
        if done == self.total {
            eprintln!();
        }
    }
}

fn receive_all(socket: &Socket, size: usize, count: u64) -> ferromq::Result<Duration> {
    let mut progress = Progress::new(count);
    let check = |msg: &Message| {
        if msg.size() != size {
            return Err(ferromq::Error::new(
                ferromq::ErrorKind::InvalidArgument,
                format!("message of {} bytes, expected {size}", msg.size()),
            ));
        }
        Ok(())
    };
    check(&socket.recv()?)?;
    let start = Instant::now();
    for i in 1..count {
        check(&socket.recv()?)?;
        if i % 1024 == 0 {
            progress.update(i);
        }
    }
    progress.update(count);
    Ok(start.elapsed())
}

fn print_throughput(size: usize, count: u64, elapsed: Duration) {
    let micros = (elapsed.as_micros() as f64).max(1.0);
    let msgs = count as f64 * 1_000_000.0 / micros;
    let megabits = msgs * size as f64 * 8.0 / 1_000_000.0;
    println!("message size: {size} [B]");
    println!("message count: {count}");
    println!("mean throughput: {} [msg/s]", msgs as u64);
    println!("mean throughput: {megabits:.3} [Mb/s]");
}

/// Sends `count` messages of `size` zero bytes, each made afresh as libzmq's remote_thr makes
/// its own (`zmq_msg_init_size`, then a memset): a short one held inside its frame, a longer
/// one in a buffer of its own (one shared buffer would make inproc move no bytes at all).
fn send_all(socket: &Socket, size: usize, count: u64) -> ferromq::Result<()> {
    let zeros = vec![0u8; size];
    for _ in 0..count {
        socket.send(Frame::copy_from_slice(&zeros))?;
    }
    Ok(())
}

fn local_thr(bind_to: &str, size: usize, count: u64) -> ferromq::Result<()> {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull)?;
    pull.bind(bind_to)?;
    let elapsed = receive_all(&pull, size, count)?;
    print_throughput(size, count, elapsed);
    Ok(())
}

fn remote_thr(connect_to: &str, size: usize, count: u64) -> ferromq::Result<()> {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push)?;
    push.connect(connect_to)?;
    send_all(&push, size, count)
}

fn inproc_thr(size: usize, count: u64) -> ferromq::Result<()> {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull)?;
    pull.bind("inproc://thr_test")?;
    let sender = {
        let ctx = ctx.clone();
        std::thread::spawn(move || -> ferromq::Result<()> {
            let push = ctx.socket(SocketType::Push)?;
            push.connect("inproc://thr_test")?;
            send_all(&push, size, count)
        })
    };
    let elapsed = receive_all(&pull, size, count)?;
    sender.join().expect("sender thread")?;
    print_throughput(size, count, elapsed);
    Ok(())
}

fn check_size(msg: &Message, size: usize) -> ferromq::Result<()> {
    if msg.size() != size {
        return Err(ferromq::Error::new(
            ferromq::ErrorKind::InvalidArgument,
            format!("message of {} bytes, expected {size}", msg.size()),
        ));
    }
    Ok(())
}

/// Answers `roundtrips` requests with themselves.
fn echo(rep: &Socket, size: usize, roundtrips: u64) -> ferromq::Result<()> {
    for _ in 0..roundtrips {
        let msg = rep.recv()?;
        check_size(&msg, size)?;
        rep.send(msg)?;
    }
    Ok(())
}

/// Times `roundtrips` request-reply round trips; prints libzmq's latency lines, where the
/// latency is one way: half a round trip.
fn time_round_trips(req: &Socket, size: usize, roundtrips: u64) -> ferromq::Result<()> {
    let body = Frame::from(vec![0u8; size]);
    let mut progress = Progress::new(roundtrips);
    let start = Instant::now();
    for i in 1..=roundtrips {
        req.send(body.clone())?;
        check_size(&req.recv()?, size)?;
        if i % 256 == 0 {
            progress.update(i);
        }
    }
    progress.update(roundtrips);
    let micros = start.elapsed().as_secs_f64() * 1e6;
    println!("message size: {size} [B]");
    println!("roundtrip count: {roundtrips}");
    println!(
        "average latency: {:.3} [us]",
        micros / (roundtrips as f64 * 2.0)
    );
    Ok(())
}

fn local_lat(bind_to: &str, size: usize, roundtrips: u64) -> ferromq::Result<()> {
    let ctx = Context::new();
    let rep = ctx.socket(SocketType::Rep)?;
    rep.bind(bind_to)?;
    echo(&rep, size, roundtrips)
}

fn remote_lat(connect_to: &str, size: usize, roundtrips: u64) -> ferromq::Result<()> {
    let ctx = Context::new();
    let req = ctx.socket(SocketType::Req)?;
    req.connect(connect_to)?;
    time_round_trips(&req, size, roundtrips)
}

fn inproc_lat(size: usize, roundtrips: u64) -> ferromq::Result<()> {
    let ctx = Context::new();
    let req = ctx.socket(SocketType::Req)?;
    req.bind("inproc://lat_test")?;
    let echoer = {
        let ctx = ctx.clone();
        std::thread::spawn(move || -> ferromq::Result<()> {
            let rep = ctx.socket(SocketType::Rep)?;
            rep.connect("inproc://lat_test")?;
            echo(&rep, size, roundtrips)
        })
    };
    time_round_trips(&req, size, roundtrips)?;
    echoer.join().expect("echo thread")
}
