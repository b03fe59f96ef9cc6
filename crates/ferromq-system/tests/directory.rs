//! The directory a supervisor serves, with real processes: a lookup that waits for a name to
//! appear, an entry that expires when its owner's heartbeats stop (the process is frozen with
//! SIGSTOP) and comes back when they resume, and a client that says goodbye.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, process, signal_pid, System, LONG};
use ferromq::directory::Directory;
use ferromq::Context;

#[test]
fn role_entry() {
    common::role_entry();
}

#[test]
fn a_lookup_waits_for_the_name_and_entries_follow_heartbeats() {
    let manifest = format!(
        "[directory]\nttl_ms = 300\n{}",
        process(
            "late",
            "",
            &[
                ("CHILD_SERVICE", "svc-late"),
                ("CHILD_REGISTER_AFTER_MS", "300")
            ]
        )
    );
    let mut system = System::start(&manifest);
    let ctx = Context::new();
    let directory = Directory::connect(&ctx, &system.directory, "test-client");
    assert_eq!(
        directory.lookup("svc-late", Duration::ZERO).unwrap(),
        Vec::<String>::new()
    );
    let asked = Instant::now();
    let found = directory.lookup("svc-late", LONG).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("tcp://127.0.0.1:"), "{found:?}");
    assert!(asked.elapsed() < LONG);
    system.wait_line("late[0] ready", LONG);

    // Frozen, it sends no heartbeats: its entry goes.
    let pid = system.row("late").pid.unwrap();
    signal_pid(pid, 19);
    system.wait_line("late[0]#1 stopped sending heartbeats", LONG);
    assert!(directory
        .lookup("svc-late", Duration::ZERO)
        .unwrap()
        .is_empty());
    // Thawed, it hears UNKNOWN, registers again, and is found again at the same endpoint.
    signal_pid(pid, 18);
    let again = directory.lookup("svc-late", LONG).unwrap();
    assert_eq!(again, found);
    assert_eq!(system.row("late").restarts, 0);
    drop(directory);
    ctx.terminate();
}

#[test]
fn a_registration_lasts_while_its_owner_lives_and_ends_with_it() {
    let manifest = format!(
        "[directory]\nttl_ms = 200\n{}",
        process("idle", "ready = \"start\"", &[])
    );
    let system = System::start(&manifest);
    let ctx = Context::new();
    let owner = Directory::connect(&ctx, &system.directory, "test-owner");
    owner
        .register("svc-test", &["tcp://127.0.0.1:7001", "ipc:///tmp/x"])
        .unwrap();
    let client = Directory::connect(&ctx, &system.directory, "test-client");
    // Well past the time to live: the heartbeats keep it.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        client.lookup("svc-test", Duration::ZERO).unwrap(),
        ["tcp://127.0.0.1:7001", "ipc:///tmp/x"]
    );
    owner.unregister("svc-test").unwrap();
    assert!(client
        .lookup("svc-test", Duration::ZERO)
        .unwrap()
        .is_empty());
    owner
        .register("svc-test", &["tcp://127.0.0.1:7002"])
        .unwrap();
    assert_eq!(
        client.lookup("svc-test", Duration::ZERO).unwrap(),
        ["tcp://127.0.0.1:7002"]
    );
    drop(owner);
    eventually(LONG, "the entry goes with its owner", || {
        client
            .lookup("svc-test", Duration::ZERO)
            .unwrap()
            .is_empty()
            .then_some(())
    });
    drop(client);
    ctx.terminate();
}

#[test]
fn terminating_the_context_ends_the_heartbeats() {
    let manifest = process("idle", "ready = \"start\"", &[]);
    let system = System::start(&manifest);
    let ctx = Context::new();
    let owner = Directory::connect(&ctx, &system.directory, "test-owner");
    owner
        .register("svc-test", &["tcp://127.0.0.1:7001"])
        .unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        ctx.shutdown();
        drop(owner);
        ctx.terminate();
        let _ = done.send(());
    });
    finished
        .recv_timeout(LONG)
        .expect("shutdown, drop and terminate return with a registration alive");
}
