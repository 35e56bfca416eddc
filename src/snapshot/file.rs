//! Snapshots: an engine's whole state in one versioned, checksummed file, saved atomically
//! and loaded with every invariant checked. This module is the only one that knows bincode.
//!
//! # Layout (format version 4)
//!
//! A 28-byte header, all integers little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"IDGRAPH\0"` |
//! | 8 | 4 | format version, `4` |
//! | 12 | 4 | flags, `0` (no flag is defined yet; a set bit is refused) |
//! | 16 | 8 | body length in bytes |
//! | 24 | 4 | CRC-32 (IEEE) of bytes 8..24 followed by the body |
//!
//! then the body, encoded with bincode 2's legacy configuration (fixed-width integers,
//! `u64` lengths; see `wire::config`). The body is columnar ([`Body`]): the
//! caller's position bytes, the configuration, the counters, the property key arena, then
//! per project the id arena (one text array plus end offsets), the union-find `parent`,
//! `rank` and member-list `next` arrays, `person_at`, a personless bitmap, the person
//! records as columns (uuid, created_at, version, flags, anchor), the properties as
//! per-person runs of key numbers plus a pre-order value stream, the groups sorted by
//! (type index, key), the links with their merge records, and the records' sides as a table
//! (each side whole or a delta on an earlier side: its base, its rows that set a key among
//! the record property rows, the keys it removes, and each person slot's latest side).
//! Everything is written in dense-index order, so the same graph always gives the same
//! bytes, whatever the process's hash seeds.
//!
//! The checksum covers the version, the flags and the length as well as the body, so a
//! flipped bit anywhere but the magic reads as [`SnapshotError::ChecksumMismatch`],
//! [`SnapshotError::Truncated`] or, in the version, [`SnapshotError::UnsupportedVersion`].
//!
//! Format 3 differs from format 2 in two places: its warning counters are stored by
//! PostHog's name, beside their counts (format 2 held one count per kind, in the order the
//! kinds had then), so that a new kind of warning changes no file; and its checksum covers
//! the version (format 2's covered bytes 12..24), so that no flipped bit makes a format 3
//! file read as format 2. Format 4 differs from format 3 in its merge records: format 3 kept
//! both sides' whole property lists per record (the link record held their row counts),
//! which grows with merges × properties; format 4's link records name sides of the table
//! above, and a side that a delta describes stores only what changed (`graph/sides.rs`).
//! This build reads formats 2, 3 and 4 (an older file's sides load whole, and each
//! person's latest side is the longer side of the newest record inside it) and writes
//! format 4; the golden files `tests/fixtures/snapshot_v2.idg`, `snapshot_v3.idg` and
//! `snapshot_v4.idg` pin them.
//!
//! Version 1 (columns for persons, properties and links) was never released; a version 1
//! file is refused with [`SnapshotError::UnsupportedVersion`].

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::context::DecodeContext;
use super::schema::Body;
use super::{body, concurrent, load as checks, prepare, save, wire};
use crate::engine::Engine;
use crate::error::{InvalidSnapshot, SnapshotError};

const MAGIC: [u8; 8] = *b"IDGRAPH\0";
/// The format this build writes.
pub(super) const VERSION: u32 = 4;
/// The older format whose merge records keep both sides whole, which this build still
/// reads.
const VERSION_3: u32 = 3;
/// The oldest format this build still reads: its warning counters are in kind order, and
/// its checksum does not cover the version.
const VERSION_2: u32 = 2;
/// Where the bytes the checksum of format 3 covers begin: the version.
const COVERED_FROM: usize = 8;
const HEADER_LEN: usize = 28;
/// The smallest body whose load takes a second thread: below it, starting and feeding the
/// thread costs about what it saves (in scratch runs, 100 KB bodies took 62-77 µs on this
/// thread and about 87 µs with a second, 500 KB about 300 µs either way, 5 MB 2.6 ms with a
/// second against 3.6 ms on one thread before loads had one).
const SECOND_THREAD_FROM: u64 = 1 << 20;

/// An engine restored from a snapshot, with the position its writer stored beside it.
///
/// The position is opaque to idgraph: a Kafka offset, a file name and line, whatever tells
/// the caller where to resume reading its source so that no event is lost or applied twice.
#[derive(Clone)]
#[non_exhaustive]
pub struct Snapshot {
    /// The restored engine.
    pub engine: Engine,
    /// The bytes given to the save: [`Engine::save_to`], [`Engine::save_to_vec`] or
    /// [`Engine::save_to_path`].
    pub position: Vec<u8>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("stats", &self.engine.stats())
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

fn header(flags: u32, len: u64, crc: u32) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&flags.to_le_bytes());
    header[16..24].copy_from_slice(&len.to_le_bytes());
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// The checksum of the header bytes a version covers followed by a body whose own CRC
/// state is `body`.
fn checksum(covered: &[u8], body: &crc32fast::Hasher) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(covered);
    crc.combine(body);
    crc.finalize()
}

/// Writes a snapshot of `engine`, with `position`, to `writer` (see [`Engine::save_to`]).
pub(crate) fn save_to<W: Write>(
    engine: &Engine,
    mut writer: W,
    position: &[u8],
) -> Result<(), SnapshotError> {
    write_body(&save::body(engine, position)?, &mut writer)
}

/// A snapshot of `engine`, with `position`, in a new vector (see [`Engine::save_to_vec`]).
pub(crate) fn save_to_vec(engine: &Engine, position: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    let mut out = Cursor::new(Vec::new());
    write_then_header(&save::body(engine, position)?, &mut out)?;
    Ok(out.into_inner())
}

/// Saves a snapshot of `engine` to `path` atomically (see [`Engine::save_to_path`]).
pub(crate) fn save_to_path(
    engine: &Engine,
    path: &Path,
    position: &[u8],
) -> Result<(), SnapshotError> {
    write_atomically(path, |writer| {
        write_then_header(&save::body(engine, position)?, writer)
    })
}

/// Reads a snapshot from a stream (see [`Engine::load_from`]).
pub(crate) fn load_from<R: Read>(reader: R) -> Result<Snapshot, SnapshotError> {
    load(Input::Stream { reader, size: None })
}

/// Reads a snapshot held in memory (see [`Engine::load_from_bytes`]).
pub(crate) fn load_from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    load(Input::<io::Empty>::Bytes(bytes))
}

/// Reads a snapshot from a file (see [`Engine::load_from_path`]).
pub(crate) fn load_from_path(path: &Path) -> Result<Snapshot, SnapshotError> {
    let mut file = File::open(path)?;
    // Only a regular file's length is what it holds: a pipe or a FIFO reports what is
    // buffered in it, if anything, so a stream is read to the length in its header.
    let size = file
        .metadata()
        .ok()
        .filter(fs::Metadata::is_file)
        .map(|m| m.len());
    let snapshot = load(Input::Stream {
        reader: &mut file,
        size,
    })?;
    if !at_end(&mut file)? {
        return Err(SnapshotError::TrailingBytes);
    }
    Ok(snapshot)
}

/// Writes the header and then `body`.
fn write_body<W: Write>(body: &Body<'_>, writer: &mut W) -> Result<(), SnapshotError> {
    // Two passes over the engine instead of one into a buffer: the header, which comes
    // first, needs the body's length and checksum, and measuring is cheaper than copying
    // the whole body once more.
    let (len, body_crc) = body::measure(body).map_err(io::Error::other)?;
    writer.write_all(&header_for(len, &body_crc))?;
    body::write(body, writer)?;
    writer.flush()?;
    Ok(())
}

/// Writes a placeholder header, the body, and then the header over the placeholder: one
/// pass over the engine where [`write_body`] needs two.
fn write_then_header<W: Write + Seek>(
    body: &Body<'_>,
    writer: &mut W,
) -> Result<(), SnapshotError> {
    let start = writer.stream_position()?;
    writer.write_all(&[0; HEADER_LEN])?;
    let (len, body_crc) = body::write_measured(body, writer)?;
    let end = writer.stream_position()?;
    writer.seek(SeekFrom::Start(start))?;
    writer.write_all(&header_for(len, &body_crc))?;
    writer.seek(SeekFrom::Start(end))?;
    writer.flush()?;
    Ok(())
}

/// The header of a body of `len` bytes whose own CRC state is `body_crc`.
fn header_for(len: u64, body_crc: &crc32fast::Hasher) -> [u8; HEADER_LEN] {
    let flags = 0u32;
    let mut covered = header(flags, len, 0);
    let crc = checksum(&covered[COVERED_FROM..24], body_crc);
    covered[24..28].copy_from_slice(&crc.to_le_bytes());
    covered
}

/// A header that passed the magic and version checks.
struct Header {
    bytes: [u8; HEADER_LEN],
}

impl Header {
    fn body_len(&self) -> u64 {
        let mut len = [0u8; 8];
        len.copy_from_slice(&self.bytes[16..24]);
        u64::from_le_bytes(len)
    }

    fn version(&self) -> u32 {
        let b = &self.bytes;
        u32::from_le_bytes([b[8], b[9], b[10], b[11]])
    }

    fn crc(&self) -> u32 {
        let b = &self.bytes;
        u32::from_le_bytes([b[24], b[25], b[26], b[27]])
    }

    /// The bytes the checksum covers besides the body: from the version on from format 3,
    /// so that a flipped version bit cannot pass for format 2; the flags and length in
    /// format 2.
    fn covered(&self) -> &[u8] {
        if self.version() == VERSION_2 {
            &self.bytes[12..24]
        } else {
            &self.bytes[COVERED_FROM..24]
        }
    }

    fn flags(&self) -> &[u8] {
        &self.bytes[12..16]
    }
}

/// Reads and checks the header.
fn read_header<R: Read>(reader: &mut R) -> Result<Header, SnapshotError> {
    let mut bytes = [0u8; HEADER_LEN];
    let magic_read = read_full(reader, &mut bytes[..8])?;
    if bytes[..magic_read] != MAGIC[..magic_read] {
        return Err(SnapshotError::NotASnapshot);
    }
    if magic_read < 8 {
        return Err(SnapshotError::Truncated);
    }
    if read_full(reader, &mut bytes[8..12])? < 4 {
        return Err(SnapshotError::Truncated);
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if ![VERSION, VERSION_3, VERSION_2].contains(&version) {
        return Err(SnapshotError::UnsupportedVersion {
            found: version,
            expected: VERSION,
        });
    }
    if read_full(reader, &mut bytes[12..])? < HEADER_LEN - 12 {
        return Err(SnapshotError::Truncated);
    }
    Ok(Header { bytes })
}

/// Whether `reader` has nothing more to give.
fn at_end<R: Read>(reader: &mut R) -> Result<bool, SnapshotError> {
    Ok(read_full(reader, &mut [0u8; 1])? == 0)
}

/// Fills as much of `buf` as the reader has; returns how much.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, SnapshotError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

/// Where a load reads a snapshot from.
enum Input<'b, R> {
    /// A stream, and its size when it is known (a file's).
    Stream { reader: R, size: Option<u64> },
    /// The snapshot's bytes, and maybe more after them.
    Bytes(&'b [u8]),
}

/// A decoded body (or why it does not decode), the checksum of its bytes, and what its
/// jobs prepared.
type Decoded = (
    Result<Body<'static>, body::ReadError>,
    crc32fast::Hasher,
    prepare::Prepared,
);

/// The one load every entry point goes through: the header, the body decoded the way its
/// input allows, then the checksum and the checks.
fn load<R: Read>(input: Input<'_, R>) -> Result<Snapshot, SnapshotError> {
    // Bytes in memory are the snapshot alone, as a file is; a stream may carry more.
    let mut trailing = false;
    let (header, (body, crc, prepared)) = match input {
        Input::Stream { mut reader, size } => {
            let header = read_header(&mut reader)?;
            let decoded = decode_stream(&header, reader, size)?;
            (header, decoded)
        }
        Input::Bytes(bytes) => {
            let header = read_header(&mut &bytes[..])?;
            let body = usize::try_from(header.body_len())
                .ok()
                .and_then(|len| bytes.get(HEADER_LEN..HEADER_LEN.checked_add(len)?))
                .ok_or(SnapshotError::Truncated)?;
            trailing = bytes.len() > HEADER_LEN + body.len();
            let decoded = decode_bytes(&header, body);
            (header, decoded)
        }
    };
    verify(&header, &crc)?;
    // A failing reader fails the drain in `read_stream` too, so an I/O error from the
    // decoder here is a body that ends before its contents do.
    let body = body.map_err(read_error)?;
    let (engine, position) = checks::engine(body, prepared)?;
    // Refused after the body, as a file is: the same bytes give the same error.
    if trailing {
        return Err(SnapshotError::TrailingBytes);
    }
    Ok(Snapshot { engine, position })
}

/// Decodes the body of `header` as it streams in from `reader`, without holding its bytes.
fn decode_stream<R: Read>(
    header: &Header,
    reader: R,
    size_hint: Option<u64>,
) -> Result<Decoded, SnapshotError> {
    let len = header.body_len();
    if size_hint.is_some_and(|size| size.saturating_sub(HEADER_LEN as u64) < len) {
        return Err(SnapshotError::Truncated);
    }
    // The body is decoded as it streams in, and trusted only once the whole of it has
    // passed the checksum.
    // A column reserves ahead no more than the file holds, or a bounded amount when the
    // size is unknown, so a corrupt length cannot allocate the machine away.
    let reserve = size_hint.map_or(wire::STREAM_RESERVE, |size| {
        usize::try_from(size).unwrap_or(usize::MAX)
    });
    let context = DecodeContext::of_version(reserve, header.version());
    // A large body's jobs are done on a second thread as it decodes; a small one's here
    // after it.
    let (jobs, prepare) = mpsc::channel();
    let (prepared, read) = concurrent::join(
        len >= SECOND_THREAD_FROM,
        move || prepare::prepare(&prepare),
        move || body::read_stream(reader, len, context.sending(jobs)),
    );
    let (body, end) = read?;
    if end.read < len {
        return Err(SnapshotError::Truncated);
    }
    Ok((body, end.crc, prepared))
}

/// Decodes a body held in memory, `bytes` being exactly the body of `header`.
fn decode_bytes(header: &Header, bytes: &[u8]) -> Decoded {
    // Trusted only once the checksum matched. A large body is checksummed, and its jobs
    // done, on a second thread while it decodes here; a small one is checksummed as it
    // decodes, a block behind the decoder, and its jobs done here after it.
    let threaded = bytes.len() as u64 >= SECOND_THREAD_FROM;
    let context = DecodeContext::of_version(bytes.len(), header.version());
    let (jobs, prepare) = mpsc::channel();
    let ((summed_aside, prepared), (body, summed_here)) = concurrent::join(
        threaded,
        move || (threaded.then(|| crc_of(bytes)), prepare::prepare(&prepare)),
        move || body::read_with(bytes, context.sending(jobs), !threaded),
    );
    // One of the two summed the body; the fallback only keeps that off the types.
    let crc = summed_aside
        .or(summed_here)
        .unwrap_or_else(|| crc_of(bytes));
    (body, crc, prepared)
}

/// Checks the checksum over the header bytes its version covers and a body whose own CRC
/// state is `body`, then the flags.
fn verify(header: &Header, body: &crc32fast::Hasher) -> Result<(), SnapshotError> {
    let (stored, computed) = (header.crc(), checksum(header.covered(), body));
    if computed != stored {
        return Err(SnapshotError::ChecksumMismatch { stored, computed });
    }
    if header.flags() != [0; 4] {
        return Err(SnapshotError::invalid(InvalidSnapshot::UnknownFlags));
    }
    Ok(())
}

fn read_error(error: body::ReadError) -> SnapshotError {
    match error {
        body::ReadError::Codec(source) => SnapshotError::Invalid {
            kind: InvalidSnapshot::DoesNotDecode,
            source: Some(Box::new(source)),
        },
        body::ReadError::Trailing(n) => SnapshotError::invalid(InvalidSnapshot::TrailingBytes(n)),
    }
}

/// The CRC state of `bytes`.
fn crc_of(bytes: &[u8]) -> crc32fast::Hasher {
    let mut crc = crc32fast::Hasher::new();
    crc.update(bytes);
    crc
}

/// Distinguishes the temporary files of concurrent saves within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `path` through `write` atomically (see [`Engine::save_to_path`]).
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let no_name = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a snapshot path must name a file",
        )
    };
    path.file_name().ok_or_else(no_name)?;
    let (path, existing) = save_target(path)?;
    let name = path.file_name().ok_or_else(no_name)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    remove_stale_temps(&dir, name);
    let temp = dir.join(temp_name(
        name,
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed),
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    // Owner only: a snapshot holds user ids and emails. A rewrite takes the old file's
    // permissions below, before a byte is written.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&temp)?;
    let result = (|| {
        if let Some(existing) = &existing {
            keep_permissions(&file, existing)?;
        }
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        write(&mut writer)?;
        let file = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &path)?;
        Ok(())
    })();
    if result.is_err() {
        // Best effort: the temporary file is garbage either way, and the error that
        // matters is the one already in hand.
        let _ = fs::remove_file(&temp);
        return result;
    }
    sync_dir(&dir)
}

/// The file a save to `path` replaces, and its metadata when it exists. Symbolic links are
/// followed to the file they name, so that the save replaces that file in its own directory
/// and a link stays a link; anything else that exists and is not a regular file (a device, a
/// directory, a FIFO) is refused, since the rename would replace it.
fn save_target(path: &Path) -> Result<(PathBuf, Option<fs::Metadata>), SnapshotError> {
    let mut path = path.to_path_buf();
    // Linux's own limit on the links one lookup follows, which also ends a loop of links.
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((path, None)),
            Err(e) => return Err(e.into()),
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                // A relative link names a path from the link's own directory.
                path = match path.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            Ok(meta) if meta.is_file() => return Ok((path, Some(meta))),
            Ok(_) => return Err(SnapshotError::NotAFile { path }),
        }
    }
    Err(io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    ))
    .into())
}

/// Gives a rewrite's temporary file the permission bits of the file it replaces, so that
/// replacing a snapshot does not widen (or narrow) who may read it. The owner is the saving
/// process's own: giving a file away takes privileges.
#[cfg(unix)]
fn keep_permissions(file: &File, existing: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let bits = existing.permissions().mode() & 0o777;
    file.set_permissions(fs::Permissions::from_mode(bits))
}

/// Elsewhere a file's permissions are its read-only flag, which would only fail the rename.
#[cfg(not(unix))]
fn keep_permissions(_file: &File, _existing: &fs::Metadata) -> io::Result<()> {
    Ok(())
}

/// The name of a save's temporary file beside the file `name`: `.{name}.{pid}.{counter}.tmp`.
fn temp_name(name: &OsStr, pid: u32, counter: u64) -> OsString {
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".{pid}.{counter}.tmp"));
    temp
}

/// The process id in `file` when it is the name of a temporary file of a save to `name`
/// ([`temp_name`], exactly: two numbers in decimal, so that the temporary files of a file
/// named `{name}.5` are not taken for those of `name`).
fn temp_pid(file: &OsStr, name: &OsStr) -> Option<u32> {
    let numbers = file
        .as_encoded_bytes()
        .strip_prefix(b".")?
        .strip_prefix(name.as_encoded_bytes())?
        .strip_prefix(b".")?
        .strip_suffix(b".tmp")?;
    let numbers = std::str::from_utf8(numbers).ok()?;
    let (pid, counter) = numbers.split_once('.')?;
    let decimal = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    if !decimal(pid) || !decimal(counter) {
        return None;
    }
    counter.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// How long a temporary file may go unwritten before a save takes it for a leftover whatever
/// its process: one whose pid was reused since, or whose save hung. A running save writes
/// its file a megabyte at a time.
const STALE_AFTER: Duration = Duration::from_hours(1);

/// Removes the temporary files that saves to `name` in `dir` left when they were killed:
/// those of [`temp_name`]'s exact pattern whose process is no longer running on this
/// machine, or that nothing has written for [`STALE_AFTER`]. A concurrent save's file is
/// kept, as its process runs. (Saves into one directory from several machines, or from pid
/// namespaces that do not see each other, would take each other's files for leftovers: the
/// save whose file went fails, and no snapshot is damaged.) Best effort: what cannot be
/// listed or removed stays, and the save goes on.
fn remove_stale_temps(dir: &Path, name: &OsStr) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = temp_pid(&entry.file_name(), name) else {
            continue;
        };
        // The entry itself, not what a link names.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let quiet = meta
            .modified()
            .ok()
            .and_then(|written| written.elapsed().ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if meta.is_file() && (quiet || !process_runs(pid)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether a process `pid` may be running on this machine: known where `/proc` lists
/// processes (Linux), and assumed elsewhere, which leaves leftovers to [`STALE_AFTER`].
fn process_runs(pid: u32) -> bool {
    let proc = Path::new("/proc");
    pid == std::process::id() || !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Windows cannot open a directory as a file; its renames are durable once the file is.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), SnapshotError> {
    Ok(())
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
