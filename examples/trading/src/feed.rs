//! The feed: replays the tick file, publishing each quote under its instrument's topic, and
//! answers snapshot requests between ticks from the same loop, so that a snapshot is always
//! exactly the state after the tick whose number it carries.
//!
//! Settings: `TRADING_TICKS` (the file), `TRADING_TICK_MS` (the pause between ticks),
//! `TRADING_WARMUP_MS` (before the first tick), `TRADING_LINGER_MS` (snapshots still served
//! after the end, for parts that join late), `TRADING_AWAIT` (processes of the manifest,
//! space-separated, that must be ready, or have ended, before the first tick: the strategies,
//! so that each sees the whole day; the supervisor tells their states through the directory's
//! `PS`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferromq::{Socket, SocketType};

use crate::part::{env_ms, env_or, wait_any, Part};
use crate::ticks::{self, Quote};
use crate::wire::{message, texts, Request};

pub fn run(part: Part) -> Result<(), String> {
    let path = env_or("TRADING_TICKS", "data/ticks.tsv");
    let ticks = ticks::load(&path)?;
    let interval = env_ms("TRADING_TICK_MS", 10)?;
    let warmup = env_ms("TRADING_WARMUP_MS", 200)?;
    let linger = env_ms("TRADING_LINGER_MS", 1000)?;

    let publisher = part.bind(SocketType::Pub)?;
    publisher.set_sndhwm(1_000_000).map_err(|e| e.to_string())?;
    let snapshots = part.bind(SocketType::Router)?;
    part.register("ticks", &publisher)?;
    part.register("snapshot", &snapshots)?;
    println!(
        "replaying {} ticks from {path}, one every {} ms",
        ticks.len(),
        interval.as_millis()
    );

    let mut state = State::default();
    let awaited = env_or("TRADING_AWAIT", "");
    let awaited: Vec<&str> = awaited.split_whitespace().collect();
    while !awaited.is_empty() {
        // Snapshots are served meanwhile: a part may join before the others are ready.
        serve_until(
            &snapshots,
            &mut state,
            Instant::now() + Duration::from_millis(50),
            &part,
        )?;
        if part.should_stop() {
            return Ok(());
        }
        if settled(&part, &awaited)? {
            println!("{} ready or ended: starting", awaited.join(", "));
            break;
        }
    }
    let started = Instant::now();
    let mut next = started + warmup;
    for tick in &ticks {
        serve_until(&snapshots, &mut state, next, &part)?;
        if part.should_stop() {
            println!("stopped after {} ticks", state.seq);
            return Ok(());
        }
        state.seq += 1;
        state.quotes.insert(tick.instrument.clone(), tick.quote);
        let seq = state.seq.to_string();
        let (bid, ask) = (tick.quote.bid.to_string(), tick.quote.ask.to_string());
        publisher
            .send(message(&[tick.instrument.as_str(), &seq, &bid, &ask]))
            .map_err(|e| e.to_string())?;
        next += interval;
    }
    state.ended = true;
    publisher
        .send(message(&["END", &state.seq.to_string()]))
        .map_err(|e| e.to_string())?;
    println!(
        "published {} ticks of {} instruments in {} ms, then END",
        state.seq,
        state.quotes.len(),
        started.elapsed().as_millis()
    );
    serve_until(&snapshots, &mut state, Instant::now() + linger, &part)?;
    Ok(())
}

/// The feed's state: what a snapshot tells.
#[derive(Default)]
struct State {
    seq: u64,
    quotes: BTreeMap<String, Quote>,
    ended: bool,
}

/// Answers snapshot requests until `until` (or a stop).
fn serve_until(
    snapshots: &Socket,
    state: &mut State,
    until: Instant,
    part: &Part,
) -> Result<(), String> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || part.should_stop() {
            return Ok(());
        }
        let ready = wait_any(&[snapshots], left.min(Duration::from_millis(100)))?;
        if ready.is_empty() {
            continue;
        }
        while let Ok(msg) = snapshots.try_recv() {
            let request = Request::parse(msg);
            let reply = snapshot(state, &request.body);
            let _ = snapshots.try_send(request.reply(&reply));
        }
    }
}

/// `SNAPSHOT instrument...` → `SNAPSHOT seq open|ended (instrument bid ask)...`, every
/// instrument when none is named.
fn snapshot(state: &State, request: &[String]) -> Vec<String> {
    if request.first().map(String::as_str) != Some("SNAPSHOT") {
        return vec!["ERROR".into(), format!("unknown request {request:?}")];
    }
    let wanted = &request[1..];
    let mut reply = vec![
        "SNAPSHOT".to_owned(),
        state.seq.to_string(),
        if state.ended { "ended" } else { "open" }.to_owned(),
    ];
    for (instrument, quote) in &state.quotes {
        if wanted.is_empty() || wanted.contains(instrument) {
            reply.extend([
                instrument.clone(),
                quote.bid.to_string(),
                quote.ask.to_string(),
            ]);
        }
    }
    reply
}

/// Are all these processes ready or exited, as the supervisor's `PS` tells (one frame per
/// instance: name, instance, pid, state, ... tab-separated)?
fn settled(part: &Part, processes: &[&str]) -> Result<bool, String> {
    let ps = part.connect(SocketType::Dealer, "")?;
    ps.set_rcvtimeo(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    ps.send("PS").map_err(|e| e.to_string())?;
    let reply = texts(&ps.recv().map_err(|e| format!("no answer to PS: {e}"))?);
    let states: Vec<(String, String)> = reply
        .iter()
        .skip(2)
        .filter_map(|row| {
            let f: Vec<&str> = row.split('\t').collect();
            (f.len() > 3).then(|| (f[0].to_owned(), f[3].to_owned()))
        })
        .collect();
    Ok(processes.iter().all(|p| {
        states
            .iter()
            .any(|(name, state)| name == p && (state == "ready" || state == "exited"))
    }))
}
