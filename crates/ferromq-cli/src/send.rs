//! `ferromq send`: send the arguments, or standard input line by line.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use ferromq::{Context, Message, SocketType};

use crate::format::{render, Format};
use crate::socket_args::SocketArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    socket: SocketArgs,
    /// Send all MESSAGEs as the frames of one message.
    #[arg(long)]
    multipart: bool,
    /// Pause MS milliseconds before each message (gives subscribers time to join).
    #[arg(long, value_name = "MS")]
    interval: Option<u64>,
    /// How long to keep trying to deliver after the last message, in ms (default: until done).
    #[arg(long, value_name = "MS")]
    linger: Option<u64>,
    /// REQ: how long to wait for each reply, in ms (default: for ever); exit 1 when it is late.
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
    /// REQ: how to print each reply.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The messages; without any, each line of standard input is one message.
    #[arg(value_name = "MESSAGE")]
    messages: Vec<String>,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let ctx = Context::new();
    let socket = match args.socket.open(&ctx) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let _ = socket.set_linger(args.linger.map(Duration::from_millis));
    let _ = socket.set_rcvtimeo(args.timeout.map(Duration::from_millis));
    let awaits_reply = args.socket.socket_type == SocketType::Req;
    let messages: Box<dyn Iterator<Item = Message>> = if args.messages.is_empty() {
        Box::new(
            std::io::stdin()
                .lock()
                .lines()
                .map_while(Result::ok)
                .map(Message::from),
        )
    } else if args.multipart {
        Box::new(std::iter::once(Message::from(args.messages.clone())))
    } else {
        Box::new(args.messages.clone().into_iter().map(Message::from))
    };
    for msg in messages {
        if let Some(ms) = args.interval {
            std::thread::sleep(Duration::from_millis(ms));
        }
        if let Err(e) = socket.send(msg) {
            eprintln!("ferromq: {e}");
            let _ = socket.set_linger(Some(Duration::ZERO));
            return ExitCode::from(1);
        }
        if awaits_reply {
            match socket.recv() {
                Ok(reply) => println!("{}", render(&reply, args.format)),
                Err(e) => {
                    eprintln!("ferromq: no reply: {e}");
                    // The request is abandoned: nothing is left to deliver.
                    let _ = socket.set_linger(Some(Duration::ZERO));
                    return ExitCode::from(1);
                }
            }
        }
    }
    drop(socket);
    drop(ctx);
    ExitCode::SUCCESS
}
