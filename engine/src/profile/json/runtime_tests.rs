//! Checks both writers byte for byte against the real `node` and `python3` on generated JSON.
//!
//! Values go to each runtime in batches (one process per batch, one JSON text per line),
//! so thousands of cases cost a few process starts. The runtimes print `ERR` where the
//! output would not be faithful (a kept number that became ±Infinity, Python's int digit
//! limit); exactly those inputs must make our writers return `Err`.

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::{js, python};

/// Reads newline-separated JSON on stdin; prints its version, then one line per input.
const NODE_SCRIPT: &str = r#"
const lines = require('fs').readFileSync(0, 'utf8').split('\n');
lines.pop();
const finite = v => typeof v === 'number' ? Number.isFinite(v)
  : (v !== null && typeof v === 'object') ? Object.values(v).every(finite) : true;
const out = [process.versions.node];
for (const line of lines) {
  const v = JSON.parse(line);
  out.push(finite(v) ? JSON.stringify(v) : 'ERR');
}
process.stdout.write(out.join('\n') + '\n');
"#;

/// Python twin of [`NODE_SCRIPT`]; a parse error prints `INVALID` so it cannot pass as `ERR`.
const PYTHON_SCRIPT: &str = r#"
import json, sys
out = ["%d.%d" % sys.version_info[:2]]
for line in sys.stdin.buffer.read().split(b"\n")[:-1]:
    try:
        v = json.loads(line.decode("utf-8"))
    except json.JSONDecodeError as e:
        out.append("INVALID " + str(e))
        continue
    except ValueError:
        out.append("ERR")
        continue
    try:
        json.dumps(v, separators=(",", ":"), allow_nan=False)
    except ValueError:
        out.append("ERR")
        continue
    out.append(json.dumps(v, separators=(",", ":")))
sys.stdout.write("\n".join(out) + "\n")
"#;

/// Runs `program args` with `inputs` on stdin; returns (version line, one line per input).
fn run(program: &str, args: &[&str], inputs: &[String]) -> (String, Vec<String>) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start `{program}`: {e}; this test needs Node.js 20+ and Python 3.11+ on PATH")
        });
    let mut stdin = child.stdin.take().unwrap();
    let data = inputs.join("\n") + "\n";
    let feeder = std::thread::spawn(move || stdin.write_all(data.as_bytes()));
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "`{program}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    assert_eq!(
        lines.pop().as_deref(),
        Some(""),
        "`{program}` output must end with a newline"
    );
    assert_eq!(
        lines.len(),
        inputs.len() + 1,
        "`{program}` printed a wrong number of lines"
    );
    let version = lines.remove(0);
    (version, lines)
}

fn check_versions(node: &str, python: &str) {
    let major: u32 = node
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "node {node} found; these modes are pinned to Node.js 20"
    );
    let (maj, min) = python.split_once('.').unwrap();
    let (maj, min): (u32, u32) = (maj.parse().unwrap(), min.parse().unwrap());
    assert!(
        (maj, min) >= (3, 11),
        "python {python} found; these modes are pinned to CPython 3.11"
    );
}

/// Runs one batch through both runtimes and our writers; describes the first mismatch.
fn check(inputs: &[String]) -> Result<(), String> {
    for input in inputs {
        serde_json::from_str::<Box<serde_json::value::RawValue>>(input)
            .map_err(|e| format!("generator made invalid JSON {input:?}: {e}"))?;
    }
    let ((node_version, node), (py_version, py)) = std::thread::scope(|s| {
        let node = s.spawn(|| run("node", &["-e", NODE_SCRIPT], inputs));
        let py = run("python3", &["-c", PYTHON_SCRIPT], inputs);
        (node.join().unwrap(), py)
    });
    check_versions(&node_version, &py_version);
    for ((input, node), py) in inputs.iter().zip(&node).zip(&py) {
        compare("js", input, js::write(input), node)?;
        compare("python", input, python::write(input), py)?;
    }
    Ok(())
}

fn compare(
    mode: &str,
    input: &str,
    ours: Result<String, super::Unwritable>,
    theirs: &str,
) -> Result<(), String> {
    match (&ours, theirs) {
        (Ok(ours), theirs) if ours == theirs => Ok(()),
        (Err(_), "ERR") => Ok(()),
        _ => Err(format!(
            "{mode} mismatch\n input:   {input}\n runtime: {theirs}\n ours:    {ours:?}"
        )),
    }
}

// ---- generators ----
//
// Proptest drives the shape (arrays, objects, nesting) and hands each leaf a random seed;
// the leaf text comes from the small hand-written generators below. Building leaves from
// nested proptest strategies cost ~100 µs each in a debug build, which made batches of
// thousands of values too slow.

/// SplitMix64: a tiny deterministic generator seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u64) as usize]
    }

    /// An index into `weights`, chosen in proportion to them.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut r = self.range(0, weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        unreachable!()
    }

    /// `n` random decimal digits, the first non-zero when `lead` is set.
    fn digits(&mut self, n: usize, lead: bool) -> String {
        (0..n)
            .map(|i| {
                let lo = if lead && i == 0 { 1 } else { 0 };
                char::from(b'0' + self.range(lo, 10) as u8)
            })
            .collect()
    }
}

const SPECIAL_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "-0.0",
    "0e0",
    "-0E+0",
    "0e-999",
    "5e-324",
    "-5e-324",
    "4.9e-324",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "2.2250738585072014e-308",
    "2.2250738585072011e-308",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "-1.7976931348623159e308",
    "1e308",
    "1e309",
    "1e400",
    "-1e400",
    "1e21",
    "999999999999999999999",
    "1e-7",
    "1e-6",
    "0.000001",
    "0.0000001",
    "1e16",
    "1e15",
    "9999999999999998",
    "1e-4",
    "0.0001",
    "0.00001",
    "123e-20",
    "0.1",
    "0.2",
    "0.30000000000000004",
    "9007199254740993",
    "9007199254740992",
    "-9007199254740993",
    "18446744073709551616",
    "1.5",
    "100",
    "1E2",
    "1e+2",
    "45000.0",
    "15000.50",
    "887667061294587.25",
];

fn number(r: &mut Rng) -> String {
    let sign = |r: &mut Rng| if r.coin() { "-" } else { "" };
    match r.weighted(&[3, 2, 4, 2, 2, 1, 2]) {
        // Any finite double, in each form Rust writes.
        0 => {
            let x = loop {
                let x = f64::from_bits(r.next());
                if x.is_finite() {
                    break x;
                }
            };
            match r.range(0, 4) {
                0 => format!("{x:e}"),
                1 => format!("{x:E}"),
                2 => format!("{x:?}"),
                _ => format!("{x}"),
            }
        }
        // Moderate magnitudes around the fixed/exponent layout boundaries.
        1 => {
            let m = r.next() as f64 / 2f64.powi(64);
            let x = m * 10f64.powi(r.range(0, 80) as i32 - 40);
            if r.coin() {
                format!("{}{x:?}", sign(r))
            } else {
                format!("{}{x}", sign(r))
            }
        }
        // Decimal texts: any digits, optional fraction and exponent (`e`/`E`, signs, padding).
        2 => {
            let int = if r.range(0, 4) == 0 {
                "0".to_owned()
            } else {
                let n = r.range(1, 21) as usize;
                r.digits(n, true)
            };
            let frac = if r.coin() {
                String::new()
            } else {
                let n = r.range(1, 23) as usize;
                format!(".{}", r.digits(n, false))
            };
            let exp = match r.weighted(&[3, 2, 1]) {
                0 => String::new(),
                k => {
                    let e = if k == 1 {
                        r.range(0, 30)
                    } else {
                        r.range(280, 345)
                    };
                    let pad = if r.range(0, 4) == 0 { "0" } else { "" };
                    format!("{}{}{pad}{e}", r.pick(&["e", "E"]), r.pick(&["", "+", "-"]))
                }
            };
            format!("{}{int}{frac}{exp}", sign(r))
        }
        // Prices: up to 10 digits with 0-9 decimal places.
        3 => {
            let s = r.range(0, 10_000_000_000).to_string();
            let places = r.range(0, 10) as usize;
            let s = if places > 0 && s.len() > places {
                format!("{}.{}", &s[..s.len() - places], &s[s.len() - places..])
            } else {
                s
            };
            format!("{}{s}", sign(r))
        }
        // Doubles with short exact expansions, where two shortest candidates can tie.
        4 => {
            let x = r.range(1 << 52, 1 << 53) as f64 * 2f64.powi(r.range(0, 16) as i32 - 4);
            format!("{}{x:.4}", sign(r))
        }
        // Integers past 2^53, and past a double's range.
        5 => {
            let n = if r.coin() {
                r.range(15, 41)
            } else {
                r.range(300, 321)
            } as usize;
            format!("{}{}", sign(r), r.digits(n, true))
        }
        _ => r.pick(SPECIAL_NUMBERS).to_owned(),
    }
}

/// A JSON string literal (quotes included) mixing raw text, escapes and surrogates.
fn string(r: &mut Rng) -> String {
    let mut s = String::from("\"");
    for _ in 0..r.range(0, 6) {
        match r.weighted(&[4, 3, 1, 1, 2, 1, 1, 1, 1]) {
            0 => {
                for _ in 0..r.range(0, 9) {
                    match char::from(r.range(0x20, 0x7F) as u8) {
                        c @ ('"' | '\\') => {
                            s.push('\\');
                            s.push(c);
                        }
                        c => s.push(c),
                    }
                }
            }
            1 => {
                let c = loop {
                    let (lo, hi) = r.pick(&[
                        (0, 0x80),
                        (0x80, 0x800),
                        (0x800, 0x10000),
                        (0x10000, 0x110000),
                    ]);
                    if let Some(c) = char::from_u32(r.range(lo, hi) as u32) {
                        break c;
                    }
                };
                match c {
                    '\0'..='\x1f' => s.push_str(&format!("\\u{:04x}", c as u32)),
                    '"' | '\\' => {
                        s.push('\\');
                        s.push(c);
                    }
                    _ => s.push(c),
                }
            }
            2 => s.extend(char::from_u32(r.range(0x10000, 0x110000) as u32)),
            3 => s.push_str(r.pick(&[
                "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\u{2028}", "\u{2029}",
                "\u{7f}", "\u{80}", "\u{ffff}", "é", "☃", "😀", "\\u2028", "\\u007f", "\\u007F",
                "\\u0000",
            ])),
            4 => {
                let u = r.range(0, 0x10000);
                s.push_str(&if r.coin() {
                    format!("\\u{u:04X}")
                } else {
                    format!("\\u{u:04x}")
                });
            }
            5 => {
                let (h, l) = (r.range(0xD800, 0xDC00), r.range(0xDC00, 0xE000));
                s.push_str(&format!("\\u{h:04x}\\u{l:04X}"));
            }
            6 => s.push_str(&format!("\\u{:04x}", r.range(0xD800, 0xDC00))),
            7 => s.push_str(&format!("\\u{:04X}", r.range(0xDC00, 0xE000))),
            _ => s.push_str(&format!("\\u{:04x}", r.range(0, 0x20))),
        }
    }
    s.push('"');
    s
}

const KEY_POOL: &[&str] = &[
    "a",
    "b",
    "\\u0061",
    "0",
    "1",
    "01",
    "-1",
    "2",
    "10",
    "\\u0031",
    "1.0",
    "",
    "4294967294",
    "4294967295",
    "4294967296",
    "999999999",
    "12345678901",
    "__proto__",
    "\\ud800",
    "é",
    "\\u00e9",
    "\\u00E9",
    "😀",
    "\\ud83d\\ude00",
    "constructor",
    "length",
];

/// An object key (quotes included): mostly from a small pool, so repeats and
/// array-index keys are common.
fn key(r: &mut Rng) -> String {
    if r.range(0, 4) == 0 {
        string(r)
    } else {
        format!("\"{}\"", r.pick(KEY_POOL))
    }
}

fn leaf(r: &mut Rng) -> String {
    match r.weighted(&[1, 1, 1, 6, 4]) {
        0 => "null".to_owned(),
        1 => "true".to_owned(),
        2 => "false".to_owned(),
        3 => number(r),
        _ => string(r),
    }
}

/// A JSON text: leaves from a seed, nested arrays and objects from proptest.
fn value() -> impl Strategy<Value = String> {
    let leaf = any::<u64>().prop_map(|seed| leaf(&mut Rng(seed)));
    leaf.prop_recursive(6, 64, 10, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((any::<u64>(), inner), 0..12).prop_map(|m| {
                let members: Vec<String> = m
                    .into_iter()
                    .map(|(seed, v)| format!("{}:{v}", key(&mut Rng(seed))))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// A value wrapped in 40 to 64 arrays and objects (objects repeat their key).
fn deep() -> impl Strategy<Value = String> {
    (value(), any::<u64>()).prop_map(|(v, seed)| {
        let mut r = Rng(seed);
        let levels = r.range(40, 65);
        (0..levels).fold(v, |inner, _| {
            if r.coin() {
                let k = key(&mut r);
                format!("{{{k}:null,{k}:{inner}}}")
            } else {
                format!("[{inner}]")
            }
        })
    })
}

#[test]
fn generated_values_match_node_and_python() {
    // 10 batches of 1010 texts: about 5 s, most of it process start-up. PROPTEST_CASES
    // sets the number of batches for a longer soak.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let start = Instant::now();
    let checked = Cell::new(0usize);
    let last_failure = RefCell::new(String::new());
    let batch = (
        prop::collection::vec(value(), 1000),
        prop::collection::vec(deep(), 10),
    )
        .prop_map(|(mut v, d)| {
            v.extend(d);
            v
        });
    let mut runner = TestRunner::new(Config {
        cases,
        // Each shrink step starts both runtimes; the failure message names the exact input.
        max_shrink_iters: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&batch, |inputs| {
        if let Err(e) = check(&inputs) {
            *last_failure.borrow_mut() = e.clone();
            return Err(TestCaseError::fail(e));
        }
        checked.set(checked.get() + inputs.len());
        Ok(())
    });
    if result.is_err() {
        // Not the proptest error itself: it would print the whole batch.
        panic!("{}", last_failure.borrow());
    }
    eprintln!(
        "checked {} generated values against node and python3 in {:.2?}",
        checked.get(),
        start.elapsed()
    );
}

#[test]
fn edge_cases_match_node_and_python() {
    let mut inputs: Vec<String> = [
        r#"{"sizeUsd":15000.50,"price":45000.0,"qty":1e2,"big":12345678901234567890,"tiny":0.000001,"exp":1E-7,"neg":-0.0,"name":"caf\u00e9 \u2603","raw":"café","esc":"a\/b\"c\\d\u0001","2":"two","b":1,"1":"one","b":2,"emoji":"\ud83d\ude00","arr":[1.50,true,null,{"z":1,"a":2}]}"#,
        r#"{"b":1,"4294967295":1,"4294967294":2,"01":3,"1":4,"-1":5,"0":6,"1":7,"10":8,"2":9}"#,
        r#"{"\u0031":1,"a":2,"1":3,"\u0061":4}"#,
        r#"{"a":1e400,"a":1}"#,
        r#"{"a":1,"a":1e400}"#,
        r#"["\uD800","\uDBFF\u0041","\uDC00\uD800","\uD83D😀","\uD83D\uDE00","\u2028","\u007f"]"#,
        "{}", "[]", "\"x\"", "1", "-0", "-0.0", "null", "true", "[{},[],{\"a\":[]}]",
        "1e400", "-1e400", "1.7976931348623159e308", "5e-324", "1e-400", "-1e-400",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut controls = String::from("\"");
    for c in 0..0x20 {
        controls.push_str(&format!("\\u{c:04x}"));
    }
    controls.push('"');
    inputs.push(controls);
    inputs.push("7".repeat(python::INT_MAX_STR_DIGITS));
    inputs.push(format!("-{}", "7".repeat(python::INT_MAX_STR_DIGITS)));
    inputs.push("7".repeat(python::INT_MAX_STR_DIGITS + 1));
    inputs.push(format!(
        "{{\"a\":{},\"a\":1}}",
        "7".repeat(python::INT_MAX_STR_DIGITS + 1)
    ));
    inputs.push(format!("0.{}1", "0".repeat(5000)));
    inputs.push(format!("1{}.5", "0".repeat(400)));
    inputs.push("[{\"a\":".repeat(64) + "1.0" + &"}]".repeat(64));
    // Around the parser's 64-member repeat filter.
    for n in [63, 64, 65] {
        let members: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
        inputs.push(format!("{{{},\"k0\":\"again\"}}", members.join(",")));
        inputs.push(format!("{{{},\"7\":\"seven\"}}", members.join(",")));
    }
    let mut big = String::from("{");
    for i in 0..300 {
        big.push_str(&format!(
            "\"{}\":{i},\"k{}\":{i},",
            (i * 7919) % 257,
            i % 50
        ));
    }
    big.push_str("\"z\":0}");
    inputs.push(big);
    check(&inputs).unwrap_or_else(|e| panic!("{e}"));
}
