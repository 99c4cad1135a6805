//! One writer per output. A run takes a lock file (`DIR/.fpa.lock`, or
//! `MODEL.lock` beside a model file) created exclusively and holding the
//! owner's PID, host, start time and command line; the lock goes when the run
//! ends. A second process on the same output refuses at once, naming the
//! first. A lock left by a process that no longer runs on this host (killed,
//! crashed machine) is stale and taken over; on another host fpa cannot tell,
//! so it refuses and says which file to remove.

use crate::files::utc_now;
use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Held while a run writes its output; removes the lock file when dropped.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    /// False when this process already held the lock (a nested stage).
    owned: bool,
}

/// What a lock file says about its owner.
struct Owner {
    pid: u32,
    host: String,
    text: String,
}

fn host() -> String {
    fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether a process with this PID runs on this host (conservatively true
/// where the OS gives no cheap answer). A zombie (state `Z` in `/proc/PID/stat`:
/// dead, not yet reaped, as the ranks of a killed `mpirun` job can be for a
/// while in a container) does not run.
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so read after the last ')'.
            Ok(stat) => stat.rsplit_once(')').is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    } else {
        true
    }
}

fn read_owner(path: &Path) -> Option<Owner> {
    let text = fs::read_to_string(path).ok()?;
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_string());
    Some(Owner { pid: field("pid=")?.parse().ok()?, host: field("host=")?, text: text.clone() })
}

impl OutputLock {
    /// The lock of the output directory `dir`.
    pub fn dir(dir: &Path) -> Result<Self> {
        Self::acquire(dir.join(".fpa.lock"), dir)
    }

    /// The lock of an output file (`FILE.lock` beside it).
    pub fn file(file: &Path) -> Result<Self> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        Self::acquire(PathBuf::from(name), file)
    }

    fn acquire(path: PathBuf, output: &Path) -> Result<Self> {
        let me = std::process::id();
        let here = host();
        for _ in 0..3 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let cmd: Vec<String> = std::env::args().collect();
                    let text = format!("pid={me}\nhost={here}\nstarted={}\ncommand={}\n", utc_now(), cmd.join(" "));
                    f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).with_context(|| {
                        let _ = fs::remove_file(&path);
                        format!("cannot write the lock file {}", path.display())
                    })?;
                    return Ok(OutputLock { path, owned: true });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("cannot create the lock file {}", path.display())),
            }
            match read_owner(&path) {
                Some(o) if o.pid == me && o.host == here => return Ok(OutputLock { path, owned: false }),
                Some(o) if o.host == here && !alive(o.pid) => {
                    eprintln!("note: taking over the stale lock {} of PID {} (no longer running)", path.display(), o.pid);
                    let _ = fs::remove_file(&path);
                }
                Some(o) => bail!(
                    "{} is in use by another fpa process (PID {} on {}):\n  {}\nwait for it to finish; if it is gone, remove {}",
                    output.display(),
                    o.pid,
                    o.host,
                    o.text.trim().replace('\n', "\n  "),
                    path.display()
                ),
                // Being written this instant, or damaged: a young file is a live lock.
                None => {
                    let age = fs::metadata(&path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a.as_secs() < 10) {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    } else {
                        eprintln!("note: removing the unreadable lock file {}", path.display());
                        let _ = fs::remove_file(&path);
                    }
                }
            }
        }
        bail!("cannot take the lock {} (another process keeps taking it)", path.display())
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        if self.owned {
            let _ = fs::remove_file(&self.path);
        }
    }
}
