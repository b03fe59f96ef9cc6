//! The system manifest (`SYSTEM.toml`): which processes to run, how, in what order, and what to do
//! when they exit.
//!
//! Unknown keys are errors, so that a misspelt `restart` is reported instead of silently taking
//! the default.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A whole manifest, checked: names are unique, every `after` names a process, and there is no
/// cycle, so [`Manifest::start_order`] exists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The system's name, used for its state file (`ferromq ps --system NAME`); by default the
    /// manifest's file name without `.toml`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub supervisor: SupervisorConfig,
    #[serde(default)]
    pub directory: DirectoryConfig,
    #[serde(default, rename = "process")]
    pub processes: Vec<ProcessConfig>,
}

/// Restart limits and stop timing, for the whole system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// At most this many restarts within `within_secs`; one more stops the system (as an
    /// Erlang supervisor's intensity and period do).
    pub max_restarts: u32,
    pub within_secs: f64,
    /// The first pause before a restart; it doubles with each exit that follows quickly on the
    /// last start, up to `backoff_max_ms`.
    pub backoff_ms: u64,
    pub backoff_max_ms: u64,
    /// How long a process has to exit after the stop message, and again after SIGTERM, before
    /// the next, harder step.
    pub stop_timeout_ms: u64,
}

impl Default for SupervisorConfig {
    fn default() -> SupervisorConfig {
        SupervisorConfig {
            max_restarts: 5,
            within_secs: 10.0,
            backoff_ms: 100,
            backoff_max_ms: 5_000,
            stop_timeout_ms: 3_000,
        }
    }
}

impl SupervisorConfig {
    pub fn within(&self) -> Duration {
        Duration::from_secs_f64(self.within_secs.max(0.0))
    }
    pub fn backoff(&self) -> Duration {
        Duration::from_millis(self.backoff_ms)
    }
    pub fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.backoff_max_ms.max(self.backoff_ms))
    }
    pub fn stop_timeout(&self) -> Duration {
        Duration::from_millis(self.stop_timeout_ms)
    }
}

/// Where the directory listens and how long an entry outlives its owner's last heartbeat.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// The endpoint to bind; by default an ephemeral loopback port. Bind a routable address to
    /// let processes on other hosts register and look up.
    pub bind: String,
    pub ttl_ms: u64,
    /// Another supervisor's directory to join (`tcp://HOST:PORT`), so that one system spans
    /// hosts: the local entries are mirrored there, and what is not found here is looked up
    /// there.
    pub join: Option<String>,
    /// The name this host's entries carry in the joined directory (`NAME/owner`); by default
    /// the host name.
    pub name: Option<String>,
}

impl Default for DirectoryConfig {
    fn default() -> DirectoryConfig {
        DirectoryConfig {
            bind: "tcp://127.0.0.1:*".into(),
            ttl_ms: 3_000,
            join: None,
            name: None,
        }
    }
}

/// When a process that exited is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Whatever the exit status.
    Always,
    /// After a non-zero exit status or a signal.
    #[default]
    OnFailure,
    /// Never: an exit is final.
    Never,
}

/// When a process counts as ready, so that those started `after` it may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// Once it has registered a service with the directory.
    #[default]
    Register,
    /// As soon as it is started (for programs that do not use the directory).
    Start,
}

/// One `[[process]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    pub name: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// The working directory, relative to the manifest's own directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "one")]
    pub instances: u32,
    /// Processes all of whose instances must be ready before this one starts.
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub ready: Readiness,
}

fn one() -> u32 {
    1
}

/// A manifest that could not be read or makes no sense, with the reason.
#[derive(Debug)]
pub struct ManifestError(pub String);

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ManifestError {}

impl Manifest {
    /// Reads and checks a manifest file; relative working directories are resolved against its
    /// directory, and a missing name is taken from the file name.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ManifestError(format!("cannot read {}: {e}", path.display())))?;
        let mut manifest = Manifest::parse(&text)
            .map_err(|e| ManifestError(format!("{}: {}", path.display(), e.0)))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        for process in &mut manifest.processes {
            let cwd = process.cwd.take().unwrap_or_default();
            process.cwd = Some(base.join(cwd));
        }
        if manifest.name.is_none() {
            manifest.name = path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned());
        }
        Ok(manifest)
    }

    /// Parses and checks manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError(e.to_string()))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The system's name ("system" when neither the manifest nor its file name gives one).
    pub fn system_name(&self) -> &str {
        self.name.as_deref().unwrap_or("system")
    }

    fn check(&self) -> Result<(), ManifestError> {
        if let Some(name) = &self.directory.name {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '/') {
                return Err(ManifestError(format!(
                    "directory name {name:?}: it needs at least one character, and no space or '/'"
                )));
            }
        }
        if self.directory.join.as_deref() == Some("") {
            return Err(ManifestError("directory join is empty".into()));
        }
        if self.processes.is_empty() {
            return Err(ManifestError("no [[process]] to run".into()));
        }
        let mut seen = HashMap::new();
        for (i, process) in self.processes.iter().enumerate() {
            let valid = !process.name.is_empty()
                && process
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid {
                return Err(ManifestError(format!(
                    "process name {:?}: use letters, digits, '-', '_' and '.'",
                    process.name
                )));
            }
            if seen.insert(process.name.as_str(), i).is_some() {
                return Err(ManifestError(format!(
                    "two processes are named {:?}",
                    process.name
                )));
            }
            if process.command.is_empty() {
                return Err(ManifestError(format!(
                    "process {:?} has an empty command",
                    process.name
                )));
            }
        }
        for process in &self.processes {
            for dep in &process.after {
                if !seen.contains_key(dep.as_str()) {
                    return Err(ManifestError(format!(
                        "process {:?} starts after {dep:?}, which is not in the manifest",
                        process.name
                    )));
                }
            }
        }
        self.start_order().map(|_| ())
    }

    /// Process indices in an order where each comes after everything it waits for, keeping the
    /// manifest's order otherwise; the system stops in the reverse of it.
    pub fn start_order(&self) -> Result<Vec<usize>, ManifestError> {
        let index: HashMap<&str, usize> = self
            .processes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i))
            .collect();
        let mut order = Vec::with_capacity(self.processes.len());
        let mut placed = vec![false; self.processes.len()];
        while order.len() < self.processes.len() {
            let next = (0..self.processes.len()).find(|&i| {
                !placed[i]
                    && self.processes[i]
                        .after
                        .iter()
                        .all(|dep| index.get(dep.as_str()).is_some_and(|&d| placed[d]))
            });
            match next {
                Some(i) => {
                    placed[i] = true;
                    order.push(i);
                }
                None => {
                    let stuck: Vec<&str> = (0..self.processes.len())
                        .filter(|&i| !placed[i])
                        .map(|i| self.processes[i].name.as_str())
                        .collect();
                    return Err(ManifestError(format!(
                        "the processes {} wait for each other in a cycle",
                        stuck.join(", ")
                    )));
                }
            }
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_order() {
        let m = Manifest::parse(
            r#"
            [[process]]
            name = "b"
            command = "true"
            after = ["a"]
            [[process]]
            name = "a"
            command = "true"
            instances = 2
            restart = "always"
            "#,
        )
        .unwrap();
        assert_eq!(m.start_order().unwrap(), vec![1, 0]);
        assert_eq!(m.processes[0].restart, RestartPolicy::OnFailure);
        assert_eq!(m.processes[1].instances, 2);
        assert_eq!(m.supervisor.max_restarts, 5);
        assert_eq!(m.processes[0].ready, Readiness::Register);
        assert_eq!(m.directory.join, None);
    }

    #[test]
    fn a_directory_can_join_another() {
        let m = Manifest::parse(
            "[directory]\njoin = \"tcp://10.0.0.1:5670\"\nname = \"east\"\n\
             [[process]]\nname = \"a\"\ncommand = \"x\"\n",
        )
        .unwrap();
        assert_eq!(m.directory.join.as_deref(), Some("tcp://10.0.0.1:5670"));
        assert_eq!(m.directory.name.as_deref(), Some("east"));
        let slash = "[directory]\nname = \"a/b\"\n[[process]]\nname = \"a\"\ncommand = \"x\"\n";
        assert!(Manifest::parse(slash).unwrap_err().0.contains("'/'"));
    }

    #[test]
    fn errors_name_the_problem() {
        let cycle = "[[process]]\nname = \"a\"\ncommand = \"x\"\nafter = [\"b\"]\n\
                     [[process]]\nname = \"b\"\ncommand = \"x\"\nafter = [\"a\"]\n";
        assert!(Manifest::parse(cycle).unwrap_err().0.contains("cycle"));
        let missing = "[[process]]\nname = \"a\"\ncommand = \"x\"\nafter = [\"z\"]\n";
        assert!(Manifest::parse(missing).unwrap_err().0.contains("\"z\""));
        let typo = "[[process]]\nname = \"a\"\ncommand = \"x\"\nrestrat = \"never\"\n";
        assert!(Manifest::parse(typo).unwrap_err().0.contains("restrat"));
        let twice = "[[process]]\nname = \"a\"\ncommand = \"x\"\n\
                     [[process]]\nname = \"a\"\ncommand = \"y\"\n";
        assert!(Manifest::parse(twice)
            .unwrap_err()
            .0
            .contains("two processes"));
    }
}
