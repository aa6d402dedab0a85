//! Reads one JSON text into a flat tree that keeps what the runtime writers need.
//!
//! Numbers stay as source text (each language reads them differently), strings are
//! either a slice of the input (no escapes) or decoded WTF-8 (so lone surrogates from
//! `\uD800`-style escapes survive), and object members stay in document order with
//! repeats; [`Tree::entries`] resolves repeats the way both runtimes do.

use std::collections::hash_map::{Entry as Slot, HashMap};

use super::error::Unwritable;

/// Deepest nesting accepted (serde_json's default limit); bounds the recursion.
pub(crate) const MAX_DEPTH: usize = 128;

/// One JSON value in a [`Tree`]; a container is followed by its descendants in document order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number whose source text is `input[start..start + len]`; `int` when it has no
    /// fraction and no exponent (Python reads those as `int`).
    Num {
        /// Byte offset of the text in the input.
        start: u32,
        /// Byte length of the text.
        len: u32,
        /// No `.`, `e` or `E` in the text.
        int: bool,
    },
    /// A string; see [`Tree::text`] for its content.
    Str {
        /// Byte offset into the input (`decoded == false`) or the decoded buffer.
        start: u32,
        /// Byte length of the content.
        len: u32,
        /// The source had escapes, so the content was decoded to WTF-8.
        decoded: bool,
    },
    /// An array of `count` values.
    Array {
        /// Number of elements.
        count: u32,
        /// Index just past the array's last descendant.
        end: u32,
    },
    /// An object of `count` members as written, repeats included; each member is its
    /// key (a [`Node::Str`]) followed by its value's subtree.
    Object {
        /// Number of members in the source, repeats included.
        count: u32,
        /// Index just past the object's last descendant.
        end: u32,
        /// No key repeats (checked for objects of up to 64 members; larger ones say
        /// `false`): writers can walk the members as written, skipping [`Tree::entries`].
        unique: bool,
        /// Some key is an ECMAScript array index (see [`array_index`]).
        index_keys: bool,
    },
}

/// String content as stored: borrowed input, or decoded bytes that may hold lone surrogates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Text<'t> {
    /// The source had no escapes: valid UTF-8 with no `"`, `\` or control characters.
    Plain(&'t str),
    /// WTF-8: UTF-8 where an unpaired surrogate U+D800..U+DFFF is a 3-byte `ED A0..BF xx`
    /// sequence; a surrogate pair from escapes is stored as its 4-byte character.
    Wtf8(&'t [u8]),
}

/// One object member that survives repeat resolution: the first key's node, the last value's node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Node index of the key (where the member is first written).
    pub(crate) key: u32,
    /// Node index of the value that wins (the last one written for that key).
    pub(crate) value: u32,
}

/// A parsed JSON text: nodes in document order, root at index 0.
#[derive(Debug)]
pub(crate) struct Tree<'a> {
    src: &'a str,
    nodes: Vec<Node>,
    decoded: Vec<u8>,
    longest_int: Option<(u32, u32)>,
}

/// Parses `input` (one JSON value, whitespace allowed) into a [`Tree`].
pub(crate) fn parse(input: &str) -> Result<Tree<'_>, Unwritable> {
    if u32::try_from(input.len()).is_err() {
        return Err(Unwritable::invalid(0, "input larger than 4 GiB"));
    }
    let mut p = Parser {
        b: input.as_bytes(),
        pos: 0,
        nodes: Vec::with_capacity(input.len() / 4 + 4),
        decoded: Vec::new(),
        longest_int: None,
        keys: Vec::with_capacity(32),
    };
    p.value(0)?;
    p.ws();
    if p.pos != p.b.len() {
        return Err(p.err("trailing characters after the value"));
    }
    Ok(Tree {
        src: input,
        nodes: p.nodes,
        decoded: p.decoded,
        longest_int: p.longest_int,
    })
}

impl<'a> Tree<'a> {
    /// The node at `i` (0 is the root).
    pub(crate) fn node(&self, i: usize) -> Node {
        self.nodes[i]
    }

    /// Index just past the subtree rooted at `i`: where its next sibling starts.
    pub(crate) fn end(&self, i: usize) -> usize {
        match self.nodes[i] {
            Node::Array { end, .. } | Node::Object { end, .. } => end as usize,
            _ => i + 1,
        }
    }

    /// Source text of the number node `i` (empty for other nodes).
    pub(crate) fn num_text(&self, i: usize) -> &'a str {
        match self.nodes[i] {
            Node::Num { start, len, .. } => &self.src[start as usize..(start + len) as usize],
            _ => "",
        }
    }

    /// Content of the string node `i` (empty for other nodes).
    pub(crate) fn text(&self, i: usize) -> Text<'_> {
        match self.nodes[i] {
            Node::Str {
                start,
                len,
                decoded: false,
            } => Text::Plain(&self.src[start as usize..(start + len) as usize]),
            Node::Str {
                start,
                len,
                decoded: true,
            } => Text::Wtf8(&self.decoded[start as usize..(start + len) as usize]),
            _ => Text::Plain(""),
        }
    }

    /// Content of the string node `i` as WTF-8 bytes; equal bytes mean equal JSON strings.
    pub(crate) fn str_bytes(&self, i: usize) -> &[u8] {
        match self.nodes[i] {
            Node::Str {
                start,
                len,
                decoded,
            } => {
                let range = start as usize..(start + len) as usize;
                if decoded {
                    &self.decoded[range]
                } else {
                    &self.src.as_bytes()[range]
                }
            }
            _ => &[],
        }
    }

    /// The integer literal with the most digits (sign excluded) as `(node, digits)`, for
    /// Python's limit on int conversion, which applies even to values a repeat discards.
    pub(crate) fn longest_int(&self) -> Option<(usize, usize)> {
        self.longest_int.map(|(n, d)| (n as usize, d as usize))
    }

    /// Appends the members of object `obj` to `out` as both runtimes keep them: a repeated
    /// key stays at its first position with its last value.
    pub(crate) fn entries(&self, obj: usize, out: &mut Vec<Entry>) {
        let Node::Object { count, .. } = self.nodes[obj] else {
            return;
        };
        let base = out.len();
        let mut key = obj + 1;
        for _ in 0..count {
            let value = key + 1;
            out.push(Entry {
                key: key as u32,
                value: value as u32,
            });
            key = self.end(value);
        }
        let n = out.len() - base;
        if n < 2 {
            return;
        }
        let mut kept = base;
        if n <= 64 {
            // Typical objects: a 64-bit filter over cheap fingerprints; only a key whose
            // filter bit is already set is compared with the kept keys.
            let mut fps = [0u32; 64];
            let mut seen = 0u64;
            for i in base..out.len() {
                let e = out[i];
                let k = self.str_bytes(e.key as usize);
                let fp = fingerprint(k);
                let bit = 1u64 << (fp >> 26);
                if seen & bit != 0 {
                    let same = (base..kept)
                        .find(|&j| fps[j - base] == fp && self.str_bytes(out[j].key as usize) == k);
                    if let Some(j) = same {
                        out[j].value = e.value;
                        continue;
                    }
                }
                seen |= bit;
                fps[kept - base] = fp;
                out[kept] = e;
                kept += 1;
            }
        } else {
            // Large objects: std's randomly seeded hasher, so crafted keys cannot force
            // quadratic probing.
            let mut slots: HashMap<&[u8], usize> = HashMap::with_capacity(n);
            for i in base..out.len() {
                let e = out[i];
                match slots.entry(self.str_bytes(e.key as usize)) {
                    Slot::Occupied(slot) => out[*slot.get()].value = e.value,
                    Slot::Vacant(slot) => {
                        slot.insert(kept);
                        out[kept] = e;
                        kept += 1;
                    }
                }
            }
        }
        out.truncate(kept);
    }
}

/// The ECMAScript array index a key names: the canonical decimal form of 0..=2^32-2.
/// JavaScript objects list such keys first, in numeric order.
pub(crate) fn array_index(key: &[u8]) -> Option<u32> {
    match key {
        [] | [b'0', _, ..] => None,
        [b'0'] => Some(0),
        _ if key.len() > 10 || !key[0].is_ascii_digit() => None,
        _ => {
            let mut v: u64 = 0;
            for &c in key {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u64::from(c - b'0');
            }
            u32::try_from(v).ok().filter(|&v| v != u32::MAX)
        }
    }
}

/// A 32-bit fingerprint of a key from its length and first and last 8 bytes: O(1) per
/// key; equal keys have equal fingerprints, and a false match only costs a compare.
fn fingerprint(k: &[u8]) -> u32 {
    let (head, tail) = match (
        word_at(k, 0),
        k.len().checked_sub(8).and_then(|i| word_at(k, i)),
    ) {
        (Some(h), Some(t)) => (h, t),
        _ => {
            let mut w = [0u8; 8];
            w[..k.len()].copy_from_slice(k);
            (u64::from_le_bytes(w), 0)
        }
    };
    let h = (head ^ tail.rotate_left(29) ^ k.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 32) as u32
}

/// Eight copies of byte `b` in a word, for the SWAR scans.
const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

const HIGH: u64 = splat(0x80);

/// High bit set in each byte of `w` below `n` (`n` <= 0x80); past the lowest flagged
/// byte a flag may be false, so test for zero or take the lowest one only.
#[inline]
fn below_mask(w: u64, n: u8) -> u64 {
    w.wrapping_sub(splat(n)) & !w & HIGH
}

/// High bit set in each byte of `w` equal to `b` (same caveat as [`below_mask`]).
#[inline]
fn eq_mask(w: u64, b: u8) -> u64 {
    let x = w ^ splat(b);
    x.wrapping_sub(splat(1)) & !x & HIGH
}

/// Whether some byte of `w` is below `n` (`n` <= 0x80).
#[inline]
pub(super) fn any_below(w: u64, n: u8) -> bool {
    below_mask(w, n) != 0
}

/// Whether some byte of `w` equals `b`.
#[inline]
pub(super) fn any_eq(w: u64, b: u8) -> bool {
    eq_mask(w, b) != 0
}

/// Whether some byte of `w` is 0x7F or above.
#[inline]
pub(super) fn any_at_least_7f(w: u64) -> bool {
    (w.wrapping_add(splat(1)) | w) & HIGH != 0
}

/// Reads 8 bytes at `i` as a little-endian word, if there are 8.
#[inline]
pub(super) fn word_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i + 8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8-byte slice")))
}

/// Bytes that end a plain run inside a string: controls, `"` and `\`.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Index of the first byte at or after `i` that ends a plain string run (see [`STOP`]).
#[inline]
fn plain_run_end(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = word_at(b, i) {
        let stops = below_mask(w, 0x20) | eq_mask(w, b'"') | eq_mask(w, b'\\');
        if stops != 0 {
            // The lowest flagged byte is exact (false flags only sit above a true one).
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !STOP[b[i] as usize] {
        i += 1;
    }
    i
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    decoded: Vec<u8>,
    longest_int: Option<(u32, u32)>,
    /// `(fingerprint, key node)` of the keys of the objects being read, innermost last.
    keys: Vec<(u32, u32)>,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> Unwritable {
        Unwritable::invalid(self.pos, what)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), Unwritable> {
        self.ws();
        match self.b.get(self.pos) {
            Some(b'{') => self.container(depth, true),
            Some(b'[') => self.container(depth, false),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true", Node::Bool(true)),
            Some(b'f') => self.literal(b"false", Node::Bool(false)),
            Some(b'n') => self.literal(b"null", Node::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a value")),
        }
    }

    fn literal(&mut self, word: &[u8], node: Node) -> Result<(), Unwritable> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            self.nodes.push(node);
            Ok(())
        } else {
            Err(self.err("expected a value"))
        }
    }

    fn container(&mut self, depth: usize, object: bool) -> Result<(), Unwritable> {
        if depth >= MAX_DEPTH {
            return Err(Unwritable::too_deep(self.pos, MAX_DEPTH));
        }
        let close = if object { b'}' } else { b']' };
        let at = self.nodes.len();
        self.nodes.push(Node::Null);
        self.pos += 1;
        self.ws();
        let mut count = 0u32;
        let keys_base = self.keys.len();
        let mut unique = true;
        let mut index_keys = false;
        let mut filter = 0u64;
        if self.b.get(self.pos) == Some(&close) {
            self.pos += 1;
        } else {
            loop {
                if object {
                    self.ws();
                    if self.b.get(self.pos) != Some(&b'"') {
                        return Err(self.err("expected a string key"));
                    }
                    self.string()?;
                    let key = self.nodes.len() - 1;
                    let k = self.str_bytes(key);
                    index_keys |= array_index(k).is_some();
                    if unique {
                        if count >= 64 {
                            unique = false;
                        } else {
                            // A 64-bit filter over fingerprints; only a hit costs compares.
                            let fp = fingerprint(k);
                            let bit = 1u64 << (fp >> 26);
                            if filter & bit != 0 {
                                unique = !self.keys[keys_base..]
                                    .iter()
                                    .any(|&(f, n)| f == fp && self.str_bytes(n as usize) == k);
                            }
                            filter |= bit;
                            self.keys.push((fp, key as u32));
                        }
                    }
                    self.ws();
                    if self.b.get(self.pos) != Some(&b':') {
                        return Err(self.err("expected ':'"));
                    }
                    self.pos += 1;
                }
                self.value(depth + 1)?;
                count += 1;
                self.ws();
                match self.b.get(self.pos) {
                    Some(b',') => self.pos += 1,
                    Some(&c) if c == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or a closing bracket")),
                }
            }
        }
        self.keys.truncate(keys_base);
        let end = self.nodes.len() as u32;
        self.nodes[at] = if object {
            Node::Object {
                count,
                end,
                unique,
                index_keys,
            }
        } else {
            Node::Array { count, end }
        };
        Ok(())
    }

    /// Content of string node `i` as stored so far (see [`Tree::str_bytes`]).
    fn str_bytes(&self, i: usize) -> &[u8] {
        match self.nodes[i] {
            Node::Str {
                start,
                len,
                decoded,
            } => {
                let range = start as usize..(start + len) as usize;
                if decoded {
                    &self.decoded[range]
                } else {
                    &self.b[range]
                }
            }
            _ => &[],
        }
    }

    fn number(&mut self) -> Result<(), Unwritable> {
        let b = self.b;
        let start = self.pos;
        let mut i = start + usize::from(b[start] == b'-');
        let digits_at = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return Err(self.err("expected a digit"));
            }
        }
        let int_digits = i - digits_at;
        let mut int = true;
        if b.get(i) == Some(&b'.') {
            i += 1;
            int = false;
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                self.pos = i;
                return Err(self.err("expected a digit after '.'"));
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            int = false;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                self.pos = i;
                return Err(self.err("expected an exponent digit"));
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if int && self.longest_int.is_none_or(|(_, d)| int_digits as u32 > d) {
            self.longest_int = Some((self.nodes.len() as u32, int_digits as u32));
        }
        self.nodes.push(Node::Num {
            start: start as u32,
            len: (i - start) as u32,
            int,
        });
        self.pos = i;
        Ok(())
    }

    fn string(&mut self) -> Result<(), Unwritable> {
        let b = self.b;
        let start = self.pos + 1;
        let mut i = plain_run_end(b, start);
        match b.get(i) {
            Some(b'"') => {
                self.nodes.push(Node::Str {
                    start: start as u32,
                    len: (i - start) as u32,
                    decoded: false,
                });
                self.pos = i + 1;
                return Ok(());
            }
            Some(b'\\') => {}
            _ => {
                self.pos = i;
                return Err(self.err("unterminated string or raw control character"));
            }
        }
        let dstart = self.decoded.len();
        self.decoded.extend_from_slice(&b[start..i]);
        loop {
            match b.get(i) {
                Some(b'"') => break,
                Some(b'\\') => i = self.escape(i)?,
                Some(&c) if c >= 0x20 => {
                    let run = i;
                    i = plain_run_end(b, i);
                    self.decoded.extend_from_slice(&b[run..i]);
                }
                _ => {
                    self.pos = i;
                    return Err(self.err("unterminated string or raw control character"));
                }
            }
        }
        self.nodes.push(Node::Str {
            start: dstart as u32,
            len: (self.decoded.len() - dstart) as u32,
            decoded: true,
        });
        self.pos = i + 1;
        Ok(())
    }

    /// Decodes the escape at `i` (a `\`) into `decoded`; returns the index after it.
    fn escape(&mut self, i: usize) -> Result<usize, Unwritable> {
        let byte = match self.b.get(i + 1) {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                let Some(unit) = self.hex4(i + 2) else {
                    self.pos = i;
                    return Err(self.err("bad \\u escape"));
                };
                let next = i + 6;
                if (0xD800..0xDC00).contains(&unit) && self.b.get(next..next + 2) == Some(b"\\u") {
                    if let Some(low @ 0xDC00..=0xDFFF) = self.hex4(next + 2) {
                        let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        push_wtf8(&mut self.decoded, c);
                        return Ok(next + 6);
                    }
                }
                push_wtf8(&mut self.decoded, unit);
                return Ok(next);
            }
            _ => {
                self.pos = i;
                return Err(self.err("bad escape"));
            }
        };
        self.decoded.push(byte);
        Ok(i + 2)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.b.get(at..at + 4)?;
        let mut v = 0;
        for &d in digits {
            v = v * 16 + char::from(d).to_digit(16)?;
        }
        Some(v)
    }
}

/// Appends code point `c` (a surrogate allowed) as WTF-8.
fn push_wtf8(out: &mut Vec<u8>, c: u32) {
    match c {
        0..=0x7F => out.push(c as u8),
        0x80..=0x7FF => out.extend_from_slice(&[0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8]),
        0x800..=0xFFFF => out.extend_from_slice(&[
            0xE0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]),
        _ => out.extend_from_slice(&[
            0xF0 | (c >> 18) as u8,
            0x80 | ((c >> 12) & 0x3F) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]),
    }
}

/// Reads the WTF-8 sequence starting at `b[i]`; returns the code point (maybe a lone
/// surrogate) and its length. `b` must be well-formed WTF-8 as [`Text`] guarantees.
pub(crate) fn wtf8_at(b: &[u8], i: usize) -> (u32, usize) {
    let c = u32::from(b[i]);
    let cont = |k: usize| u32::from(b[i + k] & 0x3F);
    match c {
        0..=0x7F => (c, 1),
        0xC0..=0xDF => (((c & 0x1F) << 6) | cont(1), 2),
        0xE0..=0xEF => (((c & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3),
        _ => (
            ((c & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(input: &str) -> Vec<(String, String)> {
        let tree = parse(input).unwrap();
        let mut out = Vec::new();
        tree.entries(0, &mut out);
        out.iter()
            .map(|e| {
                let k = String::from_utf8_lossy(tree.str_bytes(e.key as usize)).into_owned();
                let v = tree.num_text(e.value as usize).to_owned();
                (k, v)
            })
            .collect()
    }

    #[test]
    fn repeats_keep_first_position_and_last_value() {
        let got = keys(r#"{"a":1,"b":2,"a":3,"\u0062":4,"c":5}"#);
        let want = [("a", "3"), ("b", "4"), ("c", "5")];
        assert_eq!(got, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }

    #[test]
    fn hashed_path_matches_quadratic_path() {
        // 200 members over 37 distinct keys (some written with escapes) takes the hashed path.
        let mut text = String::from("{");
        let mut want: Vec<(String, String)> = Vec::new();
        for i in 0..200 {
            let k = format!("k{}", (i * 7) % 37);
            let written = if i % 3 == 0 {
                k.replace('k', "\\u006b")
            } else {
                k.clone()
            };
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!("\"{written}\":{i}"));
            match want.iter_mut().find(|(w, _)| *w == k) {
                Some(slot) => slot.1 = i.to_string(),
                None => want.push((k, i.to_string())),
            }
        }
        text.push('}');
        assert_eq!(keys(&text), want);
    }

    #[test]
    fn strings_decode_to_wtf8() {
        let tree =
            parse(r#"["a\/b","\ud83d\ude00","\ud800x","\udc00","\ud800\ud800","é"]"#).unwrap();
        let mut i = 1;
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(tree.str_bytes(i).to_vec());
            i = tree.end(i);
        }
        assert_eq!(got[0], b"a/b");
        assert_eq!(got[1], "😀".as_bytes());
        assert_eq!(got[2], [0xED, 0xA0, 0x80, b'x']);
        assert_eq!(got[3], [0xED, 0xB0, 0x80]);
        assert_eq!(got[4], [0xED, 0xA0, 0x80, 0xED, 0xA0, 0x80]);
        assert_eq!(tree.text(6), Text::Plain("é"));
        assert_eq!(wtf8_at(&got[1], 0), (0x1F600, 4));
        assert_eq!(wtf8_at(&got[3], 0), (0xDC00, 3));
    }

    #[test]
    fn rejects_invalid_json() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\"1}",
            "01",
            "1.",
            "1e",
            "-",
            "\"\u{1}\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "[1]x",
            "tru",
            "{1:2}",
            "\"abc",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let err = parse(&deep).unwrap_err();
        assert!(err.reason().contains("nested deeper than 128"), "{err}");
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn swar_scans_agree_with_bytes() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Bias bytes towards the interesting values.
            let bytes = seed.to_le_bytes().map(|b| match b % 8 {
                0 => 0x1F,
                1 => b'"',
                2 => b'\\',
                3 => 0x7F,
                _ => b,
            });
            let w = u64::from_le_bytes(bytes);
            assert_eq!(
                any_below(w, 0x20),
                bytes.iter().any(|&b| b < 0x20),
                "{bytes:?}"
            );
            assert_eq!(any_eq(w, b'"'), bytes.contains(&b'"'), "{bytes:?}");
            assert_eq!(
                any_at_least_7f(w),
                bytes.iter().any(|&b| b >= 0x7F),
                "{bytes:?}"
            );
            let end = plain_run_end(&bytes, 0);
            assert_eq!(
                end,
                bytes.iter().position(|&b| STOP[b as usize]).unwrap_or(8)
            );
        }
    }

    #[test]
    fn object_flags() {
        let flags = |text: &str| match parse(text).unwrap().node(0) {
            Node::Object {
                unique, index_keys, ..
            } => (unique, index_keys),
            other => panic!("{other:?}"),
        };
        assert_eq!(flags(r#"{"a":1,"b":{"a":2},"c":3}"#), (true, false));
        assert_eq!(flags(r#"{"a":1,"b":2,"a":3}"#), (false, false));
        assert_eq!(flags(r#"{"a":1,"\u0061":2}"#), (false, false));
        assert_eq!(flags(r#"{"x":1,"7":2}"#), (true, true));
        assert_eq!(flags(r#"{"x":1,"07":2,"4294967295":3}"#), (true, false));
        let many: Vec<String> = (0..65).map(|i| format!("\"k{i}\":{i}")).collect();
        assert_eq!(
            flags(&format!("{{{}}}", many[..64].join(","))),
            (true, false)
        );
        assert_eq!(flags(&format!("{{{}}}", many.join(","))), (false, false));
    }

    #[test]
    fn array_indices() {
        for (key, want) in [
            ("0", Some(0)),
            ("7", Some(7)),
            ("4294967294", Some(4294967294)),
            ("4294967295", None),
            ("9999999999", None),
            ("42949672940", None),
            ("01", None),
            ("-1", None),
            ("1.0", None),
            ("", None),
            ("1a", None),
            (" 1", None),
        ] {
            assert_eq!(array_index(key.as_bytes()), want, "{key:?}");
        }
    }

    #[test]
    fn tracks_longest_integer() {
        let tree = parse("[1.5e300,-1234,99,[12345.0]]").unwrap();
        assert_eq!(tree.longest_int(), Some((2, 4)));
        assert_eq!(parse("1.0").unwrap().longest_int(), None);
    }
}
