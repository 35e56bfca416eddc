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
    let output = idgraph(&["replay", "-"], Some(&input));
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
