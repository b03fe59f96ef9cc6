//! The recorder: a PULL socket the gateway pushes every order, answer, fill, expiry and
//! strategy summary to. Each record is written to the record file (`TRADING_RECORD`) as one
//! tab-separated line, in the order received; at `CLOSE` it adds each strategy's profit and
//! loss (marked at the feed's last quotes), prints a summary, and exits.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use ferromq::SocketType;

use crate::ledger::{money, Ledger};
use crate::market::Market;
use crate::part::{env_or, wait_any, Part};
use crate::wire::{texts, Side};

pub fn run(part: Part) -> Result<(), String> {
    let path = env_or("TRADING_RECORD", "../../target/trading/record.tsv");
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = std::fs::File::create(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = std::io::BufWriter::new(file);
    let pull = part.bind(SocketType::Pull)?;
    part.register("recorder", &pull)?;
    let mut market = Market::join(&part, &[])?;
    let mut ledgers: BTreeMap<String, Ledger> = BTreeMap::new();
    let mut summaries: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut records = 0u64;
    'run: loop {
        if part.should_stop() {
            println!("stopping before the gateway closed");
            break;
        }
        wait_any(&[&pull, &market.sub], Duration::from_millis(100))?;
        market.drain();
        while let Ok(msg) = pull.try_recv() {
            let frames = texts(&msg);
            writeln!(out, "{}", frames.join("\t")).map_err(|e| e.to_string())?;
            records += 1;
            if frames[0] == "CLOSE" {
                break 'run;
            }
            apply(&mut ledgers, &mut summaries, &frames);
        }
    }
    market.drain();
    for (name, ledger) in &ledgers {
        let pnl = ledger.pnl(&market.quotes);
        writeln!(out, "PNL\t{name}\t{pnl}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| format!("{path}: {e}"))?;
    report(&ledgers, &summaries, &market, records, &path);
    Ok(())
}

/// Adds one record to the ledgers.
fn apply(
    ledgers: &mut BTreeMap<String, Ledger>,
    summaries: &mut BTreeMap<String, Vec<String>>,
    frames: &[String],
) {
    let Some(name) = frames.get(1) else {
        return;
    };
    let ledger = ledgers.entry(name.clone()).or_default();
    match frames[0].as_str() {
        "ORDER" => ledger.orders += 1,
        "ACCEPTED" => ledger.accepted += 1,
        "REJECTED" => {
            let reason = frames.get(3).cloned().unwrap_or_default();
            *ledger.rejected.entry(reason).or_default() += 1;
        }
        "EXPIRED" => ledger.expired += 1,
        // FILL strategy id instrument side qty price
        "FILL" if frames.len() == 7 => {
            let sign = Side::parse(&frames[4]).map_or(0, Side::sign);
            let qty: i64 = frames[5].parse().unwrap_or(0);
            let price: i64 = frames[6].parse().unwrap_or(0);
            ledger.fill(&frames[3], sign * qty, price);
        }
        "SUMMARY" => {
            summaries.insert(name.clone(), frames[2..].to_vec());
        }
        _ => {}
    }
}

/// The summary printed at the end: one line per strategy.
fn report(
    ledgers: &BTreeMap<String, Ledger>,
    summaries: &BTreeMap<String, Vec<String>>,
    market: &Market,
    records: u64,
    path: &str,
) {
    println!("{records} records written to {path}");
    println!(
        "{:<10} {:>6} {:>8} {:>8} {:>6} {:>7}  {:<34} {:>10}",
        "strategy", "orders", "accepted", "rejected", "fills", "expired", "rejections", "P&L"
    );
    for (name, l) in ledgers {
        let reasons: Vec<String> = l.rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!(
            "{:<10} {:>6} {:>8} {:>8} {:>6} {:>7}  {:<34} {:>10}",
            name,
            l.orders,
            l.accepted,
            l.rejected_total(),
            l.fills,
            l.expired,
            reasons.join(", "),
            money(l.pnl(&market.quotes))
        );
        match summaries.get(name) {
            Some(summary) => println!("  {name} reported: {}", summary.join(" ")),
            None => println!("  {name} sent no summary"),
        }
    }
}
