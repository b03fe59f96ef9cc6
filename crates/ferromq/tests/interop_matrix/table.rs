//! The matrix as Markdown: one table per peer, rows for cases, columns for transport and
//! direction, each cell a pass, a failure or "unsupported by the peer", with numbered reasons.

use std::fmt::Write;
use std::time::Duration;

use crate::cases::{Case, Direction};
use crate::common::Transport;
use crate::peers::Kind;

/// What one cell came to.
#[derive(Clone, Debug)]
pub enum Outcome {
    Pass,
    Fail(String),
    Unsupported(&'static str),
}

/// Every cell of one peer.
pub struct PeerResults {
    pub kind: Kind,
    /// The peer's own account of itself, or why it could not be had.
    pub version: Result<String, String>,
    pub cells: Vec<(Case, Transport, Direction, Outcome)>,
    pub elapsed: Duration,
}

impl PeerResults {
    pub fn failures(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Fail(_)))
    }

    fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.cells.iter().filter(|(.., o)| pred(o)).count()
    }
}

pub const TRANSPORTS: [Transport; 2] = [Transport::Tcp, Transport::Ipc];

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::Ipc => "ipc",
    }
}

pub const LEGEND: &str = "Columns: transport, then `f→p` when ferromq plays the first socket \
of the case (PUSH, PUB, REQ, DEALER, XPUB, the PAIR that speaks first) and the peer the second, \
`p→f` the reverse; `fb` when ferromq binds and the peer connects, `pb` the reverse. Under CURVE \
and PLAIN the binding side is the server. A cell is `pass`, `FAIL [n]`, or `n/a [n]` (the peer \
does not support it), with the reason in note n below its table.";

/// The whole report.
pub fn render(results: &[PeerResults], total: Duration) -> String {
    let mut out = String::new();
    let cells: usize = results.iter().map(|r| r.cells.len()).sum();
    let failed: usize = results.iter().map(PeerResults::failures).sum();
    let passed: usize = results
        .iter()
        .map(|r| r.count(|o| matches!(o, Outcome::Pass)))
        .sum();
    let _ = writeln!(
        out,
        "ferromq interop matrix: {cells} cells, {passed} pass, {failed} fail, {} not supported \
         by the peer ({:.0} s)\n\n{LEGEND}",
        cells - passed - failed,
        total.as_secs_f64()
    );
    for r in results {
        render_peer(&mut out, r);
    }
    out
}

fn render_peer(out: &mut String, r: &PeerResults) {
    let version = match &r.version {
        Ok(v) => v.clone(),
        Err(e) => format!("{}: MISSING ({e})", r.kind.name()),
    };
    let _ = writeln!(out, "\n### {version} ({:.0} s)\n", r.elapsed.as_secs_f64());
    let mut header = String::from("| case |");
    let mut rule = String::from("|---|");
    for t in TRANSPORTS {
        for d in Direction::ALL {
            let _ = write!(header, " {} {} |", transport_name(t), d.label());
            rule.push_str("---|");
        }
    }
    let _ = writeln!(out, "{header}\n{rule}");
    let mut notes: Vec<String> = Vec::new();
    for case in Case::ALL {
        let mut row = format!("| {} |", case.label());
        for t in TRANSPORTS {
            for d in Direction::ALL {
                let outcome = r.cells.iter().find(|(c, ct, cd, _)| {
                    *c == case
                        && transport_name(*ct) == transport_name(t)
                        && cd.label() == d.label()
                });
                let text = match outcome.map(|(.., o)| o) {
                    None => "-".to_string(),
                    Some(Outcome::Pass) => "pass".to_string(),
                    Some(Outcome::Fail(why)) => format!("FAIL [{}]", note(&mut notes, why)),
                    Some(Outcome::Unsupported(why)) => format!("n/a [{}]", note(&mut notes, why)),
                };
                let _ = write!(row, " {text} |");
            }
        }
        let _ = writeln!(out, "{row}");
    }
    if !notes.is_empty() {
        out.push('\n');
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(out, "{}. {n}", i + 1);
        }
    }
}

/// The number of a note, adding it when it is new.
fn note(notes: &mut Vec<String>, text: &str) -> usize {
    match notes.iter().position(|n| n == text) {
        Some(i) => i + 1,
        None => {
            notes.push(text.to_string());
            notes.len()
        }
    }
}
