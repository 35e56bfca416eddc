//! The thread schedule of a load: which decoded field is handed to the second thread as
//! which [`Job`], and what the row check learns from the fields before the rows.
//!
//! The schema's decoding calls [`decoded`] after every field with the field's name; the
//! table there is the whole schedule, so reordering or adding a field of the format changes
//! no thread's work unless this table says so. A field is handed over the moment it is
//! decoded, while the rest of the body goes on decoding.

use std::any::Any;

use super::context::DecodeContext;
use super::records::{CheckedRows, Persons, PropRows};
use super::schema::{Arena, BodyField, Field, ProjectField, Values};
use super::wire::{Col, take_col};
use crate::graph::Person;

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

/// Fields decoded before the last one their job needs.
#[derive(Default)]
pub(super) struct Held {
    values: Option<Values<'static>>,
    parent: Vec<u32>,
    rank: Vec<u8>,
    person_at: Vec<u32>,
    free_persons: Vec<u32>,
    persons: Vec<Option<Person>>,
}

/// What happens once `field` is decoded into `value`: the schedule, one line per field
/// that matters. Inlined into each call, where `field` is a constant, so that the table
/// costs nothing per field.
#[inline]
pub(super) fn decoded(context: &mut DecodeContext, field: Field, value: &mut dyn Any) {
    match field {
        Field::Body(BodyField::prop_keys) => on(context, value, learn_keys),
        Field::Body(BodyField::values) => on(context, value, learn_value_tags),
        Field::Body(BodyField::value_free) => on(context, value, send_values),
        Field::ProjectBody(ProjectField::ids) => on(context, value, send_ids),
        Field::ProjectBody(ProjectField::parent) => on(context, value, learn_ids),
        Field::ProjectBody(ProjectField::rank) => on(context, value, hold_rank),
        Field::ProjectBody(ProjectField::next) => on(context, value, send_forest),
        Field::ProjectBody(ProjectField::person_at) => on(context, value, hold_person_at),
        Field::ProjectBody(ProjectField::free_persons) => on(context, value, hold_free_persons),
        Field::ProjectBody(ProjectField::persons) => on(context, value, hold_persons),
        Field::ProjectBody(ProjectField::person_props) => on(context, value, send_persons),
        _ => {}
    }
}

/// Calls `hook` with the field when it has the type the hook takes. A field of another
/// type is left in the body, where the load reports its part as not prepared: the tests
/// that load through both schedules catch a table naming the wrong field.
fn on<T: Any>(
    context: &mut DecodeContext,
    value: &mut dyn Any,
    hook: fn(&mut DecodeContext, &mut T),
) {
    if let Some(value) = value.downcast_mut::<T>() {
        hook(context, value);
    }
}

fn learn_keys(context: &mut DecodeContext, keys: &mut Arena<'static>) {
    context.rows.keys = keys.ends.len();
}

fn learn_value_tags(context: &mut DecodeContext, values: &mut Values<'static>) {
    context.rows.value_tags = values.tags.len();
    if let Some(held) = context.held() {
        held.values = Some(std::mem::take(values));
    }
}

fn send_values(context: &mut DecodeContext, free: &mut Col<'static, u32>) {
    context.rows.learn_free_values(free);
    if let Some(values) = context.held().and_then(|held| held.values.take()) {
        context.send(Job::Values(values, take_col(free)));
    }
}

fn send_ids(context: &mut DecodeContext, ids: &mut Arena<'static>) {
    if context.sends() {
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
