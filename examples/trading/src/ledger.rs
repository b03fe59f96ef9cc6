//! The recorder's arithmetic: per strategy, the orders it sent and what became of them, the
//! position its fills add up to, and its profit and loss marked at the last quotes.

use std::collections::BTreeMap;

use crate::ticks::Quote;

/// One strategy's book-keeping, from the records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ledger {
    pub orders: u64,
    pub accepted: u64,
    /// Rejections by reason.
    pub rejected: BTreeMap<String, u64>,
    pub fills: u64,
    pub expired: u64,
    /// Position by instrument, from the fills.
    pub positions: BTreeMap<String, i64>,
    /// Cents received for sales less cents paid for purchases.
    pub cash: i64,
}

impl Ledger {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// A fill of `qty` (signed: + bought, - sold) at `price` cents.
    pub fn fill(&mut self, instrument: &str, signed_qty: i64, price: i64) {
        self.fills += 1;
        *self.positions.entry(instrument.to_owned()).or_default() += signed_qty;
        self.cash -= signed_qty * price;
    }

    /// Profit and loss in cents: the cash plus every position at its instrument's last mid (a
    /// position in an instrument never quoted counts at nothing).
    pub fn pnl(&self, marks: &BTreeMap<String, Quote>) -> i64 {
        self.cash
            + self
                .positions
                .iter()
                .map(|(i, q)| q * marks.get(i).map_or(0, Quote::mid))
                .sum::<i64>()
    }
}

/// Cents as currency units: `-1234` is `-12.34`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_makes_the_difference_and_an_open_position_is_marked() {
        let mut ledger = Ledger::default();
        ledger.fill("ACME", 10, 100);
        ledger.fill("ACME", -10, 103);
        ledger.fill("BOLT", 5, 50);
        let marks = BTreeMap::from([("BOLT".to_owned(), Quote { bid: 51, ask: 53 })]);
        assert_eq!(ledger.positions["ACME"], 0);
        assert_eq!(ledger.pnl(&marks), 30 + 5 * 2);
        assert_eq!(money(-1234), "-12.34");
        assert_eq!(money(5), "0.05");
    }
}
