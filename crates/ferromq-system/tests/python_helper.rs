//! The Python helper (`python/ferromq_directory.py`, pyzmq) in a supervised system beside a
//! Rust process: each finds the other through the directory, the Python process becomes ready
//! by registering, and it honours the stop message. Like the other pyzmq tests it needs
//! `$FERROMQ_PYTHON` or the workspace's `.venv` (scripts/test makes it), and fails, saying so,
//! without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{process, System, LONG};
use ferromq::directory::Directory;
use ferromq::Context;

#[test]
fn role_entry() {
    common::role_entry();
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn pyzmq_python() -> PathBuf {
    let python = std::env::var_os("FERROMQ_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import zmq"])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import pyzmq: run scripts/test, which creates .venv with pyzmq and sets \
         FERROMQ_PYTHON (or set FERROMQ_PYTHON to a Python that has pyzmq)",
        python.display()
    );
    python
}

const SCRIPT: &str = r#"
import sys, zmq
from ferromq_directory import Directory

ctx = zmq.Context()
directory = Directory.from_env(ctx)
rep = ctx.socket(zmq.REP)
rep.bind("tcp://127.0.0.1:*")
directory.register("svc-py", [rep.getsockopt_string(zmq.LAST_ENDPOINT)])
print("found", " ".join(directory.lookup("svc-rust", wait=20.0)), flush=True)
if directory.wait_for_stop(60.0):
    print("python stopped by the stop message", flush=True)
directory.close()
rep.close(0)
ctx.term()
"#;

#[test]
fn a_python_process_registers_looks_up_and_stops_on_the_stop_message() {
    let python = pyzmq_python();
    let script = std::env::temp_dir().join(format!("ferromq-dir-{}.py", std::process::id()));
    std::fs::write(&script, SCRIPT).unwrap();
    let manifest = format!(
        "[supervisor]\nstop_timeout_ms = 5000\n\
         [[process]]\nname = \"py\"\ncommand = {:?}\nargs = [{:?}]\n\
         env = {{ PYTHONPATH = {:?} }}\n{}",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
        workspace_root().join("python").to_str().unwrap(),
        process("rust", "after = [\"py\"]", &[("CHILD_SERVICE", "svc-rust")]),
    );
    let mut system = System::start(&manifest);
    system.wait_line("py[0] ready", LONG);
    let found = system.wait_line("py[0]| found ", LONG);
    assert!(found.contains("tcp://127.0.0.1:"), "{found}");

    let ctx = Context::new();
    let directory = Directory::connect(&ctx, &system.directory, "test-client");
    let py = directory.lookup("svc-py", Duration::ZERO).unwrap();
    assert_eq!(py.len(), 1, "{py:?}");
    drop(directory);
    ctx.terminate();

    system.signal(15);
    let status = system.wait_exit(LONG);
    let output = system.output();
    let _ = std::fs::remove_file(&script);
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(
        output.contains("py[0]| python stopped by the stop message"),
        "{output}"
    );
    assert!(output.contains("py[0] exited (exit code 0)"), "{output}");
    assert!(!output.contains("py[0] stopping: SIGTERM"), "{output}");
}
