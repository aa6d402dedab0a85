//! Turns JSON number text into the shortest round-trip decimal digits of its nearest double.
//!
//! Both JavaScript's `Number.prototype.toString` and Python's `float.__repr__` print the
//! shortest digit string that reads back to the same double; they differ only in layout,
//! which [`super::js`] and [`super::python`] do from a [`Decimal`].

/// The nearest double of a number text as `d1.d2..dn × 10^sci`, `n` digits, no trailing zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Decimal<'t> {
    /// The text starts with `-` (kept for zeros too: Python prints `-0.0`).
    pub(crate) neg: bool,
    digits: [u8; 17],
    len: u8,
    /// Decimal exponent of the first digit.
    pub(crate) sci: i32,
    /// The source text cut after its last non-zero fraction digit (or after the `.`), when
    /// it has a `.`, no exponent and at most 15 significant digits: then its digits are
    /// the shortest ones, and a writer whose layout is fixed notation can copy it.
    pub(crate) plain: Option<&'t str>,
}

impl Decimal<'_> {
    /// Shortest round-trip digits as ASCII; empty for zero.
    pub(crate) fn digits(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }
}

/// Reads a JSON number text (grammar already checked) correctly rounded to a double.
///
/// Returns `None` when the value rounds to ±Infinity. Texts with at most 15 significant
/// digits in the normal range skip float conversion: such a decimal is exactly the
/// shortest (and only) 15-or-fewer-digit string naming its double, since 15 < log10(2^52).
pub(super) fn decimal(text: &str) -> Option<Decimal<'_>> {
    let s = scan(text);
    let exact = s.len <= 15 && (-300..=300).contains(&s.sci);
    if s.len == 0 || exact {
        let sci = if s.len == 0 { 0 } else { s.sci as i32 };
        let plain = if exact { s.plain } else { None };
        return Some(Decimal {
            neg: s.neg,
            digits: s.digits,
            len: s.len as u8,
            sci,
            plain,
        });
    }
    from_double(text, s.neg)
}

/// Slow path: correctly rounded parse, then Ryu's shortest round-trip digits.
///
/// Ryu breaks an exact tie between two shortest candidates towards the even digit, as
/// ECMAScript and CPython's `repr` do; `std`'s `{:e}` rounds such ties up instead.
fn from_double(text: &str, neg: bool) -> Option<Decimal<'static>> {
    let x: f64 = text
        .parse()
        .expect("JSON number grammar is a subset of Rust's float grammar");
    if x.is_infinite() {
        return None;
    }
    if x == 0.0 {
        return Some(Decimal {
            neg,
            digits: [b'0'; 17],
            len: 0,
            sci: 0,
            plain: None,
        });
    }
    let mut buf = ryu::Buffer::new();
    let s = scan(buf.format_finite(x.abs()));
    Some(Decimal {
        neg,
        digits: s.digits,
        len: s.len as u8,
        sci: s.sci as i32,
        plain: None,
    })
}

/// Significant digits of a decimal text, as far as the first 17 of them.
struct Scan<'t> {
    neg: bool,
    /// The first 17 significant digits (ASCII).
    digits: [u8; 17],
    /// Significant digits up to the last non-zero one; 0 for zero.
    len: usize,
    /// Decimal exponent of the first significant digit (saturated far out of range).
    sci: i64,
    /// See [`Decimal::plain`] (without the digit-count condition).
    plain: Option<&'t str>,
}

/// Length of the run of ASCII digits at the start of `b`.
fn digit_run(b: &[u8]) -> usize {
    b.iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len())
}

/// Reads a decimal number text (`-`, digits, `.`, digits, `e`/`E`, sign, digits).
fn scan(text: &str) -> Scan<'_> {
    let b = text.as_bytes();
    let neg = b.first() == Some(&b'-');
    let body = &b[usize::from(neg)..];
    let (int, rest) = body.split_at(digit_run(body));
    let (frac, rest, point) = match rest {
        [b'.', r @ ..] => {
            let (f, rest) = r.split_at(digit_run(r));
            (f, rest, true)
        }
        _ => (&b""[..], rest, false),
    };
    let mut exp = 0i64;
    if let [_e, r @ ..] = rest {
        let (eneg, r) = match r {
            [b'-', r @ ..] => (true, r),
            [b'+', r @ ..] => (false, r),
            _ => (false, r),
        };
        for &d in r {
            exp = (exp * 10 + i64::from(d - b'0')).min(1 << 40);
        }
        if eneg {
            exp = -exp;
        }
    }
    let nonzero = |c: &u8| *c != b'0';
    let int_sig = &int[int.iter().position(nonzero).unwrap_or(int.len())..];
    let (first, second, sci) = if int_sig.is_empty() {
        let lz = frac.iter().position(nonzero).unwrap_or(frac.len());
        (&frac[lz..], &b""[..], exp - lz as i64 - 1)
    } else {
        (int_sig, frac, int_sig.len() as i64 - 1 + exp)
    };
    let len = match second.iter().rposition(nonzero) {
        Some(p) => first.len() + p + 1,
        None => first.iter().rposition(nonzero).map_or(0, |p| p + 1),
    };
    let mut digits = [b'0'; 17];
    let n1 = first.len().min(17);
    digits[..n1].copy_from_slice(&first[..n1]);
    let n2 = second.len().min(17 - n1);
    digits[n1..n1 + n2].copy_from_slice(&second[..n2]);
    let plain = (point && rest.is_empty()).then(|| {
        let kept = frac.iter().rposition(nonzero).map_or(0, |p| p + 1);
        &text[..usize::from(neg) + int.len() + 1 + kept]
    });
    Scan {
        neg,
        digits,
        len,
        sci,
        plain,
    }
}

/// A fixed stack buffer for ASCII number text: lets number layout skip heap allocation.
pub(super) struct Ascii {
    buf: [u8; 48],
    len: usize,
}

impl Ascii {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }

    /// Appends one ASCII byte.
    pub(crate) fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// Appends ASCII bytes.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Appends `n` zeros.
    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf[self.len..self.len + n].fill(b'0');
        self.len += n;
    }

    /// Appends a non-negative integer in decimal.
    pub(crate) fn uint(&mut self, mut v: u32, min_digits: usize) {
        let mut tmp = [b'0'; 10];
        let mut n = 0;
        while v > 0 || n < min_digits {
            tmp[9 - n] = b'0' + (v % 10) as u8;
            v /= 10;
            n += 1;
        }
        self.extend(&tmp[10 - n..]);
    }

    /// The bytes written so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text written so far.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("only ASCII is written")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Option<(bool, String, i32)> {
        decimal(text).map(|d| {
            (
                d.neg,
                String::from_utf8(d.digits().to_vec()).unwrap(),
                d.sci,
            )
        })
    }

    fn some(neg: bool, digits: &str, sci: i32) -> Option<(bool, String, i32)> {
        Some((neg, digits.to_owned(), sci))
    }

    #[test]
    fn fast_path_reads_source_digits() {
        assert_eq!(d("15000.50"), some(false, "150005", 4));
        assert_eq!(d("0.000001"), some(false, "1", -6));
        assert_eq!(d("-0.0250e+3"), some(true, "25", 1));
        assert_eq!(d("1E-7"), some(false, "1", -7));
        assert_eq!(d("100"), some(false, "1", 2));
        assert_eq!(d("-0.0"), some(true, "", 0));
        assert_eq!(d("0e999999999999999999999"), some(false, "", 0));
    }

    #[test]
    fn slow_path_rounds_to_double() {
        assert_eq!(
            d("12345678901234567890"),
            some(false, "12345678901234567", 19)
        );
        assert_eq!(
            d("0.30000000000000004"),
            some(false, "30000000000000004", -1)
        );
        assert_eq!(d("9007199254740993"), some(false, "9007199254740992", 15));
        assert_eq!(d("5e-324"), some(false, "5", -324));
        assert_eq!(d("2.4703282292062327e-324"), some(false, "", 0));
        assert_eq!(d("-1e-400"), some(true, "", 0));
        assert_eq!(
            d("1.7976931348623157e308"),
            some(false, "17976931348623157", 308)
        );
        assert_eq!(
            d("1.7976931348623158e308"),
            some(false, "17976931348623157", 308)
        );
        assert_eq!(d("1.7976931348623159e308"), None);
        assert_eq!(d("1e400"), None);
        assert_eq!(d("-1e+400"), None);
        assert_eq!(d("1e99999999999999999999"), None);
        assert_eq!(d("1e-99999999999999999999"), some(false, "", 0));
        assert_eq!(d(&"9".repeat(400)), None);
        // Exact ties between two shortest candidates go to the even digit.
        assert_eq!(d("887667061294587.25"), some(false, "8876670612945872", 14));
        assert_eq!(d("887667061294587.75"), some(false, "8876670612945878", 14));
    }
}
