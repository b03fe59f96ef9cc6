//! The supervisor with real processes: restarts after SIGKILL while the others carry on, a
//! crash loop that stops the system at the intensity limit, the ordered stop on SIGINT and
//! SIGTERM, and no child left behind when the supervisor itself is killed.

mod common;

use std::time::Duration;

use common::{alive, eventually, process, signal_pid, System, LONG};
use ferromq::directory::Directory;
use ferromq::Context;

#[test]
fn role_entry() {
    common::role_entry();
}

const FAST: &str = "[supervisor]\nbackoff_ms = 20\nbackoff_max_ms = 200\nstop_timeout_ms = 2000\n";

fn service(name: &str, after: &str) -> String {
    let service = format!("svc-{name}");
    process(
        name,
        &format!("after = [{after}]"),
        &[("CHILD_SERVICE", &service)],
    )
}

#[test]
fn a_killed_process_is_restarted_and_registers_again_while_the_others_run_on() {
    let manifest = format!(
        "{FAST}{}{}{}",
        service("a", ""),
        service("b", "\"a\""),
        service("c", "\"b\"")
    );
    let mut system = System::start(&manifest);
    system.wait_line("c[0] ready", LONG);
    let before = system.ps();
    assert!(before.iter().all(|r| r.state == "ready"), "{before:?}");
    let pid = |name: &str| before.iter().find(|r| r.name == name).unwrap().pid.unwrap();
    let (a, b, c) = (pid("a"), pid("b"), pid("c"));

    signal_pid(b, 9);
    system.wait_line("b[0] exited (signal 9 (SIGKILL))", LONG);
    system.wait_line("b[0] restarting", LONG);
    system.wait_line("b[0] ready", LONG);

    let after = system.row("b");
    assert_ne!(after.pid, Some(b));
    assert_eq!(after.restarts, 1);
    assert_eq!(after.state, "ready");
    assert!(!alive(b));
    assert_eq!(system.row("a").pid, Some(a));
    assert_eq!(system.row("c").pid, Some(c));
    assert_eq!(system.row("a").restarts + system.row("c").restarts, 0);

    // The directory holds the new instance's endpoint only.
    let ctx = Context::new();
    let directory = Directory::connect(&ctx, &system.directory, "test-lookup");
    let found = directory.lookup("svc-b", Duration::ZERO).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    drop(directory);
    ctx.terminate();
}

#[test]
fn a_crash_loop_stops_the_system_at_the_intensity_limit_naming_the_process() {
    let manifest = format!(
        "[supervisor]\nmax_restarts = 3\nwithin_secs = 30\nbackoff_ms = 10\nbackoff_max_ms = 40\nstop_timeout_ms = 2000\n\
         {}{}",
        service("steady", ""),
        process(
            "crasher",
            "restart = \"always\"\nready = \"start\"",
            &[("CHILD_EXIT_AFTER_MS", "30"), ("CHILD_EXIT_CODE", "3")]
        ),
    );
    let mut system = System::start(&manifest);
    let status = system.wait_exit(LONG);
    let output = system.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains(
            "ferromq: crasher[0] exited (exit code 3) and would be restarted, but the limit is 3 restarts in 30 s: stopping the system"
        ),
        "{output}"
    );
    assert_eq!(output.matches("crasher[0] started").count(), 4, "{output}");
    assert!(
        output.contains("steady[0] stopping: stop message"),
        "{output}"
    );
    assert!(
        output.contains("steady| stopped by the stop message")
            || output.contains("steady[0]| stopped by the stop message"),
        "{output}"
    );
    assert_eq!(system.survivors_after(LONG), Vec::<u32>::new());
}

/// Stops in reverse order: `last` ignores the stop message and SIGTERM (so it is killed),
/// `middle` never registered (so it gets SIGTERM), `first` honours the stop message.
fn ordered_stop(signal: i32) {
    let manifest = format!(
        "[supervisor]\nstop_timeout_ms = 300\n{}{}{}",
        service("first", ""),
        process("middle", "after = [\"first\"]\nready = \"start\"", &[]),
        process(
            "last",
            "after = [\"middle\"]",
            &[("CHILD_SERVICE", "svc-last"), ("CHILD_IGNORE_STOP", "1")]
        ),
    );
    let mut system = System::start(&manifest);
    system.wait_line("last[0] ready", LONG);
    let pids: Vec<u32> = system.ps().iter().map(|r| r.pid.unwrap()).collect();
    assert_eq!(pids.len(), 3);

    system.signal(signal);
    let status = system.wait_exit(LONG);
    assert_eq!(status.code(), Some(0), "{}", system.output());
    let output = system.output();
    // The supervisor's events (its standard error) in order; the children's lines come through
    // its standard output, a different pipe, so only their presence is checked.
    let events: Vec<&str> = output
        .lines()
        .filter_map(|l| l.strip_prefix("ferromq| "))
        .filter(|l| l.contains(" stopping: ") || l.contains(" exited "))
        .collect();
    assert_eq!(
        events,
        [
            "last[0] stopping: stop message",
            "last[0] stopping: SIGTERM",
            "last[0] stopping: SIGKILL",
            "last[0] exited (signal 9 (SIGKILL))",
            "middle[0] stopping: SIGTERM",
            "middle[0] exited (exit code 0)",
            "first[0] stopping: stop message",
            "first[0] exited (exit code 0)",
        ],
        "{output}"
    );
    assert!(output.contains("middle[0]| stopped by SIGTERM"), "{output}");
    assert!(
        output.contains("first[0]| stopped by the stop message"),
        "{output}"
    );
    for pid in pids {
        assert!(!alive(pid), "pid {pid} outlived the supervisor");
    }
    assert_eq!(
        system.survivors_after(Duration::from_secs(1)),
        Vec::<u32>::new()
    );
}

#[test]
fn sigint_stops_everything_in_reverse_order_and_leaves_no_process() {
    ordered_stop(2);
}

#[test]
fn sigterm_stops_everything_in_reverse_order_and_leaves_no_process() {
    ordered_stop(15);
}

#[test]
fn no_child_outlives_a_supervisor_killed_with_sigkill() {
    let manifest = format!(
        "{FAST}{}{}",
        service("a", ""),
        process("b", "instances = 2\nready = \"start\"", &[])
    );
    let mut system = System::start(&manifest);
    system.wait_line("a[0] ready", LONG);
    eventually(LONG, "three children", || {
        (common::carrying(&system.token).len() == 4).then_some(())
    });
    system.signal(9);
    system.wait_exit(LONG);
    assert_eq!(system.survivors_after(LONG), Vec::<u32>::new());
}

#[test]
fn a_command_that_cannot_start_counts_as_a_crash() {
    let manifest = "[supervisor]\nmax_restarts = 2\nbackoff_ms = 10\n\
                    [[process]]\nname = \"ghost\"\ncommand = \"/nonexistent/ferromq-test-ghost\"\n";
    let mut system = System::start(manifest);
    let status = system.wait_exit(LONG);
    let output = system.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert_eq!(
        output.matches("ghost[0] could not start").count(),
        3,
        "{output}"
    );
    assert!(
        output.contains("ferromq: ghost[0] exited (exit code 127) and would be restarted"),
        "{output}"
    );
}

#[test]
fn a_system_whose_processes_all_end_for_good_exits_with_their_verdict() {
    for (code, expected) in [("0", 0), ("4", 1)] {
        let manifest = process(
            "once",
            "restart = \"never\"\nready = \"start\"",
            &[("CHILD_EXIT_AFTER_MS", "50"), ("CHILD_EXIT_CODE", code)],
        );
        let mut system = System::start(&manifest);
        let status = system.wait_exit(LONG);
        let output = system.output();
        assert_eq!(status.code(), Some(expected), "{output}");
        assert!(
            output.contains(&format!("once[0] exited (exit code {code})")),
            "{output}"
        );
        assert!(output.contains("nothing left to supervise"), "{output}");
        assert!(!output.contains("restarting"), "{output}");
    }
}
