//! The example's messages are plain multipart frames of UTF-8 text (examples/trading/README.md
//! lists them), so that the Python and R strategies need nothing but their ZeroMQ binding.

use ferromq::Frame;
use ferromq::Message;

/// A frame as text (invalid UTF-8 replaced, never an error: a bad frame is reported by the
/// parser that finds it unusable).
pub fn text(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).into_owned()
}

/// Every frame of a message as text.
pub fn texts(msg: &Message) -> Vec<String> {
    msg.frames().iter().map(|f| text(f)).collect()
}

/// A message from text frames.
pub fn message<S: AsRef<str>>(frames: &[S]) -> Message {
    frames
        .iter()
        .map(|f| Frame::copy_from_slice(f.as_ref().as_bytes()))
        .collect::<Vec<_>>()
        .into()
}

/// A request received on a ROUTER: the envelope to send the reply back with (the peer's
/// routing id, and the empty delimiter a REQ peer adds) and the request's own frames.
pub struct Request {
    pub envelope: Vec<Frame>,
    pub body: Vec<String>,
}

impl Request {
    pub fn parse(msg: Message) -> Request {
        let mut frames = msg.into_frames().into_iter();
        let mut envelope: Vec<Frame> = frames.by_ref().take(1).collect();
        let mut rest: Vec<Frame> = frames.collect();
        if rest.first().is_some_and(|f| f.is_empty()) {
            envelope.push(rest.remove(0));
        }
        Request {
            envelope,
            body: rest.iter().map(|f| text(f)).collect(),
        }
    }

    /// The reply to this request: its envelope, then `frames`.
    pub fn reply<S: AsRef<str>>(&self, frames: &[S]) -> Message {
        let mut reply: Vec<Frame> = self.envelope.clone();
        reply.extend(
            frames
                .iter()
                .map(|f| Frame::copy_from_slice(f.as_ref().as_bytes())),
        );
        reply.into()
    }
}

/// An order's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "BUY" => Some(Side::Buy),
            "SELL" => Some(Side::Sell),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }

    /// +1 for a buy, -1 for a sell: what a fill does to the position.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// An order as the strategies send it: `ORDER id instrument side qty price`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub instrument: String,
    pub side: Side,
    pub qty: i64,
    /// A limit price in cents.
    pub price: i64,
}

impl Order {
    /// Parses the frames after `ORDER`; `Err` says what is wrong, for the rejection.
    pub fn parse(fields: &[String]) -> Result<Order, String> {
        let [id, instrument, side, qty, price] = fields else {
            return Err(format!("expected 5 fields, got {}", fields.len()));
        };
        let side = Side::parse(side).ok_or_else(|| format!("bad side {side:?}"))?;
        let qty: i64 = qty.parse().map_err(|_| format!("bad qty {qty:?}"))?;
        let price: i64 = price.parse().map_err(|_| format!("bad price {price:?}"))?;
        if qty <= 0 || price <= 0 {
            return Err("qty and price must be positive".into());
        }
        Ok(Order {
            id: id.clone(),
            instrument: instrument.clone(),
            side,
            qty,
            price,
        })
    }

    /// The order's fields as frames: `id instrument side qty price`.
    pub fn fields(&self) -> [String; 5] {
        [
            self.id.clone(),
            self.instrument.clone(),
            self.side.as_str().into(),
            self.qty.to_string(),
            self.price.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_round_trips_and_bad_ones_say_why() {
        let fields: Vec<String> = ["7", "ACME", "SELL", "10", "10001"]
            .map(String::from)
            .to_vec();
        let order = Order::parse(&fields).unwrap();
        assert_eq!(order.side, Side::Sell);
        assert_eq!(order.fields().to_vec(), fields);
        let bad: Vec<String> = ["7", "ACME", "HOLD", "10", "1"].map(String::from).to_vec();
        assert!(Order::parse(&bad).unwrap_err().contains("side"));
        assert!(Order::parse(&fields[..3]).is_err());
    }

    #[test]
    fn a_request_keeps_a_req_peers_delimiter_in_its_envelope() {
        let msg: Message = vec![&b"id"[..], b"", b"SNAPSHOT", b"ACME"].into();
        let req = Request::parse(msg);
        assert_eq!(req.envelope.len(), 2);
        assert_eq!(req.body, ["SNAPSHOT", "ACME"]);
        let msg: Message = vec![&b"id"[..], b"HELLO"].into();
        assert_eq!(Request::parse(msg).envelope.len(), 1);
    }
}
