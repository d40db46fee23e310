//! Faults for tests (feature `fault-injection`, enabled only by this workspace's tests): prompts
//! that make the scheduler panic at a chosen point, so tests can check that a panic fails only
//! the requests it touches and that a dead scheduler fails everything promptly. A served build
//! never has this module.
//!
//! The prompts are token ids valid in every fixture model (vocabularies of 420 or more).

/// A prompt starting with these ids panics inside its prefill's forward pass.
pub const PANIC_IN_PREFILL: [u32; 6] = [419, 1, 419, 1, 419, 0];
/// A prompt starting with these ids panics inside the decoding step after its first token.
pub const PANIC_IN_DECODE: [u32; 6] = [419, 1, 419, 1, 419, 2];
/// A decoding step with a sequence whose prompt starts with these ids takes 10 ms longer: a
/// request that holds its slot for as long as a test needs.
pub const SLOW_DECODE: [u32; 6] = [419, 1, 419, 1, 419, 4];
/// A prompt starting with these ids panics when admitted, outside any model call: the panic
/// kills the scheduler thread.
pub const KILL_SCHEDULER: [u32; 6] = [419, 1, 419, 1, 419, 3];

pub(super) fn panics_in_prefill(prompt: &[u32]) -> bool {
    prompt.starts_with(&PANIC_IN_PREFILL)
}

pub(super) fn panics_in_decode(prompt: &[u32], generated: usize) -> bool {
    prompt.starts_with(&PANIC_IN_DECODE) && generated >= 1
}

pub(super) fn slows_decode(prompt: &[u32]) -> bool {
    prompt.starts_with(&SLOW_DECODE)
}

pub(super) fn at_admission(prompt: &[u32]) {
    if prompt.starts_with(&KILL_SCHEDULER) {
        panic_now("admission");
    }
}

#[allow(clippy::panic)]
pub(super) fn panic_now(point: &str) -> ! {
    panic!("injected fault in {point}")
}
