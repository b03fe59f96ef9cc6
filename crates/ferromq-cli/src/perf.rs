//! Perf tools with the interface and output of libzmq's `perf/` programs, so that either side
//! of a measurement can be swapped for libzmq's own.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Subcommand;
use ferromq::{Context, Message, Socket, SocketType};

/// The subcommands are named after libzmq's programs (local_thr, remote_thr, ...).
#[derive(Subcommand, Debug)]
#[allow(clippy::enum_variant_names)]
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

fn send_all(socket: &Socket, size: usize, count: u64) -> ferromq::Result<()> {
    let body = Bytes::from(vec![0u8; size]);
    for _ in 0..count {
        socket.send(body.clone())?;
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
