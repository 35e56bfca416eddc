//! The bincode layer: the one configuration, and the column and sequence types that
//! encode many items at a time.
//!
//! Every section's bytes are bincode's legacy encoding of the Rust type its doc comment
//! names (a column is a `Vec<T>`, a person record a tuple, and so on). bincode would encode
//! them one field at a time through its writer; the types here instead convert up to
//! [`CHUNK`] bytes into a buffer and hand the writer one slice, and decode straight out of
//! the body slice (from a stream, large columns are read straight into their vectors), which
//! keeps both directions near memory speed. The tests check the bytes against bincode's own
//! encoder.

use std::borrow::Cow;

use bincode::config::{self, Configuration, Fixint, LittleEndian, NoLimit};
use bincode::de::Decoder;
use bincode::de::read::Reader;
use bincode::enc::Encoder;
use bincode::enc::write::Writer;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};

use super::context::DecodeContext;
use crate::graph::Prop;
use crate::graph::{IdKey, PropKey, ValueId};

/// The format's only bincode configuration: little-endian fixed-width integers, lengths as
pub(super) fn config() -> Configuration<LittleEndian, Fixint, NoLimit> {
    config::legacy()
}

/// Bytes converted per writer call: large enough to amortize the call, small enough to
/// stay in L1.
const CHUNK: usize = 16 * 1024;

/// Bytes of a column read from a stream per call, straight into the column: past the
/// stream's buffer (64 KiB), so that the reader hands most of them over without copying them
/// through it, and small enough to stay in L2 for the checksum and checks that follow.
const DIRECT: usize = 256 * 1024;

/// A fixed-width little-endian element of a column. Plain old data, so that on a
/// little-endian machine a column's memory is its bytes in the format.
pub(super) trait Elem: bytemuck::Pod {
    /// Bytes per element.
    const SIZE: usize;
    /// Writes `src` into `out`, which is exactly `src.len() * SIZE` bytes long.
    fn put(src: &[Self], out: &mut [u8]);
    /// Appends the elements of `src`, a whole number of elements long, to `out`.
    fn get(src: &[u8], out: &mut Vec<Self>);
    /// The column's bytes as they are, when no conversion is needed: on a little-endian
    /// machine, where a column's memory is its encoding.
    fn as_bytes(items: &[Self]) -> Option<&[u8]> {
        cfg!(target_endian = "little").then(|| bytemuck::cast_slice(items))
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

/// A property as the row `(key, writer, value)` of three `u32`s.
impl Elem for Prop {
    const SIZE: usize = 12;

    fn put(src: &[Self], out: &mut [u8]) {
        let (chunks, _) = out.as_chunks_mut::<12>();
        for (bytes, prop) in chunks.iter_mut().zip(src) {
            bytes[..4].copy_from_slice(&prop.key.raw().to_le_bytes());
            bytes[4..8].copy_from_slice(&prop.writer.raw().to_le_bytes());
            bytes[8..].copy_from_slice(&prop.value.raw().to_le_bytes());
        }
    }

    fn get(src: &[u8], out: &mut Vec<Self>) {
        let (chunks, _) = src.as_chunks::<12>();
        out.extend(chunks.iter().map(|b| Prop {
            key: PropKey::from_raw(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            writer: IdKey::from_raw(u32::from_le_bytes([b[4], b[5], b[6], b[7]])),
            value: ValueId::from_raw(u32::from_le_bytes([b[8], b[9], b[10], b[11]])),
        }));
    }
}

impl Elem for u8 {
    const SIZE: usize = 1;

    fn put(src: &[Self], out: &mut [u8]) {
        out.copy_from_slice(src);
    }

    fn get(src: &[u8], out: &mut Vec<Self>) {
        out.extend_from_slice(src);
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

impl<T: Elem> Default for Col<'_, T> {
    fn default() -> Self {
        Col::owned(Vec::new())
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
        if let Some(bytes) = T::as_bytes(items) {
            (items.len() as u64).encode(encoder)?;
            return encoder.writer().write(bytes);
        }
        let mut chunks = Chunks::new(encoder.writer());
        chunks.elems(items)?;
        chunks.finish()
    }
}

/// Gathers the writes of many small items into blocks of [`CHUNK`] bytes for a writer.
pub(super) struct Chunks<'w, W: Writer> {
    writer: &'w mut W,
    buf: Box<[u8; CHUNK]>,
    used: usize,
}

impl<'w, W: Writer> Chunks<'w, W> {
    pub(super) fn new(writer: &'w mut W) -> Self {
        Chunks {
            writer,
            buf: Box::new([0; CHUNK]),
            used: 0,
        }
    }

    fn flush(&mut self) -> Result<(), EncodeError> {
        if self.used > 0 {
            self.writer.write(&self.buf[..self.used])?;
            self.used = 0;
        }
        Ok(())
    }

    /// The next `N` bytes of output, `N` at most [`CHUNK`].
    pub(super) fn next<const N: usize>(&mut self) -> Result<&mut [u8; N], EncodeError> {
        if self.used + N > CHUNK {
            self.flush()?;
        }
        let start = self.used;
        self.used += N;
        <&mut [u8; N]>::try_from(&mut self.buf[start..start + N])
            .map_err(|_| EncodeError::Other("a row wider than a chunk"))
    }

    pub(super) fn u64(&mut self, n: u64) -> Result<(), EncodeError> {
        *self.next::<8>()? = n.to_le_bytes();
        Ok(())
    }

    /// A vector of `items`: its length as `u64`, then the items.
    pub(super) fn elems<T: Elem>(&mut self, items: &[T]) -> Result<(), EncodeError> {
        self.u64(items.len() as u64)?;
        self.items(items)
    }

    /// `items`, without their length.
    pub(super) fn items<T: Elem>(&mut self, items: &[T]) -> Result<(), EncodeError> {
        let mut rest = items;
        while !rest.is_empty() {
            let room = (CHUNK - self.used) / T::SIZE;
            if room == 0 {
                self.flush()?;
                continue;
            }
            let (now, later) = rest.split_at(room.min(rest.len()));
            let end = self.used + now.len() * T::SIZE;
            T::put(now, &mut self.buf[self.used..end]);
            self.used = end;
            rest = later;
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<(), EncodeError> {
        self.flush()
    }
}

/// A length, which must fit `usize`.
pub(super) fn decode_len<D: Decoder>(decoder: &mut D) -> Result<usize, DecodeError> {
    let len = u64::decode(decoder)?;
    usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))
}

impl<T: Elem> Decode<DecodeContext> for Col<'static, T> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
        decode_elems(decoder).map(|items| Col(Cow::Owned(items)))
    }
}
/// Moves a column's items out, leaving it empty.
pub(super) fn take_col<T: Elem>(col: &mut Col<'static, T>) -> Vec<T> {
    std::mem::take(col).into_vec()
}

/// How much a column of a stream of unknown size reserves ahead; it grows past that as
/// its bytes arrive.
pub(super) const STREAM_RESERVE: usize = 64 << 20;

/// A vector of fixed-width items: its length as `u64`, then the items.
pub(super) fn decode_elems<T: Elem, D: Decoder<Context = DecodeContext>>(
    decoder: &mut D,
) -> Result<Vec<T>, DecodeError> {
    decode_elems_seeing(decoder, |_| {})
}

/// [`decode_elems`], showing `seen` the bytes of the items a chunk at a time, as they are
/// decoded.
pub(super) fn decode_elems_seeing<T: Elem, D: Decoder<Context = DecodeContext>>(
    decoder: &mut D,
    mut seen: impl FnMut(&[u8]),
) -> Result<Vec<T>, DecodeError> {
    let ahead = decoder.context().reserve;
    let len = decode_len(decoder)?;
    let bytes = len
        .checked_mul(T::SIZE)
        .ok_or(DecodeError::OutsideUsizeRange(len as u64))?;
    decoder.claim_bytes_read(bytes)?;
    let reader = decoder.reader();
    let mut out = Vec::new();
    let step = CHUNK - CHUNK % T::SIZE;
    // The fast path decodes straight from the body; it only allocates what the body
    // holds, so a corrupt length cannot ask for more memory than the file has.
    let peeked = match reader.peek_read(bytes) {
        Some(src) => {
            out.reserve_exact(len);
            for part in src.chunks(step) {
                T::get(part, &mut out);
                seen(part);
            }
            true
        }
        None => false,
    };
    if peeked {
        reader.consume(bytes);
    } else if cfg!(target_endian = "little") {
        // A streaming reader, or too few bytes, on a machine whose integers are laid out as
        // the format's: each read lands in the column itself instead of passing through the
        // reader's buffer, which saves a copy of the body. The column reserves no more than
        // the input can hold, as below, and grows as its bytes arrive.
        out.reserve_exact(len.min(ahead / T::SIZE));
        let per_read = DIRECT / T::SIZE;
        let mut left = len;
        while left > 0 {
            let n = left.min(per_read);
            let at = out.len();
            out.resize(at + n, T::zeroed());
            let part = bytemuck::cast_slice_mut(&mut out[at..]);
            reader.read(part)?;
            seen(part);
            left -= n;
        }
    } else {
        // The same on a big-endian machine, converting as it goes: reserve no more than the
        // input can hold, so that a corrupt length fails at the end of the input instead of
        // allocating it up front, and take the bytes a chunk at a time, from the reader's
        // own buffer when it has them.
        out.reserve_exact(len.min(ahead / T::SIZE));
        let mut buf = [0u8; CHUNK];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(step);
            if let Some(src) = reader.peek_read(n) {
                T::get(src, &mut out);
                seen(src);
                reader.consume(n);
            } else {
                reader.read(&mut buf[..n])?;
                T::get(&buf[..n], &mut out);
                seen(&buf[..n]);
            }
            left -= n;
        }
    }
    Ok(out)
}

/// A sequence of records: its length as `u64`, then each record.
pub(super) struct Seq<T>(pub(super) Vec<T>);

impl<T: Encode> Encode for Seq<T> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        (self.0.len() as u64).encode(encoder)?;
        self.0.iter().try_for_each(|item| item.encode(encoder))
    }
}

impl<T: Decode<DecodeContext>> Decode<DecodeContext> for Seq<T> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
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

/// Reads `N` bytes.
pub(super) fn decode_array<const N: usize, D: Decoder>(
    decoder: &mut D,
) -> Result<[u8; N], DecodeError> {
    decoder.claim_bytes_read(N)?;
    let mut bytes = [0u8; N];
    decoder.reader().read(&mut bytes)?;
    Ok(bytes)
}

/// How many of `len` rows to reserve before any is read: all of them when the input can
/// hold them at a byte each (the shortest row, a free person slot), and never so many that
/// a corrupt count reserves more than eight times the input's bytes (a row in memory is at
/// most 64 bytes), so that it runs out of input before it allocates much.
pub(super) fn initial_rows(len: usize, reserve: usize) -> usize {
    len.min(reserve / 8)
}
/// Eight bytes of a slice known to hold them.
pub(super) fn take8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(b);
    out
}
