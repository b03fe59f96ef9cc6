//! The Rust strategy (python/strategy.py and r/strategy.R follow the same rules): it says
//! `HELLO` to the gateway and learns the limits, registers its status service, joins the market
//! for its instruments, and trades one instrument's trend every few of its ticks. On its first
//! quote it sends three probes that break each limit once (a price outside the band, a quantity
//! beyond the position limit, a burst faster than the rate limit), so every run shows each
//! rejection. At the end of the ticks it waits for every order to be answered and done, sends
//! its summary through the gateway, prints it, and exits.
//!
//! Settings: `TRADING_NAME`, `TRADING_INSTRUMENTS` (space-separated), `TRADING_STYLE`
//! (`momentum` or `reversion`), `TRADING_EVERY` (ticks of an instrument between orders),
//! `TRADING_QTY`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use ferromq::{Socket, SocketType};

use crate::market::Market;
use crate::part::{env_num, env_or, wait_any, Part};
use crate::risk::{Limits, RATE_WINDOW};
use crate::wire::{message, texts, Order, Side};

/// How many mids of an instrument the trend is measured over.
const HISTORY: usize = 10;
/// How long the strategy waits at the end for its last orders to be answered and done.
const SETTLE: Duration = Duration::from_secs(10);

struct Strategy {
    name: String,
    limits: Limits,
    style: String,
    every: u64,
    qty: i64,
    orders: Socket,
    next_id: u64,
    /// Orders sent and neither rejected, filled nor expired; those not yet answered too.
    open: HashMap<String, Order>,
    unanswered: usize,
    positions: BTreeMap<String, i64>,
    sent_at: VecDeque<Instant>,
    history: HashMap<String, VecDeque<i64>>,
    ticks: HashMap<String, u64>,
    probed: bool,
    sent: u64,
    accepted: u64,
    rejected: BTreeMap<String, u64>,
    fills: u64,
    expired: u64,
}

pub fn run(part: Part) -> Result<(), String> {
    let name = env_or("TRADING_NAME", &env_or("FERROMQ_PROCESS", "rust"));
    let instruments: Vec<String> = env_or("TRADING_INSTRUMENTS", "ACME BOLT")
        .split_whitespace()
        .map(String::from)
        .collect();
    let orders = part.connect(SocketType::Dealer, "orders")?;
    orders
        .set_rcvtimeo(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    orders
        .send(message(&["HELLO", &name]))
        .map_err(|e| e.to_string())?;
    let welcome = texts(&orders.recv().map_err(|e| format!("no WELCOME: {e}"))?);
    let limits = match &welcome[..] {
        [w, position, rate, band] if w == "WELCOME" => Limits {
            max_position: position.parse().map_err(|_| "bad WELCOME")?,
            max_rate: rate.parse().map_err(|_| "bad WELCOME")?,
            band_bps: band.parse().map_err(|_| "bad WELCOME")?,
        },
        _ => return Err(format!("expected WELCOME, got {welcome:?}")),
    };
    let status = part.bind(SocketType::Rep)?;
    part.register(&format!("strategy.{name}"), &status)?;
    let mut market = Market::join(&part, &instruments)?;
    println!(
        "trading {} (the snapshot had quotes for {} of them)",
        instruments.join(" "),
        market.quotes.len()
    );
    let mut s = Strategy {
        name,
        limits,
        style: env_or("TRADING_STYLE", "momentum"),
        every: env_num("TRADING_EVERY", 10)?.max(1) as u64,
        qty: env_num("TRADING_QTY", 10)?.max(1),
        orders,
        next_id: 0,
        open: HashMap::new(),
        unanswered: 0,
        positions: BTreeMap::new(),
        sent_at: VecDeque::new(),
        history: HashMap::new(),
        ticks: HashMap::new(),
        probed: false,
        sent: 0,
        accepted: 0,
        rejected: BTreeMap::new(),
        fills: 0,
        expired: 0,
    };
    // A snapshot's quotes count as the first ones seen.
    if let Some(instrument) = market.quotes.keys().next().cloned() {
        s.on_tick(&market, &instrument)?;
    }
    while !market.ended && !part.should_stop() {
        s.wait(&mut market, &status, Duration::from_millis(100))?;
    }
    let settle_by = Instant::now() + SETTLE;
    while !s.open.is_empty() && Instant::now() < settle_by && !part.directory.stop_requested() {
        s.wait(&mut market, &status, Duration::from_millis(50))?;
    }
    s.finish()
}

impl Strategy {
    fn wait(
        &mut self,
        market: &mut Market,
        status: &Socket,
        timeout: Duration,
    ) -> Result<(), String> {
        wait_any(&[&self.orders, status, &market.sub], timeout)?;
        while let Ok(msg) = self.orders.try_recv() {
            self.answer(&texts(&msg));
        }
        while let Ok(_request) = status.try_recv() {
            let _ = status.try_send(message(&self.summary()));
        }
        let (ticked, _) = market.drain();
        if !market.ended {
            for instrument in ticked {
                self.on_tick(market, &instrument)?;
            }
        }
        Ok(())
    }

    /// `ACCEPTED id`, `REJECTED id reason detail`, `FILL id instrument side qty price`,
    /// `EXPIRED id`.
    fn answer(&mut self, frames: &[String]) {
        let id = frames.get(1).cloned().unwrap_or_default();
        match frames.first().map(String::as_str) {
            Some("ACCEPTED") => {
                self.unanswered = self.unanswered.saturating_sub(1);
                self.accepted += 1;
            }
            Some("REJECTED") => {
                self.unanswered = self.unanswered.saturating_sub(1);
                self.open.remove(&id);
                let reason = frames.get(2).cloned().unwrap_or_default();
                *self.rejected.entry(reason).or_default() += 1;
            }
            Some("FILL") if frames.len() == 6 => {
                self.open.remove(&id);
                self.fills += 1;
                let sign = Side::parse(&frames[3]).map_or(0, Side::sign);
                let qty: i64 = frames[4].parse().unwrap_or(0);
                *self.positions.entry(frames[2].clone()).or_default() += sign * qty;
            }
            Some("EXPIRED") => {
                self.open.remove(&id);
                self.expired += 1;
            }
            _ => eprintln!("an unexpected message from the gateway: {frames:?}"),
        }
    }

    fn send(&mut self, instrument: &str, side: Side, qty: i64, price: i64) -> Result<(), String> {
        self.next_id += 1;
        let order = Order {
            id: self.next_id.to_string(),
            instrument: instrument.to_owned(),
            side,
            qty,
            price,
        };
        let mut frames = vec!["ORDER".to_owned()];
        frames.extend(order.fields());
        self.orders
            .send(message(&frames))
            .map_err(|e| e.to_string())?;
        self.open.insert(order.id.clone(), order);
        self.unanswered += 1;
        self.sent += 1;
        self.sent_at.push_back(Instant::now());
        Ok(())
    }

    fn on_tick(&mut self, market: &Market, instrument: &str) -> Result<(), String> {
        let Some(quote) = market.quotes.get(instrument).copied() else {
            return Ok(());
        };
        let mid = quote.mid();
        if !self.probed {
            self.probed = true;
            let l = self.limits;
            // Outside the price band, beyond the position limit, faster than the rate limit.
            self.send(
                instrument,
                Side::Buy,
                1,
                mid + mid * l.band_bps * 2 / 10_000 + 1,
            )?;
            self.send(instrument, Side::Buy, l.max_position + 1, quote.ask)?;
            let below = quote.bid - (mid * l.band_bps / 20_000).max(1);
            for _ in 0..=l.max_rate {
                self.send(instrument, Side::Buy, 1, below)?;
            }
        }
        let history = self.history.entry(instrument.to_owned()).or_default();
        history.push_back(mid);
        if history.len() > HISTORY {
            history.pop_front();
        }
        let mean = history.iter().sum::<i64>() / history.len() as i64;
        let full = history.len() >= HISTORY / 2;
        let count = self.ticks.entry(instrument.to_owned()).or_default();
        *count += 1;
        if !full || *count % self.every != 0 || mid == mean {
            return Ok(());
        }
        let up = mid > mean;
        let side = if up == (self.style == "momentum") {
            Side::Buy
        } else {
            Side::Sell
        };
        // Stay inside the limits: the probes are the only orders meant to break them.
        let now = Instant::now();
        while self
            .sent_at
            .front()
            .is_some_and(|&t| now - t >= RATE_WINDOW)
        {
            self.sent_at.pop_front();
        }
        if self.sent_at.len() + 1 >= self.limits.max_rate {
            return Ok(());
        }
        let open = |s: Side| -> i64 {
            self.open
                .values()
                .filter(|o| o.instrument == instrument && o.side == s)
                .map(|o| o.qty)
                .sum()
        };
        let position = self.positions.get(instrument).copied().unwrap_or(0);
        let worst = match side {
            Side::Buy => position + open(Side::Buy) + self.qty,
            Side::Sell => position - open(Side::Sell) - self.qty,
        };
        if worst.abs() > self.limits.max_position {
            return Ok(());
        }
        let price = match side {
            Side::Buy => quote.ask,
            Side::Sell => quote.bid,
        };
        self.send(instrument, side, self.qty, price)
    }

    /// `SUMMARY sent accepted rejected fills expired (instrument position)...`
    fn summary(&self) -> Vec<String> {
        let rejected: u64 = self.rejected.values().sum();
        let mut frames = vec!["SUMMARY".to_owned()];
        frames.extend(
            [self.sent, self.accepted, rejected, self.fills, self.expired].map(|n| n.to_string()),
        );
        for (instrument, position) in &self.positions {
            frames.extend([instrument.clone(), position.to_string()]);
        }
        frames
    }

    /// Sends the summary through the gateway (to the recorder) and prints it.
    fn finish(self) -> Result<(), String> {
        if self.unanswered > 0 || !self.open.is_empty() {
            eprintln!(
                "{} orders unanswered and {} open at the end",
                self.unanswered,
                self.open.len()
            );
        }
        self.orders
            .send(message(&self.summary()))
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.orders.recv() {
                Ok(msg) if texts(&msg).first().is_some_and(|f| f == "RECORDED") => break,
                Ok(_) if Instant::now() < deadline => continue,
                Ok(_) | Err(_) => return Err("the gateway did not record the summary".into()),
            }
        }
        let reasons: Vec<String> = self
            .rejected
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let positions: Vec<String> = self
            .positions
            .iter()
            .map(|(i, p)| format!("{i} {p}"))
            .collect();
        println!(
            "{}: sent {}, accepted {}, rejected {} ({}), fills {}, expired {}; positions: {}",
            self.name,
            self.sent,
            self.accepted,
            self.rejected.values().sum::<u64>(),
            reasons.join(", "),
            self.fills,
            self.expired,
            if positions.is_empty() {
                "none".to_owned()
            } else {
                positions.join(", ")
            }
        );
        Ok(())
    }
}
