//! A ROUTER answering one busy DEALER while many quiet DEALERs stay connected: prints round
//! trips per second, to show what quiet peers cost a busy one (nothing, ideally).
//!
//! ```sh
//! cargo run --release -p ferromq --example quiet_peers -- 2000 100000
//! ```
//!
//! The arguments are the number of quiet peers (default 2,000) and of round trips (default
//! 100,000). All of them connect over tcp on 127.0.0.1, from this process.

use std::time::{Duration, Instant};

use ferromq::{Context, SocketType};

fn main() -> ferromq::Result<()> {
    let mut args = std::env::args().skip(1);
    let quiet: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let round_trips: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);

    let ctx = Context::new();
    let router = ctx.socket(SocketType::Router)?;
    router.bind("tcp://127.0.0.1:*")?;
    let endpoint = router.last_endpoint();
    let mut peers = Vec::with_capacity(quiet);
    for _ in 0..quiet {
        let peer = ctx.socket(SocketType::Dealer)?;
        peer.connect(&endpoint)?;
        peers.push(peer);
    }
    // Time for every handshake to finish before the clock starts.
    std::thread::sleep(Duration::from_secs(1) + Duration::from_millis(quiet as u64));

    let busy = std::thread::spawn(move || -> ferromq::Result<Duration> {
        let ctx = Context::new();
        let dealer = ctx.socket(SocketType::Dealer)?;
        dealer.connect(&endpoint)?;
        // Up to 100 requests in flight, as a client that does not wait for each answer.
        let in_flight = 100.min(round_trips);
        let start = Instant::now();
        for _ in 0..in_flight {
            dealer.send(&b"ping"[..])?;
        }
        for sent in in_flight..round_trips + in_flight {
            dealer.recv()?;
            if sent < round_trips {
                dealer.send(&b"ping"[..])?;
            }
        }
        Ok(start.elapsed())
    });
    for _ in 0..round_trips {
        let request = router.recv()?;
        router.send(request)?;
    }
    let elapsed = busy.join().expect("the busy peer")?;
    println!("quiet peers: {quiet}");
    println!("round trips: {round_trips}");
    println!(
        "mean rate: {:.0} [round trips/s]",
        round_trips as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
