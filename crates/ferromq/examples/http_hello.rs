//! A tiny HTTP/1.1 server on a STREAM socket: every request gets "hello" and the connection
//! is closed. `cargo run --example http_hello -- tcp://127.0.0.1:8080`, then
//! `curl http://127.0.0.1:8080/`.

use ferromq::{Context, Frame, SocketType};

fn main() -> ferromq::Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:8080".into());
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Stream)?;
    server.bind(&endpoint)?;
    println!("listening on {}", server.last_endpoint());
    let mut requests = std::collections::HashMap::<Frame, Vec<u8>>::new();
    loop {
        let msg = server.recv()?;
        let (id, data) = (msg.frames()[0].clone(), &msg.frames()[1]);
        if data.is_empty() {
            // A connection opened or closed.
            requests.remove(&id);
            continue;
        }
        let request = requests.entry(id.clone()).or_default();
        request.extend_from_slice(data);
        if request.windows(4).any(|w| w == b"\r\n\r\n") {
            let body = "hello\n";
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            server.send([id.clone(), Frame::from(reply)])?;
            server.send([id.clone(), Frame::new()])?;
            requests.remove(&id);
        }
    }
}
