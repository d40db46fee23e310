//! A panic in model code fails the requests it touched and the scheduler keeps serving; a
//! scheduler thread that dies anyway fails every pending job and refuses new ones, never leaving
//! a caller waiting. Faults come from `scheduler::fault` (feature `fault-injection`).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use glassbox_infer::SamplingParams;
use glassbox_infer::scheduler::fault::{KILL_SCHEDULER, PANIC_IN_DECODE, PANIC_IN_PREFILL};
use glassbox_infer::scheduler::{Job, JobEvent, Scheduler, SchedulerOptions, SubmitError};

const WAIT: Duration = Duration::from_secs(30);

fn job(
    prompt: &[u32],
    max_new_tokens: usize,
    tag: usize,
    tx: &mpsc::Sender<(usize, JobEvent)>,
) -> Job {
    let tx = tx.clone();
    Job {
        prompt: prompt.to_vec(),
        sampling: SamplingParams::greedy(),
        max_new_tokens,
        stop: Vec::new(),
        eos_token_ids: Vec::new(),
        logprobs: None,
        score_prompt: None,
        sink: Box::new(move |e| tx.send((tag, e)).is_ok()),
    }
}

/// Waits for job `tag`'s last event (`Done` or `Failed`), or for every sink to be gone.
fn end_of(rx: &mpsc::Receiver<(usize, JobEvent)>, tag: usize) -> Option<JobEvent> {
    loop {
        match rx.recv_timeout(WAIT) {
            Ok((t, e @ (JobEvent::Done { .. } | JobEvent::Failed(_)))) if t == tag => {
                return Some(e);
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("job {tag} hangs"),
        }
    }
}

fn with_tail(magic: &[u32]) -> Vec<u32> {
    [magic, &[7, 8, 9]].concat()
}

#[test]
fn a_panic_in_model_code_fails_its_request_and_the_scheduler_keeps_serving() {
    let s = Scheduler::start(
        Arc::new(common::engine("llama")),
        SchedulerOptions::default(),
    );
    let (tx, rx) = mpsc::channel();
    // In a prefill: only that request fails.
    s.submit(vec![job(&with_tail(&PANIC_IN_PREFILL), 5, 0, &tx)])
        .unwrap();
    let e = end_of(&rx, 0).unwrap();
    assert!(
        matches!(&e, JobEvent::Failed(m) if m.contains("panicked")),
        "{e:?}"
    );
    // In a decoding step: every sequence of that step fails (their caches may be half written).
    s.submit(vec![job(&with_tail(&PANIC_IN_DECODE), 5, 1, &tx)])
        .unwrap();
    let e = end_of(&rx, 1).unwrap();
    assert!(
        matches!(&e, JobEvent::Failed(m) if m.contains("panicked")),
        "{e:?}"
    );
    // The next request is served.
    s.submit(vec![job(&[5, 9, 12], 5, 2, &tx)]).unwrap();
    assert_eq!(
        end_of(&rx, 2),
        Some(JobEvent::Done {
            finish: glassbox_infer::FinishReason::Length,
            tokens: 5
        })
    );
    assert_eq!(s.stats().panics.load(Ordering::Relaxed), 2);
    assert!(!s.stats().crashed.load(Ordering::Relaxed));
}

#[test]
fn a_dead_scheduler_fails_pending_jobs_and_refuses_new_ones() {
    let s = Scheduler::start(
        Arc::new(common::engine("llama")),
        SchedulerOptions {
            max_batch: 2,
            ..SchedulerOptions::default()
        },
    );
    let (tx, rx) = mpsc::channel();
    // One running, then the fatal one and one more waiting behind it.
    s.submit(vec![job(&[5, 9, 12], 200, 0, &tx)]).unwrap();
    while !matches!(rx.recv_timeout(WAIT).unwrap(), (0, JobEvent::Token { .. })) {}
    s.submit(vec![
        job(&with_tail(&KILL_SCHEDULER), 5, 1, &tx),
        job(&[6, 6], 5, 2, &tx),
    ])
    .unwrap();
    drop(tx);
    let mut failed = Vec::new();
    // Events until every sink is gone: the running and the waiting job fail, the fatal one's
    // sink is dropped with it.
    loop {
        match rx.recv_timeout(WAIT) {
            Ok((t, JobEvent::Failed(_))) => failed.push(t),
            Ok((t, JobEvent::Done { .. })) => panic!("job {t} finished"),
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("a job hangs"),
        }
    }
    failed.sort_unstable();
    assert_eq!(failed, [0, 2]);
    assert!(s.stats().crashed.load(Ordering::SeqCst));
    let (tx, _rx) = mpsc::channel();
    assert_eq!(
        s.submit(vec![job(&[5], 1, 3, &tx)]).unwrap_err(),
        SubmitError::Crashed
    );
}
