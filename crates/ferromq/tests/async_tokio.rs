//! AsyncSocket on tokio: waiting on the readiness fd without blocking the runtime.
#![cfg(feature = "tokio")]

use std::time::Duration;

use ferromq::{AsyncSocket, Context, Message, SocketType};
use futures_util::{SinkExt, StreamExt};

async fn pair_over(ctx: &Context, endpoint: &str) -> (AsyncSocket, AsyncSocket) {
    let pull = AsyncSocket::new(ctx.socket(SocketType::Pull).unwrap()).unwrap();
    pull.socket().bind(endpoint).unwrap();
    let push = AsyncSocket::new(ctx.socket(SocketType::Push).unwrap()).unwrap();
    push.socket()
        .connect(&pull.socket().last_endpoint())
        .unwrap();
    (push, pull)
}

#[tokio::test(flavor = "current_thread")]
async fn tasks_exchange_messages_on_one_thread() {
    let ctx = Context::new();
    let (mut push, mut pull) = pair_over(&ctx, "tcp://127.0.0.1:*").await;
    let sender = tokio::spawn(async move {
        for i in 0..2000 {
            push.send(format!("{i}")).await.unwrap();
        }
        push
    });
    for i in 0..2000 {
        let msg = tokio::time::timeout(Duration::from_secs(5), pull.recv())
            .await
            .expect("stalled")
            .unwrap();
        assert_eq!(msg.frames()[0], format!("{i}").as_bytes());
    }
    sender.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sockets_wait_on_one_runtime() {
    let ctx = Context::new();
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for i in 0..100 {
        let (push, mut pull) = pair_over(&ctx, &format!("inproc://many-{i}")).await;
        receivers.push(tokio::spawn(async move { pull.recv().await.unwrap() }));
        senders.push(push);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (i, push) in senders.iter_mut().enumerate() {
        push.send(format!("to {i}")).await.unwrap();
    }
    for (i, receiver) in receivers.into_iter().enumerate() {
        let msg = tokio::time::timeout(Duration::from_secs(5), receiver)
            .await
            .expect("stalled")
            .unwrap();
        assert_eq!(msg.frames()[0], format!("to {i}").as_bytes());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_waiting_recv_does_not_block_the_runtime() {
    let ctx = Context::new();
    let (mut push, mut pull) = pair_over(&ctx, "tcp://127.0.0.1:*").await;
    let waiting = tokio::spawn(async move { pull.recv().await.unwrap() });
    // The runtime's one thread keeps running other tasks while the recv waits.
    let mut ticks = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        ticks += 1;
    }
    assert_eq!(ticks, 10);
    assert!(!waiting.is_finished());
    push.send("at last").await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("stalled")
        .unwrap();
    assert_eq!(msg.frames()[0], "at last");
}

#[tokio::test(flavor = "current_thread")]
async fn stream_and_sink() {
    let ctx = Context::new();
    let (mut push, mut pull) = pair_over(&ctx, "tcp://127.0.0.1:*").await;
    for i in 0..10 {
        SinkExt::send(&mut push, Message::from(format!("s{i}")))
            .await
            .unwrap();
    }
    let got: Vec<Message> = tokio::time::timeout(
        Duration::from_secs(5),
        (&mut pull).take(10).collect::<Vec<_>>(),
    )
    .await
    .expect("stalled")
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert_eq!(
        got,
        (0..10)
            .map(|i| Message::from(format!("s{i}")))
            .collect::<Vec<_>>()
    );
    // The stream ends when the context is shut down.
    ctx.shutdown();
    let end = tokio::time::timeout(Duration::from_secs(5), pull.next())
        .await
        .expect("stalled");
    assert!(end.is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn send_waits_for_room_instead_of_failing() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(1).unwrap();
    pull.bind("inproc://room").unwrap();
    let mut push = AsyncSocket::new(ctx.socket(SocketType::Push).unwrap()).unwrap();
    push.socket().set_sndhwm(1).unwrap();
    push.socket().connect("inproc://room").unwrap();
    push.send("1").await.unwrap();
    push.send("2").await.unwrap();
    let third = tokio::spawn(async move {
        push.send("3").await.unwrap();
        push
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!third.is_finished(), "the pipe is full: the send must wait");
    assert_eq!(pull.try_recv().unwrap().frames()[0], "1");
    assert_eq!(pull.try_recv().unwrap().frames()[0], "2");
    tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("stalled")
        .unwrap();
    pull.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(pull.recv().unwrap().frames()[0], "3");
}
