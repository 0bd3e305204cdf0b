//! Sizes on the command line (`500M`, `2G`, `1.5GiB`, `1073741824`) and in messages.

/// Parses a size: a number of bytes, optionally with a unit. `K`/`M`/`G`/`T`, `KiB`/`MiB`/
/// `GiB`/`TiB` (and a trailing `B` on the short forms: `KB`... are decimal, see below) — the
/// binary units are powers of 1024, as `du`, `sort -S` and most players mean them; `kB`, `MB`,
/// `GB`, `TB` are powers of 1000. Case does not matter except that it is all accepted.
/// Fractions are allowed (`1.5GiB`); the result is rounded down to whole bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    if num.is_empty() {
        return Err(format!(
            "{text:?} is not a size (try 500M, 2G, 1.5GiB or a number of bytes)"
        ));
    }
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use K, M, G, T, KiB, MiB, GiB, TiB, kB, MB, GB or TB)"
            ));
        }
    };
    if !num.contains('.') {
        let n: u64 = num.parse().map_err(|_| format!("{text:?} is not a size"))?;
        return n
            .checked_mul(mult)
            .ok_or_else(|| format!("{text:?} is too large"));
    }
    let n: f64 = num.parse().map_err(|_| format!("{text:?} is not a size"))?;
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes as u64)
}

/// `1.5 GiB`, `320.0 MiB`, `12 KiB`, `512 B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("10k"), Ok(10 << 10));
        assert_eq!(parse_size("3MB"), Ok(3_000_000));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("12B"), Ok(12));
        assert!(parse_size("").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("1.2.3M").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn sizes_format_readably() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(2 << 30), "2.0 GiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
        assert_eq!(format_size(320 << 20), "320 MiB");
    }
}
