//! `zmqrs-perf`: libzmq's perf programs (`local_thr`, `remote_thr`, `local_lat`,
//! `remote_lat`) rewritten on zmq.rs (the pure-Rust `zeromq` crate), as a
//! baseline to compare ferromq against. Arguments and output lines are those of
//! libzmq's tools, so either side of a run can be swapped for libzmq's or
//! ferromq's program:
//!
//! ```text
//! zmqrs-perf [--runtime multi|current] local-thr  <bind-to>    <size> <count>
//! zmqrs-perf [--runtime multi|current] remote-thr <connect-to> <size> <count>
//! zmqrs-perf [--runtime multi|current] local-lat  <bind-to>    <size> <roundtrips>
//! zmqrs-perf [--runtime multi|current] remote-lat <connect-to> <size> <roundtrips>
//! ```
//!
//! `multi` (the default) runs on tokio's multi-thread runtime with its default
//! worker count, `current` on a current-thread runtime.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zeromq::prelude::*;
use zeromq::{PullSocket, PushSocket, RepSocket, ReqSocket, ZmqMessage};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "usage: zmqrs-perf [--runtime multi|current] \
    local-thr|remote-thr|local-lat|remote-lat <endpoint> <size> <count>";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut multi = true;
    if args.first().map(String::as_str) == Some("--runtime") && args.len() > 1 {
        multi = match args[1].as_str() {
            "multi" => true,
            "current" => false,
            other => return fail(format!("unknown runtime {other:?}\n{USAGE}")),
        };
        args.drain(..2);
    }
    let [cmd, endpoint, size, count] = &args[..] else {
        return fail(USAGE.into());
    };
    let (Ok(size), Ok(count)) = (size.parse::<usize>(), count.parse::<u64>()) else {
        return fail(format!("<size> and <count> must be integers\n{USAGE}"));
    };
    if count == 0 {
        return fail("<count> must be at least 1".into());
    }
    let runtime = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cmd.as_str() {
            "local-thr" => local_thr(endpoint, size, count).await,
            "remote-thr" => remote_thr(endpoint, size, count).await,
            "local-lat" => local_lat(endpoint, size, count).await,
            "remote-lat" => remote_lat(endpoint, size, count).await,
            other => Err(format!("unknown command {other:?}\n{USAGE}").into()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.to_string()),
    }
}

fn fail(msg: String) -> ExitCode {
    eprintln!("zmqrs-perf: {msg}");
    ExitCode::FAILURE
}

/// libzmq's perf tools send single-part messages of exactly `size` bytes.
fn check(msg: &ZmqMessage, size: usize) -> Result<()> {
    match (msg.len(), msg.get(0)) {
        (1, Some(frame)) if frame.len() == size => Ok(()),
        _ => Err(format!(
            "got a {}-part message of {} bytes, expected 1 part of {size}",
            msg.len(),
            msg.iter().map(Bytes::len).sum::<usize>()
        )
        .into()),
    }
}

async fn local_thr(bind_to: &str, size: usize, count: u64) -> Result<()> {
    let mut pull = PullSocket::new();
    pull.bind(bind_to).await?;
    check(&pull.recv().await?, size)?;
    let start = Instant::now();
    for _ in 1..count {
        check(&pull.recv().await?, size)?;
    }
    let elapsed_us = (start.elapsed().as_micros() as f64).max(1.0);
    // Same arithmetic as libzmq's local_thr (Mb/s from the integer msg/s).
    let throughput = (count as f64 / elapsed_us * 1_000_000.0) as u64;
    let megabits = (throughput as f64 * size as f64 * 8.0) / 1_000_000.0;
    println!("message size: {size} [B]");
    println!("message count: {count}");
    println!("mean throughput: {throughput} [msg/s]");
    println!("mean throughput: {megabits:.3} [Mb/s]");
    pull.close().await;
    Ok(())
}

async fn remote_thr(connect_to: &str, size: usize, count: u64) -> Result<()> {
    let mut push = PushSocket::new();
    push.connect(connect_to).await?;
    // A fresh zeroed buffer per message, as libzmq's perf (zmq_msg_init_size) and ferromq's
    // perf do, so that every sender does the same work per message.
    for _ in 0..count {
        push.send(ZmqMessage::from(Bytes::from(zeroed(size)))).await?;
    }
    // zmq.rs has no ZMQ_LINGER. PUSH `send()` only queues the message for a
    // per-peer writer task (its docs: "Ok(()) means the message has entered
    // the local send path", not that it was flushed), and `close()` only
    // unbinds and drops the socket: it neither flushes nor waits. Dropping the
    // socket drops the queue's senders, so the writer task drains what is
    // queued, flushes it into the kernel and ends; but if the process exits
    // first, the tokio runtime cancels that task and the tail is lost. So after
    // close() we wait until no runtime task is alive any more (the writer is
    // the only task a connected PUSH spawns), which is libzmq's default
    // infinite linger: everything handed to the kernel before exit.
    push.close().await;
    let metrics = tokio::runtime::Handle::current().metrics();
    while metrics.num_alive_tasks() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

async fn local_lat(bind_to: &str, size: usize, roundtrips: u64) -> Result<()> {
    let mut rep = RepSocket::new();
    rep.bind(bind_to).await?;
    for _ in 0..roundtrips {
        let msg = rep.recv().await?;
        check(&msg, size)?;
        // REP (like REQ) writes and flushes inside send(), so the last reply
        // is in the kernel once this returns: nothing to linger for.
        rep.send(msg).await?;
    }
    rep.close().await;
    Ok(())
}

async fn remote_lat(connect_to: &str, size: usize, roundtrips: u64) -> Result<()> {
    let mut req = ReqSocket::new();
    req.connect(connect_to).await?;
    let body = Bytes::from(zeroed(size));
    let start = Instant::now();
    for _ in 0..roundtrips {
        req.send(ZmqMessage::from(body.clone())).await?;
        check(&req.recv().await?, size)?;
    }
    let elapsed_us = start.elapsed().as_micros() as f64;
    // One-way latency, as libzmq's remote_lat reports it.
    let latency = elapsed_us / (roundtrips as f64 * 2.0);
    println!("message size: {size} [B]");
    println!("roundtrip count: {roundtrips}");
    println!("average latency: {latency:.3} [us]");
    req.close().await;
    Ok(())
}

/// A buffer of `size` zero bytes, made as libzmq's perf programs make theirs (an allocation,
/// then a memset); `vec![0; size]` would ask for `calloc`, which glibc serves without its
/// per-thread cache.
#[allow(clippy::slow_vector_initialization)] // calloc is what this avoids
fn zeroed(size: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(size);
    buf.resize(size, 0);
    buf
}
