//! Snapshot files as the file system has them: killed saves, permissions, links, things
//! that are not regular files, pipes, and files that go on after their snapshot.
#![cfg(unix)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly"
)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use idgraph::{Engine, Event, SnapshotError, Timestamp};

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("idgraph-files-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .apply(
            &Event::new("$identify", "user_1")
                .with_property("$anon_distinct_id", "anon_1")
                .with_timestamp(Timestamp::from_unix_micros(1_700_000_000_000_000)),
        )
        .unwrap();
    engine
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[track_caller]
fn check_position(path: &Path, position: &[u8]) {
    let loaded = Engine::load_from_path(path).expect("loads");
    assert_eq!(loaded.position, position);
    assert_eq!(loaded.engine.dump(), engine().dump());
}

/// The pid of a process that has ended.
fn ended_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A save killed before its rename left `.graph.idg.<pid>.<n>.tmp` beside the target
/// forever. The next save to the path removes those of idgraph's exact pattern whose
/// process is gone or that nothing wrote for an hour, and nothing else.
#[test]
fn a_save_removes_the_temporary_files_that_killed_saves_left() {
    let dir = tempdir("stale");
    let path = dir.join("graph.idg");
    engine().save_to_path(&path, b"first").unwrap();
    let me = std::process::id();
    let gone = [
        format!(".graph.idg.{}.0.tmp", ended_pid()),
        // Linux pids stop at 2^22.
        format!(".graph.idg.{}.17.tmp", u32::MAX),
        format!(".graph.idg.{me}.999.tmp"),
    ];
    let kept = [
        // A concurrent save of this very process, still being written.
        format!(".graph.idg.{me}.998.tmp"),
        // Not idgraph's pattern for this target.
        format!(".graph.idg.{}.tmp", u32::MAX),
        format!(".graph.idg.x{}.0.tmp", u32::MAX),
        format!(".graph.idg.{}.0.tmp.bak", u32::MAX),
        format!("graph.idg.{}.0.tmp", u32::MAX),
        format!(".other.idg.{}.0.tmp", u32::MAX),
        format!(".graph.idg.5.{}.0.tmp", u32::MAX),
        ".graph.idg.-1.0.tmp".to_owned(),
    ];
    for name in gone.iter().chain(&kept) {
        fs::write(dir.join(name), b"part of a snapshot").unwrap();
    }
    let hours_ago = SystemTime::now() - Duration::from_hours(2);
    fs::File::options()
        .write(true)
        .open(dir.join(&gone[2]))
        .unwrap()
        .set_modified(hours_ago)
        .unwrap();
    engine().save_to_path(&path, b"second").unwrap();
    let mut expected: Vec<String> = kept.to_vec();
    expected.push("graph.idg".to_owned());
    expected.sort();
    assert_eq!(names(&dir), expected);
    check_position(&path, b"second");
    fs::remove_dir_all(&dir).unwrap();
}

/// Rewriting a snapshot of mode 600 left it 644 (the temporary file's mode under the umask).
/// A rewrite keeps the mode of the file it replaces, and a new snapshot is the owner's alone.
#[test]
fn a_rewrite_keeps_the_mode_and_a_new_snapshot_is_private() {
    let dir = tempdir("mode");
    let path = dir.join("graph.idg");
    engine().save_to_path(&path, b"new").unwrap();
    assert_eq!(mode(&path), 0o600);
    for kept in [0o640, 0o600, 0o444] {
        fs::set_permissions(&path, fs::Permissions::from_mode(kept)).unwrap();
        engine().save_to_path(&path, b"again").unwrap();
        assert_eq!(mode(&path), kept, "{kept:o}");
        check_position(&path, b"again");
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// `--snapshot link.idg` replaced the symbolic link with a file, leaving the file it named
/// as it was. A save follows links to the file, replaces that in its own directory, and
/// the links stay links.
#[test]
fn a_save_through_a_symlink_replaces_the_file_it_names() {
    let dir = tempdir("symlink");
    fs::create_dir(dir.join("real")).unwrap();
    let file = dir.join("real/graph.idg");
    engine().save_to_path(&file, b"old").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.join("link.idg");
    symlink("real/graph.idg", &link).unwrap();
    let link_to_link = dir.join("again.idg");
    symlink(&link, &link_to_link).unwrap();
    for (through, position) in [(&link, &b"by link"[..]), (&link_to_link, b"by two")] {
        engine().save_to_path(through, position).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(fs::symlink_metadata(&link_to_link).unwrap().is_symlink());
        check_position(&file, position);
        assert_eq!(mode(&file), 0o640);
        assert_eq!(names(&dir), ["again.idg", "link.idg", "real"]);
        assert_eq!(names(&dir.join("real")), ["graph.idg"]);
    }
    // A link to nothing yet: the save creates the file it names.
    let dangling = dir.join("dangling.idg");
    symlink("real/new.idg", &dangling).unwrap();
    engine().save_to_path(&dangling, b"created").unwrap();
    assert!(fs::symlink_metadata(&dangling).unwrap().is_symlink());
    check_position(&dir.join("real/new.idg"), b"created");
    // A loop of links is an error, and nothing is written.
    symlink("loop_b", dir.join("loop_a")).unwrap();
    symlink("loop_a", dir.join("loop_b")).unwrap();
    let result = engine().save_to_path(dir.join("loop_a"), b"");
    assert!(matches!(result, Err(SnapshotError::Io(_))), "{result:?}");
    assert!(
        fs::symlink_metadata(dir.join("loop_a"))
            .unwrap()
            .is_symlink()
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// A FIFO, with the same name, for loading through.
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `--snapshot` onto a device node, a socket or a FIFO replaced it with a file. What exists
/// and is not a regular file is refused, whether named or reached through a link, and
/// left as it was.
#[test]
fn a_save_over_what_is_not_a_regular_file_is_refused() {
    let dir = tempdir("not-a-file");
    let socket = dir.join("socket.idg");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let fifo = dir.join("fifo.idg");
    mkfifo(&fifo);
    let directory = dir.join("directory.idg");
    fs::create_dir(&directory).unwrap();
    let link = dir.join("link.idg");
    symlink("fifo.idg", &link).unwrap();
    for (path, refused) in [
        (&socket, &socket),
        (&fifo, &fifo),
        (&directory, &directory),
        (&link, &fifo),
    ] {
        let result = engine().save_to_path(path, b"");
        assert!(
            matches!(&result, Err(SnapshotError::NotAFile { path }) if path == refused),
            "{result:?}"
        );
        let message = result.unwrap_err().to_string();
        assert!(message.contains("is not a regular file"), "{message}");
    }
    assert!(
        fs::symlink_metadata(&socket)
            .unwrap()
            .file_type()
            .is_socket()
    );
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(directory.is_dir());
    assert_eq!(
        names(&dir),
        ["directory.idg", "fifo.idg", "link.idg", "socket.idg"]
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Loads `fifo` while another thread writes `bytes` into it.
fn load_through_fifo(fifo: &Path, bytes: &[u8]) -> Result<idgraph::Snapshot, SnapshotError> {
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            // The reader may stop before the end: a broken pipe is its choice.
            let _ = fs::OpenOptions::new()
                .write(true)
                .open(fifo)
                .unwrap()
                .write_all(bytes);
        });
        let loaded = Engine::load_from_path(fifo);
        writer.join().unwrap();
        loaded
    })
}

/// A valid snapshot read through a FIFO (or a pipe, `<(cat s.idg)`) was refused as
/// truncated: load trusted the length the file system reports, 0 for a stream. A stream
/// loads; one that ends early is still truncated.
#[test]
fn a_snapshot_loads_through_a_fifo() {
    let dir = tempdir("fifo");
    let fifo = dir.join("stream.idg");
    mkfifo(&fifo);
    let bytes = engine().save_to_vec(b"streamed").unwrap();
    let loaded = load_through_fifo(&fifo, &bytes).expect("a stream loads");
    assert_eq!(loaded.position, b"streamed");
    assert_eq!(loaded.engine.dump(), engine().dump());
    for len in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
        let result = load_through_fifo(&fifo, &bytes[..len]);
        assert!(
            matches!(result, Err(SnapshotError::Truncated)),
            "{len} bytes: {result:?}"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// `printf junk >> s.idg; idgraph dump s.idg` exited 0: the bytes after the body were never
/// read. A file, a stream or bytes in memory that go on after the snapshot are damaged.
#[test]
fn bytes_after_the_snapshot_in_a_file_are_refused() {
    let dir = tempdir("trailing");
    let path = dir.join("graph.idg");
    let fifo = dir.join("stream.idg");
    mkfifo(&fifo);
    let mut bytes = engine().save_to_vec(b"").unwrap();
    assert!(Engine::load_from_bytes(&bytes).is_ok());
    // The last one fills more than a pipe holds.
    let zeros = vec![0; 100_000];
    for junk in [&b"\n"[..], b"junk", &zeros] {
        let mut appended = bytes.clone();
        appended.extend_from_slice(junk);
        fs::write(&path, &appended).unwrap();
        for result in [
            Engine::load_from_path(&path),
            Engine::load_from_bytes(&appended),
            load_through_fifo(&fifo, &appended),
        ] {
            assert!(
                matches!(result, Err(SnapshotError::TrailingBytes)),
                "{} bytes after: {result:?}",
                junk.len()
            );
        }
    }
    assert_eq!(
        SnapshotError::TrailingBytes.to_string(),
        "snapshot is damaged: bytes follow its end"
    );
    // A damaged body is reported as such first, as for a file without anything after it.
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    bytes.extend_from_slice(b"junk");
    assert!(matches!(
        Engine::load_from_bytes(&bytes),
        Err(SnapshotError::ChecksumMismatch { .. })
    ));
    fs::remove_dir_all(&dir).unwrap();
}
