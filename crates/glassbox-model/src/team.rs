//! A team of rayon's workers kept awake through one short burst of small parallel products.
//!
//! Decoding a token runs a few hundred matrix–vector products, each only tens of microseconds
//! long on a small model. Handed to rayon one by one, every product wakes a sleeping worker
//! (a futex wake and a context switch, often longer than the product itself) and the worker goes
//! back to sleep during the element-wise work between products. A [`session`] instead occupies
//! every other worker of the pool with a helper that waits for work by spinning (then yielding
//! its core) until the session ends; [`for_each_task`] inside the session hands tasks to those
//! helpers through one atomic counter, the calling thread claiming tasks too. Outside a session
//! [`for_each_task`] is an ordinary rayon loop.
//!
//! Nothing here changes results: which thread runs a task never changes how the task computes.
//! A session never depends on its helpers to make progress — the calling thread claims every
//! task nobody else took — so a helper that never starts (its worker busy elsewhere) only costs
//! speed.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;

/// Spins of a waiting helper before it starts yielding its core between checks (about a
/// millisecond: longer than the element-wise work between two products of a decoding step).
const SPINS: u32 = 1 << 14;

/// A task body: called with each task index once.
type Task<'a> = dyn Fn(usize) + Sync + 'a;

thread_local! {
    /// The session whose body runs on this thread.
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// One batch of tasks published to the helpers.
#[derive(Clone, Copy)]
struct Job {
    generation: u32,
    tasks: u32,
    /// The task body, its lifetime erased (see `Shared::run` for why it is only used while it
    /// lives).
    f: *const Task<'static>,
}

// SAFETY: `Job` is a pointer to a `Sync` closure plus two integers; sending the pointer to
// another thread is sound because the closure is `Sync` (shared calls from any thread are
// allowed) and the pointer is dereferenced only while the closure is alive (`Shared::run`).
#[allow(unsafe_code)]
unsafe impl Send for Job {}

struct Shared {
    /// `generation << 32 | next task index`: a task is claimed by advancing the index while the
    /// generation is unchanged, so a helper still holding an older job can never claim a task
    /// of a newer one.
    claim: AtomicU64,
    /// The current job (`None` between jobs).
    job: Mutex<Option<Job>>,
    /// Tasks of the current generation finished.
    done: AtomicUsize,
    /// A task of the current generation panicked.
    panicked: AtomicBool,
    /// The session's body has returned: helpers leave.
    stop: AtomicBool,
    /// The rayon worker the body runs on (a helper popped by that same worker while the body
    /// waits inside a nested rayon call must return at once instead of waiting for the body).
    owner: AtomicUsize,
}

impl Shared {
    /// Runs tasks `0..tasks` of `f` on this thread and the helpers; returns when all are done.
    fn run(&self, tasks: usize, f: &Task<'_>) {
        let Ok(count) = u32::try_from(tasks) else {
            // Billions of tasks: not a decoding step; rayon handles it.
            (0..tasks).into_par_iter().for_each(f);
            return;
        };
        let generation = ((self.claim.load(Ordering::Relaxed) >> 32) as u32).wrapping_add(1);
        // SAFETY: only the lifetime changes (same pointer, same vtable). The erased pointer is
        // dereferenced (in `work`) only after claiming a task of this `generation`, and this
        // function returns only when every claimed task of the generation has finished
        // (`done == tasks`, each task adding one after its call returned; panics are caught so
        // that the count is reached even then): while any deref can happen, `f` is borrowed
        // here and alive. Claims of a later generation cannot use this pointer, because a claim
        // succeeds only while `claim` still carries the generation of the job it was read with.
        #[allow(unsafe_code)]
        let erased: *const Task<'static> =
            unsafe { std::mem::transmute::<*const Task<'_>, *const Task<'static>>(f) };
        let job = Job {
            generation,
            tasks: count,
            f: erased,
        };
        *self.job.lock().unwrap_or_else(PoisonError::into_inner) = Some(job);
        self.done.store(0, Ordering::Relaxed);
        self.claim
            .store(u64::from(generation) << 32, Ordering::Release);
        self.work(job);
        while self.done.load(Ordering::Acquire) < tasks {
            std::hint::spin_loop();
        }
        *self.job.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if self.panicked.swap(false, Ordering::Relaxed) {
            resume_unwind(Box::new("a task of a parallel product panicked"));
        }
    }

    /// Claims and runs tasks of `job` until none is left.
    fn work(&self, job: Job) {
        loop {
            let c = self.claim.load(Ordering::Acquire);
            let index = c as u32;
            if (c >> 32) as u32 != job.generation || index >= job.tasks {
                return;
            }
            if self
                .claim
                .compare_exchange_weak(c, c + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            // SAFETY: the claim above succeeded in `job.generation`, whose `run` is still
            // waiting for this task to be counted as done, so the closure is alive (see `run`).
            #[allow(unsafe_code)]
            let f = unsafe { &*job.f };
            if catch_unwind(AssertUnwindSafe(|| f(index as usize))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// A helper's loop: wait for a job, take part in it, until the session stops.
    fn help(&self) {
        if rayon::current_thread_index() == Some(self.owner.load(Ordering::Relaxed)) {
            return;
        }
        let mut seen = 0u32;
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            let generation = (self.claim.load(Ordering::Acquire) >> 32) as u32;
            if generation != seen {
                seen = generation;
                idle = 0;
                let job = *self.job.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(job) = job.filter(|j| j.generation == generation) {
                    self.work(job);
                }
            } else if idle < SPINS {
                idle += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Sets `stop` and leaves the session when the body returns or unwinds.
struct Leave<'a>(&'a Shared);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
        self.0.stop.store(true, Ordering::Release);
    }
}

/// Runs `body` with the other workers of rayon's pool held ready for [`for_each_task`]. With one
/// thread, or inside another session, it just runs `body`. Meant for short bursts (one decoding
/// step): the helpers occupy their workers (spinning, then yielding) until `body` returns.
pub fn session<R: Send>(body: impl FnOnce() -> R + Send) -> R {
    let threads = rayon::current_num_threads();
    if threads < 2 || CURRENT.with(|c| c.borrow().is_some()) {
        return body();
    }
    let shared = Arc::new(Shared {
        claim: AtomicU64::new(0),
        job: Mutex::new(None),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        owner: AtomicUsize::new(usize::MAX),
    });
    rayon::scope(|s| {
        shared.owner.store(
            rayon::current_thread_index().unwrap_or(usize::MAX),
            Ordering::Relaxed,
        );
        for _ in 1..threads {
            let helper = Arc::clone(&shared);
            s.spawn(move |_| helper.help());
        }
        CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(&shared)));
        let _leave = Leave(&shared);
        body()
    })
}

/// Calls `f(i)` for every `i` in `0..tasks`, in parallel: on the session's team when this
/// thread runs a [`session`], else on rayon's pool.
pub fn for_each_task(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    let team = CURRENT.with(|c| c.borrow().clone());
    match team {
        Some(team) if tasks > 1 => team.run(tasks, f),
        _ => (0..tasks).into_par_iter().for_each(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn pool(n: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("a thread pool")
    }

    #[test]
    fn every_task_runs_once_inside_and_outside_a_session() {
        for threads in [1, 2, 3] {
            pool(threads).install(|| {
                let check = || {
                    for tasks in [0, 1, 2, 7, 100] {
                        let hits: Vec<AtomicU32> = (0..tasks).map(|_| AtomicU32::new(0)).collect();
                        for_each_task(tasks, &|i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        });
                        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
                    }
                };
                check();
                session(|| {
                    for _ in 0..200 {
                        check();
                    }
                });
            });
        }
    }

    #[test]
    fn a_session_makes_progress_without_its_helpers() {
        // One worker is busy for the whole session, so its helper never starts.
        let p = pool(2);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        p.spawn(move || {
            let _ = rx.recv();
        });
        let sum = p.install(|| {
            session(|| {
                let total = AtomicUsize::new(0);
                for_each_task(1000, &|i| {
                    total.fetch_add(i, Ordering::Relaxed);
                });
                total.load(Ordering::Relaxed)
            })
        });
        let _ = tx.send(());
        assert_eq!(sum, 999 * 1000 / 2);
    }

    #[test]
    fn sessions_nest_and_a_panicking_task_reaches_the_caller() {
        pool(2).install(|| {
            let r = session(|| session(|| 5));
            assert_eq!(r, 5);
            let caught = catch_unwind(AssertUnwindSafe(|| {
                session(|| {
                    for_each_task(8, &|i| assert!(i != 3, "task 3 fails"));
                })
            }));
            assert!(caught.is_err());
            // The pool is usable afterwards.
            assert_eq!(session(|| 7), 7);
        });
    }
}
