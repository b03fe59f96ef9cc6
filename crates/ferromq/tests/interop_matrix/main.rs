//! The interoperability matrix: every socket pattern, and CURVE and PLAIN, between ferromq (in
//! this process) and independent ZeroMQs in their own processes — pyzmq, JeroMQ, libzmq's C
//! API, CZMQ and R's pbdZMQ (the peers in `interop/`) — with ferromq on each side of the
//! pattern and of bind/connect, over tcp and ipc. It prints one table per peer and fails when
//! any cell a peer supports fails, or when a peer's software is missing: `scripts/test`
//! installs them all. `FERROMQ_INTEROP_PEERS=pyzmq,czmq` runs only the peers named.
//!
//! A second test (`arguments`) checks that each peer also runs its commands from command-line
//! arguments.

#[path = "../common/mod.rs"]
mod common;

mod arguments;
mod cases;
mod link;
mod peers;
mod table;

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use cases::{Case, Direction};
use common::{Peer, Transport};
use link::Link;
use peers::{Kind, Launcher};
use table::{Outcome, PeerResults, TRANSPORTS};

#[test]
fn interop_matrix() {
    let kinds = selected_peers();
    let build_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop-peers");
    std::fs::create_dir_all(&build_dir).expect("a directory for the C peers");
    // Each failing cell is a caught panic; its message goes into the table, not the log.
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let threads: Vec<_> = kinds
        .iter()
        .map(|&kind| {
            let dir = build_dir.clone();
            std::thread::spawn(move || run_peer(kind, &dir))
        })
        .collect();
    let results: Vec<PeerResults> = threads
        .into_iter()
        .map(|t| t.join().expect("a peer's thread"))
        .collect();
    panic::set_hook(default_hook);
    let mut report = table::render(&results, started.elapsed());
    if kinds.len() < Kind::ALL.len() {
        report.insert_str(0, "Only the peers named in FERROMQ_INTEROP_PEERS ran.\n");
    }
    println!("{report}");
    if let Some(path) = std::env::var_os("FERROMQ_INTEROP_TABLE") {
        std::fs::write(&path, &report).expect("writing FERROMQ_INTEROP_TABLE");
    }
    let failed: usize = results.iter().map(PeerResults::failures).sum();
    assert_eq!(
        failed, 0,
        "{failed} cells of the interop matrix failed; the tables above say why"
    );
}

/// The peers of `FERROMQ_INTEROP_PEERS`, or all of them.
fn selected_peers() -> Vec<Kind> {
    let Ok(names) = std::env::var("FERROMQ_INTEROP_PEERS") else {
        return Kind::ALL.to_vec();
    };
    names
        .split(',')
        .map(|name| {
            Kind::ALL
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
                .unwrap_or_else(|| panic!("FERROMQ_INTEROP_PEERS: no peer named {name:?}"))
        })
        .collect()
}

/// Every cell of one peer, one after another, reusing its process while cells pass.
fn run_peer(kind: Kind, build_dir: &Path) -> PeerResults {
    let started = Instant::now();
    let launcher = kind.launcher(build_dir);
    let mut peer: Option<Peer> = None;
    let version = match &launcher {
        Err(missing) => Err(missing.clone()),
        Ok(l) => catch(|| {
            let mut p = l.spawn(kind.name());
            let version = p.ok("version");
            (p, version)
        })
        .map(|(p, version)| {
            peer = Some(p);
            version
        }),
    };
    let mut cells = Vec::new();
    for case in Case::ALL {
        for transport in TRANSPORTS {
            for direction in Direction::ALL {
                let outcome = match (kind.unsupported(case, transport, direction), &launcher) {
                    (Some(why), _) => Outcome::Unsupported(why),
                    (None, Err(missing)) => Outcome::Fail(format!("peer missing: {missing}")),
                    (None, Ok(launcher)) => {
                        run_cell(kind, launcher, &mut peer, case, transport, direction)
                    }
                };
                cells.push((case, transport, direction, outcome));
            }
        }
    }
    retire(&mut peer);
    PeerResults {
        kind,
        version,
        cells,
        elapsed: started.elapsed(),
    }
}

/// One cell. A peer process is kept for the next cell while it still answers, but not after
/// a CURVE or PLAIN cell, so that no ZAP handler or key carries over.
fn run_cell(
    kind: Kind,
    launcher: &Launcher,
    slot: &mut Option<Peer>,
    case: Case,
    transport: Transport,
    direction: Direction,
) -> Outcome {
    let fresh = !matches!(case.security(), cases::Security::Null);
    if fresh {
        retire(slot);
    }
    let peer = match slot {
        Some(peer) => peer,
        None => match catch(|| launcher.spawn(kind.name())) {
            Ok(peer) => slot.insert(peer),
            Err(e) => return Outcome::Fail(format!("cannot start the peer: {e}")),
        },
    };
    let mut link = match Link::new(case, direction) {
        Ok(link) => link,
        Err(e) => return Outcome::Fail(e),
    };
    let result = catch(|| {
        link.join(case, peer, transport);
        case.run(&link, peer);
    });
    let outcome = match result {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(reason(&why, &link.diagnosis())),
    };
    drop(link);
    if fresh {
        retire(slot);
    } else if catch(|| peer.close()).is_err() {
        *slot = None;
    }
    outcome
}

/// Ends a peer with `quit`, so that it cleans up after itself (CZMQ's password file); one that
/// does not answer is killed.
fn retire(slot: &mut Option<Peer>) {
    if let Some(peer) = slot.take() {
        let _ = catch(|| peer.quit());
    }
}

/// A failure in one line: what the scenario saw, and what ferromq's monitor saw.
fn reason(why: &str, diagnosis: &str) -> String {
    let mut text: String = why.lines().next().unwrap_or("").chars().take(200).collect();
    if !diagnosis.is_empty() {
        text += &format!("; {diagnosis}");
    }
    text
}

/// Runs `f`, turning a panic into its message.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|e| panic_text(e.as_ref()))
}

/// The message of a caught panic.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".to_string()
    }
}
