//! The simulated exchange's book: resting limit orders, filled whole when a quote of their
//! instrument reaches their price (a buy at the ask, a sell at the bid), and expired after a
//! number of that instrument's ticks or when the market closes.

use crate::ticks::Quote;
use crate::wire::{Order, Side};

/// An order resting in the book, with the strategy it belongs to.
#[derive(Debug, Clone)]
pub struct Resting {
    pub strategy: String,
    pub order: Order,
    /// Ticks of its instrument it may still wait.
    pub ticks_left: u32,
}

/// What happened to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Filled whole at this price.
    Fill {
        strategy: String,
        order: Order,
        price: i64,
    },
    Expired {
        strategy: String,
        id: String,
    },
}

/// The price an order fills at against a quote, if it reaches it.
pub fn fill_price(order: &Order, quote: &Quote) -> Option<i64> {
    match order.side {
        Side::Buy if quote.ask <= order.price => Some(quote.ask),
        Side::Sell if quote.bid >= order.price => Some(quote.bid),
        _ => None,
    }
}

#[derive(Default)]
pub struct Book {
    pub resting: Vec<Resting>,
}

impl Book {
    /// A new order: filled at once against the current quote if it reaches it, else resting
    /// for `life` ticks of its instrument.
    pub fn add(
        &mut self,
        strategy: String,
        order: Order,
        quote: Option<&Quote>,
        life: u32,
    ) -> Option<Outcome> {
        if let Some(price) = quote.and_then(|q| fill_price(&order, q)) {
            return Some(Outcome::Fill {
                strategy,
                order,
                price,
            });
        }
        self.resting.push(Resting {
            strategy,
            order,
            ticks_left: life,
        });
        None
    }

    /// A new quote for `instrument`: the orders it fills, and those whose time is up.
    pub fn tick(&mut self, instrument: &str, quote: &Quote) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        self.resting.retain_mut(|r| {
            if r.order.instrument != instrument {
                return true;
            }
            if let Some(price) = fill_price(&r.order, quote) {
                outcomes.push(Outcome::Fill {
                    strategy: r.strategy.clone(),
                    order: r.order.clone(),
                    price,
                });
                return false;
            }
            r.ticks_left = r.ticks_left.saturating_sub(1);
            if r.ticks_left == 0 {
                outcomes.push(Outcome::Expired {
                    strategy: r.strategy.clone(),
                    id: r.order.id.clone(),
                });
                return false;
            }
            true
        });
        outcomes
    }

    /// The market closed: every resting order expires.
    pub fn close(&mut self) -> Vec<Outcome> {
        self.resting
            .drain(..)
            .map(|r| Outcome::Expired {
                strategy: r.strategy,
                id: r.order.id,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, side: Side, price: i64) -> Order {
        Order {
            id: id.into(),
            instrument: "ACME".into(),
            side,
            qty: 5,
            price,
        }
    }

    const Q: Quote = Quote { bid: 99, ask: 101 };

    #[test]
    fn a_marketable_order_fills_at_once_at_the_quote() {
        let mut book = Book::default();
        let fill = book.add("s".into(), order("1", Side::Buy, 105), Some(&Q), 3);
        assert!(matches!(fill, Some(Outcome::Fill { price: 101, .. })));
        let fill = book.add("s".into(), order("2", Side::Sell, 90), Some(&Q), 3);
        assert!(matches!(fill, Some(Outcome::Fill { price: 99, .. })));
        assert!(book.resting.is_empty());
    }

    #[test]
    fn a_resting_order_fills_on_a_later_tick_or_expires() {
        let mut book = Book::default();
        assert!(book
            .add("s".into(), order("1", Side::Buy, 98), Some(&Q), 2)
            .is_none());
        assert!(book
            .add("s".into(), order("2", Side::Sell, 103), None, 2)
            .is_none());
        assert!(book.tick("BOLT", &Quote { bid: 1, ask: 2 }).is_empty());
        let out = book.tick("ACME", &Quote { bid: 96, ask: 98 });
        assert!(
            matches!(&out[..], [Outcome::Fill { price: 98, .. }]),
            "{out:?}"
        );
        let out = book.tick("ACME", &Q);
        assert_eq!(
            out,
            [Outcome::Expired {
                strategy: "s".into(),
                id: "2".into()
            }]
        );
        assert!(book.close().is_empty());
    }
}
