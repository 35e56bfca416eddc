//! Property values read back from their pre-order stream, with every promise of
//! [`Value`] checked: the value store's slots and each group's properties.

use super::codes::{
    MAX_DEPTH, TAG_ARRAY, TAG_FALSE, TAG_FLOAT, TAG_INT, TAG_NULL, TAG_OBJECT, TAG_STRING,
    TAG_TRUE, TAG_UINT,
};
use super::load::invalid;
use super::schema::{Strs, Values};
use crate::error::{InvalidSnapshot as Kind, SnapshotError, SnapshotSection as Section};
use crate::event::{Number, Value};
use crate::graph::{Rebuild, ValueStore};

/// Reads strings back from [`Strs`].
pub(super) struct StrsIn<'s> {
    pub(super) text: &'s str,
    pub(super) lens: &'s [u32],
    pub(super) at: usize,
    pub(super) offset: usize,
}

impl<'s> StrsIn<'s> {
    pub(super) fn new(strs: &'s Strs<'static>, what: Section) -> Result<StrsIn<'s>, SnapshotError> {
        let text = std::str::from_utf8(&strs.text).map_err(|_| invalid(Kind::TextNotUtf8(what)))?;
        Ok(StrsIn {
            text,
            lens: &strs.lens,
            at: 0,
            offset: 0,
        })
    }

    pub(super) fn remaining(&self) -> usize {
        self.lens.len() - self.at
    }

    pub(super) fn next(&mut self) -> Result<&'s str, SnapshotError> {
        let len = *self
            .lens
            .get(self.at)
            .ok_or_else(|| invalid(Kind::FewerStrings))? as usize;
        let end = self
            .offset
            .checked_add(len)
            .filter(|&end| end <= self.text.len())
            .ok_or_else(|| invalid(Kind::StringPastText))?;
        let s = self
            .text
            .get(self.offset..end)
            .ok_or_else(|| invalid(Kind::StringSplitsCharacter))?;
        self.at += 1;
        self.offset = end;
        Ok(s)
    }

    pub(super) fn finish(&self, what: Section) -> Result<(), SnapshotError> {
        if self.at == self.lens.len() && self.offset == self.text.len() {
            Ok(())
        } else {
            Err(invalid(Kind::StringsLeftOver(what)))
        }
    }
}

/// Reads values back from [`Values`].
pub(super) struct ValuesIn<'v> {
    pub(super) tags: &'v [u8],
    pub(super) nums: &'v [u64],
    pub(super) strs: StrsIn<'v>,
    pub(super) tag: usize,
    pub(super) num: usize,
}

impl<'v> ValuesIn<'v> {
    pub(super) fn new(values: &'v Values<'static>) -> Result<ValuesIn<'v>, SnapshotError> {
        Ok(ValuesIn {
            tags: &values.tags,
            nums: &values.nums,
            strs: StrsIn::new(&values.strs, Section::PropertyValues)?,
            tag: 0,
            num: 0,
        })
    }

    pub(super) fn num(&mut self) -> Result<u64, SnapshotError> {
        let n = *self
            .nums
            .get(self.num)
            .ok_or_else(|| invalid(Kind::FewerNumbers))?;
        self.num += 1;
        Ok(n)
    }

    /// A container length, which cannot exceed the values left: each element has a tag.
    pub(super) fn count(&mut self) -> Result<usize, SnapshotError> {
        let n = self.num()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.tags.len() - self.tag)
            .ok_or_else(|| invalid(Kind::ContainerTooLong))
    }

    pub(super) fn value(&mut self, depth: usize) -> Result<Value, SnapshotError> {
        if depth > MAX_DEPTH {
            return Err(invalid(Kind::ValueTooDeep { levels: MAX_DEPTH }));
        }
        let tag = *self
            .tags
            .get(self.tag)
            .ok_or_else(|| invalid(Kind::FewerValues))?;
        self.tag += 1;
        Ok(match tag {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => Value::Number(Number::Int(self.num()?.cast_signed())),
            TAG_UINT => Value::Number(Number::UInt(self.num()?)),
            TAG_FLOAT => Value::Number(Number::Float(f64::from_bits(self.num()?))),
            TAG_STRING => Value::String(self.strs.next()?.into()),
            TAG_ARRAY => {
                let len = self.count()?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items.into_boxed_slice())
            }
            TAG_OBJECT => Value::Object(self.members(depth)?.into_boxed_slice()),
            other => return Err(invalid(Kind::UnknownValueTag(other))),
        })
    }

    /// The members of an object whose tag was just read: keys strictly increasing, as
    /// [`Value::Object`] promises.
    pub(super) fn members(
        &mut self,
        depth: usize,
    ) -> Result<Vec<(Box<str>, Value)>, SnapshotError> {
        let len = self.count()?;
        if len > self.strs.remaining() {
            return Err(invalid(Kind::ObjectKeysPastStrings));
        }
        let mut members: Vec<(Box<str>, Value)> = Vec::with_capacity(len);
        for _ in 0..len {
            let key = self.strs.next()?;
            if members.last().is_some_and(|(last, _)| **last >= *key) {
                return Err(invalid(Kind::ObjectKeysOutOfOrder));
            }
            let value = self.value(depth + 1)?;
            members.push((key.into(), value));
        }
        Ok(members)
    }

    /// An object's members, for a group's properties.
    pub(super) fn object(&mut self) -> Result<Vec<(Box<str>, Value)>, SnapshotError> {
        match self.tags.get(self.tag) {
            Some(&TAG_OBJECT) => {
                self.tag += 1;
                self.members(0)
            }
            _ => Err(invalid(Kind::GroupPropertiesNotObject)),
        }
    }

    pub(super) fn finish(&self) -> Result<(), SnapshotError> {
        if self.tag != self.tags.len() || self.num != self.nums.len() {
            return Err(invalid(Kind::ValuesLeftOver));
        }
        self.strs.finish(Section::PropertyValues)
    }
}
/// The value store: its slots in order, free ones null.
pub(super) fn values_in(
    dto: &Values<'static>,
    free: Vec<u32>,
) -> Result<ValueStore, SnapshotError> {
    let repeated = || invalid(Kind::ValueStoreRepeats);
    let mut stream = ValuesIn::new(dto)?;
    let mut store = Rebuild::with_capacity(dto.tags.len().min(1 << 20));
    while stream.tag < stream.tags.len() {
        store.push(stream.value(0)?).ok_or_else(repeated)?;
    }
    stream.finish()?;
    store.finish(free).ok_or_else(repeated)
}
