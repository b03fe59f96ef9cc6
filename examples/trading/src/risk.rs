//! The gateway's limits and the checks an order must pass, as plain functions of the account's
//! state so that each rule is tested by itself.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::ticks::Quote;
use crate::wire::{Order, Side};

/// The limits every strategy trades under (the gateway tells them in its `WELCOME`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest position, long or short, an instrument may reach if every open order fills.
    pub max_position: i64,
    /// The most orders accepted within any one second.
    pub max_rate: usize,
    /// How far from the quote's mid a limit price may be, in basis points.
    pub band_bps: i64,
}

/// The window the rate limit counts over.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Why an order was rejected: the reason's name (as sent in `REJECTED`) and its detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub detail: String,
}

fn reject(reason: &'static str, detail: String) -> Result<(), Rejection> {
    Err(Rejection { reason, detail })
}

/// What the checks need to know about one strategy's instrument.
pub struct Exposure {
    /// The filled position.
    pub position: i64,
    /// The quantity of open buy and sell orders.
    pub open_buy: i64,
    pub open_sell: i64,
}

/// Checks an order: the rate first (orders accepted within the last second, `accepted`
/// holding their times), then the price band around the current quote, then the position the
/// instrument would reach if every open order on the order's side filled too.
pub fn check(
    limits: &Limits,
    order: &Order,
    quote: Option<Quote>,
    exposure: &Exposure,
    accepted: &mut VecDeque<Instant>,
    now: Instant,
) -> Result<(), Rejection> {
    while accepted
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= RATE_WINDOW)
    {
        accepted.pop_front();
    }
    if accepted.len() >= limits.max_rate {
        return reject(
            "rate",
            format!("{} orders accepted in the last second", accepted.len()),
        );
    }
    let Some(quote) = quote else {
        return reject("no-quote", format!("no quote yet for {}", order.instrument));
    };
    let mid = quote.mid();
    if (order.price - mid).abs() * 10_000 > limits.band_bps * mid {
        return reject(
            "price-band",
            format!(
                "price {} is more than {} bps from the mid {mid}",
                order.price, limits.band_bps
            ),
        );
    }
    let worst = match order.side {
        Side::Buy => exposure.position + exposure.open_buy + order.qty,
        Side::Sell => exposure.position - exposure.open_sell - order.qty,
    };
    if worst.abs() > limits.max_position {
        return reject(
            "position",
            format!(
                "position {} with open orders would reach {worst}, beyond {}",
                exposure.position, limits.max_position
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_position: 100,
        max_rate: 3,
        band_bps: 200,
    };
    const QUOTE: Option<Quote> = Some(Quote {
        bid: 9_999,
        ask: 10_001,
    });

    fn order(side: Side, qty: i64, price: i64) -> Order {
        Order {
            id: "1".into(),
            instrument: "ACME".into(),
            side,
            qty,
            price,
        }
    }

    fn flat() -> Exposure {
        Exposure {
            position: 0,
            open_buy: 0,
            open_sell: 0,
        }
    }

    #[test]
    fn each_rule_rejects_with_its_reason() {
        let now = Instant::now();
        let mut none = VecDeque::new();
        let ok = check(
            &LIMITS,
            &order(Side::Buy, 10, 10_100),
            QUOTE,
            &flat(),
            &mut none,
            now,
        );
        assert_eq!(ok, Ok(()));
        let band = check(
            &LIMITS,
            &order(Side::Buy, 10, 10_201),
            QUOTE,
            &flat(),
            &mut none,
            now,
        );
        assert_eq!(band.unwrap_err().reason, "price-band");
        let big = check(
            &LIMITS,
            &order(Side::Sell, 101, 10_000),
            QUOTE,
            &flat(),
            &mut none,
            now,
        );
        assert_eq!(big.unwrap_err().reason, "position");
        let mut busy: VecDeque<Instant> = [now; 3].into();
        let fast = check(
            &LIMITS,
            &order(Side::Buy, 1, 10_000),
            QUOTE,
            &flat(),
            &mut busy,
            now,
        );
        assert_eq!(fast.unwrap_err().reason, "rate");
        let later = now + RATE_WINDOW;
        let slow = check(
            &LIMITS,
            &order(Side::Buy, 1, 10_000),
            QUOTE,
            &flat(),
            &mut busy,
            later,
        );
        assert_eq!(slow, Ok(()));
        assert!(busy.is_empty());
        let blind = check(
            &LIMITS,
            &order(Side::Buy, 1, 10_000),
            None,
            &flat(),
            &mut none,
            now,
        );
        assert_eq!(blind.unwrap_err().reason, "no-quote");
    }

    #[test]
    fn open_orders_on_the_same_side_count_toward_the_position() {
        let now = Instant::now();
        let mut none = VecDeque::new();
        let long = Exposure {
            position: 60,
            open_buy: 30,
            open_sell: 50,
        };
        let buy = check(
            &LIMITS,
            &order(Side::Buy, 11, 10_000),
            QUOTE,
            &long,
            &mut none,
            now,
        );
        assert_eq!(buy.unwrap_err().reason, "position");
        let buy = check(
            &LIMITS,
            &order(Side::Buy, 10, 10_000),
            QUOTE,
            &long,
            &mut none,
            now,
        );
        assert_eq!(buy, Ok(()));
        // Selling reduces a long position: 60 - 50 - 150 = -140 is too short, -100 is not.
        let sell = check(
            &LIMITS,
            &order(Side::Sell, 150, 10_000),
            QUOTE,
            &long,
            &mut none,
            now,
        );
        assert_eq!(sell.unwrap_err().reason, "position");
        let sell = check(
            &LIMITS,
            &order(Side::Sell, 110, 10_000),
            QUOTE,
            &long,
            &mut none,
            now,
        );
        assert_eq!(sell, Ok(()));
    }
}
