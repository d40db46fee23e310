//! The body of every POST endpoint of the server (first byte chooses `/v1/completions`,
//! `/v1/chat/completions`, `/tokenize` or `/detokenize`) over the tiny test model; the answer must
//! have a status a client can act on (never 500) and a JSON or server-sent-events body.
#[path = "../targets.rs"]
mod targets;

use std::cell::OnceCell;

fn main() {
    // Built at the first input, inside the process AFL forks for fuzzing: the scheduler's thread
    // would not survive the fork if it were started before.
    let server: OnceCell<targets::Http> = OnceCell::new();
    // A panic reaching here aborts the process (AFL's crash). Panics glassbox catches on purpose
    // (model code in the scheduler: a 500, which `check_http_answer` refuses) are not aborted
    // early by a hook.
    let server = std::panic::AssertUnwindSafe(server);
    afl::fuzz_nohook!(|data: &[u8]| {
        let s = std::ops::Deref::deref(&server).get_or_init(targets::Http::new);
        targets::http(s, data);
    });
}
