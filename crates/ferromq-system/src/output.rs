//! Children's output, line by line, on the supervisor's own standard output and error, each line
//! prefixed with the name of the process that wrote it (`name[instance]| `).

use std::io::{BufRead, BufReader, Read, Write};
use std::thread::JoinHandle;

/// Which of the supervisor's streams a child's pipe is copied to.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Copies `pipe` to `to` on a thread of its own until the child closes it. Each line is written
/// whole under the stream's lock, so lines from different children never mix.
pub fn forward(pipe: impl Read + Send + 'static, prefix: String, to: Stream) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("output {prefix}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                let written = match to {
                    Stream::Stdout => write_line(&mut std::io::stdout().lock(), &prefix, &line),
                    Stream::Stderr => write_line(&mut std::io::stderr().lock(), &prefix, &line),
                };
                if written.is_err() {
                    // Nobody reads the supervisor's output any more; keep draining the child so
                    // that it never blocks on a full pipe.
                    continue;
                }
            }
        })
        .expect("spawn an output thread")
}

fn write_line(out: &mut impl Write, prefix: &str, line: &[u8]) -> std::io::Result<()> {
    out.write_all(prefix.as_bytes())?;
    out.write_all(b"| ")?;
    out.write_all(line)?;
    out.flush()
}
