//! The text of a string value: up to [`Text::INLINE`] bytes kept in the value itself, longer
//! text on the heap.
//!
//! Most strings events carry are short (`Chrome`, `Windows`, `Mobile`, a plan's name): kept
//! inline, reading an event allocates nothing for them, and a person's stored values hold
//! no separate allocation for them either. The inline form still fits [`Value`](super::Value)
//! in 24 bytes: its length byte has spare values, and the value's other forms leave that
//! byte alone, so the value's own tag lives there.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The text of a [`Value::String`](super::Value::String): a `str`, stored inline when it is
/// at most [`Text::INLINE`] bytes.
///
/// ```
/// use idgraph::{Text, Value};
///
/// let short = Text::from("Chrome");
/// assert_eq!(short.as_str(), "Chrome");
/// assert_eq!(Value::from("Chrome"), Value::String(short));
/// assert_eq!(&*Text::from("https://example.com/pricing"), "https://example.com/pricing");
/// ```
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    /// Never longer than [`Text::INLINE`]; the bytes past `len` are zero.
    Inline(Inline),
    /// Always longer than [`Text::INLINE`], so each text has one form.
    Heap(Box<str>),
}

#[derive(Clone, Copy)]
struct Inline {
    len: Len,
    bytes: [u8; Text::INLINE],
}

/// An inline length. An enum, not a `u8`, so that the values above [`Text::INLINE`] are
/// free for the tags of [`Repr`] and [`Value`](super::Value).
#[derive(Clone, Copy)]
#[repr(u8)]
#[rustfmt::skip]
enum Len {
    L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11,
    L12, L13, L14, L15, L16, L17, L18, L19, L20, L21, L22,
}

#[rustfmt::skip]
const LENS: [Len; Text::INLINE + 1] = [
    Len::L0, Len::L1, Len::L2, Len::L3, Len::L4, Len::L5, Len::L6, Len::L7, Len::L8, Len::L9,
    Len::L10, Len::L11, Len::L12, Len::L13, Len::L14, Len::L15, Len::L16, Len::L17, Len::L18,
    Len::L19, Len::L20, Len::L21, Len::L22,
];

impl Text {
    /// The longest text kept inline, in bytes.
    pub const INLINE: usize = 22;

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Heap(text) => text,
            // The bytes are a copy of a whole `str` (`Text::from`), so this never fails; the
            // check is what safe code pays to say so, a few nanoseconds for 22 bytes.
            Repr::Inline(inline) => std::str::from_utf8(inline.used()).unwrap_or_default(),
        }
    }

    /// The length in bytes, without the UTF-8 check of [`Text::as_str`].
    #[must_use]
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the text is empty, without the UTF-8 check of [`Text::as_str`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// The text's bytes, without the UTF-8 check of [`Text::as_str`].
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Heap(text) => text.as_bytes(),
            Repr::Inline(inline) => inline.used(),
        }
    }
}

impl Inline {
    fn used(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::from("")
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        match LENS.get(text.len()) {
            Some(&len) => {
                let mut bytes = [0; Text::INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Text(Repr::Inline(Inline { len, bytes }))
            }
            None => Text(Repr::Heap(text.into())),
        }
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        if text.len() <= Text::INLINE {
            Text::from(text.as_str())
        } else {
            Text(Repr::Heap(text.into_boxed_str()))
        }
    }
}

impl From<Box<str>> for Text {
    fn from(text: Box<str>) -> Text {
        if text.len() <= Text::INLINE {
            Text::from(&*text)
        } else {
            Text(Repr::Heap(text))
        }
    }
}

impl From<Text> for Box<str> {
    fn from(text: Text) -> Box<str> {
        match text.0 {
            Repr::Heap(text) => text,
            Repr::Inline(_) => text.as_str().into(),
        }
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// By the bytes: each text has one form (inline exactly when short), so equal bytes are
/// equal texts whatever the form.
impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    #[test]
    fn a_value_holding_text_is_no_larger_than_before() {
        assert_eq!(size_of::<Text>(), 24);
        assert_eq!(size_of::<Value>(), 24);
        assert_eq!(size_of::<Option<Value>>(), 24);
    }

    #[test]
    fn text_reads_back_as_given_at_every_length_either_side_of_inline() {
        for len in 0..=Text::INLINE + 2 {
            let given: String = "é".repeat(len / 2) + &"a".repeat(len % 2);
            for text in [
                Text::from(given.as_str()),
                Text::from(given.clone()),
                Text::from(given.clone().into_boxed_str()),
            ] {
                assert_eq!(text.as_str(), given);
                assert_eq!(text.as_bytes(), given.as_bytes());
                assert_eq!(&*Box::<str>::from(text.clone()), given);
                assert_eq!(
                    matches!(text.0, Repr::Inline(_)),
                    given.len() <= Text::INLINE
                );
            }
        }
    }

    #[test]
    fn texts_compare_and_hash_by_their_bytes() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |t: &Text| {
            let mut h = DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        };
        let long = "x".repeat(Text::INLINE + 1);
        assert_eq!(Text::from("ab"), Text::from(String::from("ab")));
        assert_ne!(Text::from("ab"), Text::from("abc"));
        assert_ne!(Text::from("a"), Text::from("a\0"));
        assert_ne!(Text::from(""), Text::from("\0"));
        let full = "y".repeat(Text::INLINE);
        assert_eq!(Text::from(full.as_str()), Text::from(full.clone()));
        assert_ne!(Text::from(full.as_str()), Text::from(&full[1..]));
        assert_eq!(Text::from(long.as_str()), Text::from(long.clone()));
        assert_eq!(
            hash(&Text::from("ab")),
            hash(&Text::from(String::from("ab")))
        );
        assert_ne!(Text::from(long.as_str()), Text::from("x"));
        assert_eq!(format!("{:?}", Text::from("a\"b")), r#""a\"b""#);
    }
}
