//! A direct reader for the plain event object: the common line, read without serde's layers.
//!
//! Most of a realistic line is properties identity never reads, which serde_json checks and
//! skips one token at a time through its visitor machinery. This reader walks the bytes
//! itself: one pass over the line shows it holds no escape and no control character, so
//! that each string ends at its next quote; what it skips it checks by JSON's grammar; and
//! it fills the same [`Parts`] as the serde visitor of `super::reader`, building each kept
//! value as `Value`'s visitor does (numbers it hands to serde_json over their text).
//!
//! It reads only what it can read exactly as that visitor does, and gives up on anything
//! else: an escape or a control character anywhere in the line, a number where a string
//! field is read, a `properties` that is not an object, a batch, a nesting deeper than a
//! line of events has, text after the object, and any JSON error. The caller then reads the
//! line again with the serde visitor, so that every rejection and every odd shape has
//! exactly one reader, and this one only ever makes the same parts faster
//! (`scan_tests.rs` checks both readers against each other on generated and mutated lines).

use std::borrow::Cow;

use super::model::IdentityProperties;
use super::reader::{CaptureProperties, Keep, Parts, Scalar};
use super::value::{Members, Value};

/// Deeper than any event line nests; serde_json's own limit is 128.
const MAX_DEPTH: usize = 32;

/// Reads `text`, one JSON object and nothing after it but whitespace, into `parts`
/// (default ones), as `super::read_object` would with `keep`. `None` when the serde visitor
/// must read it instead; `parts` is then to be reset.
pub(super) fn scan_object<'de>(text: &'de str, keep: Keep, parts: &mut Parts<'de>) -> Option<()> {
    if has_escape_or_control(text.as_bytes()) {
        return None;
    }
    let mut scan = Scan {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    scan.object_members(|scan, key| scan.top_member(key, keep, parts))?;
    scan.skip_whitespace();
    (scan.at == scan.bytes.len()).then_some(())
}

/// Whether `bytes` hold a backslash or a control character: a string with an escape, which
/// is the serde visitor's to decode, or a control character, which is an error in a string
/// and rare between tokens. Checked once for the whole line, by a loop without early exit
/// that the compiler turns into vector compares, so that a string's end is then its next
/// quote.
fn has_escape_or_control(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |seen, &b| {
        seen | u8::from(b < 0x20) | u8::from(b == b'\\')
    }) != 0
}

/// Where the next quote is. Most strings of a line are keys and short values, which end
/// within the first words, before a vector search's setup would have paid for itself.
fn next_quote(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (words, _) = bytes.as_chunks::<8>();
    for (index, word) in words.iter().take(4).enumerate() {
        let quote = u64::from_le_bytes(*word) ^ (ONES * u64::from(b'"'));
        // The high bit of each zero byte (a quote), and perhaps of bytes past the first:
        // the lowest is exact.
        let found = quote.wrapping_sub(ONES) & !quote & HIGH;
        if found != 0 {
            return Some(index * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    let searched = 8 * words.len().min(4);
    memchr::memchr(b'"', &bytes[searched..]).map(|at| searched + at)
}

struct Scan<'de> {
    text: &'de str,
    bytes: &'de [u8],
    /// The next byte to read.
    at: usize,
}

impl<'de> Scan<'de> {
    fn top_member(&mut self, key: &str, keep: Keep, parts: &mut Parts<'de>) -> Option<()> {
        match key {
            "event" => parts.name = Some(self.scalar()?),
            "distinct_id" => parts.distinct_id = Some(self.value(0)?),
            "properties" => {
                parts.props = IdentityProperties::default();
                parts.capture_props = CaptureProperties::default();
                self.properties(keep, &mut parts.props, &mut parts.capture_props)?;
            }
            "timestamp" => parts.timestamp = Some(self.scalar()?),
            "uuid" => parts.uuid = Some(self.scalar()?),
            "team_id" => parts.team_id = Some(self.value(0)?),
            "token" => parts.token = Some(self.value(0)?),
            "api_key" => parts.api_key = Some(self.value(0)?),
            "$set" => parts.top_set = Some(self.value(0)?),
            "$set_once" => parts.top_set_once = Some(self.value(0)?),
            "$distinct_id" if keep.capture => parts.dollar_distinct_id = Some(self.value(0)?),
            "offset" if keep.capture => parts.offset = Some(self.value(0)?),
            "sent_at" if keep.capture => parts.sent_at = Some(self.scalar()?),
            // An envelope's events are read one by one from their text: the serde visitor's.
            "batch" if keep.capture => return None,
            _ => self.skip_value(0)?,
        }
        Some(())
    }

    /// `properties`: an object, or `null`, which keeps nothing. A string holding an object,
    /// and a wrong type, are the serde visitor's.
    fn properties(
        &mut self,
        keep: Keep,
        props: &mut IdentityProperties,
        capture: &mut CaptureProperties,
    ) -> Option<()> {
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&b'n') {
            return self.literal(b"null");
        }
        self.object_members(|scan, key| {
            if let Some(entry) = props.entry(key, keep.lifted) {
                entry.set(scan.value(1)?);
            } else if let Some(slot) = capture.slot(key).filter(|_| keep.capture) {
                *slot = Some(scan.value(1)?);
            } else {
                scan.skip_value(1)?;
            }
            Some(())
        })
    }

    /// An object, each member's key handed to `member`, which reads its value.
    fn object_members(
        &mut self,
        mut member: impl FnMut(&mut Scan<'de>, &'de str) -> Option<()>,
    ) -> Option<()> {
        self.skip_whitespace();
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            member(self, key)?;
            self.skip_whitespace();
            if !self.eat(b',') {
                return self.expect(b'}');
            }
        }
    }

    /// A value kept as a [`Value`], built as `Value`'s serde visitor builds it. Numbers are
    /// handed to serde_json over their exact text, which reads them as that visitor does.
    fn value(&mut self, depth: usize) -> Option<Value> {
        self.skip_whitespace();
        match *self.bytes.get(self.at)? {
            b'"' => Some(Value::String(self.string()?.into())),
            b't' => self.literal(b"true").map(|()| Value::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Value::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Value::Null),
            b'{' if depth < MAX_DEPTH => self.object(depth + 1),
            b'[' if depth < MAX_DEPTH => self.array(depth + 1),
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                self.number()?;
                serde_json::from_str(&self.text[start..self.at]).ok()
            }
            _ => None,
        }
    }

    /// Gathered as `Value`'s serde visitor gathers them ([`Members`]).
    fn object(&mut self, depth: usize) -> Option<Value> {
        let mut members = Members::default();
        self.object_members(|scan, key| {
            members.push(key.into(), scan.value(depth)?);
            Some(())
        })?;
        Some(members.into_object())
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        self.array_items(|scan| {
            items.push(scan.value(depth)?);
            Some(())
        })?;
        Some(Value::Array(items.into_boxed_slice()))
    }

    /// A field read as a [`Scalar`]: its text when a string, otherwise only its type.
    fn scalar(&mut self) -> Option<Scalar<'de>> {
        self.skip_whitespace();
        match *self.bytes.get(self.at)? {
            b'"' => Some(Scalar::Text(Cow::Borrowed(self.string()?))),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            // The serde visitor reads a number as one, and one out of `f64`'s range is an
            // error there, where a skipped number is checked only by the grammar.
            b'-' | b'0'..=b'9' => None,
            _ => self.skip_value(1).map(|()| Scalar::Other),
        }
    }

    /// A string, borrowed: the line holds no escape and no control character
    /// ([`has_escape_or_control`]), so it ends at the next quote.
    fn string(&mut self) -> Option<&'de str> {
        self.expect(b'"')?;
        let start = self.at;
        let end = start + next_quote(&self.bytes[start..])?;
        self.at = end + 1;
        // Both ends are ASCII quotes, so on character boundaries.
        self.text.get(start..end)
    }

    /// Checks one value by JSON's grammar and steps over it. `depth` counts the containers
    /// it is inside.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        self.skip_whitespace();
        match *self.bytes.get(self.at)? {
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'{' if depth < MAX_DEPTH => self.object_members(|scan, _| scan.skip_value(depth + 1)),
            b'[' if depth < MAX_DEPTH => self.array_items(|scan| scan.skip_value(depth + 1)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An array, each item read by `item`.
    fn array_items(&mut self, mut item: impl FnMut(&mut Scan<'de>) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        self.skip_whitespace();
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.skip_whitespace();
            item(self)?;
            self.skip_whitespace();
            if !self.eat(b',') {
                return self.expect(b']');
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        if !self.eat(b'0') {
            self.digits()?;
        }
        if self.eat(b'.') {
            self.digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            self.digits()?;
        }
        Some(())
    }

    /// One digit or more.
    fn digits(&mut self) -> Option<()> {
        let count = self.bytes[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.at += count;
        (count > 0).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let next = self.bytes.get(self.at..self.at + word.len())?;
        (next == word).then(|| self.at += word.len())
    }

    /// Spaces: the other whitespace JSON allows are control characters, which a line read
    /// here never holds ([`has_escape_or_control`]).
    fn skip_whitespace(&mut self) {
        while self.bytes.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }
}
#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
