//! The market as a part that needs it sees it: the feed's ticks on a SUB socket, started from
//! the feed's snapshot so that a part that joins late still knows every instrument's current
//! quote (the pattern the ZeroMQ guide calls Clone: subscribe first, then ask for the state,
//! then apply only the updates newer than it).

use std::collections::BTreeMap;
use std::time::Duration;

use ferromq::{Message, Socket, SocketType};

use crate::part::Part;
use crate::ticks::Quote;
use crate::wire::{message, texts};

/// How long a joining part waits for a first tick before asking for the snapshot: a tick
/// received proves the subscription has reached the feed, so no update falls between the
/// snapshot and the stream. When none comes (the feed has not started, or has ended) the
/// snapshot alone is the state.
const FIRST_TICK_WAIT: Duration = Duration::from_millis(500);

/// What a message from the feed changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A new quote for this instrument.
    Tick(String),
    /// The tick file is over: no more quotes will come.
    End,
    /// Already in the snapshot, or not understood: nothing changed.
    Nothing,
}

/// The quotes a part knows, kept up to date from the feed.
pub struct Market {
    pub sub: Socket,
    /// The feed's snapshot service, and the request that asks it for these instruments.
    snapshot: Socket,
    request: Vec<String>,
    pub quotes: BTreeMap<String, Quote>,
    /// The sequence number of the last update applied.
    pub seq: u64,
    pub ended: bool,
}

impl Market {
    /// Subscribes to `instruments` (every one when empty) and to `END`, then takes the snapshot.
    pub fn join(part: &Part, instruments: &[String]) -> Result<Market, String> {
        let sub = part.socket(SocketType::Sub)?;
        sub.set_rcvhwm(1_000_000).map_err(|e| e.to_string())?;
        if instruments.is_empty() {
            sub.subscribe("").map_err(|e| e.to_string())?;
        } else {
            for topic in instruments.iter().map(String::as_str).chain(["END"]) {
                sub.subscribe(topic).map_err(|e| e.to_string())?;
            }
        }
        sub.connect(&part.lookup("ticks")?)
            .map_err(|e| e.to_string())?;
        sub.set_rcvtimeo(Some(FIRST_TICK_WAIT))
            .map_err(|e| e.to_string())?;
        let first = sub.recv().ok();
        sub.set_rcvtimeo(None).map_err(|e| e.to_string())?;

        let snapshot = part.connect(SocketType::Req, "snapshot")?;
        snapshot
            .set_rcvtimeo(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        snapshot.set_linger(Some(Duration::ZERO)).ok();
        let mut request = vec!["SNAPSHOT".to_owned()];
        request.extend(instruments.iter().cloned());
        let mut market = Market {
            sub,
            snapshot,
            request,
            quotes: BTreeMap::new(),
            seq: 0,
            ended: false,
        };
        market.refresh()?;
        if let Some(first) = first {
            market.apply(&first);
        }
        Ok(market)
    }

    /// Asks the feed for its state and takes it when it is newer than what the stream has
    /// brought. A part that hears of a quote from elsewhere (an order priced from another
    /// part's snapshot) may be ahead of its own stream: the feed is not.
    pub fn refresh(&mut self) -> Result<(), String> {
        self.snapshot
            .send(message(&self.request))
            .map_err(|e| e.to_string())?;
        let reply = self
            .snapshot
            .recv()
            .map_err(|e| format!("no snapshot from the feed: {e}"))?;
        let (seq, ended, quotes) = parse_snapshot(&texts(&reply))?;
        if seq > self.seq {
            self.seq = seq;
            self.quotes = quotes;
        }
        self.ended |= ended;
        Ok(())
    }

    /// Applies one message from the feed: `instrument seq bid ask`, or `END seq`.
    pub fn apply(&mut self, msg: &Message) -> Update {
        let frames = texts(msg);
        let seq: u64 = match frames.get(1).and_then(|s| s.parse().ok()) {
            Some(seq) => seq,
            None => return Update::Nothing,
        };
        if frames[0] == "END" {
            self.ended = true;
            self.seq = self.seq.max(seq);
            return Update::End;
        }
        if seq <= self.seq {
            return Update::Nothing;
        }
        let (Some(Ok(bid)), Some(Ok(ask))) = (
            frames.get(2).map(|s| s.parse()),
            frames.get(3).map(|s| s.parse()),
        ) else {
            return Update::Nothing;
        };
        self.seq = seq;
        self.quotes.insert(frames[0].clone(), Quote { bid, ask });
        Update::Tick(frames[0].clone())
    }

    /// Applies every message waiting on the subscription; the instruments that ticked, and
    /// whether the end came.
    pub fn drain(&mut self) -> (Vec<String>, bool) {
        let mut ticked = Vec::new();
        let mut ended = false;
        while let Ok(msg) = self.sub.try_recv() {
            match self.apply(&msg) {
                Update::Tick(instrument) => ticked.push(instrument),
                Update::End => ended = true,
                Update::Nothing => {}
            }
        }
        (ticked, ended)
    }
}

/// `SNAPSHOT seq open|ended (instrument bid ask)...`: the sequence number, whether the tick
/// file has ended, and the quotes.
fn parse_snapshot(frames: &[String]) -> Result<(u64, bool, BTreeMap<String, Quote>), String> {
    let bad = || format!("a malformed snapshot: {frames:?}");
    let [kind, seq, state, rest @ ..] = frames else {
        return Err(bad());
    };
    if kind != "SNAPSHOT" || rest.len() % 3 != 0 {
        return Err(bad());
    }
    let mut quotes = BTreeMap::new();
    for triple in rest.chunks(3) {
        let (Ok(bid), Ok(ask)) = (triple[1].parse(), triple[2].parse()) else {
            return Err(bad());
        };
        quotes.insert(triple[0].clone(), Quote { bid, ask });
    }
    Ok((seq.parse().map_err(|_| bad())?, state == "ended", quotes))
}
