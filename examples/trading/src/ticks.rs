//! The tick file the feed replays (made by `data/gen_ticks.py`): one quote a line,
//! `instrument<TAB>bid<TAB>ask` in integer cents, `#` lines being comments.

/// A quote for one instrument, in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub bid: i64,
    pub ask: i64,
}

impl Quote {
    pub fn mid(&self) -> i64 {
        (self.bid + self.ask) / 2
    }
}

/// One line of the tick file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub instrument: String,
    pub quote: Quote,
}

/// Parses a tick file's text; an error names the line.
pub fn parse(text: &str) -> Result<Vec<Tick>, String> {
    let mut ticks = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = || format!("line {}: expected instrument, bid and ask: {line:?}", n + 1);
        let [instrument, bid, ask] = fields[..] else {
            return Err(bad());
        };
        let (Ok(bid), Ok(ask)) = (bid.parse(), ask.parse()) else {
            return Err(bad());
        };
        if bid <= 0 || ask < bid {
            return Err(bad());
        }
        ticks.push(Tick {
            instrument: instrument.to_owned(),
            quote: Quote { bid, ask },
        });
    }
    Ok(ticks)
}

/// Reads and parses a tick file.
pub fn load(path: &str) -> Result<Vec<Tick>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    parse(&text).map_err(|e| format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_and_names_a_bad_line() {
        let ticks = parse("# comment\nACME\t100\t102\n\nBOLT\t50\t51\n").unwrap();
        assert_eq!(ticks.len(), 2);
        assert_eq!(ticks[0].quote.mid(), 101);
        assert!(parse("ACME\t100\n").unwrap_err().contains("line 1"));
        assert!(parse("ACME\t100\t90\n").is_err());
    }

    #[test]
    fn the_shipped_tick_files_parse() {
        for file in ["data/ticks.tsv", "data/ticks-short.tsv"] {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + file;
            let ticks = load(&path).unwrap();
            assert!(ticks.len() >= 300, "{file}");
            let mut names: Vec<&str> = ticks.iter().map(|t| t.instrument.as_str()).collect();
            names.sort();
            names.dedup();
            assert!(names.len() >= 3, "{file}: {names:?}");
        }
    }
}
