use ferromq::{Context, SocketType};
use std::time::Duration;

#[test]
fn push_pull_each_transport() {
    let ctx = Context::new();
    for ep in ["tcp://127.0.0.1:*", "ipc://*", "inproc://smoke"] {
        let pull = ctx.socket(SocketType::Pull).unwrap();
        pull.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
        pull.bind(ep).unwrap();
        let push = ctx.socket(SocketType::Push).unwrap();
        push.connect(&pull.last_endpoint()).unwrap();
        for i in 0..1000 {
            push.send(format!("m{i}")).unwrap();
        }
        for i in 0..1000 {
            let m = pull.recv().unwrap();
            assert_eq!(m.frames()[0], format!("m{i}").as_bytes(), "{ep}");
        }
        eprintln!("{ep} ok");
    }
}
