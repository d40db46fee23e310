//! Schema versions of the files glassbox writes.

use std::path::Path;

use crate::{CoreError, Result};

/// Checks that `found` (a file's `schema_version`) is one of `supported`.
pub fn check_version(path: &Path, found: u32, supported: &[u32]) -> Result<()> {
    if supported.contains(&found) {
        return Ok(());
    }
    let newest = supported.iter().copied().max().unwrap_or(0);
    let hint = if found > newest {
        "the file was written by a newer glassbox: upgrade glassbox to read it"
    } else {
        "the file was written by an older glassbox that this build no longer reads"
    };
    Err(CoreError::Schema {
        path: path.to_path_buf(),
        found: found.to_string(),
        supported: supported
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_version_says_upgrade() {
        let err = check_version(Path::new("x.json"), 9, &[1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.json") && err.contains("upgrade"), "{err}");
        assert!(check_version(Path::new("x.json"), 1, &[1]).is_ok());
    }
}
