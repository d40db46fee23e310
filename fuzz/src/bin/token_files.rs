//! Token files by their headers: a glassbox shard (first byte % 5 == 0), an order file (1), a
//! Megatron `.idx` + `.bin` pair (2: the next two bytes give the `.idx` length), a nanoGPT
//! `train.bin` (3) and an llm.c shard (4).
#[path = "../targets.rs"]
mod targets;

fn main() {
    let dir = targets::scratch();
    afl::fuzz_nohook!(|data: &[u8]| targets::token_files(&dir, data));
}
