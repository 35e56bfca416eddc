//! The edits on one large person: a star of n spoke ids, each a person of its own merged
//! onto one hub by `$merge_dangerously`, at n = 40k and 160k. Each edit must cost about the
//! size of the person (160k at most 5x the time of 40k), never the square of its ids or
//! links: erase of the hub (every link goes through it), unlink of one spoke, split of one
//! spoke and of every fourth one, and delete_person.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "a bench fails loudly on a broken input"
)]

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use idgraph::{Engine, Event, Outcome, Project, Value};

const SIZES: [usize; 2] = [40_000, 160_000];

fn spoke(i: usize) -> String {
    format!("spoke_{i}")
}

/// The hub with one property, and `n` spokes each seen once, then merged onto it.
fn star(n: usize) -> Engine {
    let mut engine = Engine::builder().record_changes(false).build();
    let mut outcome = Outcome::default();
    let mut apply = |event: Event| engine.apply_into(&event, &mut outcome).unwrap();
    apply(
        Event::new("$pageview", "hub")
            .with_property("$set", Value::object([("plan", Value::from("pro"))])),
    );
    for i in 0..n {
        apply(Event::new("$pageview", spoke(i)));
        apply(Event::new("$merge_dangerously", "hub").with_property("alias", spoke(i)));
    }
    engine
}

fn edits(c: &mut Criterion) {
    let mut group = c.benchmark_group("edits");
    group
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    let project = Project::Default;
    for n in SIZES {
        let engine = star(n);
        let one = spoke(n / 2);
        let many: Vec<String> = (0..n).step_by(4).map(spoke).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut run = |name: &str, edit: &dyn Fn(&mut Engine)| {
            group.bench_with_input(BenchmarkId::new(name, n), &engine, |b, engine| {
                b.iter_batched(
                    || engine.clone(),
                    |mut engine| {
                        edit(&mut engine);
                        engine
                    },
                    BatchSize::LargeInput,
                );
            });
        };
        run("erase_hub", &|e| {
            e.erase(&project, black_box("hub")).unwrap();
        });
        run("unlink_spoke", &|e| {
            e.unlink(&project, "hub", black_box(&one)).unwrap();
        });
        run("split_one", &|e| {
            e.split(&project, &[black_box(one.as_str())]).unwrap();
        });
        run("split_many", &|e| {
            e.split(&project, black_box(&many)).unwrap();
        });
        run("delete_person", &|e| {
            e.delete_person(&project, black_box("hub")).unwrap();
        });
    }
    group.finish();
}

criterion_group!(benches, edits);
criterion_main!(benches);
