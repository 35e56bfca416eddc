//! The `idgraph` binary tested as a program: fixtures in, stdout, stderr and exit codes out.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly"
)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn idgraph(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idgraph"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or_default())
        .expect("stdin takes the input");
    drop(pipe);
    child.wait_with_output().expect("the binary ends")
}

#[track_caller]
fn check_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn replay_prints_the_dump_and_reports_rejected_lines() {
    let output = idgraph(&["replay", "tests/fixtures/signup.jsonl"], None);
    check_exit(&output, 0);
    let dump = stdout_json(&output);
    let persons = dump["persons"].as_array().unwrap();
    assert_eq!(persons.len(), 1);
    assert_eq!(
        persons[0]["distinct_ids"],
        json!(["anon_1", "user_1", "user_2"])
    );
    assert_eq!(
        persons[0]["properties"],
        json!({"email": "a@example.com", "first_page": "/pricing"})
    );
    assert_eq!(persons[0]["is_identified"], json!(true));
    assert_eq!(persons[0]["team"], json!("default"));
    assert_eq!(
        dump["personless_distinct_ids"],
        json!([{"team": "default", "distinct_id": "visitor_9"}])
    );
    assert_eq!(dump["groups"][0]["group_key"], json!("acme"));
    assert_eq!(dump["groups"][0]["properties"], json!({"name": "Acme"}));
    assert_eq!(dump["warnings"], json!([]));
    assert_eq!(
        dump["rejected"],
        json!([
            {"line": 5, "reason": "not valid JSON: expected ident at line 1 column 2"},
            {"line": 6, "reason": "missing distinct_id"}
        ])
    );
    let err = stderr(&output);
    assert!(
        err.contains("tests/fixtures/signup.jsonl:5: rejected: not valid JSON"),
        "{err}"
    );
    assert!(
        err.contains("tests/fixtures/signup.jsonl:6: rejected: missing distinct_id"),
        "{err}"
    );
}

#[test]
fn replay_reads_standard_input() {
    let input = b"{\"event\": \"$identify\", \"distinct_id\": \"bob\", \"properties\": {\"$anon_distinct_id\": \"null\"}}\n";
    let output = idgraph(&["replay", "-"], Some(input));
    check_exit(&output, 0);
    let dump = stdout_json(&output);
    assert_eq!(dump["persons"][0]["distinct_ids"], json!(["bob"]));
    let warning = &dump["warnings"][0];
    assert_eq!(
        warning["type"],
        json!("cannot_merge_with_illegal_distinct_id")
    );
    assert_eq!(warning["line"], json!(1));
    assert_eq!(warning["distinct_id"], json!("bob"));
}

#[test]
fn strict_stops_at_the_first_rejected_line() {
    let output = idgraph(&["replay", "--strict", "tests/fixtures/signup.jsonl"], None);
    check_exit(&output, 1);
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(err.contains("signup.jsonl:5: rejected"), "{err}");
    assert!(!err.contains(":6:"), "{err}");
}

#[test]
fn a_last_line_without_newline_is_read() {
    let output = idgraph(
        &["replay", "tests/fixtures/no_trailing_newline.jsonl"],
        None,
    );
    check_exit(&output, 0);
    assert_eq!(
        stdout_json(&output)["persons"][0]["distinct_ids"],
        json!(["no_newline_at_end"])
    );
}

#[test]
fn invalid_utf8_and_huge_lines_are_rejected_not_fatal() {
    let mut input = b"{\"event\": \"e\", \"distinct_id\": \"\xff\xfe\"}\n".to_vec();
    let big = "x".repeat(4 << 20);
    input.extend(format!("{{\"event\": \"e\", \"distinct_id\": \"big\", \"properties\": {{\"blob\": \"{big}\"}}}}\n").as_bytes());
    input.extend(
        format!(
            "{{\"event\": \"e\", \"distinct_id\": \"d\", \"properties\": {{\"$set\": {}{}}}}}\n",
            "[".repeat(5000),
            "]".repeat(5000)
        )
        .as_bytes(),
    );
    // Its 4 MiB line is over the default maximum event size (which
    // a_line_over_the_maximum_event_size_is_rejected_with_its_number pins): allowed here.
    let output = idgraph(
        &["replay", "--max-event-bytes", "8388608", "-"],
        Some(&input),
    );
    check_exit(&output, 0);
    let dump = stdout_json(&output);
    assert_eq!(dump["persons"].as_array().unwrap().len(), 1);
    let lines: Vec<u64> = dump["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 3]);
}

#[test]
fn a_missing_file_is_a_data_error() {
    let output = idgraph(&["replay", "tests/fixtures/does_not_exist.jsonl"], None);
    check_exit(&output, 1);
    assert!(stderr(&output).contains("does_not_exist.jsonl"));
}

#[test]
fn usage_errors_exit_with_two() {
    check_exit(&idgraph(&["replay"], None), 2);
    check_exit(&idgraph(&["no-such-command"], None), 2);
}

/// The README shows a replay of `tests/fixtures/signup.jsonl` with its output; keep it true.
#[test]
fn the_readme_replay_example_is_real_output() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## Replay your own events").expect("section")..];
    let start = section.find("```json\n").expect("a json block") + "```json\n".len();
    let end = start + section[start..].find("\n```").expect("block end");
    let shown: Value =
        serde_json::from_str(&section[start..end]).expect("the README's dump is JSON");
    let output = idgraph(&["replay", "tests/fixtures/signup.jsonl"], None);
    check_exit(&output, 0);
    assert_eq!(stdout_json(&output), shown);
    for line in stderr(&output).lines() {
        assert!(section.contains(line), "README lacks stderr line {line}");
    }
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("idgraph-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path_str(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// Ingests `tests/fixtures/signup.jsonl` into a snapshot at `snapshot`.
#[track_caller]
fn ingest_signup(snapshot: &std::path::Path) {
    let output = idgraph(
        &[
            "ingest",
            "tests/fixtures/signup.jsonl",
            "--snapshot",
            path_str(snapshot),
        ],
        None,
    );
    check_exit(&output, 0);
}

#[test]
fn ingest_writes_a_snapshot_that_dump_resolve_and_stats_read() {
    let dir = scratch("ingest");
    let snapshot = dir.join("graph.idg");
    let output = idgraph(
        &[
            "ingest",
            "tests/fixtures/signup.jsonl",
            "--snapshot",
            path_str(&snapshot),
        ],
        None,
    );
    check_exit(&output, 0);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("rejected              2"), "{summary}");
    assert!(summary.contains("persons               1"), "{summary}");

    let dump = idgraph(&["dump", path_str(&snapshot)], None);
    check_exit(&dump, 0);
    let replayed = stdout_json(&idgraph(&["replay", "tests/fixtures/signup.jsonl"], None));
    let dumped = stdout_json(&dump);
    assert_eq!(dumped["persons"], replayed["persons"]);
    assert_eq!(dumped["groups"], replayed["groups"]);
    assert_eq!(dumped["warnings"], json!([]));

    let resolved = idgraph(&["resolve", path_str(&snapshot), "user_2", "nobody"], None);
    check_exit(&resolved, 0);
    let lines: Vec<Value> = String::from_utf8_lossy(&resolved.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0]["distinct_ids"],
        json!(["anon_1", "user_1", "user_2"])
    );
    assert_eq!(lines[0]["person"], replayed["persons"][0]["uuid"]);
    assert_eq!(lines[1], json!({"distinct_id": "nobody", "person": null}));

    let stats = idgraph(&["stats", path_str(&snapshot)], None);
    check_exit(&stats, 0);
    assert!(String::from_utf8_lossy(&stats.stdout).contains("largest               3"));
}

#[test]
fn ingest_continues_from_a_snapshot() {
    let dir = scratch("continue");
    let (first, second) = (dir.join("first.idg"), dir.join("second.idg"));
    let more = dir.join("more.jsonl");
    std::fs::write(&more, "{\"event\": \"$identify\", \"distinct_id\": \"user_1\", \"properties\": {\"$anon_distinct_id\": \"laptop\"}}\n").unwrap();
    ingest_signup(&first);
    check_exit(
        &idgraph(
            &[
                "ingest",
                path_str(&more),
                "--from",
                path_str(&first),
                "--snapshot",
                path_str(&second),
            ],
            None,
        ),
        0,
    );
    let resolved = idgraph(&["resolve", path_str(&second), "laptop"], None);
    let line: Value = serde_json::from_slice(&resolved.stdout).unwrap();
    assert_eq!(
        line["distinct_ids"],
        json!(["anon_1", "laptop", "user_1", "user_2"])
    );
}

#[test]
fn strict_ingest_writes_no_snapshot() {
    let dir = scratch("strict");
    let snapshot = dir.join("graph.idg");
    let output = idgraph(
        &[
            "ingest",
            "--strict",
            "tests/fixtures/signup.jsonl",
            "--snapshot",
            path_str(&snapshot),
        ],
        None,
    );
    check_exit(&output, 1);
    assert!(!snapshot.exists());
}

#[test]
fn explain_and_unlink_work_on_snapshots() {
    let dir = scratch("explain");
    let (snapshot, unlinked) = (dir.join("graph.idg"), dir.join("unlinked.idg"));
    ingest_signup(&snapshot);
    let text = idgraph(&["explain", path_str(&snapshot), "anon_1", "user_2"], None);
    check_exit(&text, 0);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("anon_1 and user_2 are the same person"),
        "{text}"
    );
    assert!(text.contains("user_2 <- anon_1  by identify"), "{text}");
    let json_out = stdout_json(&idgraph(
        &["explain", "--json", path_str(&snapshot), "anon_1", "user_1"],
        None,
    ));
    assert_eq!(json_out["same_person"], json!(true));
    assert_eq!(json_out["chain"][0]["kind"], json!("identify"));

    let output = idgraph(
        &[
            "unlink",
            path_str(&snapshot),
            "user_1",
            "anon_1",
            "--out",
            path_str(&unlinked),
        ],
        None,
    );
    check_exit(&output, 0);
    let after = stdout_json(&idgraph(&["dump", path_str(&unlinked)], None));
    let ids: Vec<&Value> = after["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["distinct_ids"])
        .collect();
    assert_eq!(ids, [&json!(["anon_1", "user_2"]), &json!(["user_1"])]);
    let not_linked = idgraph(
        &[
            "unlink",
            path_str(&unlinked),
            "user_1",
            "anon_1",
            "--out",
            path_str(&unlinked),
        ],
        None,
    );
    check_exit(&not_linked, 1);
    assert!(stderr(&not_linked).contains("no link joins"));
}

#[test]
fn a_corrupt_snapshot_is_an_error_that_says_which() {
    let dir = scratch("corrupt");
    let snapshot = dir.join("graph.idg");
    ingest_signup(&snapshot);
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let flipped = dir.join("flipped.idg");
    std::fs::write(&flipped, &bytes).unwrap();
    let truncated = dir.join("truncated.idg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let not_one = dir.join("text.idg");
    std::fs::write(&not_one, "hello").unwrap();
    for (file, says) in [
        (&flipped, "checksum"),
        (&truncated, "truncated"),
        (&not_one, "not an idgraph snapshot"),
    ] {
        let output = idgraph(&["dump", path_str(file)], None);
        check_exit(&output, 1);
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
    }
}

#[test]
fn generate_is_deterministic_and_replayable() {
    let a = idgraph(&["generate", "--events", "2000", "--seed", "5"], None);
    let b = idgraph(&["generate", "--events", "2000", "--seed", "5"], None);
    check_exit(&a, 0);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(
        a.stdout
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        2000
    );
    let replayed = idgraph(&["replay", "-"], Some(&a.stdout));
    check_exit(&replayed, 0);
    assert_eq!(stdout_json(&replayed)["rejected"], json!([]));
}

/// The same generated stream through the CLI and through the library gives the same dump.
#[test]
fn the_cli_and_the_library_agree_on_a_generated_stream() {
    let generated = idgraph(&["generate", "--events", "5000", "--seed", "11"], None);
    check_exit(&generated, 0);
    let through_cli = stdout_json(&idgraph(&["replay", "-"], Some(&generated.stdout)));
    let mut replay = idgraph::Replay::new(idgraph::Engine::new());
    for line in generated.stdout.split(|&b| b == b'\n') {
        replay.line(line).unwrap();
    }
    let through_library = serde_json::to_value(replay.finish()).unwrap();
    assert_eq!(through_cli, through_library);
}

#[test]
fn demo_prints_the_summary() {
    let output = idgraph(&["demo", "--events", "20000"], None);
    check_exit(&output, 0);
    let text = String::from_utf8_lossy(&output.stdout);
    for word in ["events", "persons", "merges", "warnings", "events/s"] {
        assert!(text.contains(word), "{text}");
    }
}

/// The README's "why are these two ids one person?" session is real output.
#[test]
fn the_readme_explain_session_is_real_output() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme
        .find("## Why are these two ids one person?")
        .expect("section")..];
    let start = section.find("```text\n").expect("a text block") + "```text\n".len();
    let block = &section[start..start + section[start..].find("\n```").expect("block end")];
    let dir = scratch("readme");
    let mut commands = 0;
    let mut expected = String::new();
    let mut actual = String::new();
    for line in block.lines() {
        if let Some(command) = line.strip_prefix("$ idgraph ") {
            commands += 1;
            let args: Vec<String> = command
                .split(' ')
                .map(|arg| {
                    if std::path::Path::new(arg)
                        .extension()
                        .is_some_and(|e| e == "idg")
                    {
                        path_str(&dir.join(arg)).to_owned()
                    } else {
                        arg.to_owned()
                    }
                })
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = idgraph(&args, None);
            check_exit(&output, 0);
            if args[0] != "ingest" {
                actual.push_str(&String::from_utf8_lossy(&output.stdout));
            }
        } else {
            expected.push_str(line);
            expected.push('\n');
        }
    }
    assert_eq!(commands, 5);
    assert_eq!(actual, expected);
}

#[test]
fn capture_validation_rejects_capture_refused_ids_only_when_asked() {
    let input = b"{\"event\": \"e\", \"distinct_id\": \" System \"}\n{\"event\": \"e\", \"distinct_id\": \"ok\"}\n";
    let plain = stdout_json(&idgraph(&["replay", "-"], Some(input)));
    assert_eq!(plain["persons"].as_array().unwrap().len(), 2);
    let output = idgraph(&["replay", "--capture-validation", "-"], Some(input));
    check_exit(&output, 0);
    let dump = stdout_json(&output);
    assert_eq!(dump["persons"][0]["distinct_ids"], json!(["ok"]));
    assert_eq!(
        dump["rejected"],
        json!([{"line": 1, "reason": "distinct_id \" System \" is refused by capture"}])
    );
}

/// Runs the binary with `stdout` as its standard output and `stderr` as its standard error.
fn idgraph_to(args: &[&str], stdout: Stdio, stderr: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idgraph"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .output()
        .expect("the binary runs")
}

/// A pipe whose reader is already gone: every write to it fails with a broken pipe.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    writer.into()
}

fn dev_full() -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux")
        .into()
}

/// Every command that prints, each with its arguments, given a snapshot and a scratch dir.
fn printing_commands(snapshot: &str, dir: &std::path::Path) -> Vec<Vec<String>> {
    let out = |name: &str| path_str(&dir.join(name)).to_owned();
    [
        vec!["stats", snapshot],
        vec!["dump", snapshot],
        vec!["resolve", snapshot, "user_1", "nobody"],
        vec!["explain", snapshot, "anon_1", "user_2"],
        vec!["explain", "--json", snapshot, "anon_1", "user_2"],
        vec!["replay", "tests/fixtures/signup.jsonl"],
        vec!["generate", "--events", "20000"],
        vec!["demo", "--events", "2000"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_owned).collect())
    .chain([
        vec![
            "ingest".to_owned(),
            "tests/fixtures/signup.jsonl".to_owned(),
            "--snapshot".to_owned(),
            out("ingested.idg"),
        ],
        vec![
            "unlink".to_owned(),
            snapshot.to_owned(),
            "user_1".to_owned(),
            "anon_1".to_owned(),
            "--out".to_owned(),
            out("unlinked.idg"),
        ],
    ])
    .collect()
}

/// `idgraph stats s.idg | head -1` panicked (exit 101, a panic message on stderr) once the
/// reader had gone, as did every command that printed with `println!`. A closed pipe is the
/// reader's choice: the command ends quietly with status 0, its files written.
#[test]
fn a_closed_standard_output_ends_every_command_quietly() {
    let dir = scratch("closed-pipe");
    let snapshot = dir.join("graph.idg");
    ingest_signup(&snapshot);
    for args in printing_commands(path_str(&snapshot), &dir) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = idgraph_to(&args, closed_pipe(), Stdio::piped());
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        let err = stderr(&output);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("idgraph:"), "{args:?}: {err}");
    }
    for written in ["ingested.idg", "unlinked.idg"] {
        let dump = idgraph(&["dump", path_str(&dir.join(written))], None);
        check_exit(&dump, 0);
    }
}

/// `idgraph stats s.idg > /dev/full` panicked (exit 101) in `println!`. Any write error to
/// standard output other than a closed pipe is one message on stderr and exit status 1.
#[test]
fn a_full_standard_output_is_one_error_and_exit_status_one() {
    let dir = scratch("full-stdout");
    let snapshot = dir.join("graph.idg");
    ingest_signup(&snapshot);
    for args in printing_commands(path_str(&snapshot), &dir) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = idgraph_to(&args, dev_full(), Stdio::piped());
        check_exit(&output, 1);
        let err = stderr(&output);
        // `replay` and `ingest` report the fixture's two rejected lines before failing.
        let last: Vec<&str> = err
            .lines()
            .filter(|line| !line.contains(": rejected: "))
            .collect();
        assert_eq!(last.len(), 1, "{args:?}: {err}");
        assert!(
            last[0].starts_with("idgraph: standard output: No space left on device"),
            "{args:?}: {err}"
        );
    }
}

/// `idgraph ingest bad.jsonl --snapshot s 2>/dev/full` panicked at the first rejected line
/// (`eprintln!`) and wrote no snapshot. A diagnostic that cannot be written is dropped; the
/// work and the snapshot are kept.
#[test]
fn an_unwritable_standard_error_costs_no_snapshot() {
    let dir = scratch("full-stderr");
    let snapshot = dir.join("graph.idg");
    let output = idgraph_to(
        &[
            "ingest",
            "tests/fixtures/signup.jsonl",
            "--snapshot",
            path_str(&snapshot),
        ],
        Stdio::piped(),
        dev_full(),
    );
    check_exit(&output, 0);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("rejected              2"), "{summary}");
    let dumped = stdout_json(&idgraph(&["dump", path_str(&snapshot)], None));
    assert_eq!(dumped["persons"].as_array().unwrap().len(), 1);
    // A replay's dump is whole too, and an error still gives its status.
    let replayed = idgraph_to(
        &["replay", "tests/fixtures/signup.jsonl"],
        Stdio::piped(),
        dev_full(),
    );
    check_exit(&replayed, 0);
    assert_eq!(stdout_json(&replayed)["persons"], dumped["persons"]);
    let missing = idgraph_to(
        &["dump", path_str(&dir.join("missing.idg"))],
        Stdio::piped(),
        dev_full(),
    );
    check_exit(&missing, 1);
}

#[test]
fn help_tells_the_exit_statuses() {
    let output = idgraph(&["--help"], None);
    check_exit(&output, 0);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Exit status: 0 success"), "{help}");
    assert!(help.contains("stops early"), "{help}");
}

/// `idgraph dump <(cat s.idg)` refused a valid snapshot as truncated, trusting the length a
/// pipe reports; and `printf junk >> s.idg; idgraph dump s.idg` exited 0.
#[test]
fn a_snapshot_streams_in_whole_and_nothing_may_follow_it() {
    let dir = scratch("stream");
    let snapshot = dir.join("graph.idg");
    ingest_signup(&snapshot);
    let bytes = std::fs::read(&snapshot).unwrap();
    let from_file = idgraph(&["dump", path_str(&snapshot)], None);
    check_exit(&from_file, 0);
    let streamed = idgraph(&["dump", "/dev/stdin"], Some(&bytes));
    check_exit(&streamed, 0);
    assert_eq!(streamed.stdout, from_file.stdout);
    let cut = idgraph(&["dump", "/dev/stdin"], Some(&bytes[..bytes.len() - 1]));
    check_exit(&cut, 1);
    assert!(stderr(&cut).contains("truncated"), "{}", stderr(&cut));

    let mut appended = bytes.clone();
    appended.extend_from_slice(b"junk");
    std::fs::write(&snapshot, &appended).unwrap();
    for output in [
        idgraph(&["dump", path_str(&snapshot)], None),
        idgraph(&["dump", "/dev/stdin"], Some(&appended)),
    ] {
        check_exit(&output, 1);
        assert!(stderr(&output).contains("damaged"), "{}", stderr(&output));
    }
}

/// `ingest --snapshot fifo` replaced the FIFO (or device node, or socket) with a file.
#[test]
fn a_snapshot_is_not_written_over_what_is_not_a_regular_file() {
    let dir = scratch("not-a-file");
    let fifo = dir.join("fifo.idg");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let output = idgraph(
        &[
            "ingest",
            "tests/fixtures/signup.jsonl",
            "--snapshot",
            path_str(&fifo),
        ],
        None,
    );
    check_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("is not a regular file"), "{err}");
    let kept = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kept));
}

/// An event line of exactly `len` bytes for `id`.
fn line_of(len: usize, id: &str) -> Vec<u8> {
    let start =
        format!("{{\"event\": \"e\", \"distinct_id\": \"{id}\", \"properties\": {{\"blob\": \"");
    let end = "\"}}";
    let mut line = start.into_bytes();
    assert!(line.len() + end.len() <= len, "{len} bytes is too short");
    line.resize(len - end.len(), b'x');
    line.extend_from_slice(end.as_bytes());
    assert_eq!(line.len(), len);
    line
}

/// A line had no length limit: a 1 GB line was read into memory whole, and applied. A line
/// longer than the maximum event size (PostHog capture's 1,000,000 bytes by default,
/// `--max-event-bytes` to change it) is rejected with its line number, and reading goes on
/// at the next line.
#[test]
fn a_line_over_the_maximum_event_size_is_rejected_with_its_number() {
    let mut input = Vec::new();
    for (len, id, end) in [
        (1_000_000, "at_the_limit", &b"\n"[..]),
        (1_000_001, "over_the_limit", b"\n"),
        (1_000_000, "at_the_limit_crlf", b"\r\n"),
        (1_000_001, "over_the_limit_crlf", b"\r\n"),
        (3_000_000, "far_over", b"\n"),
        (100, "after", b"\n"),
    ] {
        input.extend(line_of(len, id));
        input.extend_from_slice(end);
    }
    input.extend(line_of(1_500_000, "last_without_newline"));
    let output = idgraph(&["replay", "-"], Some(&input));
    check_exit(&output, 0);
    let dump = stdout_json(&output);
    let ids: Vec<&Value> = dump["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["distinct_ids"][0])
        .collect();
    assert_eq!(
        ids,
        [
            &json!("after"),
            &json!("at_the_limit"),
            &json!("at_the_limit_crlf")
        ]
    );
    let reason = "larger than the maximum event size of 1000000 bytes";
    assert_eq!(
        dump["rejected"],
        json!([
            {"line": 2, "reason": reason},
            {"line": 4, "reason": reason},
            {"line": 5, "reason": reason},
            {"line": 7, "reason": reason},
        ])
    );
    assert!(
        stderr(&output).contains(&format!("<stdin>:5: rejected: {reason}")),
        "{}",
        stderr(&output)
    );

    let small = [line_of(80, "eighty"), line_of(81, "eighty_one")].join(&b'\n');
    let output = idgraph(&["replay", "--max-event-bytes", "80", "-"], Some(&small));
    check_exit(&output, 0);
    let dump = stdout_json(&output);
    assert_eq!(dump["persons"][0]["distinct_ids"], json!(["eighty"]));
    assert_eq!(
        dump["rejected"],
        json!([{"line": 2, "reason": "larger than the maximum event size of 80 bytes"}])
    );
}

/// The oversized line is skipped a chunk at a time, never held: a 128 MiB line goes through
/// a process limited to 64 MiB of address space, which reading it whole cannot.
#[test]
fn a_line_of_any_length_is_skipped_without_being_held() {
    let mut child = Command::new("sh")
        .args([
            "-c",
            "ulimit -v 65536 && exec \"$0\" replay -",
            env!("CARGO_BIN_EXE_idgraph"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(b"{\"event\": \"e\", \"distinct_id\": \"before\"}\n{\"event\": \"e\", \"distinct_id\": \"huge\", \"properties\": {\"blob\": \"")?;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..128 {
            stdin.write_all(&chunk)?;
        }
        stdin.write_all(b"\"}}\n{\"event\": \"e\", \"distinct_id\": \"after\"}\n")
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    check_exit(&output, 0);
    let dump = stdout_json(&output);
    let ids: Vec<&Value> = dump["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["distinct_ids"][0])
        .collect();
    assert_eq!(ids, [&json!("after"), &json!("before")]);
    assert_eq!(dump["rejected"][0]["line"], json!(2));
}

/// `--team 123` meant team 123, so a project whose token is "123" could not be named. A
/// token has its own spelling, `--token`; `--team` keeps numbers (and `default`).
#[test]
fn team_ids_and_tokens_have_separate_spellings() {
    let dir = scratch("token");
    let (events, snapshot) = (dir.join("events.jsonl"), dir.join("graph.idg"));
    std::fs::write(
        &events,
        concat!(
            "{\"event\": \"$identify\", \"distinct_id\": \"user\", \"token\": \"123\", \"properties\": {\"$anon_distinct_id\": \"by_token\"}}\n",
            "{\"event\": \"$identify\", \"distinct_id\": \"user\", \"team_id\": 123, \"properties\": {\"$anon_distinct_id\": \"by_team\"}}\n",
        ),
    )
    .unwrap();
    check_exit(
        &idgraph(
            &[
                "ingest",
                path_str(&events),
                "--snapshot",
                path_str(&snapshot),
            ],
            None,
        ),
        0,
    );
    let snapshot = path_str(&snapshot);
    let ids_of = |id: &str, project: &[&str]| {
        let mut args = vec!["resolve", snapshot, id];
        args.extend_from_slice(project);
        let output = idgraph(&args, None);
        check_exit(&output, 0);
        stdout_json(&output)["distinct_ids"].clone()
    };
    assert_eq!(
        ids_of("user", &["--token", "123"]),
        json!(["by_token", "user"])
    );
    assert_eq!(
        ids_of("user", &["--team", "123"]),
        json!(["by_team", "user"])
    );
    assert_eq!(ids_of("by_team", &["--token", "123"]), Value::Null);
    assert_eq!(ids_of("by_token", &["--team", "123"]), Value::Null);
    assert_eq!(ids_of("user", &[]), Value::Null);

    let why = idgraph(
        &[
            "explain", "--json", snapshot, "user", "by_token", "--token", "123",
        ],
        None,
    );
    check_exit(&why, 0);
    assert_eq!(stdout_json(&why)["same_person"], json!(true));
    let out = dir.join("unlinked.idg");
    let unlinked = idgraph(
        &[
            "unlink",
            snapshot,
            "user",
            "by_token",
            "--token",
            "123",
            "--out",
            path_str(&out),
        ],
        None,
    );
    check_exit(&unlinked, 0);

    check_exit(
        &idgraph(
            &[
                "resolve", snapshot, "user", "--team", "123", "--token", "123",
            ],
            None,
        ),
        2,
    );
    let help = idgraph(&["resolve", "--help"], None);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--token <TOKEN>"), "{help}");
    assert!(help.contains("--team <TEAM_ID>"), "{help}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A line of an array or batch held several events, and a rejected one is named by the
/// line and its 0-based index, on stderr and in the dump; the others still apply.
#[test]
fn a_rejected_event_inside_a_batch_is_reported_as_file_line_index() {
    let input = concat!(
        "{\"event\": \"e\", \"distinct_id\": \"flat\"}\n",
        "{\"api_key\": \"k\", \"batch\": [{\"event\": \"e\", \"distinct_id\": \"a\"}, {\"event\": \"e\"}]}\n",
        "[{\"event\": \"e\"}, {\"event\": \"e\", \"properties\": {\"distinct_id\": \"b\"}}]\n",
    );
    let output = idgraph(&["replay", "-"], Some(input.as_bytes()));
    check_exit(&output, 0);
    assert_eq!(
        stderr(&output),
        "<stdin>:2[1]: rejected: missing distinct_id\n<stdin>:3[0]: rejected: missing distinct_id\n"
    );
    let dump = stdout_json(&output);
    assert_eq!(
        dump["rejected"],
        json!([
            {"line": 2, "index": 1, "reason": "missing distinct_id"},
            {"line": 3, "index": 0, "reason": "missing distinct_id"},
        ])
    );
    let teams: Vec<(&str, &str)> = dump["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["team"].as_str().unwrap(),
                p["distinct_ids"][0].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(teams, [("default", "b"), ("default", "flat"), ("k", "a")]);

    let strict = idgraph(&["replay", "--strict", "-"], Some(input.as_bytes()));
    check_exit(&strict, 1);
    assert!(
        stderr(&strict).ends_with("idgraph: <stdin>:2[1]: stopping (--strict)\n"),
        "{}",
        stderr(&strict)
    );
}

/// An input of which every line was rejected exited 0 with an empty dump. It is an
/// error: exit 1 with a one-line summary, no dump, no snapshot.
#[test]
fn an_input_with_every_event_rejected_exits_one() {
    let input = b"not json\n[{\"event\": \"e\"}]\n\n";
    let output = idgraph(&["replay", "-"], Some(input));
    check_exit(&output, 1);
    assert!(output.stdout.is_empty());
    assert!(
        stderr(&output).ends_with("idgraph: nothing applied: 2 rejected, no event applied\n"),
        "{}",
        stderr(&output)
    );
    let dir = scratch("all-rejected");
    let snapshot = dir.join("graph.idg");
    let ingest = idgraph(
        &["ingest", "-", "--snapshot", path_str(&snapshot)],
        Some(input),
    );
    check_exit(&ingest, 1);
    assert!(!snapshot.exists());
    // Nothing read at all is no error, and neither is one applied event among rejects.
    check_exit(&idgraph(&["replay", "-"], Some(b"")), 0);
    let one = b"not json\n{\"event\": \"e\", \"distinct_id\": \"a\"}\n";
    check_exit(&idgraph(&["replay", "-"], Some(one)), 0);
}

/// A gzip file or standard input was split at line breaks and every piece rejected. It is
/// decompressed by its magic bytes, whatever its name, as it is read.
#[test]
fn gzip_files_and_standard_input_are_decompressed() {
    let plain = std::fs::read("tests/fixtures/signup.jsonl").unwrap();
    let expected = stdout_json(&idgraph(&["replay", "-"], Some(&plain)));
    let compressed = gzip(&plain);
    let dir = scratch("gzip");
    let file = dir.join("signup.jsonl");
    std::fs::write(&file, &compressed).unwrap();
    for output in [
        idgraph(&["replay", path_str(&file)], None),
        idgraph(&["replay", "-"], Some(&compressed)),
    ] {
        check_exit(&output, 0);
        assert_eq!(stdout_json(&output), expected);
    }
    let mut damaged = compressed.clone();
    damaged.truncate(compressed.len() / 2);
    let output = idgraph(&["replay", "-"], Some(&damaged));
    check_exit(&output, 1);
    assert!(
        stderr(&output).starts_with("idgraph: <stdin>: "),
        "{}",
        stderr(&output)
    );
}

/// `$performance_event` is dropped as capture drops it: no person, no rejection, and a
/// count on stderr (`replay`) or in the summary (`ingest`).
#[test]
fn performance_events_are_dropped_and_counted() {
    let input = b"{\"event\": \"$performance_event\", \"distinct_id\": \"p\"}\n{\"event\": \"e\", \"distinct_id\": \"a\"}\n";
    let output = idgraph(&["replay", "-"], Some(input));
    check_exit(&output, 0);
    assert_eq!(
        stderr(&output),
        "1 $performance_event event(s) dropped, as capture drops them\n"
    );
    let dump = stdout_json(&output);
    assert_eq!(dump["persons"].as_array().unwrap().len(), 1);
    assert_eq!(dump["rejected"], json!([]));
    let dir = scratch("dropped");
    let snapshot = dir.join("graph.idg");
    let ingest = idgraph(
        &["ingest", "-", "--snapshot", path_str(&snapshot)],
        Some(input),
    );
    check_exit(&ingest, 0);
    let summary = String::from_utf8_lossy(&ingest.stdout);
    assert!(
        summary.contains("dropped               1  ($performance_event"),
        "{summary}"
    );
}

/// Input where each reading option shows: a lifted `$browser`, a churn-filtered change of
/// `$current_url`, an id capture refuses, and a line over 300 bytes.
const OPTION_INPUT: &str = concat!(
    "{\"event\": \"$pageview\", \"distinct_id\": \"u\", \"properties\": {\"$browser\": \"Firefox\", \"$set\": {\"$current_url\": \"/a\"}}}\n",
    "{\"event\": \"$pageview\", \"distinct_id\": \"u\", \"properties\": {\"$set\": {\"$current_url\": \"/b\"}}}\n",
    "{\"event\": \"$pageview\", \"distinct_id\": \"system\"}\n",
);

fn option_input() -> String {
    format!(
        "{OPTION_INPUT}{{\"event\": \"e\", \"distinct_id\": \"long\", \"uuid\": \"{}\"}}\n",
        "x".repeat(300)
    )
}

/// What each option shows in a dump: (the person `u`'s properties, the ids with a person,
/// the rejected lines).
fn option_effects(dump: &Value) -> (Value, Vec<String>, Vec<u64>) {
    let persons = dump["persons"].as_array().unwrap();
    let u = persons
        .iter()
        .find(|p| p["distinct_ids"] == json!(["u"]))
        .unwrap();
    let ids = persons
        .iter()
        .map(|p| p["distinct_ids"][0].as_str().unwrap().to_owned())
        .collect();
    let rejected = dump["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    (u["properties"].clone(), ids, rejected)
}

#[track_caller]
fn check_option_effects(dump_of: impl Fn(&[&str]) -> Value) {
    let (props, ids, rejected) = option_effects(&dump_of(&[]));
    assert_eq!(props["$browser"], json!("Firefox"));
    assert_eq!(props["$current_url"], json!("/a"));
    assert_eq!(ids, ["long", "system", "u"]);
    assert_eq!(rejected, Vec::<u64>::new());

    let (props, _, _) = option_effects(&dump_of(&["--no-lift"]));
    assert_eq!(props.get("$browser"), None);
    let (props, _, _) = option_effects(&dump_of(&["--keep-churn"]));
    assert_eq!(props["$current_url"], json!("/b"));
    let (_, ids, rejected) = option_effects(&dump_of(&["--capture-validation"]));
    assert_eq!(
        (ids, rejected),
        (vec!["long".to_owned(), "u".to_owned()], vec![3])
    );
    let (_, ids, rejected) = option_effects(&dump_of(&["--max-event-bytes", "300"]));
    assert_eq!(
        (ids, rejected),
        (vec!["system".to_owned(), "u".to_owned()], vec![4])
    );
}

/// `ingest --capture-validation` was accepted and ignored. Every reading option has its
/// effect on `replay` and on `ingest` alike.
#[test]
fn every_reading_option_has_its_effect_on_replay_and_ingest() {
    let input = option_input();
    check_option_effects(|options| {
        let mut args = vec!["replay"];
        args.extend_from_slice(options);
        args.push("-");
        let output = idgraph(&args, Some(input.as_bytes()));
        check_exit(&output, 0);
        stdout_json(&output)
    });
    let dir = scratch("options");
    let snapshot = dir.join("graph.idg");
    check_option_effects(|options| {
        let mut args = vec!["ingest", "-", "--snapshot", path_str(&snapshot)];
        args.extend_from_slice(options);
        check_exit(&idgraph(&args, Some(input.as_bytes())), 0);
        let mut dump = stdout_json(&idgraph(&["dump", path_str(&snapshot)], None));
        // A snapshot keeps no rejected lines: take them from a replay's report.
        let mut replay_args = vec!["replay"];
        replay_args.extend_from_slice(options);
        replay_args.push("-");
        dump["rejected"] =
            stdout_json(&idgraph(&replay_args, Some(input.as_bytes())))["rejected"].clone();
        dump
    });
    for command in ["replay", "ingest"] {
        let mut args = vec![command, "--strict", "--capture-validation", "-"];
        if command == "ingest" {
            args.extend(["--snapshot", path_str(&snapshot)]);
        }
        let output = idgraph(&args, Some(input.as_bytes()));
        check_exit(&output, 1);
        assert!(
            stderr(&output).ends_with("idgraph: <stdin>:3: stopping (--strict)\n"),
            "{command}: {}",
            stderr(&output)
        );
    }
}

/// `demo` takes the same options as `replay` and `ingest`, with the same meaning.
#[test]
fn demo_takes_the_reading_options() {
    let header = |options: &[&str]| {
        let mut args = vec!["demo", "--events", "300"];
        args.extend_from_slice(options);
        let output = idgraph(&args, None);
        check_exit(&output, 0);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(header(&[]).ends_with("(seed 1), PostHog's rules"));
    assert!(header(&["--no-lift"]).ends_with("PostHog's rules, without lifting"));
    assert!(header(&["--keep-churn"]).ends_with("PostHog's rules, keeping churn"));
    assert!(
        header(&["--capture-validation"]).ends_with("PostHog's rules, with capture validation")
    );
    let too_small = idgraph(
        &["demo", "--events", "300", "--max-event-bytes", "10"],
        None,
    );
    check_exit(&too_small, 1);
    let text = stderr(&too_small);
    assert!(
        text.contains("<generated>:1: rejected: larger than the maximum event size of 10 bytes"),
        "{text}"
    );
    assert!(
        text.ends_with("idgraph: nothing applied: 300 rejected, no event applied\n"),
        "{text}"
    );
    let strict = idgraph(
        &[
            "demo",
            "--events",
            "300",
            "--max-event-bytes",
            "10",
            "--strict",
        ],
        None,
    );
    check_exit(&strict, 1);
    assert_eq!(
        stderr(&strict),
        "<generated>:1: rejected: larger than the maximum event size of 10 bytes\nidgraph: <generated>:1: stopping (--strict)\n"
    );
}

/// Runs `idgraph ARGS` with a pseudo-terminal as its standard error (util-linux's
/// `script`), and returns what the terminal showed; `None` where `script` is missing.
fn on_a_terminal(args: &str) -> Option<String> {
    let command = format!("{} {args} > /dev/null", env!("CARGO_BIN_EXE_idgraph"));
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `ingest` and `replay` draw a progress bar of bytes and events on a terminal, and
/// nothing of it when standard error is a pipe or a file.
#[test]
fn a_progress_bar_shows_on_a_terminal_only() {
    let dir = std::env::temp_dir().join(format!("idgraph-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events.jsonl");
    let generated = idgraph(&["generate", "--events", "20000", "--seed", "3"], None);
    check_exit(&generated, 0);
    std::fs::write(&events, &generated.stdout).unwrap();
    let snapshot = dir.join("s.idg");
    let (events, snapshot) = (events.to_str().unwrap(), snapshot.to_str().unwrap());

    for args in [
        vec!["ingest", events, "--snapshot", snapshot],
        vec!["replay", events],
    ] {
        let piped = idgraph(&args, None);
        check_exit(&piped, 0);
        let err = stderr(&piped);
        assert!(
            !err.contains('\r') && !err.contains("MiB"),
            "{args:?}: {err}"
        );
        let Some(shown) = on_a_terminal(&args.join(" ")) else {
            eprintln!("skipped the terminal half: no `script` on this machine");
            continue;
        };
        assert!(shown.contains("MiB/s"), "{args:?}: {shown}");
        assert!(shown.contains("20000 events"), "{args:?}: {shown}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
