//! Parsing the quantities users type in options: durations (`30s`, `26h`,
//! `7d`), timestamps for `--now`, and sizes or percentages (`10G`, `15%`).
//! One place, so every tool accepts the same spellings.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// `30s`, `5m`, `26h`, `7d`, `2w`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration ({e}); examples: 30s, 5m, 26h, 7d"))
}

/// A duration option kept with its spelling, for messages ("within 30d").
pub fn parse_chrono_duration(text: &str) -> Result<(chrono::Duration, String), String> {
    let std = parse_duration(text)?;
    let duration = chrono::Duration::from_std(std).map_err(|_| format!("{text:?} is too long"))?;
    Ok((duration, text.trim().to_string()))
}

/// RFC 3339 (`2026-11-20T03:00:00Z`), or `YYYY-MM-DD[THH:MM[:SS]]` in UTC.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let bare = text.trim_end_matches('Z');
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(bare, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(bare, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "{text:?} is not a timestamp; examples: 2026-11-20T03:00:00Z, 2026-11-20"
    ))
}

/// An amount of free space: bytes or a share of the filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpaceThreshold {
    Bytes(u64),
    Percent(f64),
}

/// `10G`, `500M`, `2T`, `123` (bytes), or `15%`. Units are powers of 1024.
pub fn parse_space(text: &str) -> Result<SpaceThreshold, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a size or percentage; examples: 10G, 500M, 15%");
    if let Some(percent) = text.strip_suffix('%') {
        let value: f64 = percent.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&value) {
            return Err(format!("{text:?}: a percentage is between 0 and 100"));
        }
        return Ok(SpaceThreshold::Percent(value));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(bad()),
    };
    Ok(SpaceThreshold::Bytes((number * factor as f64) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap().as_secs(), 0);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("26h").unwrap().as_secs(), 93_600);
        assert_eq!(parse_chrono_duration("30d").unwrap().0.num_days(), 30);
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp("2026-11-20T03:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-20T03:00:00+00:00");
        assert_eq!(parse_timestamp("2026-11-20T03:00").unwrap(), t);
        assert_eq!(parse_timestamp("2026-11-20T04:00:00+01:00").unwrap(), t);
        assert_eq!(
            parse_timestamp("2026-11-20").unwrap().to_rfc3339(),
            "2026-11-20T00:00:00+00:00"
        );
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn spaces() {
        assert_eq!(parse_space("10G").unwrap(), SpaceThreshold::Bytes(10 << 30));
        assert_eq!(parse_space("1.5KiB").unwrap(), SpaceThreshold::Bytes(1536));
        assert_eq!(parse_space("15%").unwrap(), SpaceThreshold::Percent(15.0));
        assert!(parse_space("150%").is_err());
        assert!(parse_space("10X").is_err());
    }
}
