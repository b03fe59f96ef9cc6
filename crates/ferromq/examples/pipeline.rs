//! A parallel pipeline of separate OS processes, as in the ZeroMQ guide: a ventilator hands out
//! tasks, three workers do them, a sink collects the results and then tells the workers to stop.
//!
//! ```text
//! cargo run --release --example pipeline            # everything on this machine, over ipc
//! cargo run --release --example pipeline -- tcp     # the same over tcp on 127.0.0.1
//! ```
//!
//! Run without a role, it starts each part as its own process (this same program with a role as
//! its argument), waits for them and prints what each did. Only the endpoints tie the parts
//! together: start a worker on another machine with the addresses changed and it joins in.

use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use ferromq::{Context, Socket, SocketType};

const TASKS: u32 = 30;
const WORKERS: u32 = 3;

/// Where the three sockets that bind live.
struct Endpoints {
    tasks: String,
    results: String,
    control: String,
}

impl Endpoints {
    fn new(transport: &str, base: &str) -> Endpoints {
        let ep = |name: &str, port: u16| match transport {
            "tcp" => format!("tcp://127.0.0.1:{port}"),
            _ => format!("ipc://{base}-{name}"),
        };
        let port = 20000 + (std::process::id() % 20000) as u16;
        Endpoints {
            tasks: ep("tasks", port),
            results: ep("results", port + 1),
            control: ep("control", port + 2),
        }
    }

    fn from_args(args: &[String]) -> Endpoints {
        Endpoints {
            tasks: args[0].clone(),
            results: args[1].clone(),
            control: args[2].clone(),
        }
    }

    fn as_args(&self) -> [&str; 3] {
        [&self.tasks, &self.results, &self.control]
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ventilator") => ventilator(&Endpoints::from_args(&args[1..])),
        Some("worker") => worker(&args[1], &Endpoints::from_args(&args[2..])),
        Some("sink") => sink(&Endpoints::from_args(&args[1..])),
        transport => return orchestrate(transport.unwrap_or("ipc")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn socket(ctx: &Context, kind: SocketType) -> ferromq::Result<Socket> {
    let s = ctx.socket(kind)?;
    s.set_rcvtimeo(Some(Duration::from_secs(10)))?;
    s.set_sndtimeo(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// Binds the task queue and hands out one task per message: "task N: sleep MS".
fn ventilator(ep: &Endpoints) -> ferromq::Result<()> {
    let ctx = Context::new();
    let tasks = socket(&ctx, SocketType::Push)?;
    tasks.bind(&ep.tasks)?;
    // Let the workers connect first, so that the load is spread over all of them.
    std::thread::sleep(Duration::from_millis(500));
    let mut total_ms = 0;
    for n in 1..=TASKS {
        let ms = 10 + (n * 37 % 40);
        total_ms += ms;
        tasks.send(format!("task {n}: sleep {ms}"))?;
    }
    println!(
        "[ventilator pid {}] sent {TASKS} tasks, {total_ms} ms of work in all",
        std::process::id()
    );
    Ok(())
}

/// Does tasks until the sink says stop; reports each result with its own name.
fn worker(name: &str, ep: &Endpoints) -> ferromq::Result<()> {
    let ctx = Context::new();
    let tasks = socket(&ctx, SocketType::Pull)?;
    tasks.set_rcvtimeo(Some(Duration::from_millis(50)))?;
    tasks.connect(&ep.tasks)?;
    let results = socket(&ctx, SocketType::Push)?;
    results.connect(&ep.results)?;
    let control = socket(&ctx, SocketType::Sub)?;
    control.subscribe("stop")?;
    control.connect(&ep.control)?;
    let mut done = 0;
    loop {
        if control.try_recv().is_ok() {
            break;
        }
        let Ok(task) = tasks.recv() else { continue };
        let text = String::from_utf8_lossy(&task.frames()[0]).into_owned();
        let ms: u64 = text
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(ms));
        results.send([format!("worker {name}"), text])?;
        done += 1;
    }
    println!(
        "[worker {name} pid {}] did {done} tasks, then stopped when told",
        std::process::id()
    );
    Ok(())
}

/// Collects every result, tells the workers to stop, and prints who did what.
fn sink(ep: &Endpoints) -> ferromq::Result<()> {
    let ctx = Context::new();
    let results = socket(&ctx, SocketType::Pull)?;
    results.bind(&ep.results)?;
    let control = socket(&ctx, SocketType::Pub)?;
    control.bind(&ep.control)?;
    let mut start = None;
    let mut per_worker = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..TASKS {
        let msg = results.recv()?;
        start.get_or_insert_with(Instant::now);
        let who = String::from_utf8_lossy(&msg.frames()[0]).into_owned();
        *per_worker.entry(who).or_default() += 1;
    }
    let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    let pid = std::process::id();
    println!(
        "[sink pid {pid}] all {TASKS} results, {} ms from first to last:",
        elapsed.as_millis()
    );
    for (who, n) in &per_worker {
        println!("[sink pid {pid}]   {who}: {n} tasks");
    }
    // The workers may still be joining the control feed; repeat the word for a moment.
    for _ in 0..20 {
        control.send("stop")?;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn orchestrate(transport: &str) -> ExitCode {
    if transport != "ipc" && transport != "tcp" {
        eprintln!("usage: pipeline [ipc|tcp]");
        return ExitCode::from(2);
    }
    let base = std::env::temp_dir().join(format!("ferromq-pipeline-{}", std::process::id()));
    let ep = Endpoints::new(transport, &base.display().to_string());
    println!(
        "pipeline over {transport}: tasks {} -> workers -> results {}",
        ep.tasks, ep.results
    );
    let me = std::env::current_exe().expect("the path of this program");
    let start = |role: &[&str]| -> Child {
        Command::new(&me)
            .args(role)
            .args(ep.as_args())
            .spawn()
            .expect("start a process")
    };
    let mut children = vec![("sink".to_string(), start(&["sink"]))];
    for n in 1..=WORKERS {
        children.push((format!("worker {n}"), start(&["worker", &n.to_string()])));
    }
    children.push(("ventilator".to_string(), start(&["ventilator"])));
    let mut failed = false;
    for (name, mut child) in children {
        let status = child.wait().expect("wait for a process");
        if !status.success() {
            eprintln!("{name} failed: {status}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        println!(
            "pipeline: {} processes exchanged messages and exited cleanly",
            WORKERS + 2
        );
        ExitCode::SUCCESS
    }
}
