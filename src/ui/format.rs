//! How figures are written in the window (one place, so labels and tests agree).

/// `m:ss` (or `h:mm:ss`) from milliseconds.
pub fn clock_ms(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A duration in milliseconds with one decimal: `12.3 ms`.
pub fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

/// A fraction as a percentage: `3.2 %`.
pub fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

/// A level in dBFS; silence (the engine reports -200) reads `-∞`.
pub fn dbfs(v: f64) -> String {
    if v <= -120.0 {
        "-inf dBFS".into()
    } else {
        format!("{v:.1} dBFS")
    }
}

/// A true-peak level in dBTP; silence reads `-inf`.
pub fn dbtp(v: f64) -> String {
    if v <= -120.0 {
        "-inf dBTP".into()
    } else {
        format!("{v:.1} dBTP")
    }
}

/// Bytes in binary units: `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    crate::cache::size::format_size(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_shows_minutes_and_hours() {
        assert_eq!(clock_ms(0.0), "0:00");
        assert_eq!(clock_ms(61_500.0), "1:01");
        assert_eq!(clock_ms(3_723_000.0), "1:02:03");
        assert_eq!(clock_ms(-5.0), "0:00");
    }

    #[test]
    fn silence_reads_minus_infinity() {
        assert_eq!(dbfs(-200.0), "-inf dBFS");
        assert_eq!(dbfs(-6.02), "-6.0 dBFS");
    }
}
