//! Snapshots: an engine's whole state in one versioned, checksummed file, saved atomically
//! and loaded with every invariant checked. This module is the only one that knows bincode.
//!
//! # Layout (format version 2)
//!
//! A 28-byte header, all integers little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"IDGRAPH\0"` |
//! | 8 | 4 | format version, `2` |
//! | 12 | 4 | flags, `0` (no flag is defined yet; a set bit is refused) |
//! | 16 | 8 | body length in bytes |
//! | 24 | 4 | CRC-32 (IEEE) of bytes 12..24 followed by the body |
//!
//! then the body, encoded with bincode 2's legacy configuration (fixed-width integers,
//! `u64` lengths; see `codec::config`). The body is columnar ([`codec::BodyV2`]): the
//! caller's position bytes, the configuration, the counters, the property key arena, then
//! per project the id arena (one text array plus end offsets), the union-find `parent`,
//! `rank` and member-list `next` arrays, `person_at`, a personless bitmap, the person
//! records as columns (uuid, created_at, version, flags, anchor), the properties as
//! per-person runs of key numbers plus a pre-order value stream, and the groups sorted by
//! (type index, key). Everything is written in dense-index order, so the same graph always
//! gives the same bytes, whatever the process's hash seeds.
//!
//! The checksum covers the flags and the length as well as the body, so a flipped bit
//! anywhere but the magic and the version reads as [`SnapshotError::ChecksumMismatch`] or
//! [`SnapshotError::Truncated`].
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

use super::{codec, concurrent, convert};
use crate::engine::Engine;
use crate::error::SnapshotError;

const MAGIC: [u8; 8] = *b"IDGRAPH\0";
/// The format this build writes, and the only one it reads.
const VERSION: u32 = 2;
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
    /// The bytes given to [`Engine::save_with_position`] or [`Engine::save_to_path`];
    /// empty after [`Engine::save`].
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

/// The checksum of a header's flags and length followed by a body whose own CRC state is
/// `body`.
fn checksum(flags_and_len: &[u8], body: &crc32fast::Hasher) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(flags_and_len);
    crc.combine(body);
    crc.finalize()
}

impl Engine {
    /// Writes a snapshot of the engine to `writer`, with an empty position.
    ///
    /// The writer receives the header and then the body in chunks of up to 16 KiB; wrap an
    /// unbuffered writer such as a `File` in a `BufWriter` (or use [`Engine::save_to_path`],
    /// which also makes the write atomic).
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Io`] when the writer fails (it may then hold part of a snapshot,
    /// which [`Engine::load`] refuses); [`SnapshotError::Invalid`] when the engine holds
    /// something the format cannot store (a property value nested more than 512 levels).
    pub fn save<W: Write>(&self, writer: W) -> Result<(), SnapshotError> {
        self.save_with_position(writer, &[])
    }

    /// Writes a snapshot of the engine to `writer`, storing `position` beside it: the
    /// caller's place in its event source, returned by [`Engine::load_with_position`].
    ///
    /// # Errors
    ///
    /// As [`Engine::save`].
    pub fn save_with_position<W: Write>(
        &self,
        mut writer: W,
        position: &[u8],
    ) -> Result<(), SnapshotError> {
        let body = convert::body(self, position)?;
        write_body(&body, &mut writer)
    }

    /// Writes a snapshot of the engine, with `position`, into a new vector.
    ///
    /// This is the fastest way to a snapshot in memory: it walks the engine once and
    /// writes the header last, where [`Engine::save`] to a plain writer walks it twice
    /// (once to learn the body's length and checksum, which the header holds, and once to
    /// write it).
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Invalid`] as for [`Engine::save`].
    ///
    /// # Examples
    ///
    /// ```
    /// use idgraph::{Engine, Event, Project};
    ///
    /// let mut engine = Engine::new();
    /// engine.apply(&Event::new("$identify", "user_1").with_property("$anon_distinct_id", "anon_1"))?;
    /// let bytes = engine.save_to_vec(b"offset 1")?;
    /// let restored = Engine::load_from_bytes(&bytes)?;
    /// assert_eq!(restored.position, b"offset 1");
    /// assert_eq!(restored.engine.dump(), engine.dump());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save_to_vec(&self, position: &[u8]) -> Result<Vec<u8>, SnapshotError> {
        let mut out = Cursor::new(Vec::new());
        write_then_header(&convert::body(self, position)?, &mut out)?;
        Ok(out.into_inner())
    }

    /// Reads a snapshot from `reader`, dropping its position.
    ///
    /// Reads exactly the snapshot: bytes after it are left in the reader, for a stream that
    /// carries more than one thing. (A file is the snapshot alone: [`Engine::load_from_path`]
    /// and [`Engine::load_from_bytes`] refuse bytes after it.) The body is
    /// decoded as it streams in, the large columns read straight into the engine's memory,
    /// so a `File` or a socket needs no buffering of its own.
    ///
    /// A load of a body of 1 MiB or more uses a second thread for its lifetime when one can
    /// start: as soon as the value store's columns, a project's ids, its union-find or its
    /// persons are decoded, that thread rebuilds their hash tables and checks them while the
    /// rest of the body decodes here. A smaller body, or a process where no thread starts,
    /// has the same work done here after decoding, with the same result.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::NotASnapshot`], [`SnapshotError::Truncated`],
    /// [`SnapshotError::UnsupportedVersion`], [`SnapshotError::ChecksumMismatch`],
    /// [`SnapshotError::Invalid`] (the contents break an invariant of the graph) or
    /// [`SnapshotError::Io`]. Never a panic, and never a different graph.
    pub fn load<R: Read>(reader: R) -> Result<Engine, SnapshotError> {
        Ok(Engine::load_with_position(reader)?.engine)
    }

    /// Reads a snapshot and the position stored in it from `reader`.
    ///
    /// # Errors
    ///
    /// As [`Engine::load`].
    pub fn load_with_position<R: Read>(reader: R) -> Result<Snapshot, SnapshotError> {
        load(reader, None)
    }

    /// Reads a snapshot held in memory (a file read or mapped whole, say), without
    /// copying the body first. The second thread (see [`Engine::load`]) also checksums the
    /// body while it decodes.
    ///
    /// # Errors
    ///
    /// As [`Engine::load`], and [`SnapshotError::TrailingBytes`] when `bytes` go on after
    /// the snapshot.
    pub fn load_from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let header = read_header(&mut &bytes[..])?;
        let body = usize::try_from(header.body_len())
            .ok()
            .and_then(|len| bytes.get(HEADER_LEN..HEADER_LEN.checked_add(len)?))
            .ok_or(SnapshotError::Truncated)?;
        let snapshot = decode(header.flags_and_len(), header.crc(), body)?;
        // Refused after the body, as a file is: the same bytes give the same error.
        if bytes.len() > HEADER_LEN + body.len() {
            return Err(SnapshotError::TrailingBytes);
        }
        Ok(snapshot)
    }

    /// Saves a snapshot to `path` atomically: it writes a temporary file in the same
    /// directory, syncs it to disk, renames it over `path` and syncs the directory, so that
    /// after a crash or an error `path` holds either the previous snapshot or the new one,
    /// whole.
    ///
    /// A new file is readable by its owner alone (mode 600 on Unix: a snapshot holds user
    /// ids and emails); a rewrite keeps the permission bits of the file it replaces. A
    /// symbolic link is followed to the file it names, which is replaced in its own
    /// directory, and the link stays. The temporary file is `.{name}.{pid}.{n}.tmp` beside
    /// the file; those that killed saves left there are removed by the next save to the
    /// file: the ones whose process no longer runs on this machine (as `/proc` tells), or
    /// that nothing has written for an hour.
    ///
    /// # Errors
    ///
    /// As [`Engine::save`], and [`SnapshotError::NotAFile`] when `path` (or the file a link
    /// names) exists and is not a regular file; on any error the previous file at `path` is
    /// left as it was and the temporary file is removed.
    pub fn save_to_path(
        &self,
        path: impl AsRef<Path>,
        position: &[u8],
    ) -> Result<(), SnapshotError> {
        write_atomically(path.as_ref(), |writer| {
            write_then_header(&convert::body(self, position)?, writer)
        })
    }

    /// Loads a snapshot and its position from `path`.
    ///
    /// The file is read as [`Engine::load`] reads a stream, without holding its bytes: the
    /// large columns go straight from the file into the engine's memory. `path` may be a
    /// pipe or a FIFO (`<(zcat s.idg.gz)`) as well as a file. The file must hold the
    /// snapshot and nothing else.
    ///
    /// # Errors
    ///
    /// As [`Engine::load`], and [`SnapshotError::TrailingBytes`] when the file goes on after
    /// the snapshot.
    ///
    /// # Examples
    ///
    /// A service that saves its graph with its place in the source, and on restart
    /// restores both and resumes reading there:
    ///
    /// ```
    /// use idgraph::{Engine, Event};
    ///
    /// let path = std::env::temp_dir().join(format!("idgraph-doc-{}.idg", std::process::id()));
    /// let mut engine = Engine::new();
    /// let source = ["anon_1", "anon_2", "anon_3"];
    /// for id in &source[..2] {
    ///     engine.apply(&Event::new("$pageview", *id))?;
    /// }
    /// engine.save_to_path(&path, &2u64.to_le_bytes())?;
    ///
    /// let restored = Engine::load_from_path(&path)?;
    /// let mut engine = restored.engine;
    /// let next = u64::from_le_bytes(restored.position.as_slice().try_into()?);
    /// for id in &source[next as usize..] {
    ///     engine.apply(&Event::new("$pageview", *id))?;
    /// }
    /// assert_eq!(engine.stats().distinct_ids, 3);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_from_path(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotError> {
        let mut file = File::open(path)?;
        // Only a regular file's length is what it holds: a pipe or a FIFO reports what is
        // buffered in it, if anything, so a stream is read to the length in its header.
        let size = file
            .metadata()
            .ok()
            .filter(fs::Metadata::is_file)
            .map(|m| m.len());
        let snapshot = load(&mut file, size)?;
        if !at_end(&mut file)? {
            return Err(SnapshotError::TrailingBytes);
        }
        Ok(snapshot)
    }
}

/// Writes the header and then `body`.
fn write_body<W: Write>(body: &codec::BodyV2<'_>, writer: &mut W) -> Result<(), SnapshotError> {
    // Two passes over the engine instead of one into a buffer: the header, which comes
    // first, needs the body's length and checksum, and measuring is cheaper than copying
    // the whole body once more.
    let (len, body_crc) = codec::measure(body).map_err(io::Error::other)?;
    writer.write_all(&header_for(len, &body_crc))?;
    codec::write(body, writer)?;
    writer.flush()?;
    Ok(())
}

/// Writes a placeholder header, the body, and then the header over the placeholder: one
/// pass over the engine where [`write_body`] needs two.
fn write_then_header<W: Write + Seek>(
    body: &codec::BodyV2<'_>,
    writer: &mut W,
) -> Result<(), SnapshotError> {
    let start = writer.stream_position()?;
    writer.write_all(&[0; HEADER_LEN])?;
    let (len, body_crc) = codec::write_measured(body, writer)?;
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
    let mut flags_and_len = [0u8; 12];
    flags_and_len[..4].copy_from_slice(&flags.to_le_bytes());
    flags_and_len[4..].copy_from_slice(&len.to_le_bytes());
    header(flags, len, checksum(&flags_and_len, body_crc))
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

    fn crc(&self) -> u32 {
        let b = &self.bytes;
        u32::from_le_bytes([b[24], b[25], b[26], b[27]])
    }

    /// The bytes the checksum covers besides the body.
    fn flags_and_len(&self) -> &[u8] {
        &self.bytes[12..24]
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
    if version != VERSION {
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

fn load<R: Read>(mut reader: R, size_hint: Option<u64>) -> Result<Snapshot, SnapshotError> {
    let header = read_header(&mut reader)?;
    let len = header.body_len();
    if size_hint.is_some_and(|size| size.saturating_sub(HEADER_LEN as u64) < len) {
        return Err(SnapshotError::Truncated);
    }
    // The body is decoded as it streams in, and trusted only once the whole of it has
    // passed the checksum.
    // A column reserves ahead no more than the file holds, or a bounded amount when the
    // size is unknown, so a corrupt length cannot allocate the machine away.
    let reserve = size_hint.map_or(codec::STREAM_RESERVE, |size| {
        usize::try_from(size).unwrap_or(usize::MAX)
    });
    // A large body's jobs are done on a second thread as it decodes; a small one's here
    // after it.
    let (jobs, prepare) = mpsc::channel();
    let (prepared, read) = concurrent::join(
        len >= SECOND_THREAD_FROM,
        move || convert::prepare(&prepare),
        move || codec::read_stream(reader, len, codec::DecodeContext::sending(reserve, jobs)),
    );
    let (body, end) = read?;
    if end.read < len {
        return Err(SnapshotError::Truncated);
    }
    verify(header.flags_and_len(), header.crc(), &end.crc)?;
    // A failing reader fails the drain in `read_stream` too, so an I/O error from the
    // decoder here is a body that ends before its contents do.
    let body = body.map_err(read_error)?;
    let (engine, position) = convert::engine(body, prepared)?;
    Ok(Snapshot { engine, position })
}

/// Checks the checksum over the header's flags and length and a body whose own CRC state
/// is `body`, then the flags.
fn verify(
    flags_and_len: &[u8],
    stored: u32,
    body: &crc32fast::Hasher,
) -> Result<(), SnapshotError> {
    let computed = checksum(flags_and_len, body);
    if computed != stored {
        return Err(SnapshotError::ChecksumMismatch { stored, computed });
    }
    if flags_and_len[..4] != [0; 4] {
        return Err(SnapshotError::invalid("unknown flags"));
    }
    Ok(())
}

fn read_error(error: codec::ReadError) -> SnapshotError {
    match error {
        codec::ReadError::Codec(source) => SnapshotError::Invalid {
            reason: "the body does not decode".to_owned(),
            source: Some(Box::new(source)),
        },
        codec::ReadError::Trailing(n) => {
            SnapshotError::invalid(format!("{n} bytes after the end of the body"))
        }
    }
}

fn decode(flags_and_len: &[u8], stored: u32, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    // Trusted only once the checksum matched. A large body is checksummed, and its jobs
    // done, on a second thread while it decodes here; a small one is checksummed as it
    // decodes, a block behind the decoder, and its jobs done here after it.
    let threaded = bytes.len() as u64 >= SECOND_THREAD_FROM;
    let (jobs, prepare) = mpsc::channel();
    let ((summed_aside, prepared), (body, summed_here)) = concurrent::join(
        threaded,
        move || (threaded.then(|| crc_of(bytes)), convert::prepare(&prepare)),
        move || {
            let context = codec::DecodeContext::sending(bytes.len(), jobs);
            codec::read_with(bytes, context, !threaded)
        },
    );
    // One of the two summed the body; the fallback only keeps that off the types.
    let crc = summed_aside
        .or(summed_here)
        .unwrap_or_else(|| crc_of(bytes));
    verify(flags_and_len, stored, &crc)?;
    let body = body.map_err(read_error)?;
    let (engine, position) = convert::engine(body, prepared)?;
    Ok(Snapshot { engine, position })
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
