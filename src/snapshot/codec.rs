//! The bincode layer: the one configuration, column types that encode a whole slice at a
//! time, and the body's transfer objects. Nothing outside `snapshot` sees these types.
//!
//! bincode encodes a `Vec<u32>` one element at a time through its writer; the column types
//! here instead convert up to [`CHUNK`] bytes into a stack buffer and hand the writer one
//! slice, and decode straight out of the body slice, which keeps both directions near
//! memory speed.

use std::borrow::Cow;

use bincode::config::{self, Configuration, Fixint, LittleEndian, NoLimit};
use bincode::de::Decoder;
use bincode::de::read::Reader;
use bincode::enc::Encoder;
use bincode::enc::write::Writer;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};

/// The format's only bincode configuration: little-endian fixed-width integers, lengths as
/// `u64`. Changing it changes the format, so it lives here and nowhere else.
pub(super) fn config() -> Configuration<LittleEndian, Fixint, NoLimit> {
    config::legacy()
}

/// Bytes converted per writer call: large enough to amortize the call, small enough to
/// stay in L1.
const CHUNK: usize = 16 * 1024;

/// A fixed-width little-endian element of a column.
pub(super) trait Elem: Copy {
    /// Bytes per element.
    const SIZE: usize;
    /// Writes `src` into `out`, which is exactly `src.len() * SIZE` bytes long.
    fn put(src: &[Self], out: &mut [u8]);
    /// Appends the elements of `src`, a whole number of elements long, to `out`.
    fn get(src: &[u8], out: &mut Vec<Self>);
    /// The column's bytes as they are, when no conversion is needed.
    fn as_bytes(_items: &[Self]) -> Option<&[u8]> {
        None
    }
}

macro_rules! elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            const SIZE: usize = size_of::<$t>();

            fn put(src: &[Self], out: &mut [u8]) {
                let (chunks, _) = out.as_chunks_mut::<{ size_of::<$t>() }>();
                for (bytes, x) in chunks.iter_mut().zip(src) {
                    *bytes = x.to_le_bytes();
                }
            }

            fn get(src: &[u8], out: &mut Vec<Self>) {
                let (chunks, _) = src.as_chunks::<{ size_of::<$t>() }>();
                out.extend(chunks.iter().map(|bytes| <$t>::from_le_bytes(*bytes)));
            }
        }
    )*};
}

elem!(u32, u64, i64);

impl Elem for u8 {
    const SIZE: usize = 1;

    fn put(src: &[Self], out: &mut [u8]) {
        out.copy_from_slice(src);
    }

    fn get(src: &[u8], out: &mut Vec<Self>) {
        out.extend_from_slice(src);
    }

    fn as_bytes(items: &[Self]) -> Option<&[u8]> {
        Some(items)
    }
}

/// A column: its length as `u64`, then its elements, little-endian. Borrowed when saving,
/// owned when loading.
pub(super) struct Col<'a, T: Elem>(pub(super) Cow<'a, [T]>);

impl<'a, T: Elem> Col<'a, T> {
    pub(super) fn borrowed(items: &'a [T]) -> Self {
        Col(Cow::Borrowed(items))
    }

    pub(super) fn owned(items: Vec<T>) -> Self {
        Col(Cow::Owned(items))
    }

    pub(super) fn into_vec(self) -> Vec<T> {
        self.0.into_owned()
    }
}

impl<T: Elem> std::ops::Deref for Col<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Elem> Encode for Col<'_, T> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let items: &[T] = &self.0;
        (items.len() as u64).encode(encoder)?;
        if let Some(bytes) = T::as_bytes(items) {
            return encoder.writer().write(bytes);
        }
        let mut buf = [0u8; CHUNK];
        for chunk in items.chunks(CHUNK / T::SIZE) {
            let bytes = &mut buf[..chunk.len() * T::SIZE];
            T::put(chunk, bytes);
            encoder.writer().write(bytes)?;
        }
        Ok(())
    }
}

/// A length, which must fit `usize`.
fn decode_len<D: Decoder>(decoder: &mut D) -> Result<usize, DecodeError> {
    let len = u64::decode(decoder)?;
    usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))
}

impl<Ctx, T: Elem> Decode<Ctx> for Col<'static, T> {
    fn decode<D: Decoder<Context = Ctx>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let len = decode_len(decoder)?;
        let bytes = len
            .checked_mul(T::SIZE)
            .ok_or(DecodeError::OutsideUsizeRange(len as u64))?;
        decoder.claim_bytes_read(bytes)?;
        let reader = decoder.reader();
        let mut out = Vec::new();
        // The fast path decodes straight from the body; it only allocates what the body
        // holds, so a corrupt length cannot ask for more memory than the file has.
        let peeked = match reader.peek_read(bytes) {
            Some(src) => {
                out.reserve_exact(len);
                T::get(src, &mut out);
                true
            }
            None => false,
        };
        if peeked {
            reader.consume(bytes);
        } else {
            // A streaming reader, or too few bytes: grow chunk by chunk so that a corrupt
            // length fails at the end of the input instead of allocating it up front.
            let mut buf = [0u8; CHUNK];
            let step = CHUNK - CHUNK % T::SIZE;
            let mut left = bytes;
            while left > 0 {
                let n = left.min(step);
                reader.read(&mut buf[..n])?;
                T::get(&buf[..n], &mut out);
                left -= n;
            }
        }
        Ok(Col(Cow::Owned(out)))
    }
}

/// A sequence of records: its length as `u64`, then each record.
pub(super) struct Seq<T>(pub(super) Vec<T>);

impl<T: Encode> Encode for Seq<T> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        (self.0.len() as u64).encode(encoder)?;
        self.0.iter().try_for_each(|item| item.encode(encoder))
    }
}

impl<Ctx, T: Decode<Ctx>> Decode<Ctx> for Seq<T> {
    fn decode<D: Decoder<Context = Ctx>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let len = decode_len(decoder)?;
        // Records are at least a few bytes each, so a corrupt length runs out of input
        // long before this vector grows large.
        let mut items = Vec::with_capacity(len.min(16));
        for _ in 0..len {
            items.push(T::decode(decoder)?);
        }
        Ok(Seq(items))
    }
}

/// Declares a transfer object whose encoding is its fields in order, so that the encoder
/// and the decoder cannot disagree on the order.
macro_rules! dto {
    ($(#[$meta:meta])* struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub(super) struct $name<'a> {
            $($(#[$fmeta])* pub(super) $field: $ty,)*
        }

        impl Encode for $name<'_> {
            fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
                $(self.$field.encode(encoder)?;)*
                Ok(())
            }
        }

        impl<Ctx> Decode<Ctx> for $name<'static> {
            fn decode<D: Decoder<Context = Ctx>>(decoder: &mut D) -> Result<Self, DecodeError> {
                Ok($name { $($field: Decode::decode(decoder)?,)* })
            }
        }
    };
}

dto! {
    /// An interner: its text, and where each string ends in it.
    struct Arena {
        text: Col<'a, u8>,
        ends: Col<'a, u32>,
    }
}

dto! {
    /// Strings that are not interned: their text, and each one's length.
    struct Strs {
        text: Col<'a, u8>,
        lens: Col<'a, u32>,
    }
}

dto! {
    /// Property values, flattened in pre-order: one tag per value; numbers, and the lengths
    /// of arrays and objects, in `nums`; strings and object keys in `strs`.
    struct Values {
        tags: Col<'a, u8>,
        nums: Col<'a, u64>,
        strs: Strs<'a>,
    }
}

dto! {
    /// One project's graph. Person columns hold one entry per live person slot, in slot
    /// order; groups are sorted by (type index, key).
    struct ProjectV1 {
        /// 0 default, 1 team, 2 token.
        kind: u8,
        team: u64,
        token: Col<'a, u8>,
        ids: Arena<'a>,
        parent: Col<'a, u32>,
        rank: Col<'a, u8>,
        next: Col<'a, u32>,
        person_at: Col<'a, u32>,
        /// Bit `i % 8` of byte `i / 8` is whether id `i` was seen in personless mode.
        personless: Col<'a, u8>,
        person_slots: u64,
        /// The free slots, in the order they will be reused.
        free_persons: Col<'a, u32>,
        /// 16 bytes per person.
        uuids: Col<'a, u8>,
        created_at: Col<'a, i64>,
        versions: Col<'a, u64>,
        /// Bit 0: identified.
        person_flags: Col<'a, u8>,
        anchors: Col<'a, u32>,
        /// How many distinct ids each person holds.
        person_ids: Col<'a, u32>,
        /// Each person's properties: a count per person, then key, writer and value slot
        /// columns in person and key order.
        prop_counts: Col<'a, u32>,
        prop_keys: Col<'a, u32>,
        prop_writers: Col<'a, u32>,
        prop_values: Col<'a, u32>,
        /// Distinct ids whose text was erased (empty in `ids`), sorted.
        ids_erased: Col<'a, u32>,
        group_types: Strs<'a>,
        group_type_index: Col<'a, u8>,
        group_keys: Strs<'a>,
        group_created_at: Col<'a, i64>,
        group_versions: Col<'a, u64>,
        /// One object per group holding its properties.
        values: Values<'a>,
        /// Links, in the order they were made.
        link_target: Col<'a, u32>,
        link_source: Col<'a, u32>,
        link_kind: Col<'a, u8>,
        link_effect: Col<'a, u8>,
        /// 1 when a merge record follows for the link.
        link_record: Col<'a, u8>,
        link_ordinal: Col<'a, u64>,
        link_time: Col<'a, i64>,
        /// 16 bytes per link; the nil uuid means none.
        link_uuids: Col<'a, u8>,
        /// Merge records in link order, two sides each (target, then source): `created_at`
        /// and property counts per side, then the properties as for persons.
        record_created_at: Col<'a, i64>,
        record_prop_counts: Col<'a, u32>,
        record_prop_keys: Col<'a, u32>,
        record_prop_writers: Col<'a, u32>,
        record_prop_values: Col<'a, u32>,
        /// Refused merges, in the order they were refused.
        refusal_target: Col<'a, u32>,
        refusal_source: Col<'a, u32>,
        refusal_kind: Col<'a, u8>,
        refusal_reason: Col<'a, u8>,
        refusal_ordinal: Col<'a, u64>,
        refusal_time: Col<'a, i64>,
        refusal_uuids: Col<'a, u8>,
    }
}

dto! {
    /// The whole body of a version 1 snapshot. A later version appends sections after
    /// these fields (the links of each project, say) and still decodes this one.
    struct BodyV1 {
        position: Col<'a, u8>,
        lift_properties: bool,
        filter_churn: bool,
        record_changes: bool,
        /// `u64::MAX` for no limit.
        max_ids_per_person: u64,
        events: u64,
        merges: u64,
        warnings: Col<'a, u64>,
        prop_keys: Arena<'a>,
        /// The value store's slots in order (free slots hold null), and its free list.
        values: Values<'a>,
        value_free: Col<'a, u32>,
        projects: Seq<ProjectV1<'a>>,
    }
}

/// A writer that keeps only the length and checksum of what passes through it.
pub(super) struct Measure {
    pub(super) len: u64,
    pub(super) crc: crc32fast::Hasher,
}

impl Writer for Measure {
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.len += bytes.len() as u64;
        self.crc.update(bytes);
        Ok(())
    }
}

/// The length and checksum of the encoded body.
pub(super) fn measure(body: &BodyV1<'_>) -> Result<(u64, crc32fast::Hasher), EncodeError> {
    let mut measure = Measure {
        len: 0,
        crc: crc32fast::Hasher::new(),
    };
    bincode::encode_into_writer(body, &mut measure, config())?;
    Ok((measure.len, measure.crc))
}

/// Encodes the body into `writer`.
pub(super) fn write<W: std::io::Write>(
    body: &BodyV1<'_>,
    writer: &mut W,
) -> Result<(), std::io::Error> {
    match bincode::encode_into_std_write(body, writer, config()) {
        Ok(_) => Ok(()),
        Err(EncodeError::Io { inner, .. }) => Err(inner),
        Err(other) => Err(std::io::Error::other(other)),
    }
}

/// Decodes a body that must fill `bytes` exactly.
pub(super) fn read(bytes: &[u8]) -> Result<BodyV1<'static>, ReadError> {
    let (body, used) = bincode::decode_from_slice(bytes, config()).map_err(ReadError::Codec)?;
    if used == bytes.len() {
        Ok(body)
    } else {
        Err(ReadError::Trailing(bytes.len() - used))
    }
}

/// Why a body that passed its checksum does not decode.
#[derive(Debug)]
pub(super) enum ReadError {
    Codec(DecodeError),
    Trailing(usize),
}
