//! The order gateway: a ROUTER the strategies send orders to. It checks each order against the
//! limits (`risk`), answers `ACCEPTED` or `REJECTED` with the reason, forwards what it accepts
//! to the exchange, passes fills and expiries back to their strategy, publishes every fill,
//! and sends every order, answer, fill and summary to the recorder.
//!
//! When the exchange reports the market closed, the gateway waits (`TRADING_GRACE_MS` at least,
//! `TRADING_CLOSE_MS` at most) for every strategy that said `HELLO` to send its `SUMMARY`,
//! then sends the recorder its own view of each position and `CLOSE`, closes the exchange, and
//! exits.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use ferromq::{Frame, Socket, SocketType};

use crate::market::Market;
use crate::part::{env_ms, env_num, wait_any, Part};
use crate::risk::{self, Exposure, Limits};
use crate::wire::{message, texts, Order, Request, Side};

/// One strategy, as the gateway knows it.
#[derive(Default)]
struct Account {
    name: String,
    envelope: Vec<Frame>,
    /// Filled position by instrument.
    positions: BTreeMap<String, i64>,
    /// Accepted orders not yet filled or expired, by id.
    open: HashMap<String, Order>,
    /// When the orders of the last second were accepted.
    accepted: VecDeque<Instant>,
    summary: bool,
}

impl Account {
    fn exposure(&self, instrument: &str) -> Exposure {
        let open = |side| {
            self.open
                .values()
                .filter(|o| o.instrument == instrument && o.side == side)
                .map(|o| o.qty)
                .sum()
        };
        Exposure {
            position: self.positions.get(instrument).copied().unwrap_or(0),
            open_buy: open(Side::Buy),
            open_sell: open(Side::Sell),
        }
    }
}

struct Gateway {
    limits: Limits,
    orders: Socket,
    fills: Socket,
    exchange: Socket,
    recorder: Socket,
    market: Market,
    /// Accounts by strategy name; names by routing id.
    accounts: BTreeMap<String, Account>,
    names: HashMap<Frame, String>,
    closed_at: Option<Instant>,
}

pub fn run(part: Part) -> Result<(), String> {
    let limits = Limits {
        max_position: env_num("TRADING_MAX_POSITION", 100)?,
        max_rate: env_num("TRADING_MAX_RATE", 10)?.max(1) as usize,
        band_bps: env_num("TRADING_BAND_BPS", 200)?,
    };
    let grace = env_ms("TRADING_GRACE_MS", 1000)?;
    let close_max = env_ms("TRADING_CLOSE_MS", 10_000)?;
    let exchange = part.connect(SocketType::Dealer, "exchange")?;
    exchange.send("HELLO").map_err(|e| e.to_string())?;
    let recorder = part.connect(SocketType::Push, "recorder")?;
    let orders = part.bind(SocketType::Router)?;
    let fills = part.bind(SocketType::Pub)?;
    // Ready (registered) only once in the market: the strategies start after the gateway,
    // and the feed starts once they are ready, so no tick can pass the gateway by.
    let market = Market::join(&part, &[])?;
    part.register("orders", &orders)?;
    part.register("fills", &fills)?;
    println!(
        "limits: position {}, {} orders a second, price band {} bps",
        limits.max_position, limits.max_rate, limits.band_bps
    );
    let mut gateway = Gateway {
        limits,
        orders,
        fills,
        exchange,
        recorder,
        market,
        accounts: BTreeMap::new(),
        names: HashMap::new(),
        closed_at: None,
    };
    loop {
        if part.should_stop() {
            println!("stopping before the market closed");
            break;
        }
        if let Some(at) = gateway.closed_at {
            let all_in = gateway.accounts.values().all(|a| a.summary);
            if (all_in && at.elapsed() >= grace) || at.elapsed() >= close_max {
                break;
            }
        }
        gateway.wait()?;
    }
    gateway.close()
}

impl Gateway {
    fn wait(&mut self) -> Result<(), String> {
        let (o, x) = (0, 1);
        let ready = wait_any(
            &[&self.orders, &self.exchange, &self.market.sub],
            std::time::Duration::from_millis(100),
        )?;
        // The market first: an order is judged against every tick that arrived before it,
        // whichever socket the wait reported first.
        if !ready.is_empty() {
            self.market.drain();
        }
        if ready.contains(&x) {
            while let Ok(msg) = self.exchange.try_recv() {
                self.on_exchange(texts(&msg))?;
            }
        }
        if ready.contains(&o) {
            while let Ok(msg) = self.orders.try_recv() {
                self.on_strategy(Request::parse(msg))?;
            }
        }
        Ok(())
    }

    fn record<S: AsRef<str>>(&self, frames: &[S]) -> Result<(), String> {
        self.recorder
            .send(message(frames))
            .map_err(|e| e.to_string())
    }

    fn reply<S: AsRef<str>>(&self, request: &Request, frames: &[S]) {
        let _ = self.orders.try_send(request.reply(frames));
    }

    fn on_strategy(&mut self, request: Request) -> Result<(), String> {
        let Some(command) = request.body.first() else {
            return Ok(());
        };
        let routing_id = request.envelope[0].clone();
        match command.as_str() {
            "HELLO" => {
                let name = request.body.get(1).cloned().unwrap_or_default();
                println!("{name} joined");
                self.names.insert(routing_id, name.clone());
                let account = self.accounts.entry(name.clone()).or_default();
                account.name = name;
                account.envelope = request.envelope.clone();
                let l = self.limits;
                let welcome = [
                    "WELCOME".to_owned(),
                    l.max_position.to_string(),
                    l.max_rate.to_string(),
                    l.band_bps.to_string(),
                ];
                self.reply(&request, &welcome);
            }
            "ORDER" => self.order(&request, &routing_id)?,
            "SUMMARY" => {
                let Some(name) = self.names.get(&routing_id).cloned() else {
                    self.reply(&request, &["ERROR", "HELLO first"]);
                    return Ok(());
                };
                let mut frames = vec!["SUMMARY".to_owned(), name.clone()];
                frames.extend(request.body[1..].iter().cloned());
                self.record(&frames)?;
                if let Some(account) = self.accounts.get_mut(&name) {
                    account.summary = true;
                }
                println!("{name} sent its summary");
                self.reply(&request, &["RECORDED"]);
            }
            other => self.reply(&request, &["ERROR", &format!("unknown request {other}")]),
        }
        Ok(())
    }

    fn order(&mut self, request: &Request, routing_id: &Frame) -> Result<(), String> {
        let Some(name) = self.names.get(routing_id).cloned() else {
            self.reply(request, &["ERROR", "HELLO first"]);
            return Ok(());
        };
        let id = request.body.get(1).cloned().unwrap_or_default();
        let mut frames = vec!["ORDER".to_owned(), name.clone()];
        frames.extend(request.body[1..].iter().cloned());
        self.record(&frames)?;
        let account = self.accounts.get_mut(&name).expect("HELLO made it");
        let checked = match Order::parse(&request.body[1..]) {
            Err(detail) => Err(risk::Rejection {
                reason: "malformed",
                detail,
            }),
            Ok(order) if account.open.contains_key(&order.id) => Err(risk::Rejection {
                reason: "duplicate",
                detail: format!("order {} is still open", order.id),
            }),
            Ok(order) if self.closed_at.is_some() => Err(risk::Rejection {
                reason: "closed",
                detail: format!("the market closed before order {}", order.id),
            }),
            Ok(order) => {
                if !self.market.quotes.contains_key(&order.instrument) {
                    // The strategy may have priced it from a snapshot taken after a tick that
                    // has not reached this stream yet: ask the feed before refusing.
                    self.market.refresh()?;
                }
                let now = Instant::now();
                let quote = self.market.quotes.get(&order.instrument).copied();
                let exposure = account.exposure(&order.instrument);
                risk::check(
                    &self.limits,
                    &order,
                    quote,
                    &exposure,
                    &mut account.accepted,
                    now,
                )
                .map(|()| {
                    account.accepted.push_back(now);
                    order
                })
            }
        };
        match checked {
            Ok(order) => {
                let mut new = vec!["NEW".to_owned(), name.clone()];
                new.extend(order.fields());
                account.open.insert(order.id.clone(), order);
                self.record(&["ACCEPTED", &name, &id])?;
                self.reply(request, &["ACCEPTED", &id]);
                self.exchange
                    .send(message(&new))
                    .map_err(|e| e.to_string())?;
            }
            Err(rejection) => {
                self.record(&["REJECTED", &name, &id, rejection.reason, &rejection.detail])?;
                self.reply(
                    request,
                    &["REJECTED", &id, rejection.reason, &rejection.detail],
                );
            }
        }
        Ok(())
    }

    /// `FILL strategy id instrument side qty price`, `EXPIRED strategy id`, `END`.
    fn on_exchange(&mut self, frames: Vec<String>) -> Result<(), String> {
        match frames.first().map(String::as_str) {
            Some("FILL") if frames.len() == 7 => {
                let (name, id) = (&frames[1], &frames[2]);
                let Some(account) = self.accounts.get_mut(name) else {
                    return Ok(());
                };
                let Some(order) = account.open.remove(id) else {
                    eprintln!("a fill for an order that is not open: {frames:?}");
                    return Ok(());
                };
                let qty: i64 = frames[5].parse().unwrap_or(0);
                *account
                    .positions
                    .entry(order.instrument.clone())
                    .or_default() += order.side.sign() * qty;
                let envelope = account.envelope.clone();
                self.record(&frames)?;
                let mut to_strategy = envelope;
                to_strategy.push(Frame::from("FILL"));
                to_strategy.extend(frames[2..].iter().map(|f| Frame::from(f.clone())));
                let _ = self.orders.try_send(to_strategy);
                // Published under the instrument, for anyone watching.
                let published = [&frames[3], name, id, &frames[4], &frames[5], &frames[6]];
                let _ = self.fills.try_send(message(&published));
            }
            Some("EXPIRED") if frames.len() == 3 => {
                let (name, id) = (&frames[1], &frames[2]);
                let Some(account) = self.accounts.get_mut(name) else {
                    return Ok(());
                };
                if account.open.remove(id).is_none() {
                    return Ok(());
                }
                let mut to_strategy = account.envelope.clone();
                to_strategy.extend([Frame::from("EXPIRED"), Frame::from(id.clone())]);
                let _ = self.orders.try_send(to_strategy);
                self.record(&frames)?;
            }
            Some("END") => {
                if self.closed_at.is_none() {
                    println!("the market closed; waiting for the strategies' summaries");
                    self.closed_at = Some(Instant::now());
                }
            }
            _ => eprintln!("an unexpected message from the exchange: {frames:?}"),
        }
        Ok(())
    }

    /// Tells the recorder each position as the gateway saw it, then `CLOSE`; closes the
    /// exchange.
    fn close(self) -> Result<(), String> {
        for account in self.accounts.values() {
            let open = account.open.len();
            if open > 0 {
                eprintln!("{}: {open} orders still open at the close", account.name);
            }
            if !account.summary {
                eprintln!("{}: no summary came", account.name);
            }
            for (instrument, position) in &account.positions {
                self.record(&["POSITION", &account.name, instrument, &position.to_string()])?;
            }
        }
        self.record(&["CLOSE"])?;
        let _ = self.exchange.send("CLOSE");
        println!("closed: {} strategies", self.accounts.len());
        Ok(())
    }
}
