//! A ferromq socket driven by a foreign event loop: Python's `selectors`, in a child process
//! that watches the socket's readiness fd (handed to it as its standard input).
//!
//! ```text
//! cargo run --example fd_selectors -- 20        # needs python3
//! ```
//!
//! Python waits for the fd to turn readable and says so on its standard output; this program
//! then receives every message that is ready (which also lowers the fd) and tells Python, on a
//! FIFO, to wait again. A thread sends the messages, with pauses, over tcp.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use ferromq::{Context, SocketType};

const WATCHER: &str = r#"
import selectors, sys
commands = open(sys.argv[1])
watch = selectors.DefaultSelector()
watch.register(0, selectors.EVENT_READ)  # fd 0 is the ferromq socket's readiness fd
while True:
    if not watch.select(timeout=10):
        print("timeout", flush=True)
        sys.exit(1)
    print("readable", flush=True)
    if commands.readline().strip() == "done":
        break
"#;

fn main() -> ExitCode {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let python = std::env::var("FERROMQ_PYTHON").unwrap_or_else(|_| "python3".into());
    match run(count, &python) {
        Ok(wakeups) => {
            println!("python's selectors woke the receiver {wakeups} times for {count} messages");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(count: usize, python: &str) -> Result<usize, Box<dyn std::error::Error>> {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull)?;
    pull.bind("tcp://127.0.0.1:*")?;
    let endpoint = pull.last_endpoint();

    let fifo = std::env::temp_dir().join(format!("ferromq-fd-selectors-{}", std::process::id()));
    let made = Command::new("mkfifo").arg(&fifo).status()?;
    if !made.success() {
        return Err("mkfifo failed".into());
    }
    let mut watcher = Command::new(python)
        .args(["-c", WATCHER])
        .arg(&fifo)
        .stdin(Stdio::from(pull.fd()?.try_clone_to_owned()?))
        .stdout(Stdio::piped())
        .spawn()?;
    let mut commands = std::fs::OpenOptions::new().write(true).open(&fifo)?;
    let _ = std::fs::remove_file(&fifo);
    let mut told = BufReader::new(watcher.stdout.take().ok_or("no stdout")?).lines();

    let sender = {
        let ctx = ctx.clone();
        std::thread::spawn(move || -> ferromq::Result<()> {
            let push = ctx.socket(SocketType::Push)?;
            push.connect(&endpoint)?;
            for i in 0..count {
                push.send(format!("message {i}"))?;
                std::thread::sleep(Duration::from_millis(if i % 5 == 4 { 30 } else { 1 }));
            }
            Ok(())
        })
    };

    let (mut received, mut wakeups) = (0, 0);
    while received < count {
        let line = told.next().ok_or("the watcher stopped")??;
        if line != "readable" {
            return Err(format!("the watcher said {line:?}").into());
        }
        wakeups += 1;
        while pull.events()?.pollin {
            let msg = pull.try_recv()?;
            println!("received {}", String::from_utf8_lossy(&msg.frames()[0]));
            received += 1;
        }
        writeln!(
            commands,
            "{}",
            if received < count { "more" } else { "done" }
        )?;
    }
    sender.join().map_err(|_| "the sender panicked")??;
    let status = watcher.wait()?;
    if !status.success() {
        return Err(format!("the watcher exited with {status}").into());
    }
    Ok(wakeups)
}
