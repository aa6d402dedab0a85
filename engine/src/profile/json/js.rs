//! Writes a JSON text exactly as Node.js 20 prints `JSON.stringify(JSON.parse(input))`.

use super::error::{excerpt, Unwritable};
use super::number::{decimal, Ascii, Decimal};
use super::parse::{self, array_index, Entry, Node, Text, Tree};

/// Re-serializes `input` as Node.js writes `JSON.stringify(JSON.parse(input))`.
///
/// Errs where JavaScript would write `null` for a number that overflowed to ±Infinity.
pub(crate) fn write(input: &str) -> Result<String, Unwritable> {
    let mut out = String::with_capacity(input.len() + 16);
    write_into(input, &mut out)?;
    Ok(out)
}

/// Like [`write`] but appends to `out`, so a caller can reuse one buffer; on error
/// `out` is left as it was.
pub(crate) fn write_into(input: &str, out: &mut String) -> Result<(), Unwritable> {
    write_tree(&parse::parse(input)?, out)
}

/// Like [`write_into`] for an already parsed payload, so one parse can serve several
/// endpoint profiles.
pub(crate) fn write_tree(tree: &Tree<'_>, out: &mut String) -> Result<(), Unwritable> {
    let mark = out.len();
    let mut w = Writer {
        tree,
        out,
        entries: Vec::new(),
    };
    w.value(0).map_err(|node| {
        w.out.truncate(mark);
        let reason = format!(
            "number {} is beyond a JavaScript number's range (JSON.stringify would write null)",
            excerpt(tree.num_text(node))
        );
        Unwritable::at(tree, node, reason)
    })
}

struct Writer<'t, 'a> {
    tree: &'t Tree<'a>,
    out: &'t mut String,
    entries: Vec<Entry>,
}

impl Writer<'_, '_> {
    /// Writes node `i`; `Err` carries the index of a number that overflows.
    fn value(&mut self, i: usize) -> Result<(), usize> {
        let tree = self.tree;
        match tree.node(i) {
            Node::Null => self.out.push_str("null"),
            Node::Bool(true) => self.out.push_str("true"),
            Node::Bool(false) => self.out.push_str("false"),
            Node::Num { int, len, .. } => {
                let text = tree.num_text(i);
                if int && len <= 15 {
                    // At most 15 digits: exact as a double, and JSON ints are canonical.
                    self.out.push_str(if text == "-0" { "0" } else { text });
                } else {
                    let d = decimal(text).ok_or(i)?;
                    match d.plain {
                        // Fixed notation of the source digits: copy the trimmed text.
                        Some(p) if !d.digits().is_empty() && (-6..=20).contains(&d.sci) => {
                            self.out.push_str(p.strip_suffix('.').unwrap_or(p));
                        }
                        _ => number(self.out, &d),
                    }
                }
            }
            Node::Str { .. } => string(self.out, tree.text(i)),
            Node::Array { count, .. } => {
                self.out.push('[');
                let mut child = i + 1;
                for n in 0..count {
                    if n > 0 {
                        self.out.push(',');
                    }
                    self.value(child)?;
                    child = tree.end(child);
                }
                self.out.push(']');
            }
            Node::Object {
                count,
                unique: true,
                index_keys: false,
                ..
            } => {
                // Keys all distinct and none an array index: written as they come.
                self.out.push('{');
                let mut key = i + 1;
                for n in 0..count {
                    if n > 0 {
                        self.out.push(',');
                    }
                    string(self.out, tree.text(key));
                    self.out.push(':');
                    self.value(key + 1)?;
                    key = tree.end(key + 1);
                }
                self.out.push('}');
            }
            Node::Object { index_keys, .. } => {
                let base = self.entries.len();
                tree.entries(i, &mut self.entries);
                let end = self.entries.len();
                if index_keys {
                    // Array-index keys first, ascending; then the rest in first-insertion
                    // order, which key node indices follow.
                    let index = |e: &Entry| array_index(tree.str_bytes(e.key as usize));
                    self.entries[base..end].sort_unstable_by_key(|e| match index(e) {
                        Some(n) => (false, n),
                        None => (true, e.key),
                    });
                }
                self.out.push('{');
                for j in base..end {
                    if j > base {
                        self.out.push(',');
                    }
                    let e = self.entries[j];
                    string(self.out, tree.text(e.key as usize));
                    self.out.push(':');
                    self.value(e.value as usize)?;
                }
                self.out.push('}');
                self.entries.truncate(base);
            }
        }
        Ok(())
    }
}

/// Lays out a finite double as ECMAScript `Number::toString` does (`-0` prints `0`).
fn number(out: &mut String, d: &Decimal<'_>) {
    let digits = d.digits();
    if digits.is_empty() {
        out.push('0');
        return;
    }
    let mut buf = Ascii::new();
    if d.neg {
        buf.push(b'-');
    }
    let k = digits.len() as i32;
    let n = d.sci + 1; // the value is 0.digits × 10^n
    if k <= n && n <= 21 {
        buf.extend(digits);
        buf.zeros((n - k) as usize);
    } else if 0 < n && n <= 21 {
        buf.extend(&digits[..n as usize]);
        buf.push(b'.');
        buf.extend(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        buf.extend(b"0.");
        buf.zeros((-n) as usize);
        buf.extend(digits);
    } else {
        buf.push(digits[0]);
        if k > 1 {
            buf.push(b'.');
            buf.extend(&digits[1..]);
        }
        buf.push(b'e');
        buf.push(if d.sci >= 0 { b'+' } else { b'-' });
        buf.uint(d.sci.unsigned_abs(), 1);
    }
    out.push_str(buf.as_str());
}

/// Quotes a string as well-formed `JSON.stringify` does: only `"`, `\`, controls and lone
/// surrogates are escaped; everything else (U+2028, U+007F, astral) is written raw.
fn string(out: &mut String, text: Text<'_>) {
    out.push('"');
    match text {
        // No escapes in the source means no `"`, `\` or controls: nothing to escape.
        Text::Plain(s) => out.push_str(s),
        Text::Wtf8(b) => {
            let flush = |out: &mut String, run: &[u8]| {
                out.push_str(std::str::from_utf8(run).expect("WTF-8 without surrogates is UTF-8"));
            };
            let mut run = 0;
            let mut i = 0;
            while i < b.len() {
                let c = b[i];
                if c < 0x20 || c == b'"' || c == b'\\' {
                    flush(out, &b[run..i]);
                    escape_ascii(out, c);
                    i += 1;
                    run = i;
                } else if c == 0xED && b.get(i + 1).is_some_and(|&c1| c1 >= 0xA0) {
                    flush(out, &b[run..i]);
                    let (unit, len) = parse::wtf8_at(b, i);
                    escape_unit(out, unit);
                    i += len;
                    run = i;
                } else {
                    i += 1;
                }
            }
            flush(out, &b[run..]);
        }
    }
    out.push('"');
}

/// The escape both runtimes use for `"`, `\` and a control character.
pub(super) fn escape_ascii(out: &mut String, c: u8) {
    match c {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        0x08 => out.push_str("\\b"),
        0x0C => out.push_str("\\f"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        _ => escape_unit(out, u32::from(c)),
    }
}

/// Writes a UTF-16 code unit as `\uxxxx` with lowercase hex.
pub(super) fn escape_unit(out: &mut String, unit: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[((unit >> shift) & 0xF) as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(input: &str) -> String {
        write(input).unwrap()
    }

    #[test]
    fn spec_vector() {
        let input = r#"{"sizeUsd":15000.50,"price":45000.0,"qty":1e2,"big":12345678901234567890,"tiny":0.000001,"exp":1E-7,"neg":-0.0,"name":"caf\u00e9 \u2603","raw":"café","esc":"a\/b\"c\\d\u0001","2":"two","b":1,"1":"one","b":2,"emoji":"\ud83d\ude00","arr":[1.50,true,null,{"z":1,"a":2}]}"#;
        let want = r#"{"1":"one","2":"two","sizeUsd":15000.5,"price":45000,"qty":100,"big":12345678901234567000,"tiny":0.000001,"exp":1e-7,"neg":0,"name":"café ☃","raw":"café","esc":"a/b\"c\\d\u0001","b":2,"emoji":"😀","arr":[1.5,true,null,{"z":1,"a":2}]}"#;
        assert_eq!(js(input), want);
    }

    #[test]
    fn numbers() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("0e-5", "0"),
            ("5e-324", "5e-324"),
            ("-5e-324", "-5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("123456789012345678901", "123456789012345680000"),
            ("1e-7", "1e-7"),
            ("1.5e-7", "1.5e-7"),
            ("0.000001", "0.000001"),
            ("0.0000015", "0.0000015"),
            ("123e-20", "1.23e-18"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("0.1", "0.1"),
            ("9007199254740993", "9007199254740992"),
            ("9007199254740995", "9007199254740996"),
            ("12345678901234567890", "12345678901234567000"),
            ("-123.456e2", "-12345.6"),
            ("1E+2", "100"),
            ("100000000000000000000000", "1e+23"),
            ("1e-400", "0"),
            ("2.5e-8", "2.5e-8"),
            ("123456789012345", "123456789012345"),
            ("-123456789012345", "-123456789012345"),
            ("1.7976931348623158e308", "1.7976931348623157e+308"),
        ];
        for (input, want) in cases {
            assert_eq!(js(input), want, "input {input}");
        }
    }

    #[test]
    fn overflow_is_unwritable_with_a_path() {
        let err = write(r#"{"a":[1,2,3,1e400]}"#).unwrap_err();
        assert_eq!(err.path(), "data.a[3]");
        assert!(err.to_string().contains("1e400"), "{err}");
        let err = write(r#"{"a b":{"c":[-1e999]}}"#).unwrap_err();
        assert_eq!(err.path(), r#"data["a b"].c[0]"#);
        assert_eq!(write("1.7976931348623159e308").unwrap_err().path(), "data");
        assert!(write(&"9".repeat(309)).is_err());
        assert!(write(&"9".repeat(308)).is_ok());
        // A discarded repeat's overflow never reaches the output.
        assert_eq!(js(r#"{"a":1e400,"a":1}"#), r#"{"a":1}"#);
        let mut out = String::from("keep");
        assert!(write_into("[1e400]", &mut out).is_err());
        assert_eq!(out, "keep");
    }

    #[test]
    fn key_order() {
        assert_eq!(
            js(
                r#"{"b":1,"4294967295":1,"4294967294":2,"01":3,"1":4,"-1":5,"0":6,"1":7,"10":8,"2":9}"#
            ),
            r#"{"0":6,"1":7,"2":9,"10":8,"4294967294":2,"b":1,"4294967295":1,"01":3,"-1":5}"#
        );
        assert_eq!(js(r#"{"\u0031":1,"a":2,"1":3}"#), r#"{"1":3,"a":2}"#);
        assert_eq!(
            js(r#"{"1.0":1,"1e2":2," 1":3,"":4,"0":5}"#),
            r#"{"0":5,"1.0":1,"1e2":2," 1":3,"":4}"#
        );
        // Large objects take the hashed repeat path.
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!("\"{}\":{i},", 39 - i));
        }
        text.push_str("\"5\":\"last\"}");
        let mut want = String::from("{");
        for i in 0..40 {
            if i == 5 {
                want.push_str("\"5\":\"last\",");
            } else {
                want.push_str(&format!("\"{i}\":{},", 39 - i));
            }
        }
        want.pop();
        want.push('}');
        assert_eq!(js(&text), want);
    }

    #[test]
    fn strings() {
        let mut input = String::from("\"");
        let mut want = String::from("\"");
        for c in 0u32..0x20 {
            input.push_str(&format!("\\u{c:04X}"));
        }
        want.push_str(
            r"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f",
        );
        want.push_str(r"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f");
        input.push_str(r#"\b\f\n\r\t\/\"\\"#);
        want.push_str(r#"\b\f\n\r\t/\"\\"#);
        input.push('"');
        want.push('"');
        assert_eq!(js(&input), want);
        assert_eq!(js(r#""\uD800""#), r#""\ud800""#);
        assert_eq!(js(r#""\uDBFF\u0041""#), r#""\udbffA""#);
        assert_eq!(js(r#""\uDC00\uD800""#), r#""\udc00\ud800""#);
        assert_eq!(js(r#""\uD83D😀""#), r#""\ud83d😀""#);
        assert_eq!(js(r#""\uD83D\uDE00""#), "\"😀\"");
        assert_eq!(
            js("\"\u{2028}\\u2029\u{7f}\\u007F\""),
            "\"\u{2028}\u{2029}\u{7f}\u{7f}\""
        );
        assert_eq!(js(r#"{"\ud800":"x"}"#), r#"{"\ud800":"x"}"#);
    }

    #[test]
    fn structure() {
        assert_eq!(js("{}"), "{}");
        assert_eq!(js("[]"), "[]");
        assert_eq!(js(r#"[{},[],{"a":[]}]"#), r#"[{},[],{"a":[]}]"#);
        assert_eq!(js(r#""x""#), r#""x""#);
        assert_eq!(js("1"), "1");
        assert_eq!(js("null"), "null");
        assert_eq!(js("true"), "true");
        assert_eq!(js(" [ 1 , { \"a\" : 2.50 } ] "), r#"[1,{"a":2.5}]"#);
        let deep = "[{\"a\":".repeat(64) + "1.0" + &"}]".repeat(64);
        let want = "[{\"a\":".repeat(64) + "1" + &"}]".repeat(64);
        assert_eq!(js(&deep), want);
        assert!(write("{\"a\":1").is_err());
    }
}
