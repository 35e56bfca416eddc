//! The bincode layer: the one configuration, column and row types that encode many items
//! at a time, and the body's transfer objects. Nothing outside `snapshot` sees these types.
//!
//! Every section's bytes are bincode's legacy encoding of the Rust type its doc comment
//! names (a column is a `Vec<T>`, a person record a tuple, and so on). bincode would encode
//! them one field at a time through its writer; the types here instead convert up to
//! [`CHUNK`] bytes into a buffer and hand the writer one slice, and decode straight out of
//! the body slice (from a stream, large columns are read straight into their vectors), which
//! keeps both directions near memory speed. The tests check the bytes against bincode's own
//! encoder.

use std::borrow::Cow;
use std::sync::mpsc::Sender;

use bincode::config::{self, Configuration, Fixint, LittleEndian, NoLimit};
use bincode::de::Decoder;
use bincode::de::read::Reader;
use bincode::enc::Encoder;
use bincode::enc::write::Writer;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use uuid::Uuid;

use super::rows::{RowCheck, RowRules, RowVerdict};
use crate::event::Timestamp;
use crate::graph::Person;
use crate::graph::Prop;
use crate::graph::{EventRef, Link, LinkEffect, LinkKind, MergeRecord, RefusalReason};
use crate::graph::{IdKey, PropKey, ValueId};
use crate::graph::{PropArena, PropRange, PropRuns, RunAt};

/// The format's only bincode configuration: little-endian fixed-width integers, lengths as
/// `u64`. Changing it changes the format, so it lives here and nowhere else.
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
    fn next<const N: usize>(&mut self) -> Result<&mut [u8; N], EncodeError> {
        if self.used + N > CHUNK {
            self.flush()?;
        }
        let start = self.used;
        self.used += N;
        <&mut [u8; N]>::try_from(&mut self.buf[start..start + N])
            .map_err(|_| EncodeError::Other("a row wider than a chunk"))
    }

    fn u64(&mut self, n: u64) -> Result<(), EncodeError> {
        *self.next::<8>()? = n.to_le_bytes();
        Ok(())
    }

    /// A vector of `items`: its length as `u64`, then the items.
    pub(super) fn elems<T: Elem>(&mut self, items: &[T]) -> Result<(), EncodeError> {
        self.u64(items.len() as u64)?;
        self.items(items)
    }

    /// `items`, without their length.
    fn items<T: Elem>(&mut self, items: &[T]) -> Result<(), EncodeError> {
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
fn decode_len<D: Decoder>(decoder: &mut D) -> Result<usize, DecodeError> {
    let len = u64::decode(decoder)?;
    usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))
}

impl<T: Elem> Decode<DecodeContext> for Col<'static, T> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
        decode_elems(decoder).map(|items| Col(Cow::Owned(items)))
    }
}

/// The decoder's context: what decoding may allocate before the bytes that fill it have
/// arrived, what property rows may name, and where to hand the fields that a second thread
/// can work on while the rest of the body decodes.
pub(super) struct DecodeContext {
    /// Bytes one column may reserve ahead: what the input holds when its size is known,
    /// [`STREAM_RESERVE`] otherwise.
    pub(super) reserve: usize,
    /// Learned from the fields before the rows, by the hooks of [`dto!`].
    rows: RowRules,
    /// Where the jobs go; without it every field stays in the body.
    aside: Option<Aside>,
}

/// Work on fields of the body that needs nothing decoded after them: rebuilding the hash
/// tables, and checking the union-find and the persons. The decoder sends each job as soon
/// as its fields are in, and takes the fields out of the body.
pub(super) enum Job {
    /// The value store's slots and its free list.
    Values(Values<'static>, Vec<u32>),
    /// The id arena of the next project.
    Ids(Arena<'static>),
    /// The union-find arrays of the project whose ids came last: parent, rank, next.
    Forest(Vec<u32>, Vec<u8>, Vec<u32>),
    /// That project's person slots, their property rows, and where the sets hold them.
    Persons {
        persons: Vec<Option<Person>>,
        rows: CheckedRows,
        person_at: Vec<u32>,
        free_persons: Vec<u32>,
    },
}

/// The jobs' way out, and the fields held until the last one a job needs is decoded.
struct Aside {
    jobs: Sender<Job>,
    held: Held,
}

/// Fields decoded before the last one their job needs.
#[derive(Default)]
struct Held {
    values: Option<Values<'static>>,
    parent: Vec<u32>,
    rank: Vec<u8>,
    person_at: Vec<u32>,
    free_persons: Vec<u32>,
    persons: Vec<Option<Person>>,
}

impl DecodeContext {
    pub(super) fn new(reserve: usize) -> DecodeContext {
        DecodeContext {
            reserve,
            rows: RowRules::default(),
            aside: None,
        }
    }

    /// The context for a load: the jobs go to `jobs`.
    pub(super) fn sending(reserve: usize, jobs: Sender<Job>) -> DecodeContext {
        DecodeContext {
            aside: Some(Aside {
                jobs,
                held: Held::default(),
            }),
            ..DecodeContext::new(reserve)
        }
    }

    fn send(&self, job: Job) {
        if let Some(aside) = &self.aside {
            // A receiver that is gone has stopped caring: the load failed elsewhere.
            let _ = aside.jobs.send(job);
        }
    }

    /// The fields held for jobs, when jobs are sent.
    fn held(&mut self) -> Option<&mut Held> {
        self.aside.as_mut().map(|aside| &mut aside.held)
    }
}

fn learn_keys(context: &mut DecodeContext, keys: &mut Arena<'_>) {
    context.rows.keys = keys.ends.len();
}

fn learn_value_tags(context: &mut DecodeContext, values: &mut Values<'static>) {
    context.rows.value_tags = values.tags.len();
    if let Some(held) = context.held() {
        held.values = Some(std::mem::take(values));
    }
}

fn learn_free_values(context: &mut DecodeContext, free: &mut Col<'static, u32>) {
    context.rows.learn_free_values(free);
    if let Some(values) = context.held().and_then(|held| held.values.take()) {
        context.send(Job::Values(values, take_col(free)));
    }
}

fn send_ids(context: &mut DecodeContext, ids: &mut Arena<'static>) {
    if context.aside.is_some() {
        context.send(Job::Ids(std::mem::take(ids)));
    }
}

fn learn_ids(context: &mut DecodeContext, parent: &mut Col<'static, u32>) {
    context.rows.ids = parent.len();
    if let Some(held) = context.held() {
        held.parent = take_col(parent);
    }
}

fn hold_rank(context: &mut DecodeContext, rank: &mut Col<'static, u8>) {
    if let Some(held) = context.held() {
        held.rank = take_col(rank);
    }
}

fn send_forest(context: &mut DecodeContext, next: &mut Col<'static, u32>) {
    if let Some(held) = context.held() {
        let job = Job::Forest(
            std::mem::take(&mut held.parent),
            std::mem::take(&mut held.rank),
            take_col(next),
        );
        context.send(job);
    }
}

fn hold_person_at(context: &mut DecodeContext, person_at: &mut Col<'static, u32>) {
    if let Some(held) = context.held() {
        held.person_at = take_col(person_at);
    }
}

fn hold_free_persons(context: &mut DecodeContext, free: &mut Col<'static, u32>) {
    if let Some(held) = context.held() {
        held.free_persons = take_col(free);
    }
}

fn hold_persons(context: &mut DecodeContext, persons: &mut Persons<'static>) {
    if let (Some(held), Persons::In(slots)) = (context.held(), persons) {
        held.persons = std::mem::take(slots);
    }
}

fn send_persons(context: &mut DecodeContext, rows: &mut PropRows<'static>) {
    if let (Some(held), PropRows::In(checked)) = (context.held(), rows) {
        let job = Job::Persons {
            persons: std::mem::take(&mut held.persons),
            rows: std::mem::take(checked),
            person_at: std::mem::take(&mut held.person_at),
            free_persons: std::mem::take(&mut held.free_persons),
        };
        context.send(job);
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
fn decode_elems<T: Elem, D: Decoder<Context = DecodeContext>>(
    decoder: &mut D,
) -> Result<Vec<T>, DecodeError> {
    decode_elems_seeing(decoder, |_| {})
}

/// [`decode_elems`], showing `seen` the bytes of the items a chunk at a time, as they are
/// decoded.
fn decode_elems_seeing<T: Elem, D: Decoder<Context = DecodeContext>>(
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
fn decode_array<const N: usize, D: Decoder>(decoder: &mut D) -> Result<[u8; N], DecodeError> {
    decoder.claim_bytes_read(N)?;
    let mut bytes = [0u8; N];
    decoder.reader().read(&mut bytes)?;
    Ok(bytes)
}

/// How many of `len` rows to reserve before any is read: all of them when the input can
/// hold them at a byte each (the shortest row, a free person slot), and never so many that
/// a corrupt count reserves more than eight times the input's bytes (a row in memory is at
/// most 64 bytes), so that it runs out of input before it allocates much.
fn initial_rows(len: usize, reserve: usize) -> usize {
    len.min(reserve / 8)
}

/// Bit 0 of a person's flags: identified.
const IDENTIFIED: u8 = 1;

/// A person record: bincode's legacy encoding of `(uuid: [u8; 16], created_at: i64,
/// version: u64, flags: u8, anchor: u32, ids: u32, props: u32)`, `props` being how many of
/// the project's property rows are the person's.
const PERSON_SIZE: usize = 45;

fn put_person(person: &Person, out: &mut [u8; 1 + PERSON_SIZE]) {
    out[0] = 1;
    out[1..17].copy_from_slice(person.uuid.as_bytes());
    out[17..25].copy_from_slice(&person.created_at.unix_micros().to_le_bytes());
    out[25..33].copy_from_slice(&person.version.to_le_bytes());
    out[33] = if person.is_identified { IDENTIFIED } else { 0 };
    out[34..38].copy_from_slice(&person.anchor().raw().to_le_bytes());
    out[38..42].copy_from_slice(&person.id_count().to_le_bytes());
    let props = u32::try_from(person.props().len()).unwrap_or(u32::MAX);
    out[42..].copy_from_slice(&props.to_le_bytes());
}

/// A person read back, its properties `start..` in the project's property rows.
fn get_person(b: &[u8; PERSON_SIZE], start: usize) -> Result<Person, DecodeError> {
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&b[..16]);
    let flags = b[32];
    if flags & !IDENTIFIED != 0 {
        return Err(DecodeError::Other("unknown person flags"));
    }
    Ok(Person::stored(
        Uuid::from_bytes(uuid),
        Timestamp::from_unix_micros(i64::from_le_bytes(take8(&b[16..24]))),
        u64::from_le_bytes(take8(&b[24..32])),
        flags & IDENTIFIED != 0,
        (
            PropRange::exact(start, u32::from_le_bytes([b[41], b[42], b[43], b[44]])),
            IdKey::from_raw(u32::from_le_bytes([b[33], b[34], b[35], b[36]])),
            u32::from_le_bytes([b[37], b[38], b[39], b[40]]),
        ),
    ))
}

/// Eight bytes of a slice known to hold them.
fn take8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(b);
    out
}

/// A project's person slots in order, free ones `None`: bincode's legacy encoding of a
/// `Vec<Option<person record>>`. Read back straight into the engine's slot vector, each
/// person's properties being the next run of the project's property rows.
pub(super) enum Persons<'a> {
    /// Saving: the project's person slots.
    Out(&'a [Option<Person>]),
    /// Loading, and tests that rewrite a body.
    In(Vec<Option<Person>>),
}

impl Encode for Persons<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let slots = match self {
            Persons::Out(slots) => slots,
            Persons::In(slots) => &slots[..],
        };
        let mut chunks = Chunks::new(encoder.writer());
        chunks.u64(slots.len() as u64)?;
        for slot in slots {
            match slot {
                Some(person) => put_person(person, chunks.next()?),
                None => chunks.next::<1>()?[0] = 0,
            }
        }
        chunks.finish()
    }
}

impl Decode<DecodeContext> for Persons<'static> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let len = decode_len(decoder)?;
        let mut slots = Vec::with_capacity(initial_rows(len, decoder.context().reserve));
        let mut props = 0usize;
        for _ in 0..len {
            // One look at the reader's buffer per slot when it holds a whole record, three
            // reads otherwise.
            let reader = decoder.reader();
            let peeked = reader.peek_read(1 + PERSON_SIZE).map(|b| {
                let mut record = [0u8; 1 + PERSON_SIZE];
                record.copy_from_slice(b);
                record
            });
            let slot = match peeked {
                Some([0, ..]) => {
                    decoder.claim_bytes_read(1)?;
                    decoder.reader().consume(1);
                    None
                }
                Some(record) if record[0] == 1 => {
                    decoder.claim_bytes_read(1 + PERSON_SIZE)?;
                    decoder.reader().consume(1 + PERSON_SIZE);
                    let mut row = [0u8; PERSON_SIZE];
                    row.copy_from_slice(&record[1..]);
                    Some(get_person(&row, props)?)
                }
                _ => match u8::decode(decoder)? {
                    0 => None,
                    1 => Some(get_person(&decode_array(decoder)?, props)?),
                    _ => return Err(DecodeError::Other("an option tag other than 0 or 1")),
                },
            };
            if let Some(person) = &slot {
                props = props.saturating_add(person.props().len());
            }
            slots.push(slot);
        }
        Ok(Persons::In(slots))
    }
}

/// Link kinds by their code in the format.
pub(super) const LINK_KINDS: [LinkKind; 4] = [
    LinkKind::Identify,
    LinkKind::Alias,
    LinkKind::MergeDangerously,
    LinkKind::Bridge,
];
/// Link effects by their code in the format.
pub(super) const EFFECTS: [LinkEffect; 4] = [
    LinkEffect::Created,
    LinkEffect::AttachedSource,
    LinkEffect::AttachedTarget,
    LinkEffect::Merged,
];
/// Refusal reasons by their code in the format.
pub(super) const REASONS: [RefusalReason; 3] = [
    RefusalReason::IllegalId,
    RefusalReason::AlreadyIdentified,
    RefusalReason::MoveLimitExceeded,
];

fn code_of<T: PartialEq>(table: &[T], item: &T) -> u8 {
    table
        .iter()
        .position(|t| t == item)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

/// The entry of `table` with code `code`.
pub(super) fn code_in<T: Copy>(table: &[T], code: u8) -> Option<T> {
    table.get(usize::from(code)).copied()
}

pub(super) fn link_kind_code(kind: LinkKind) -> u8 {
    code_of(&LINK_KINDS, &kind)
}

pub(super) fn reason_code(reason: RefusalReason) -> u8 {
    code_of(&REASONS, &reason)
}

/// A link record: bincode's legacy encoding of `(target: u32, source: u32, kind: u8,
/// effect: u8, ordinal: u64, time: i64, uuid: [u8; 16], record: Option<(target_created_at:
/// i64, source_created_at: i64, target_props: u32, source_props: u32)>)`, the nil uuid for
/// none and the last two being how many of the project's record property rows are each
/// side's.
const LINK_SIZE: usize = 42;
const RECORD_SIZE: usize = 24;

fn put_link<W: Writer>(link: &Link, chunks: &mut Chunks<'_, W>) -> Result<(), EncodeError> {
    let out = chunks.next::<LINK_SIZE>()?;
    out[..4].copy_from_slice(&link.target.raw().to_le_bytes());
    out[4..8].copy_from_slice(&link.source.raw().to_le_bytes());
    out[8] = link_kind_code(link.kind);
    out[9] = code_of(&EFFECTS, &link.effect);
    out[10..18].copy_from_slice(&link.event.ordinal.to_le_bytes());
    out[18..26].copy_from_slice(&link.event.timestamp.unix_micros().to_le_bytes());
    out[26..].copy_from_slice(&uuid_bytes(link.event.uuid));
    match &link.merge {
        Some(record) => {
            let out = chunks.next::<{ 1 + RECORD_SIZE }>()?;
            out[0] = 1;
            out[1..9].copy_from_slice(&record.target_created_at.unix_micros().to_le_bytes());
            out[9..17].copy_from_slice(&record.source_created_at.unix_micros().to_le_bytes());
            let len = |run: RunAt| u32::try_from(run.len()).unwrap_or(u32::MAX);
            out[17..21].copy_from_slice(&len(record.target_props).to_le_bytes());
            out[21..].copy_from_slice(&len(record.source_props).to_le_bytes());
        }
        None => chunks.next::<1>()?[0] = 0,
    }
    Ok(())
}

/// A link read back, the properties of its record from `start` in the project's record
/// property rows; returns it with where the next record's properties start.
fn get_link<D: Decoder>(decoder: &mut D, start: usize) -> Result<(Link, usize), DecodeError> {
    let b: [u8; LINK_SIZE] = decode_array(decoder)?;
    let (merge, next) = match u8::decode(decoder)? {
        0 => (None, start),
        1 => {
            let r: [u8; RECORD_SIZE] = decode_array(decoder)?;
            let target = u32::from_le_bytes([r[16], r[17], r[18], r[19]]);
            let source = u32::from_le_bytes([r[20], r[21], r[22], r[23]]);
            let source_start = start.saturating_add(target as usize);
            let record = MergeRecord {
                target_props: RunAt::exact(start, target),
                source_props: RunAt::exact(source_start, source),
                target_created_at: Timestamp::from_unix_micros(i64::from_le_bytes(take8(&r[..8]))),
                source_created_at: Timestamp::from_unix_micros(i64::from_le_bytes(take8(
                    &r[8..16],
                ))),
            };
            (Some(record), source_start.saturating_add(source as usize))
        }
        _ => return Err(DecodeError::Other("an option tag other than 0 or 1")),
    };
    let link = Link {
        target: IdKey::from_raw(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        source: IdKey::from_raw(u32::from_le_bytes([b[4], b[5], b[6], b[7]])),
        kind: code_in(&LINK_KINDS, b[8]).ok_or(DecodeError::Other("unknown link kind code"))?,
        effect: code_in(&EFFECTS, b[9]).ok_or(DecodeError::Other("unknown link effect code"))?,
        event: EventRef {
            ordinal: u64::from_le_bytes(take8(&b[10..18])),
            timestamp: Timestamp::from_unix_micros(i64::from_le_bytes(take8(&b[18..26]))),
            uuid: uuid_of(&b[26..]),
        },
        merge,
    };
    Ok((link, next))
}

/// A project's links in the order they were made, as a `Vec` of link records. Read back
/// straight into the engine's link vector, each record's properties being the next runs of
/// the project's record property rows.
pub(super) enum Links<'a> {
    /// Saving: the project's links.
    Out(&'a [Link]),
    /// Loading, and tests that rewrite a body.
    In(Vec<Link>),
}

impl Encode for Links<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let links = match self {
            Links::Out(links) => links,
            Links::In(links) => &links[..],
        };
        let mut chunks = Chunks::new(encoder.writer());
        chunks.u64(links.len() as u64)?;
        for link in links {
            put_link(link, &mut chunks)?;
        }
        chunks.finish()
    }
}

impl Decode<DecodeContext> for Links<'static> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let len = decode_len(decoder)?;
        let mut links = Vec::with_capacity(initial_rows(len, decoder.context().reserve));
        let mut props = 0;
        for _ in 0..len {
            let (link, next) = get_link(decoder, props)?;
            props = next;
            links.push(link);
        }
        Ok(Links::In(links))
    }
}

/// Property rows `(key, writer, value)`, one run per owner in the order of the owners'
/// records: a `Vec<(u32, u32, u32)>`.
pub(super) enum PropRows<'a> {
    /// Saving: every live person's properties, in slot order.
    Persons(&'a PropArena, &'a [Option<Person>]),
    /// Saving: the target's then the source's properties of every merge record, in link
    /// order.
    Records(&'a PropRuns, &'a [Link]),
    /// Loading, and tests that rewrite a body.
    In(CheckedRows),
}

/// Property rows as decoded, with what the decoder's check found ([`RowVerdict`]).
#[derive(Default)]
pub(super) struct CheckedRows {
    pub(super) rows: Vec<Prop>,
    pub(super) verdict: RowVerdict,
}

impl PropRows<'_> {
    /// Calls `each` with every run, in order.
    fn for_each_run<'s>(
        &'s self,
        mut each: impl FnMut(&'s [Prop]) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        match self {
            PropRows::Persons(arena, slots) => {
                for person in slots.iter().flatten() {
                    each(arena.get(person.props()))?;
                }
            }
            PropRows::Records(runs, links) => {
                for record in links.iter().filter_map(|l| l.merge.as_ref()) {
                    each(runs.get(record.target_props))?;
                    each(runs.get(record.source_props))?;
                }
            }
            PropRows::In(checked) => each(&checked.rows)?,
        }
        Ok(())
    }
}

impl Encode for PropRows<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let mut len = 0;
        self.for_each_run(|run| {
            len += run.len();
            Ok(())
        })?;
        let mut chunks = Chunks::new(encoder.writer());
        chunks.u64(len as u64)?;
        self.for_each_run(|run| chunks.items(run))?;
        chunks.finish()
    }
}

impl Decode<DecodeContext> for PropRows<'static> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let rules = std::mem::take(&mut decoder.context().rows);
        let mut check = RowCheck::default();
        let rows = decode_elems_seeing(decoder, |bytes| check.bytes(&rules, bytes));
        let verdict = check.verdict(&rules);
        decoder.context().rows = rules;
        Ok(PropRows::In(CheckedRows {
            rows: rows?,
            verdict,
        }))
    }
}

/// The optional uuid of stored bytes: the nil uuid means none ([`uuid_bytes`] inverted).
pub(super) fn uuid_of(bytes: &[u8]) -> Option<Uuid> {
    let uuid = Uuid::from_slice(bytes).unwrap_or(Uuid::nil());
    (!uuid.is_nil()).then_some(uuid)
}

/// The uuid bytes of an optional uuid, nil for none.
pub(super) fn uuid_bytes(uuid: Option<Uuid>) -> [u8; 16] {
    *uuid.unwrap_or(Uuid::nil()).as_bytes()
}

/// Declares a transfer object whose encoding is its fields in order, so that the encoder
/// and the decoder cannot disagree on the order.
///
/// A field may name a hook, `field: Type => hook,`, which decoding calls with the context
/// and the field just decoded: how [`RowRules`] learn what rows may name.
macro_rules! dto {
    ($(#[$meta:meta])* struct $name:ident {
        $($(#[$fmeta:meta])* $field:ident: $ty:ty $(=> $hook:ident)?,)*
    }) => {
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

        impl Decode<DecodeContext> for $name<'static> {
            fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
                $(
                    #[allow(unused_mut, reason = "only fields with hooks are changed")]
                    let mut $field = Decode::decode(decoder)?;
                    $($hook(decoder.context(), &mut $field);)?
                )*
                Ok($name { $($field,)* })
            }
        }
    };
}

dto! {
    /// An interner: its text, and where each string ends in it.
    #[derive(Default)]
    struct Arena {
        text: Col<'a, u8>,
        ends: Col<'a, u32>,
    }
}

dto! {
    /// Strings that are not interned: their text, and each one's length.
    #[derive(Default)]
    struct Strs {
        text: Col<'a, u8>,
        lens: Col<'a, u32>,
    }
}

dto! {
    /// Property values, flattened in pre-order: one tag per value; numbers, and the lengths
    /// of arrays and objects, in `nums`; strings and object keys in `strs`.
    #[derive(Default)]
    struct Values {
        tags: Col<'a, u8>,
        nums: Col<'a, u64>,
        strs: Strs<'a>,
    }
}

dto! {
    /// One project's graph. Persons are in slot order; groups are sorted by (type index,
    /// key).
    struct ProjectV2 {
        /// 0 default, 1 team, 2 token.
        kind: u8,
        team: u64,
        token: Col<'a, u8>,
        ids: Arena<'a> => send_ids,
        parent: Col<'a, u32> => learn_ids,
        rank: Col<'a, u8> => hold_rank,
        next: Col<'a, u32> => send_forest,
        person_at: Col<'a, u32> => hold_person_at,
        /// Bit `i % 8` of byte `i / 8` is whether id `i` was seen in personless mode.
        personless: Col<'a, u8>,
        /// The free slots, in the order they will be reused.
        free_persons: Col<'a, u32> => hold_free_persons,
        persons: Persons<'a> => hold_persons,
        /// Each live person's properties, in slot order.
        person_props: PropRows<'a> => send_persons,
        /// Distinct ids whose text was erased (empty in `ids`), sorted.
        ids_erased: Col<'a, u32>,
        group_types: Strs<'a>,
        group_type_index: Col<'a, u8>,
        group_keys: Strs<'a>,
        group_created_at: Col<'a, i64>,
        group_versions: Col<'a, u64>,
        /// One object per group holding its properties.
        values: Values<'a>,
        links: Links<'a>,
        /// The properties of each merge record, target's then source's, in link order.
        record_props: PropRows<'a>,
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
    /// The whole body of a version 2 snapshot.
    struct BodyV2 {
        position: Col<'a, u8>,
        lift_properties: bool,
        filter_churn: bool,
        record_changes: bool,
        /// `u64::MAX` for no limit.
        max_ids_per_person: u64,
        events: u64,
        merges: u64,
        warnings: Col<'a, u64>,
        prop_keys: Arena<'a> => learn_keys,
        /// The value store's slots in order (free slots hold null), and its free list.
        values: Values<'a> => learn_value_tags,
        value_free: Col<'a, u32> => learn_free_values,
        projects: Seq<ProjectV2<'a>>,
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
pub(super) fn measure(body: &BodyV2<'_>) -> Result<(u64, crc32fast::Hasher), EncodeError> {
    let mut measure = Measure {
        len: 0,
        crc: crc32fast::Hasher::new(),
    };
    bincode::encode_into_writer(body, &mut measure, config())?;
    Ok((measure.len, measure.crc))
}

/// A writer that passes everything on and keeps its length and checksum.
struct Tee<'w, W: std::io::Write> {
    writer: &'w mut W,
    measure: Measure,
}

impl<W: std::io::Write> Writer for Tee<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.writer
            .write_all(bytes)
            .map_err(|inner| EncodeError::Io {
                inner,
                index: usize::try_from(self.measure.len).unwrap_or(usize::MAX),
            })?;
        self.measure.write(bytes)
    }
}

/// Encodes the body into `writer` and returns its length and checksum, in one pass.
pub(super) fn write_measured<W: std::io::Write>(
    body: &BodyV2<'_>,
    writer: &mut W,
) -> Result<(u64, crc32fast::Hasher), std::io::Error> {
    let mut tee = Tee {
        writer,
        measure: Measure {
            len: 0,
            crc: crc32fast::Hasher::new(),
        },
    };
    bincode::encode_into_writer(body, &mut tee, config()).map_err(io_error)?;
    Ok((tee.measure.len, tee.measure.crc))
}

fn io_error(error: EncodeError) -> std::io::Error {
    match error {
        EncodeError::Io { inner, .. } => inner,
        other => std::io::Error::other(other),
    }
}

/// Encodes the body into `writer`.
pub(super) fn write<W: std::io::Write>(
    body: &BodyV2<'_>,
    writer: &mut W,
) -> Result<(), std::io::Error> {
    bincode::encode_into_std_write(body, writer, config())
        .map(drop)
        .map_err(io_error)
}

/// A reader over a body held in memory, which may checksum the bytes it has handed out a
/// block at a time just behind the decoder, while they are still in cache: one pass over
/// the body instead of a checksum pass and a decoding pass.
struct Slice<'a> {
    body: &'a [u8],
    at: usize,
    sum: Option<Sum>,
}

/// The checksum of a body's first `upto` bytes.
struct Sum {
    upto: usize,
    crc: crc32fast::Hasher,
}

impl Slice<'_> {
    fn advance(&mut self, n: usize) {
        self.at += n;
        if let Some(sum) = &mut self.sum
            && self.at - sum.upto >= 1 << 16
        {
            sum.crc.update(&self.body[sum.upto..self.at]);
            sum.upto = self.at;
        }
    }
}

impl Reader for Slice<'_> {
    fn read(&mut self, bytes: &mut [u8]) -> Result<(), DecodeError> {
        let rest = &self.body[self.at..];
        let Some(now) = rest.get(..bytes.len()) else {
            return Err(DecodeError::UnexpectedEnd {
                additional: bytes.len() - rest.len(),
            });
        };
        bytes.copy_from_slice(now);
        self.advance(bytes.len());
        Ok(())
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.body[self.at..].get(..n)
    }

    fn consume(&mut self, n: usize) {
        self.advance(n.min(self.body.len() - self.at));
    }
}

/// Decodes a body that must fill `bytes` exactly. The caller checks the body's checksum
/// before it trusts the result.
#[cfg(test)]
pub(super) fn read(bytes: &[u8]) -> Result<BodyV2<'static>, ReadError> {
    read_with(bytes, DecodeContext::new(bytes.len()), false).0
}

/// Decodes a body that must fill `bytes` exactly, in `context`, and when `checksum` is set
/// takes the checksum of all of `bytes` on the way. The caller checks the checksum before
/// it trusts the body.
pub(super) fn read_with(
    bytes: &[u8],
    context: DecodeContext,
    checksum: bool,
) -> (
    Result<BodyV2<'static>, ReadError>,
    Option<crc32fast::Hasher>,
) {
    let sum = checksum.then(|| Sum {
        upto: 0,
        crc: crc32fast::Hasher::new(),
    });
    let mut reader = Slice {
        body: bytes,
        at: 0,
        sum,
    };
    let mut decoder = bincode::de::DecoderImpl::new(&mut reader, config(), context);
    let body = BodyV2::decode(&mut decoder).map_err(ReadError::Codec);
    let body = match body {
        Ok(_) if reader.at < bytes.len() => Err(ReadError::Trailing(bytes.len() - reader.at)),
        other => other,
    };
    let crc = reader.sum.map(|mut sum| {
        sum.crc.update(&bytes[sum.upto..]);
        sum.crc
    });
    (body, crc)
}

/// A reader that counts and checksums what passes through it.
struct Tally<R> {
    inner: R,
    read: u64,
    crc: crc32fast::Hasher,
}

impl<R: std::io::Read> std::io::Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// What a stream held besides the body: how many bytes it gave of the `len` asked for, and
/// their checksum.
pub(super) struct StreamEnd {
    pub(super) read: u64,
    pub(super) crc: crc32fast::Hasher,
}

/// Decodes a body straight from a stream of `len` bytes, without holding the bytes, and
/// reads the stream to the end of the body whatever happens, so that the caller can tell a
/// damaged body (checksum) from a short one (length) before it trusts the decoding.
pub(super) fn read_stream<R: std::io::Read>(
    reader: R,
    len: u64,
    context: DecodeContext,
) -> Result<(Result<BodyV2<'static>, ReadError>, StreamEnd), std::io::Error> {
    use std::io::BufRead;
    let tally = Tally {
        inner: reader.take(len),
        read: 0,
        crc: crc32fast::Hasher::new(),
    };
    let mut buffered = std::io::BufReader::with_capacity(1 << 16, tally);
    let mut decoder = bincode::de::DecoderImpl::new(&mut buffered, config(), context);
    let body = BodyV2::decode(&mut decoder).map_err(ReadError::Codec);
    let mut trailing = 0;
    loop {
        let n = buffered.fill_buf()?.len();
        if n == 0 {
            break;
        }
        BufRead::consume(&mut buffered, n);
        trailing += n;
    }
    let body = match body {
        Ok(_) if trailing > 0 => Err(ReadError::Trailing(trailing)),
        other => other,
    };
    let tally = buffered.into_inner();
    Ok((
        body,
        StreamEnd {
            read: tally.read,
            crc: tally.crc,
        },
    ))
}

/// Why a body that passed its checksum does not decode.
#[derive(Debug)]
pub(super) enum ReadError {
    Codec(DecodeError),
    Trailing(usize),
}
