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

/// Whether [`write_line`] may replace a file that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace its contents.
    Replace,
    /// Fail with `AlreadyExists`.
    Refuse,
}

/// Writes `text` and a newline to the file at `path` and syncs it. The file is the owner's
/// only (`0600`) from the moment it is made, and made so if it existed with other modes.
pub fn write_line(path: &Path, text: &str, existing: Existing) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    match existing {
        Existing::Replace => options.create(true).truncate(true),
        Existing::Refuse => options.create_new(true),
    };
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    private_file(path)?;
    writeln!(file, "{text}")?;
    file.sync_all()
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
