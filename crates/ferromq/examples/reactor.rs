//! One thread's event loop: a ROUTER that answers on the loop, work that may be slow sent to
//! worker threads, a timer that reports once a second, and a clean stop on Ctrl-C (SIGINT)
//! or SIGTERM.
//!
//! ```sh
//! cargo run --example reactor                 # serves until Ctrl-C
//! cargo run --example reactor -- 5            # or stops by itself after 5 s
//! ```
//!
//! A client thread sends requests meanwhile: `upper <text>` is answered at once on the loop,
//! `slow <text>` after 300 ms of "work" on a pool thread, while the loop keeps answering.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ferromq::{Context, Events, Message, Reactor, SocketType, Stopped};

fn main() -> Result<(), ferromq::Error> {
    let seconds: Option<u64> = std::env::args().nth(1).and_then(|s| s.parse().ok());
    let ctx = Context::new();
    let router = ctx.socket(SocketType::Router)?;
    router.bind("tcp://127.0.0.1:*")?;
    let endpoint = router.last_endpoint();
    println!("serving on {endpoint}");

    let mut reactor = Reactor::new()?;
    reactor.stop_on_signals()?;
    let served = Rc::new(Cell::new(0u64));
    let count = Rc::clone(&served);
    reactor.add_socket(
        router,
        Events {
            pollin: true,
            pollout: false,
        },
        move |reactor, socket, _| {
            let request = socket.try_recv()?;
            let [peer, body] = request.frames() else {
                return Ok(()); // not one of ours: ignore it
            };
            let (peer, text) = (peer.clone(), String::from_utf8_lossy(body).into_owned());
            count.set(count.get() + 1);
            match text.strip_prefix("slow ") {
                Some(rest) => {
                    let rest = rest.to_string();
                    let me = reactor.current_handler().expect("in a handler");
                    reactor.spawn_blocking(
                        move || {
                            std::thread::sleep(Duration::from_millis(300));
                            rest.to_uppercase()
                        },
                        move |reactor, answer| match reactor.socket(me) {
                            Some(socket) => {
                                socket.send(Message::from([peer.to_vec(), answer.into_bytes()]))
                            }
                            None => Ok(()),
                        },
                    )?;
                    Ok(())
                }
                None => socket.send(Message::from([
                    peer.to_vec(),
                    text.to_uppercase().into_bytes(),
                ])),
            }
        },
    )?;
    reactor.add_interval(Duration::from_secs(1), move |_| {
        println!("{} requests so far", served.get());
        Ok(())
    })?;
    if let Some(seconds) = seconds {
        reactor.add_timer(Duration::from_secs(seconds), |reactor| {
            reactor.stop();
            Ok(())
        })?;
    }

    let client = std::thread::spawn(move || -> Result<(), ferromq::Error> {
        let ctx = Context::new();
        let dealer = ctx.socket(SocketType::Dealer)?;
        dealer.set_rcvtimeo(Some(Duration::from_secs(2)))?;
        dealer.connect(&endpoint)?;
        dealer.send("slow takes a while")?;
        for word in ["upper hello", "upper world"] {
            dealer.send(word)?;
        }
        for _ in 0..3 {
            let reply = dealer.recv()?;
            println!("client got {}", String::from_utf8_lossy(&reply.frames()[0]));
        }
        Ok(())
    });

    match reactor.run()? {
        Stopped::Signal(signal) => println!("stopped by signal {signal}"),
        other => println!("stopped: {other:?}"),
    }
    if let Ok(Err(e)) = client.join() {
        println!("client: {e}");
    }
    Ok(())
}
