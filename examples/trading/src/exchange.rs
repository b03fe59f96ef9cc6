//! The simulated exchange: a ROUTER the gateway sends accepted orders to (`NEW`). Orders fill
//! against the feed's quotes as the `book` says; fills and expiries go back to the gateway. At
//! the end of the tick stream every resting order expires, later orders expire at once, and the
//! gateway is told `END`; `CLOSE` from the gateway ends the exchange.
//!
//! Setting: `TRADING_ORDER_LIFE` (ticks of its instrument an order rests at most).

use std::time::Duration;

use ferromq::{Frame, SocketType};

use crate::book::{Book, Outcome};
use crate::market::Market;
use crate::part::{env_num, wait_any, Part};
use crate::wire::{message, Order, Request};

pub fn run(part: Part) -> Result<(), String> {
    let life = env_num("TRADING_ORDER_LIFE", 50)?.max(1) as u32;
    let router = part.bind(SocketType::Router)?;
    // Ready only once in the market, as the gateway (see there).
    let mut market = Market::join(&part, &[])?;
    part.register("exchange", &router)?;
    let mut book = Book::default();
    let mut gateway: Option<Frame> = None;
    let (mut orders, mut fills, mut expired) = (0u64, 0u64, 0u64);
    let mut told_end = false;
    loop {
        if part.should_stop() {
            println!("stopping");
            break;
        }
        let mut outcomes = Vec::new();
        wait_any(&[&router, &market.sub], Duration::from_millis(100))?;
        // Quotes first, so an order is matched against the latest one.
        while let Ok(msg) = market.sub.try_recv() {
            match market.apply(&msg) {
                crate::market::Update::Tick(instrument) => {
                    let quote = market.quotes[&instrument];
                    outcomes.extend(book.tick(&instrument, &quote));
                }
                crate::market::Update::End => outcomes.extend(book.close()),
                crate::market::Update::Nothing => {}
            }
        }
        let mut close = false;
        while let Ok(msg) = router.try_recv() {
            let request = Request::parse(msg);
            gateway = Some(request.envelope[0].clone());
            match request.body.first().map(String::as_str) {
                Some("NEW") if request.body.len() == 7 => {
                    let strategy = request.body[1].clone();
                    let order = match Order::parse(&request.body[2..]) {
                        Ok(order) => order,
                        Err(e) => {
                            eprintln!("a malformed order from the gateway: {e}");
                            continue;
                        }
                    };
                    orders += 1;
                    if market.ended {
                        outcomes.push(Outcome::Expired {
                            strategy,
                            id: order.id,
                        });
                        continue;
                    }
                    let quote = market.quotes.get(&order.instrument).copied();
                    outcomes.extend(book.add(strategy, order, quote.as_ref(), life));
                }
                Some("CLOSE") => close = true,
                Some("HELLO") => {}
                _ => eprintln!("an unexpected request: {:?}", request.body),
            }
        }
        let Some(gateway) = &gateway else {
            continue;
        };
        for outcome in outcomes {
            let frames: Vec<String> = match outcome {
                Outcome::Fill {
                    strategy,
                    order,
                    price,
                } => {
                    fills += 1;
                    let mut f = vec!["FILL".to_owned(), strategy];
                    let [id, instrument, side, qty, _limit] = order.fields();
                    f.extend([id, instrument, side, qty, price.to_string()]);
                    f
                }
                Outcome::Expired { strategy, id } => {
                    expired += 1;
                    vec!["EXPIRED".to_owned(), strategy, id]
                }
            };
            send_to(&router, gateway, &frames)?;
        }
        if market.ended && !told_end {
            told_end = true;
            send_to(&router, gateway, &["END"])?;
        }
        if close {
            break;
        }
    }
    println!("{orders} orders: {fills} filled, {expired} expired");
    Ok(())
}

fn send_to<S: AsRef<str>>(
    router: &ferromq::Socket,
    peer: &Frame,
    frames: &[S],
) -> Result<(), String> {
    let mut msg = message(frames);
    msg.push_front(peer.clone());
    router.send(msg).map_err(|e| e.to_string())
}
