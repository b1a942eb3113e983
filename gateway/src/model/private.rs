//! Files only the gateway's own user may read: the data directory (`0700`) and what it holds
//! that another local user must not read (the store, token files, compiled plugins: `0600`).

use std::io;
use std::path::Path;

/// Creates `dir` if needed and makes it the owner's only (`0700`).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Makes the file at `path` readable and writable by its owner only (`0600`).
pub fn private_file(path: &Path) -> io::Result<()> {
    set_mode(path, 0o600)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}
