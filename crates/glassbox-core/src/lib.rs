//! Shared vocabulary of glassbox: the small pieces every stage of the assembly line agrees on.
//!
//! - [`hash`]: SHA-256 of bytes and files, as lowercase hex (the form every manifest uses).
//! - [`fsio`]: reading JSON with errors that name the file, line and column; atomic writes
//!   (temporary file in the same directory, `fsync`, `rename`, `fsync` of the directory) so that a
//!   crash never leaves a half-written artefact under its final name.
//! - [`rng`]: a documented, seedable PRNG (xoshiro256** seeded by SplitMix64) whose output is fixed
//!   by this crate, not by a dependency's version: the same seed gives the same stream forever.
//! - [`panics`]: a dependency's panic on hostile input turned into an error.
//! - [`schema`]: checking a file's `schema_version` with an error that says what to do.
//! - [`cpu`]: the CPU's model name and vector extensions, which every benchmark report names.
//!
//! No ML and no I/O policy live here; the crate has no heavy dependencies.
//!
//! ```
//! use glassbox_core::{hash, rng::Rng};
//! assert_eq!(
//!     hash::sha256_hex(b"abc"),
//!     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
//! );
//! let mut a = Rng::seed_from_u64(42);
//! let mut b = Rng::seed_from_u64(42);
//! assert_eq!(a.next_u64(), b.next_u64());
//! ```

pub mod cpu;
pub mod error;
pub mod fsio;
pub mod hash;
pub mod panics;
pub mod rng;
pub mod schema;

pub use error::{CoreError, Result};
