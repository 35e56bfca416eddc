use std::io::{self, Write};

use super::codec::{self, BodyV1, Col};
use super::*;
use crate::engine::NO_PERSON;
use crate::event::{Event, Project};
use crate::value::Value;

/// Persons with merges (so a free slot), properties, a group, a personless id and two
/// projects.
fn engine() -> Engine {
    let mut engine = Engine::new();
    for event in [
        Event::new("$pageview", "a").with_property("$set", Value::object([("k", Value::from(1))])),
        Event::new("$pageview", "b")
            .with_property("$set", Value::object([("j", Value::from("x"))])),
        Event::new("$merge_dangerously", "a").with_property("alias", "b"),
        Event::new("$pageview", "c").with_property("$process_person_profile", false),
        Event::new("$groupidentify", "a")
            .with_property("$group_type", "company")
            .with_property("$group_key", "acme")
            .with_property("$group_set", Value::object([("n", Value::from(2))])),
        Event::new("$pageview", "t").with_project(Project::Team(1)),
        // A refused merge, so the refusal columns are not empty.
        Event::new("$create_alias", "a").with_property("alias", "null"),
    ] {
        engine.apply(&event).expect("applies");
    }
    engine
}

fn bytes_of(engine: &Engine) -> Vec<u8> {
    let mut bytes = Vec::new();
    engine.save(&mut bytes).expect("saves");
    bytes
}

/// Saves `engine`, changes its decoded body, and loads it again under a correct checksum,
/// so that the change reaches the validator.
#[track_caller]
fn load_changed(
    engine: &Engine,
    change: impl FnOnce(&mut BodyV1<'static>),
) -> Result<Engine, SnapshotError> {
    let bytes = bytes_of(engine);
    let mut body = codec::read(&bytes[HEADER_LEN..]).expect("decodes");
    change(&mut body);
    let mut changed = Vec::new();
    write_body(&body, &mut changed).expect("encodes");
    Engine::load(&changed[..])
}

#[track_caller]
fn check_refused(change: impl FnOnce(&mut BodyV1<'static>), reason: &str) {
    match load_changed(&engine(), change) {
        Err(SnapshotError::Invalid { reason: got, .. }) => {
            assert!(got.contains(reason), "{got:?} does not mention {reason:?}");
        }
        Err(other) => panic!("expected Invalid({reason}), got {other:?}"),
        Ok(_) => panic!("expected Invalid({reason}), loaded"),
    }
}

fn set<T: codec::Elem>(col: &mut Col<'static, T>, at: usize, value: T) {
    let mut items = col.to_vec();
    items[at] = value;
    *col = Col::owned(items);
}

#[test]
fn an_unchanged_body_loads() {
    let engine = engine();
    let loaded = load_changed(&engine, |_| {}).expect("loads");
    assert_eq!(loaded.dump(), engine.dump());
}

#[test]
fn broken_invariants_are_refused() {
    check_refused(|b| set(&mut b.projects.0[0].parent, 0, 99), "forest");
    check_refused(|b| set(&mut b.projects.0[0].next, 0, 0), "forest");
    check_refused(|b| set(&mut b.projects.0[0].anchors, 0, 2), "anchor");
    check_refused(|b| set(&mut b.projects.0[0].anchors, 0, 50), "anchor");
    check_refused(
        |b| set(&mut b.projects.0[0].prop_keys, 0, 9),
        "property key",
    );
    check_refused(|b| set(&mut b.projects.0[0].person_flags, 0, 4), "flags");
    check_refused(|b| set(&mut b.projects.0[0].free_persons, 0, 0), "person");
    check_refused(|b| set(&mut b.projects.0[0].free_persons, 0, 7), "slot");
    check_refused(|b| b.projects.0[0].person_slots += 1, "slots");
    check_refused(|b| set(&mut b.values.tags, 0, 99), "tag");
    check_refused(
        |b| set(&mut b.projects.0[0].values.tags, 0, 99),
        "not an object",
    );
    check_refused(
        |b| set(&mut b.projects.0[0].prop_values, 0, 999),
        "value slot",
    );
    check_refused(|b| set(&mut b.projects.0[0].prop_writers, 0, 999), "writer");
    check_refused(|b| set(&mut b.projects.0[0].person_ids, 0, 7), "id count");
    check_refused(
        |b| set(&mut b.projects.0[0].link_target, 0, 2),
        "not one person",
    );
    check_refused(|b| set(&mut b.projects.0[0].link_kind, 0, 9), "link kind");
    check_refused(
        |b| set(&mut b.projects.0[0].link_record, 0, 0),
        "merge records",
    );
    check_refused(
        |b| set(&mut b.projects.0[0].refusal_reason, 0, 9),
        "refusal",
    );
    check_refused(
        |b| b.projects.0[0].ids_erased = Col::owned(vec![0]),
        "erased",
    );
    check_refused(|b| b.value_free = Col::owned(vec![0]), "value store");
    check_refused(
        |b| set(&mut b.projects.0[0].group_type_index, 0, 3),
        "group type",
    );
    check_refused(
        |b| set(&mut b.projects.0[0].personless, 0, 0xff),
        "personless",
    );
    check_refused(|b| set(&mut b.prop_keys.ends, 0, 200), "property keys");
    check_refused(|b| b.warnings = Col::owned(vec![0; 3]), "warning");
    check_refused(
        |b| {
            b.projects.0[1].kind = 0;
            b.projects.0[1].team = 0;
        },
        "twice",
    );
    check_refused(|b| b.projects.0[1].kind = 9, "project");
    check_refused(
        |b| {
            let project = &mut b.projects.0[0];
            let mut at = project.person_at.to_vec();
            // Move the person of a root onto a non-root member of another set.
            let root = at.iter().position(|&p| p != NO_PERSON).expect("a person");
            let other = (0..at.len()).find(|&i| i != root && project.parent[i] as usize != i);
            match other {
                Some(i) => at.swap(root, i),
                None => at[root] = NO_PERSON,
            }
            project.person_at = Col::owned(at);
        },
        "",
    );
}

#[test]
fn trailing_bytes_in_the_body_are_refused() {
    let bytes = bytes_of(&engine());
    let mut body = bytes[HEADER_LEN..].to_vec();
    body.push(0);
    let mut with_extra = Vec::new();
    let header_bytes = header(0, body.len() as u64, 0);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&body);
    let crc = checksum(&header_bytes[12..24], &crc);
    with_extra.extend_from_slice(&header(0, body.len() as u64, crc));
    with_extra.extend_from_slice(&body);
    assert!(matches!(
        Engine::load(&with_extra[..]),
        Err(SnapshotError::Invalid { reason, .. }) if reason.contains("after the end")
    ));
}

#[test]
fn unknown_flags_are_refused() {
    let bytes = bytes_of(&engine());
    let body = &bytes[HEADER_LEN..];
    let len = body.len() as u64;
    let mut flags_and_len = [0u8; 12];
    flags_and_len[..4].copy_from_slice(&2u32.to_le_bytes());
    flags_and_len[4..].copy_from_slice(&len.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(body);
    let mut flagged = header(2, len, checksum(&flags_and_len, &crc)).to_vec();
    flagged.extend_from_slice(body);
    assert!(matches!(
        Engine::load(&flagged[..]),
        Err(SnapshotError::Invalid { reason, .. }) if reason.contains("flags")
    ));
}

#[test]
fn values_nested_too_deep_are_refused_on_save() {
    let mut deep = Value::Null;
    for _ in 0..=super::convert::MAX_DEPTH {
        deep = Value::from(vec![deep]);
    }
    let mut engine = Engine::new();
    engine
        .apply(&Event::new("$set", "a").with_property("$set", Value::object([("deep", deep)])))
        .expect("applies");
    assert!(matches!(
        engine.save(io::sink()),
        Err(SnapshotError::Invalid { reason, .. }) if reason.contains("deeper")
    ));
}

/// A writer that accepts `limit` bytes and then fails.
struct FailAfter<W> {
    inner: W,
    left: usize,
}

impl<W: Write> Write for FailAfter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = self.left.min(buf.len());
        self.left -= n;
        self.inner.write(&buf[..n])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn a_failed_atomic_save_leaves_the_old_file_and_no_temporary() {
    let dir = std::env::temp_dir().join(format!("idgraph-atomic-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creates the directory");
    let path = dir.join("graph.idg");
    let old = Engine::new();
    old.save_to_path(&path, b"old").expect("saves");
    let old_bytes = fs::read(&path).expect("reads");

    let new = engine();
    let full = bytes_of(&new).len();
    for limit in 0..full {
        let result = write_atomically(&path, |file| {
            new.save_with_position(
                FailAfter {
                    inner: file,
                    left: limit,
                },
                b"new",
            )
        });
        assert!(matches!(result, Err(SnapshotError::Io(_))), "limit {limit}");
        assert_eq!(fs::read(&path).expect("reads"), old_bytes, "limit {limit}");
        let entries = fs::read_dir(&dir).expect("lists").count();
        assert_eq!(entries, 1, "a temporary file was left at limit {limit}");
    }
    new.save_to_path(&path, b"new").expect("saves");
    let loaded = Engine::load_from_path(&path).expect("loads");
    assert_eq!(loaded.position, b"new");
    assert_eq!(loaded.engine.dump(), new.dump());
    fs::remove_dir_all(&dir).expect("cleans up");
}

#[test]
fn a_path_without_a_file_name_is_refused() {
    assert!(matches!(
        Engine::new().save_to_path("/", b""),
        Err(SnapshotError::Io(e)) if e.kind() == io::ErrorKind::InvalidInput
    ));
}
