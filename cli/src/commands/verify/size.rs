//! Sizes written like `8MiB`, `512KiB`, `1GiB` or plain bytes.

/// Larger layers prove nothing more and take minutes; refuse them.
pub const MAX: u64 = 4 << 30;

/// Parses a size for `--size`.
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let help = "write it like 8MiB, 512KiB, 1GiB or a number of bytes";
    if digits.is_empty() {
        return Err(format!("\"{text}\" is not a size: {help}"));
    }
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" | "KB" | "kB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => return Err(format!("unknown unit \"{other}\" in \"{text}\": {help}")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("\"{text}\" is too large: at most {}", human(MAX)))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("\"{text}\" is too large: at most {}", human(MAX)))?;
    if bytes == 0 {
        return Err("the size must be at least 1 byte (e.g. 4MiB)".into());
    }
    if bytes > MAX {
        return Err(format!(
            "{text} is too large: at most {} (a layer that big proves nothing a smaller one does not)",
            human(MAX)
        ));
    }
    Ok(bytes)
}

/// `4.0 MiB`, `512 KiB`, `17 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

/// Throughput as `12.3 MiB/s`.
pub fn rate(bytes: u64, secs: f64) -> String {
    let per = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
    format!("{}/s", human(per as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse("8MiB"), Ok(8 << 20));
        assert_eq!(parse("512KiB"), Ok(512 << 10));
        assert_eq!(parse("1GiB"), Ok(1 << 30));
        assert_eq!(parse("1000"), Ok(1000));
        assert!(parse("0").unwrap_err().contains("at least 1 byte"));
        assert!(parse("0MiB").unwrap_err().contains("at least 1 byte"));
        assert!(parse("5GiB").unwrap_err().contains("too large"));
        assert!(
            parse("99999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse("18446744073709551615GiB")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse("MiB").unwrap_err().contains("not a size"));
        assert!(parse("3 parsecs").unwrap_err().contains("unknown unit"));
        assert_eq!(human(4 << 20), "4.0 MiB");
        assert_eq!(human(17), "17 B");
    }
}
