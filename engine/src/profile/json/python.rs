//! Writes a JSON text exactly as CPython 3.11's `json.dumps(json.loads(s), separators=(",", ":"))`.

use super::error::{excerpt, Unwritable};
use super::js::{escape_ascii, escape_unit};
use super::number::{decimal, Ascii, Decimal};
use super::parse::{self, Entry, Node, Text, Tree};

/// CPython's default `sys.get_int_max_str_digits()`: longer int literals make `json.loads` raise.
pub(crate) const INT_MAX_STR_DIGITS: usize = 4300;

/// Re-serializes `input` as CPython writes `json.dumps(json.loads(input), separators=(",", ":"))`.
///
/// Errs where Python would write `Infinity` (a float that overflowed) or raise (an
/// integer literal of more than [`INT_MAX_STR_DIGITS`] digits, even in a discarded repeat).
pub(crate) fn write(input: &str) -> Result<String, Unwritable> {
    let mut out = String::with_capacity(input.len() + input.len() / 8 + 16);
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
    if let Some((node, digits)) = tree.longest_int() {
        if digits > INT_MAX_STR_DIGITS {
            let reason = format!(
                "integer of {digits} digits exceeds Python's {INT_MAX_STR_DIGITS}-digit limit \
                 (json.loads would raise ValueError)"
            );
            return Err(Unwritable::at(tree, node, reason));
        }
    }
    let mark = out.len();
    let mut w = Writer {
        tree,
        out,
        entries: Vec::new(),
    };
    w.value(0).map_err(|node| {
        w.out.truncate(mark);
        let reason = format!(
            "number {} overflows a Python float (json.dumps would write Infinity)",
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
    /// Writes node `i`; `Err` carries the index of a float that overflows.
    fn value(&mut self, i: usize) -> Result<(), usize> {
        let tree = self.tree;
        match tree.node(i) {
            Node::Null => self.out.push_str("null"),
            Node::Bool(true) => self.out.push_str("true"),
            Node::Bool(false) => self.out.push_str("false"),
            Node::Num { int: true, .. } => {
                // A Python int: exact at any size; JSON ints are canonical except `-0`.
                let text = tree.num_text(i);
                self.out.push_str(if text == "-0" { "0" } else { text });
            }
            Node::Num { int: false, .. } => {
                let d = decimal(tree.num_text(i)).ok_or(i)?;
                match d.plain {
                    // Fixed notation of the source digits: copy the trimmed text.
                    Some(p) if d.digits().is_empty() || (-4..=15).contains(&d.sci) => {
                        self.out.push_str(p);
                        if p.ends_with('.') {
                            self.out.push('0');
                        }
                    }
                    _ => float(self.out, &d),
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
                ..
            } => {
                // Keys all distinct: written as they come.
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
            Node::Object { .. } => {
                let base = self.entries.len();
                tree.entries(i, &mut self.entries);
                let end = self.entries.len();
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

/// Lays out a finite double as `float.__repr__` does: fixed for decimal exponents in
/// [-4, 16) with a `.0` on whole numbers, else `d.ddde±XX`.
fn float(out: &mut String, d: &Decimal<'_>) {
    let mut buf = Ascii::new();
    if d.neg {
        buf.push(b'-');
    }
    let digits = d.digits();
    if digits.is_empty() {
        buf.extend(b"0.0");
        out.push_str(buf.as_str());
        return;
    }
    let k = digits.len() as i32;
    let decpt = d.sci + 1; // the value is 0.digits × 10^decpt
    if decpt <= -4 || decpt > 16 {
        buf.push(digits[0]);
        if k > 1 {
            buf.push(b'.');
            buf.extend(&digits[1..]);
        }
        buf.push(b'e');
        buf.push(if d.sci >= 0 { b'+' } else { b'-' });
        buf.uint(d.sci.unsigned_abs(), 2);
    } else if decpt <= 0 {
        buf.extend(b"0.");
        buf.zeros((-decpt) as usize);
        buf.extend(digits);
    } else if decpt >= k {
        buf.extend(digits);
        buf.zeros((decpt - k) as usize);
        buf.extend(b".0");
    } else {
        buf.extend(&digits[..decpt as usize]);
        buf.push(b'.');
        buf.extend(&digits[decpt as usize..]);
    }
    out.push_str(buf.as_str());
}

/// Quotes a string as `ensure_ascii=True` does: printable ASCII 0x20..=0x7E raw (but `"`
/// and `\`), the usual short escapes, and `\uxxxx` for everything else, U+007F included;
/// astral characters become a surrogate pair, lone surrogates their own escape.
fn string(out: &mut String, text: Text<'_>) {
    if let Text::Plain(s) = text {
        // No escapes in the source: no `"`, `\` or controls, so only bytes >= 0x7F need work.
        if s.bytes().all(|b| b < 0x7F) {
            out.push('"');
            out.push_str(s);
            out.push('"');
            return;
        }
    }
    let b = match text {
        Text::Plain(s) => s.as_bytes(),
        Text::Wtf8(b) => b,
    };
    // Runs are ASCII, so slicing them as text cannot fail.
    let flush = |out: &mut String, from: usize, to: usize| match text {
        Text::Plain(s) => out.push_str(&s[from..to]),
        Text::Wtf8(b) => out.push_str(std::str::from_utf8(&b[from..to]).expect("ASCII run")),
    };
    out.push('"');
    let mut run = 0;
    let mut i = 0;
    let mut bytewise_until = 0;
    while i < b.len() {
        if i >= bytewise_until {
            if let Some(w) = parse::word_at(b, i) {
                let special = parse::any_below(w, 0x20)
                    || parse::any_at_least_7f(w)
                    || parse::any_eq(w, b'"')
                    || parse::any_eq(w, b'\\');
                if !special {
                    i += 8;
                    continue;
                }
                bytewise_until = i + 8;
            }
        }
        let c = b[i];
        if (0x20..0x7F).contains(&c) && c != b'"' && c != b'\\' {
            i += 1;
            continue;
        }
        flush(out, run, i);
        if c < 0x80 {
            escape_ascii(out, c);
            i += 1;
        } else {
            let (cp, len) = parse::wtf8_at(b, i);
            if cp >= 0x10000 {
                let v = cp - 0x10000;
                escape_unit(out, 0xD800 | (v >> 10));
                escape_unit(out, 0xDC00 | (v & 0x3FF));
            } else {
                escape_unit(out, cp);
            }
            i += len;
        }
        run = i;
    }
    flush(out, run, i);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(input: &str) -> String {
        write(input).unwrap()
    }

    #[test]
    fn spec_vector() {
        let input = r#"{"sizeUsd":15000.50,"price":45000.0,"qty":1e2,"big":12345678901234567890,"tiny":0.000001,"exp":1E-7,"neg":-0.0,"name":"caf\u00e9 \u2603","raw":"café","esc":"a\/b\"c\\d\u0001","2":"two","b":1,"1":"one","b":2,"emoji":"\ud83d\ude00","arr":[1.50,true,null,{"z":1,"a":2}]}"#;
        let want = r#"{"sizeUsd":15000.5,"price":45000.0,"qty":100.0,"big":12345678901234567890,"tiny":1e-06,"exp":1e-07,"neg":-0.0,"name":"caf\u00e9 \u2603","raw":"caf\u00e9","esc":"a/b\"c\\d\u0001","2":"two","b":2,"1":"one","emoji":"\ud83d\ude00","arr":[1.5,true,null,{"z":1,"a":2}]}"#;
        assert_eq!(py(input), want);
    }

    #[test]
    fn numbers() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "-0.0"),
            ("0.0", "0.0"),
            ("0e5", "0.0"),
            ("-0E-5", "-0.0"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("1e21", "1e+21"),
            ("1e16", "1e+16"),
            ("1e15", "1000000000000000.0"),
            ("123456789012345.6", "123456789012345.6"),
            ("1e-7", "1e-07"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("0.00012345", "0.00012345"),
            ("123e-20", "1.23e-18"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("9007199254740993.0", "9007199254740992.0"),
            ("9007199254740993", "9007199254740993"),
            ("12345678901234567890", "12345678901234567890"),
            (
                "-12345678901234567890123456789",
                "-12345678901234567890123456789",
            ),
            ("1.5e300", "1.5e+300"),
            ("1e-400", "0.0"),
            ("-1e-400", "-0.0"),
            ("1E2", "100.0"),
            ("1e100", "1e+100"),
        ];
        for (input, want) in cases {
            assert_eq!(py(input), want, "input {input}");
        }
    }

    #[test]
    fn unwritable() {
        let err = write(r#"{"a":[1e400]}"#).unwrap_err();
        assert_eq!(err.path(), "data.a[0]");
        assert!(err.to_string().contains("Infinity"), "{err}");
        assert!(write("-1e400").is_err());
        // A 400-digit int is fine in Python (not a float).
        assert_eq!(py(&"9".repeat(400)), "9".repeat(400));
        let limit = "7".repeat(INT_MAX_STR_DIGITS);
        assert_eq!(py(&format!("-{limit}")), format!("-{limit}"));
        let err = write(&format!(r#"{{"x":{limit}1,"x":2}}"#)).unwrap_err();
        assert_eq!(err.path(), "data.x");
        assert!(err.reason().contains("4301 digits"), "{err}");
        // A discarded float repeat never reaches the output.
        assert_eq!(py(r#"{"a":1e400,"a":1}"#), r#"{"a":1}"#);
    }

    #[test]
    fn key_order_is_insertion_order() {
        assert_eq!(
            py(r#"{"b":1,"4294967295":1,"4294967294":2,"01":3,"1":4,"-1":5,"0":6,"1":7}"#),
            r#"{"b":1,"4294967295":1,"4294967294":2,"01":3,"1":7,"-1":5,"0":6}"#
        );
        assert_eq!(py(r#"{"\u00e9":1,"é":2}"#), r#"{"\u00e9":2}"#);
    }

    #[test]
    fn strings() {
        let mut input = String::from("\"");
        for c in 0u32..0x20 {
            input.push_str(&format!("\\u{c:04x}"));
        }
        input.push('"');
        let want = concat!(
            r#""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#,
            r#"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f""#
        );
        assert_eq!(py(&input), want);
        assert_eq!(py(r#""\b\f\n\r\t\/\"\\ ~""#), r#""\b\f\n\r\t/\"\\ ~""#);
        assert_eq!(
            py("\"\u{7f}\u{80}\u{2028}\u{ffff}\u{10000}\u{10ffff}\""),
            r#""\u007f\u0080\u2028\uffff\ud800\udc00\udbff\udfff""#
        );
        assert_eq!(py(r#""\uD800""#), r#""\ud800""#);
        assert_eq!(py(r#""\uDC00x\uDBFF""#), r#""\udc00x\udbff""#);
        assert_eq!(py(r#""\uD83D😀""#), r#""\ud83d\ud83d\ude00""#);
        assert_eq!(py(r#""\uD83D\uDE00""#), r#""\ud83d\ude00""#);
    }

    #[test]
    fn structure() {
        assert_eq!(py("{}"), "{}");
        assert_eq!(py("[]"), "[]");
        assert_eq!(py(r#""x""#), r#""x""#);
        assert_eq!(py("1"), "1");
        assert_eq!(py("null"), "null");
        assert_eq!(py("false"), "false");
        let deep = "{\"a\":[".repeat(64) + "1.0" + &"]}".repeat(64);
        assert_eq!(py(&deep), deep);
    }
}
