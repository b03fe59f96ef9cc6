//! How received messages are printed: text, hex or JSON, one message per line.

use std::fmt::Write;

use clap::ValueEnum;
use ferromq::Message;

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Format {
    /// Frames separated by a tab; a frame that is not printable text is shown as 0x and hex.
    Text,
    /// Each frame in hex, frames separated by a tab.
    Hex,
    /// A JSON array of frames: strings, or {"hex": "..."} for frames that are not UTF-8.
    Json,
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn printable(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    (!text.chars().any(char::is_control)).then_some(text)
}

fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One message as one line (without the newline).
pub(crate) fn render(msg: &Message, format: Format) -> String {
    match format {
        Format::Text => msg
            .iter()
            .map(|f| printable(f).map_or_else(|| format!("0x{}", hex(f)), str::to_string))
            .collect::<Vec<_>>()
            .join("\t"),
        Format::Hex => msg.iter().map(|f| hex(f)).collect::<Vec<_>>().join("\t"),
        Format::Json => {
            let mut out = String::from("[");
            for (i, frame) in msg.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match std::str::from_utf8(frame) {
                    Ok(text) => json_string(text, &mut out),
                    Err(_) => {
                        let _ = write!(out, "{{\"hex\":\"{}\"}}", hex(frame));
                    }
                }
            }
            out.push(']');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let msg = Message::from(vec![b"topic".to_vec(), vec![0, 255], b"a\"b".to_vec()]);
        assert_eq!(render(&msg, Format::Text), "topic\t0x00ff\ta\"b");
        assert_eq!(render(&msg, Format::Hex), "746f706963\t00ff\t612262");
        assert_eq!(
            render(&msg, Format::Json),
            r#"["topic","\u0000\u00ff","a\"b"]"#
                .replace("\"\\u0000\\u00ff\"", "{\"hex\":\"00ff\"}")
        );
    }
}
