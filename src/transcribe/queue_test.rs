use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::super::test::{slow, wav};
use super::super::{Previewer, TranscribeError, Transcriber, Transcript};
use super::*;

// ---- the backlog (sans-IO) ----

#[test]
fn the_backlog_is_fifo_for_equal_deadlines_and_earliest_deadline_first() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut b = Backlog::new(10);
    b.push(t0 + s(60), "a").unwrap();
    b.push(t0 + s(60), "b").unwrap();
    // Hung up a moment earlier, queued a moment later (its recording took longer to finish).
    b.push(t0 + s(59), "c").unwrap();
    b.push(t0 + s(61), "d").unwrap();
    assert_eq!(b.poll_timeout(), Some(t0 + s(59)));
    let order: Vec<_> = std::iter::from_fn(|| b.take(t0, Duration::ZERO)).collect();
    assert_eq!(
        order,
        [
            Take::Transcribe {
                item: "c",
                deadline: t0 + s(59)
            },
            Take::Transcribe {
                item: "a",
                deadline: t0 + s(60)
            },
            Take::Transcribe {
                item: "b",
                deadline: t0 + s(60)
            },
            Take::Transcribe {
                item: "d",
                deadline: t0 + s(61)
            },
        ]
    );
    assert_eq!((b.waiting(), b.in_hand()), (0, 4));
    assert!(!b.is_idle(), "taken is not delivered");
    for _ in 0..4 {
        b.finished();
    }
    assert!(b.is_idle());
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn a_message_past_its_deadline_is_late_for_worker_and_deliverer() {
    let t0 = Instant::now();
    let mut b = Backlog::new(10);
    b.push(t0 + Duration::from_secs(1), 1).unwrap();
    b.push(t0 + Duration::from_secs(2), 2).unwrap();
    // The deliverer takes nothing before the head's deadline.
    assert_eq!(b.take_late(t0), None);
    assert_eq!(b.take_late(t0 + Duration::from_millis(999)), None);
    assert_eq!(b.take_late(t0 + Duration::from_secs(1)), Some(1));
    assert_eq!(b.waiting(), 1);
    // A worker that comes to a message too late gets it as late.
    assert_eq!(
        b.take(t0 + Duration::from_secs(3), Duration::ZERO),
        Some(Take::Late(2))
    );
    assert_eq!(b.in_hand(), 2);
    // One whose deadline comes before a transcription could finish is late too.
    b.push(t0 + Duration::from_secs(10), 3).unwrap();
    b.push(t0 + Duration::from_secs(20), 4).unwrap();
    let need = Duration::from_secs(5);
    assert_eq!(
        b.take(t0 + Duration::from_secs(6), need),
        Some(Take::Late(3))
    );
    assert_eq!(
        b.take(t0 + Duration::from_secs(6), need),
        Some(Take::Transcribe {
            item: 4,
            deadline: t0 + Duration::from_secs(20)
        })
    );
}

#[test]
fn a_full_backlog_gives_the_message_back() {
    let t0 = Instant::now();
    let mut b = Backlog::new(2);
    b.push(t0, 1).unwrap();
    b.push(t0, 2).unwrap();
    assert_eq!(b.push(t0, 3), Err(3));
    // Taken messages no longer count against the limit.
    assert!(b.take(t0, Duration::ZERO).is_some());
    b.push(t0, 3).unwrap();
    assert_eq!(b.waiting(), 2);
}

#[test]
fn a_shutdown_brings_every_deadline_forward_to_its_end() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut b = Backlog::new(10);
    b.push(t0 + s(60), "a").unwrap();
    b.push(t0 + s(5), "b").unwrap();
    b.close(t0 + s(30));
    b.push(t0 + s(61), "c").unwrap();
    // A later close does not postpone it.
    b.close(t0 + s(40));
    assert_eq!(b.take_late(t0 + s(5)), Some("b"));
    assert_eq!(b.take_late(t0 + s(29)), None);
    assert_eq!(b.take_late(t0 + s(30)), Some("a"));
    assert_eq!(b.take_late(t0 + s(30)), Some("c"));
}

// ---- the threads, with a fake engine ----

/// What a test delivery saw: its number, its preview's text, when.
type Deliveries = Arc<Mutex<Vec<(usize, Option<String>, Instant)>>>;

struct Item {
    n: usize,
    wav: PathBuf,
    log: Deliveries,
}

impl Deliver for Item {
    fn recording(&self) -> &Path {
        &self.wav
    }

    fn deliver(self, preview: Option<Preview>) {
        self.log
            .lock()
            .unwrap()
            .push((self.n, preview.map(|p| p.text), Instant::now()));
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    wav: PathBuf,
    log: Deliveries,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let wav = wav(dir.path(), 1);
        Fixture {
            _dir: dir,
            wav,
            log: Arc::default(),
        }
    }

    fn item(&self, n: usize) -> Item {
        Item {
            n,
            wav: self.wav.clone(),
            log: self.log.clone(),
        }
    }

    /// Queues messages `ns`, hung up at `hung_up`; none may be refused.
    fn submit(&self, q: &PreviewQueue<Item>, hung_up: Instant, ns: std::ops::Range<usize>) {
        for n in ns {
            assert!(
                q.submit(hung_up, self.item(n)).is_ok(),
                "message {n} refused"
            );
        }
    }

    /// Waits until `count` messages were delivered; their log.
    fn wait(&self, count: usize) -> Vec<(usize, Option<String>, Instant)> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log.lock().unwrap().clone();
            if log.len() >= count || Instant::now() > until {
                return log;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn queue(
    engine: Box<dyn Transcriber>,
    workers: usize,
    limit: usize,
    deadline: Duration,
) -> PreviewQueue<Item> {
    let p = Previewer::new(engine, deadline, Duration::from_secs(75));
    PreviewQueue::start(p, workers, limit).unwrap()
}

#[test]
fn workers_take_the_oldest_first_and_run_at_most_max_concurrent() {
    let f = Fixture::new();
    let engine = slow(50);
    let q = queue(Box::new(engine.clone()), 2, 100, Duration::from_secs(10));
    f.submit(&q, Instant::now(), 0..6);
    let log = f.wait(6);
    assert!(q.wait_idle(Instant::now() + Duration::from_secs(5)));
    assert_eq!(engine.most.load(Ordering::SeqCst), 2);
    assert!(
        log.iter()
            .all(|(_, p, _)| p.as_deref() == Some("8000 samples")),
        "{log:?}"
    );
    // Two at a time, in order: each pair lands before the next pair.
    let mut order: Vec<usize> = log.iter().map(|(n, _, _)| *n).collect();
    for pair in order.chunks_mut(2) {
        pair.sort_unstable();
    }
    assert_eq!(order, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_message_whose_deadline_passes_in_the_queue_goes_then_without_a_preview() {
    let f = Fixture::new();
    // One worker, busy for 800 ms with the first message; the deadline is 200 ms.
    let q = queue(Box::new(slow(800)), 1, 100, Duration::from_millis(200));
    let t0 = Instant::now();
    f.submit(&q, t0, 0..3);
    let log = f.wait(3);
    let at = |n: usize| log.iter().find(|(m, _, _)| *m == n).unwrap();
    for n in [1, 2] {
        let (_, preview, when) = at(n);
        assert_eq!(*preview, None);
        let after = when.duration_since(t0);
        assert!(
            after >= Duration::from_millis(200) && after < Duration::from_millis(600),
            "message {n} delivered {after:?} after its hang-up"
        );
    }
    // The message being transcribed finishes (this fake engine ignores its deadline).
    assert_eq!(at(0).1.as_deref(), Some("8000 samples"));
    assert_eq!(
        log.iter().map(|(n, _, _)| *n).collect::<Vec<_>>(),
        [1, 2, 0]
    );
}

#[test]
fn a_message_too_near_its_deadline_for_a_transcription_goes_at_once_without_one() {
    let f = Fixture::new();
    // Transcriptions take 400 ms; the deadline is 1000 ms.
    let q = queue(Box::new(slow(400)), 1, 100, Duration::from_millis(1000));
    f.submit(&q, Instant::now(), 0..1);
    f.wait(1);
    let t0 = Instant::now();
    f.submit(&q, t0, 1..4);
    let log = f.wait(4);
    let at = |n: usize| log.iter().find(|(m, _, _)| *m == n).unwrap();
    // 1 and 2 are transcribed (0-400, 400-800 ms); at 800 ms only 200 ms are left for 3.
    assert!(at(1).1.is_some() && at(2).1.is_some(), "{log:?}");
    let (_, preview, when) = at(3);
    assert_eq!(*preview, None);
    let after = when.duration_since(t0);
    assert!(after < Duration::from_millis(1000), "{after:?}");
}

#[test]
fn a_full_queue_hands_the_message_back() {
    let f = Fixture::new();
    let engine = slow(300);
    let q = queue(Box::new(engine.clone()), 1, 1, Duration::from_secs(10));
    f.submit(&q, Instant::now(), 0..1);
    let until = Instant::now() + Duration::from_secs(5);
    while engine.running.load(Ordering::SeqCst) == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(2));
    }
    f.submit(&q, Instant::now(), 1..2);
    let refused = q.submit(Instant::now(), f.item(2)).err().map(|i| i.n);
    assert_eq!(refused, Some(2));
    let log = f.wait(2);
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|(_, p, _)| p.is_some()), "{log:?}");
}

#[test]
fn a_shutdown_delivers_what_waits_by_the_end_of_the_grace() {
    let f = Fixture::new();
    let q = queue(Box::new(slow(600)), 1, 100, Duration::from_secs(60));
    let t0 = Instant::now();
    f.submit(&q, t0, 0..4);
    q.close(t0 + Duration::from_millis(150));
    // Queued during the drain (a call hung up at the end of the grace): due at the close too.
    f.submit(&q, t0, 4..5);
    assert!(q.wait_idle(t0 + Duration::from_secs(5)));
    let log = f.wait(5);
    assert_eq!(log.len(), 5);
    for (n, preview, when) in &log {
        if *n == 0 {
            assert!(preview.is_some());
        } else {
            assert_eq!(*preview, None);
            assert!(when.duration_since(t0) < Duration::from_millis(500), "{n}");
        }
    }
    assert!(q.is_idle());
}

#[test]
fn dropping_the_queue_delivers_what_waits() {
    let f = Fixture::new();
    let q = queue(Box::new(slow(400)), 1, 100, Duration::from_secs(60));
    f.submit(&q, Instant::now(), 0..3);
    drop(q);
    let log = f.wait(3);
    assert_eq!(log.len(), 3, "{log:?}");
}

/// An engine that panics.
struct Panics;

impl Transcriber for Panics {
    fn transcribe(&self, _: &[i16], _: Instant) -> Result<Transcript, TranscribeError> {
        panic!("a bug in the engine")
    }
}

#[test]
fn an_engine_that_panics_costs_the_preview_not_the_message_or_the_worker() {
    let f = Fixture::new();
    let q = queue(Box::new(Panics), 1, 100, Duration::from_secs(10));
    f.submit(&q, Instant::now(), 0..2);
    let log = f.wait(2);
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|(_, p, _)| p.is_none()));
}

#[test]
fn workers_run_below_the_default_cpu_priority() {
    let f = Fixture::new();
    struct Nice(Arc<Mutex<Option<i32>>>);
    impl Transcriber for Nice {
        fn transcribe(&self, _: &[i16], _: Instant) -> Result<Transcript, TranscribeError> {
            *self.0.lock().unwrap() = Some(crate::net::os::thread_nice());
            Ok(Transcript::default())
        }
    }
    let seen = Arc::new(Mutex::new(None));
    let q = queue(Box::new(Nice(seen.clone())), 1, 10, Duration::from_secs(10));
    f.submit(&q, Instant::now(), 0..1);
    f.wait(1);
    let nice = seen.lock().unwrap().unwrap();
    assert!(nice >= WORKER_NICE, "{nice}");
}
