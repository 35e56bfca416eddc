//! The row types of the body: person records, link records and property rows, each written
//! a chunk at a time and read back straight into the engine's own vectors.

use bincode::de::Decoder;
use bincode::de::read::Reader;
use bincode::enc::Encoder;
use bincode::enc::write::Writer;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use uuid::Uuid;

use super::codes::{EFFECTS, LINK_KINDS, code_in, code_of, link_kind_code};
use super::context::DecodeContext;
use super::rows::{RowCheck, RowVerdict};
use super::wire::{Chunks, decode_array, decode_elems_seeing, decode_len, initial_rows, take8};
use crate::event::Timestamp;
use crate::graph::{
    EventRef, Link, LinkList, MergeRecord, Person, Prop, PropArena, PropRange, SideKey, Sides,
};
use crate::graph::{IdKey, is_removal};

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

/// A link record: bincode's legacy encoding of `(target: u32, source: u32, kind: u8,
/// effect: u8, ordinal: u64, time: i64, uuid: [u8; 16], record: Option<(target_created_at:
/// i64, source_created_at: i64, target: u32, source: u32)>)`, the nil uuid for none. The
/// last two are the record's sides: from format 4 their numbers in the project's side
/// table; in formats 2 and 3, how many of the project's record property rows are each
/// side's, which the load makes full sides numbered in link order.
const LINK_SIZE: usize = 42;
const RECORD_SIZE: usize = 24;

/// The first format whose link records name sides.
pub(super) const SIDES_FROM: u32 = 4;

/// `len` links, as a count and a record each.
fn put_links<W: Writer>(
    len: usize,
    links: impl Iterator<Item = Link>,
    chunks: &mut Chunks<'_, W>,
) -> Result<(), EncodeError> {
    chunks.u64(len as u64)?;
    for link in links {
        put_link(&link, chunks)?;
    }
    Ok(())
}

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
            out[17..21].copy_from_slice(&record.target_side.raw().to_le_bytes());
            out[21..].copy_from_slice(&record.source_side.raw().to_le_bytes());
        }
        None => chunks.next::<1>()?[0] = 0,
    }
    Ok(())
}

/// A link read back. In formats before 4, `legacy` gets the property counts of the
/// record's two sides, which are numbered as the next two sides of the table it makes.
fn get_link<D: Decoder>(
    decoder: &mut D,
    legacy: Option<&mut Vec<u32>>,
) -> Result<Link, DecodeError> {
    let b: [u8; LINK_SIZE] = decode_array(decoder)?;
    let merge = match u8::decode(decoder)? {
        0 => None,
        1 => {
            let r: [u8; RECORD_SIZE] = decode_array(decoder)?;
            let target = u32::from_le_bytes([r[16], r[17], r[18], r[19]]);
            let source = u32::from_le_bytes([r[20], r[21], r[22], r[23]]);
            let (target_side, source_side) = match legacy {
                None => (SideKey::from_raw(target), SideKey::from_raw(source)),
                Some(lens) => {
                    let next = |lens: &Vec<u32>| {
                        SideKey::new(lens.len())
                            .map_err(|_| DecodeError::Other("more merge records than sides"))
                    };
                    let target_side = next(lens)?;
                    lens.push(target);
                    let source_side = next(lens)?;
                    lens.push(source);
                    (target_side, source_side)
                }
            };
            Some(MergeRecord {
                target_side,
                source_side,
                target_created_at: Timestamp::from_unix_micros(i64::from_le_bytes(take8(&r[..8]))),
                source_created_at: Timestamp::from_unix_micros(i64::from_le_bytes(take8(
                    &r[8..16],
                ))),
            })
        }
        _ => return Err(DecodeError::Other("an option tag other than 0 or 1")),
    };
    Ok(Link {
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
    })
}

/// A project's links in the order they were made, as a `Vec` of link records. Read back
/// straight into the engine's link vector.
pub(super) enum Links<'a> {
    /// Saving: the project's links.
    Out(&'a LinkList),
    /// Loading, and tests that rewrite a body.
    In(Vec<Link>),
    /// Loading a format before 4: the links, and the property counts of their records'
    /// sides in link order, target's then source's.
    Legacy(Vec<Link>, Vec<u32>),
}

impl Encode for Links<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let mut chunks = Chunks::new(encoder.writer());
        match self {
            Links::Out(links) => put_links(links.len(), links.iter(), &mut chunks)?,
            Links::In(links) | Links::Legacy(links, _) => {
                put_links(links.len(), links.iter().copied(), &mut chunks)?;
            }
        }
        chunks.finish()
    }
}

impl Decode<DecodeContext> for Links<'static> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let len = decode_len(decoder)?;
        let mut links = Vec::with_capacity(initial_rows(len, decoder.context().reserve));
        let mut legacy = (decoder.context().version < SIDES_FROM).then(Vec::new);
        for _ in 0..len {
            links.push(get_link(decoder, legacy.as_mut())?);
        }
        Ok(match legacy {
            Some(lens) => Links::Legacy(links, lens),
            None => Links::In(links),
        })
    }
}

/// Property rows `(key, writer, value)`, one run per owner in the order of the owners'
/// records: a `Vec<(u32, u32, u32)>`.
pub(super) enum PropRows<'a> {
    /// Saving: every live person's properties, in slot order.
    Persons(&'a PropArena, &'a [Option<Person>]),
    /// Saving: the entries of every merge record side other than its removal markers, in
    /// side order.
    Sides(&'a Sides),
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
            PropRows::Sides(sides) => {
                for (_, run) in sides.iter() {
                    for sets in run.split(is_removal) {
                        each(sets)?;
                    }
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
