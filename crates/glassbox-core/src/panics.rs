//! Running code of a dependency that may panic on hostile input, as an error instead.
//!
//! Some libraries glassbox uses panic on malformed files (the `tokenizers` crate on some
//! `tokenizer.json` mistakes) rather than returning an error. At the boundary where such a file
//! enters, glassbox runs the call through [`catching`], so the user gets an error naming the file
//! and the process goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// The text of a panic payload (`&str` or `String`; anything else is described).
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".into())
}

/// Runs `f`; a panic becomes `Err` with its message.
///
/// Use it only where whatever `f` was changing is dropped or read-only afterwards (the callers
/// pass shared references to objects that are only read, or build the object inside `f`), which
/// is what makes the `AssertUnwindSafe` sound.
pub fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| message(p.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::panic)]
    fn a_panic_becomes_its_message() {
        assert_eq!(catching(|| 7), Ok(7));
        assert_eq!(
            catching(|| -> u8 { panic!("bad {}", 1) }),
            Err("bad 1".into())
        );
        assert_eq!(
            catching(|| -> u8 { panic!("static") }),
            Err("static".into())
        );
    }
}
