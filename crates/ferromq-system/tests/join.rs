//! One system over two hosts: two network namespaces joined by a veth pair stand for the two
//! machines. Supervisor A serves its directory on its side of the link; supervisor B joins it
//! by address. A service registered on one host is found on the other; cutting the link makes
//! B's entry expire at A, and restoring it brings the entry back.
//!
//! It needs root and `ip netns`; without them it prints why it did not run and returns.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{process, System, LONG};

#[test]
fn role_entry() {
    common::role_entry();
}

const ADDR_A: &str = "10.77.0.1";
const ADDR_B: &str = "10.77.0.2";
const PORT: u16 = 5670;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two namespaces and the veth pair between them, deleted when dropped (also on a panic).
struct Net {
    a: String,
    b: String,
    veth_a: String,
    veth_b: String,
    made: Vec<String>,
    made_veth: bool,
}

impl Net {
    fn new() -> Result<Net, String> {
        let pid = std::process::id();
        let mut net = Net {
            a: format!("fmq-a-{pid}"),
            b: format!("fmq-b-{pid}"),
            veth_a: format!("fmqa{pid}"),
            veth_b: format!("fmqb{pid}"),
            made: Vec::new(),
            made_veth: false,
        };
        ip(&["netns", "add", &net.a])?;
        net.made.push(net.a.clone());
        ip(&["netns", "add", &net.b])?;
        net.made.push(net.b.clone());
        let (a, b, va, vb) = (
            net.a.clone(),
            net.b.clone(),
            net.veth_a.clone(),
            net.veth_b.clone(),
        );
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        net.made_veth = true;
        ip(&["link", "set", &va, "netns", &a])?;
        ip(&["link", "set", &vb, "netns", &b])?;
        for (ns, dev, addr) in [(&a, &va, ADDR_A), (&b, &vb, ADDR_B)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(net)
    }

    fn exec(ns: &str) -> [&str; 4] {
        ["ip", "netns", "exec", ns]
    }

    /// Runs a directory lookup inside namespace `ns`, against the directory at `endpoint`.
    fn lookup(ns: &str, endpoint: &str, service: &str, wait: Duration) -> Vec<String> {
        let out = common::as_role("lookup", &["ip", "netns", "exec", ns])
            .env("FERROMQ_DIRECTORY", endpoint)
            .env("FERROMQ_OWNER", "test-lookup")
            .env("LOOKUP_SERVICE", service)
            .env("LOOKUP_WAIT_MS", wait.as_millis().to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("endpoints:"))
            .unwrap_or_else(|| {
                panic!(
                    "lookup of {service} in {ns} printed no answer:\n{stdout}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        line.split_whitespace().map(str::to_owned).collect()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and with it the pair; a pair not
        // yet moved into them is deleted here.
        for ns in self.made.drain(..) {
            let _ = ip(&["netns", "del", &ns]);
        }
        if self.made_veth {
            let _ = ip(&["link", "del", &self.veth_a]);
        }
    }
}

#[test]
fn a_second_host_joins_the_directory_and_its_entries_follow_the_link() {
    if !is_root() {
        println!("skipped: needs root to make network namespaces");
        return;
    }
    let net = match Net::new() {
        Ok(net) => net,
        Err(why) => {
            println!("skipped: cannot make two network namespaces joined by a veth pair: {why}");
            return;
        }
    };
    let directory_a = format!("tcp://{ADDR_A}:{PORT}");
    let manifest_a = format!(
        "name = \"host-a\"\n[directory]\nbind = {directory_a:?}\nttl_ms = 600\n{}",
        process(
            "alpha",
            "",
            &[
                ("CHILD_SERVICE", "svc-a"),
                ("CHILD_BIND", ADDR_A),
                ("CHILD_LOOKUP", "svc-b")
            ]
        )
    );
    let manifest_b = format!(
        "name = \"host-b\"\n[directory]\nttl_ms = 600\njoin = {directory_a:?}\nname = \"hostb\"\n{}",
        process(
            "beta",
            "",
            &[
                ("CHILD_SERVICE", "svc-b"),
                ("CHILD_BIND", ADDR_B),
                ("CHILD_LOOKUP", "svc-a")
            ]
        )
    );
    let mut a = System::start_in(&manifest_a, &Net::exec(&net.a));
    let mut b = System::start_in(&manifest_b, &Net::exec(&net.b));
    assert_eq!(a.directory, directory_a);

    // Each child finds the other host's service through its own supervisor.
    let line = b.wait_line("found svc-a:", LONG);
    assert!(line.contains(&format!("tcp://{ADDR_A}:")), "{line}");
    let line = a.wait_line("found svc-b:", LONG);
    assert!(line.contains(&format!("tcp://{ADDR_B}:")), "{line}");
    // And B's entry is at A, under B's name.
    let at_a = Net::lookup(&net.a, &directory_a, "svc-b", Duration::ZERO);
    assert_eq!(at_a.len(), 1, "{at_a:?}");
    assert!(at_a[0].starts_with(&format!("tcp://{ADDR_B}:")), "{at_a:?}");

    // The link cut, B's heartbeats stop reaching A: its entry expires there.
    let cut = Instant::now();
    ip(&["-n", &net.b, "link", "set", &net.veth_b, "down"]).unwrap();
    a.wait_line("hostb/beta[0]#1 stopped sending heartbeats", LONG);
    assert!(cut.elapsed() < LONG);
    assert!(
        Net::lookup(&net.a, &directory_a, "svc-b", Duration::ZERO).is_empty(),
        "\n{}",
        a.output()
    );
    // A's own entry is still there.
    assert_eq!(
        Net::lookup(&net.a, &directory_a, "svc-a", Duration::ZERO).len(),
        1
    );

    // Restored, B hears UNKNOWN (or times out) and registers again: the entry comes back.
    ip(&["-n", &net.b, "link", "set", &net.veth_b, "up"]).unwrap();
    let again = Net::lookup(&net.a, &directory_a, "svc-b", LONG);
    assert_eq!(again, at_a, "\nA:\n{}\nB:\n{}", a.output(), b.output());
    drop(b);
    drop(a);
    drop(net);
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}
