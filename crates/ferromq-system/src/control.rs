//! Asking a running supervisor what it is doing: the client side of `PS`, `EVENTS` and `LIST`,
//! used by `ferromq ps`.

use std::time::Duration;

use ferromq::{Context, SocketType};

/// One row of `PS`: one instance of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRow {
    pub name: String,
    pub instance: u32,
    pub pid: Option<u32>,
    pub state: String,
    pub restarts: u32,
    pub uptime: Duration,
    pub last_exit: Option<String>,
}

/// Sends one request to the directory at `endpoint` and returns the reply's frames as text,
/// or why there is none within `timeout`.
pub fn request(endpoint: &str, frames: &[&str], timeout: Duration) -> Result<Vec<String>, String> {
    let ctx = Context::new();
    let result = (|| {
        let dealer = ctx.socket(SocketType::Dealer).map_err(|e| e.to_string())?;
        dealer
            .set_linger(Some(Duration::ZERO))
            .map_err(|e| e.to_string())?;
        dealer
            .set_rcvtimeo(Some(timeout))
            .map_err(|e| e.to_string())?;
        dealer.connect(endpoint).map_err(|e| e.to_string())?;
        dealer
            .send(frames.iter().copied().collect::<ferromq::Message>())
            .map_err(|e| e.to_string())?;
        let reply = dealer.recv().map_err(|e| {
            if e.kind() == ferromq::ErrorKind::WouldBlock {
                format!(
                    "no answer from the directory at {endpoint} within {} ms",
                    timeout.as_millis()
                )
            } else {
                e.to_string()
            }
        })?;
        Ok(reply
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect())
    })();
    ctx.terminate();
    result
}

/// The system's name and its processes, from a `PS` reply.
pub fn ps(endpoint: &str, timeout: Duration) -> Result<(String, Vec<ProcessRow>), String> {
    let reply = request(endpoint, &["PS"], timeout)?;
    let Some((head, rest)) = reply.split_first() else {
        return Err("an empty reply to PS".into());
    };
    if head != "PS" || rest.is_empty() {
        return Err(format!("an unexpected reply to PS: {}", reply.join(" ")));
    }
    let rows = rest[1..]
        .iter()
        .map(|row| parse_row(row).ok_or_else(|| format!("a malformed PS row: {row:?}")))
        .collect::<Result<_, _>>()?;
    Ok((rest[0].clone(), rows))
}

/// The supervisor's latest events, oldest first, each `unix_ms<TAB>event`.
pub fn events(endpoint: &str, timeout: Duration) -> Result<Vec<String>, String> {
    let mut reply = request(endpoint, &["EVENTS"], timeout)?;
    if reply.first().map(String::as_str) != Some("EVENTS") {
        return Err(format!(
            "an unexpected reply to EVENTS: {}",
            reply.join(" ")
        ));
    }
    reply.remove(0);
    Ok(reply)
}

fn parse_row(row: &str) -> Option<ProcessRow> {
    let f: Vec<&str> = row.split('\t').collect();
    if f.len() != 7 {
        return None;
    }
    Some(ProcessRow {
        name: f[0].to_owned(),
        instance: f[1].parse().ok()?,
        pid: f[2].parse().ok(),
        state: f[3].to_owned(),
        restarts: f[4].parse().ok()?,
        uptime: Duration::from_millis(f[5].parse().ok()?),
        last_exit: (f[6] != "-").then(|| f[6].to_owned()),
    })
}

/// `1h02m`, `3m05s`, `12.3s`: short enough for a table.
pub fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_uptimes() {
        let row = parse_row("feed\t0\t123\tready\t2\t61000\t-").unwrap();
        assert_eq!(row.pid, Some(123));
        assert_eq!(row.restarts, 2);
        assert_eq!(format_uptime(row.uptime), "1m01s");
        let row = parse_row("w\t1\t-\tbackoff\t0\t0\texit code 3").unwrap();
        assert_eq!(row.pid, None);
        assert_eq!(row.last_exit.as_deref(), Some("exit code 3"));
        assert_eq!(format_uptime(Duration::from_millis(12_345)), "12.3s");
    }
}
