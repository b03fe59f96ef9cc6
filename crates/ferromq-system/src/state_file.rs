//! Where a running supervisor can be found: a small file per system under the runtime directory,
//! holding the supervisor's pid and its directory's endpoint, so that `ferromq ps` and
//! `ferromq lookup` need no address.

use std::path::{Path, PathBuf};

/// `FERROMQ_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/ferromq`, else `/tmp/ferromq-UID`.
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERROMQ_RUNTIME_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return Path::new(&dir).join("ferromq");
    }
    PathBuf::from(format!(
        "/tmp/ferromq-{}",
        rustix::process::getuid().as_raw()
    ))
}

/// A running system, as its state file tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub system: String,
    pub pid: u32,
    pub directory: String,
}

fn path_of(dir: &Path, system: &str) -> PathBuf {
    dir.join(format!("{system}.state"))
}

/// Writes the state file; returns its path, to be removed on exit.
pub fn write(dir: &Path, running: &Running) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = path_of(dir, &running.system);
    let tmp = dir.join(format!(".{}.state.tmp", running.system));
    std::fs::write(
        &tmp,
        format!("pid={}\ndirectory={}\n", running.pid, running.directory),
    )?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

fn read(path: &Path) -> Option<Running> {
    let text = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    let system = path.file_stem()?.to_string_lossy().into_owned();
    Some(Running {
        system,
        pid: field("pid")?.parse().ok()?,
        directory: field("directory")?,
    })
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The systems running now (state files whose supervisor is gone are skipped).
pub fn list(dir: &Path) -> Vec<Running> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<Running> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "state"))
        .filter_map(|p| read(&p))
        .filter(|r| alive(r.pid))
        .collect();
    found.sort_by(|a, b| a.system.cmp(&b.system));
    found
}

/// The running system named `system`, or the only one running when no name is given.
pub fn find(dir: &Path, system: Option<&str>) -> Result<Running, String> {
    let running = list(dir);
    match system {
        Some(name) => running
            .into_iter()
            .find(|r| r.system == name)
            .ok_or_else(|| {
                format!(
                    "no system named {name:?} is running (looked in {})",
                    dir.display()
                )
            }),
        None => match running.len() {
            0 => Err(format!(
                "no system is running (looked in {})",
                dir.display()
            )),
            1 => Ok(running.into_iter().next().expect("one")),
            _ => Err(format!(
                "several systems are running ({}): choose one with --system",
                running
                    .iter()
                    .map(|r| r.system.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_found_and_stale_files_skipped() {
        let dir = std::env::temp_dir().join(format!("ferromq-state-test-{}", std::process::id()));
        let me = Running {
            system: "alpha".into(),
            pid: std::process::id(),
            directory: "tcp://127.0.0.1:5670".into(),
        };
        let path = write(&dir, &me).unwrap();
        assert_eq!(find(&dir, None), Ok(me.clone()));
        assert_eq!(find(&dir, Some("alpha")), Ok(me.clone()));
        assert!(find(&dir, Some("beta"))
            .unwrap_err()
            .contains("no system named \"beta\""));
        // A supervisor that is gone (no such pid) does not count.
        let gone = Running {
            system: "beta".into(),
            pid: u32::MAX - 1,
            directory: "tcp://127.0.0.1:1".into(),
        };
        write(&dir, &gone).unwrap();
        assert_eq!(list(&dir), vec![me]);
        std::fs::remove_file(path).unwrap();
        assert!(find(&dir, None)
            .unwrap_err()
            .contains("no system is running"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
