//! A private PostgreSQL cluster for tests: `initdb` into a temporary directory,
//! started on a free port of 127.0.0.1 (and a unix socket in that directory), one
//! per test binary, with a fresh database per test (`TestPostgres::database`).
//!
//! The server binaries are found under `HERALD_PG_BINDIR`, else `pg_config
//! --bindir`, else the newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql`
//! package). PostgreSQL refuses to run as root, so when the tests run as root the
//! cluster belongs to the `postgres` user (`runuser -u postgres`).
//!
//! The cluster lives as long as the test binary: a small reaper process (`sh`)
//! watches the binary's pid and, once it is gone (however it ended: a pass, a
//! panic, a kill), stops the server and removes the directory. A statics-held
//! cluster is never dropped, so no `Drop` could do it.
//!
//! A cluster that cannot start is a failure, never a skip: the tests that asked for
//! it panic with what went wrong and the server's log (under `CI=true` too, where
//! `.ci/run` installs PostgreSQL first).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The user the cluster runs as when the tests run as root.
const SERVER_USER: &str = "postgres";

/// The one cluster of this test binary (or why it could not start).
static CLUSTER: OnceLock<Result<TestPostgres, String>> = OnceLock::new();

/// The durable cluster of this process, for measurements (`TestPostgres::durable`).
static DURABLE: OnceLock<Result<TestPostgres, String>> = OnceLock::new();

/// Numbers the databases made in this process.
static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A running private cluster. Get the shared one with `TestPostgres::shared()`.
#[derive(Debug)]
pub struct TestPostgres {
    /// The temporary directory: `data/` (the cluster), `log`, the unix socket.
    dir: PathBuf,
    /// The TCP port on 127.0.0.1.
    port: u16,
}

impl TestPostgres {
    /// The cluster of this test binary, started on the first call.
    ///
    /// # Panics
    /// When PostgreSQL is not installed or does not start: the message says why and
    /// how to install it.
    pub fn shared() -> &'static TestPostgres {
        Self::or_panic(CLUSTER.get_or_init(|| start(Durability::Tests)))
    }

    /// A cluster of this process with the server's durable defaults (`fsync`,
    /// `synchronous_commit`, full page writes: a commit is on the disk when it
    /// returns), for benchmarks; the tests' cluster trades that for speed.
    ///
    /// # Panics
    /// As `shared`.
    pub fn durable() -> &'static TestPostgres {
        Self::or_panic(DURABLE.get_or_init(|| start(Durability::Durable)))
    }

    fn or_panic(started: &'static Result<TestPostgres, String>) -> &'static TestPostgres {
        match started {
            Ok(cluster) => cluster,
            Err(why) => panic!(
                "PostgreSQL for the tests could not start{ci}: {why}\n\
                 Install it (Debian: `apt-get install postgresql`; `.ci/run` does) or set \
                 HERALD_PG_BINDIR to the directory holding `initdb` and `pg_ctl`.",
                ci = if is_ci() {
                    " (CI=true: never skipped)"
                } else {
                    ""
                }
            ),
        }
    }

    /// The URL of the cluster's `postgres` database (for creating others).
    pub fn admin_url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of database `name` of the cluster (user `postgres`, no password).
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://{SERVER_USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The TCP port the cluster listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the server's postmaster (its backends are its children).
    pub fn server_pid(&self) -> Option<u32> {
        let pid_file =
            std::fs::read_to_string(self.dir.join("data").join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// The directory of the unix socket (`host=` of a libpq connection string).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Makes a new, empty database and returns its URL: each test gets its own, so
    /// tests run in parallel on the one cluster without seeing each other.
    ///
    /// # Panics
    /// When the database cannot be made.
    pub async fn database(&self) -> String {
        let name = format!(
            "herald_test_{}_{}",
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        );
        let (client, connection) =
            tokio_postgres::connect(&self.admin_url(), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}"));
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        drop(client);
        let _ = connection.await;
        self.url_of(&name)
    }
}

/// Whether this is a CI run.
fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// How a cluster keeps what it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// No sync to the disk: tests are about behaviour, and a lost test database
    /// costs nothing.
    Tests,
    /// The server's defaults: a commit is on the disk when it returns.
    Durable,
}

/// Finds the binaries, makes the cluster and starts it, with the reaper watching.
fn start(durability: Durability) -> Result<TestPostgres, String> {
    let bin = bin_dir()?;
    let as_root = running_as_root();
    let kind = match durability {
        Durability::Tests => "",
        Durability::Durable => "-durable",
    };
    let dir = std::env::temp_dir().join(format!("herald-pg{kind}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if as_root {
        run(Command::new("chown")
            .arg(format!("{SERVER_USER}:{SERVER_USER}"))
            .arg(&dir))?;
    }
    let data = dir.join("data");
    run(server_command(&bin, "initdb", as_root)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SERVER_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .arg("--no-sync"))?;
    // A port found free may be taken before the server binds it: try a few.
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let sync = match durability {
            Durability::Tests => " -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            // Measurements also count what each statement costs, when the server
            // has the module.
            Durability::Durable if bin.join("../lib/pg_stat_statements.so").is_file() => {
                " -c shared_preload_libraries=pg_stat_statements"
            }
            Durability::Durable => "",
        };
        let options = format!(
            "-p {port} -k {socket} -c listen_addresses=127.0.0.1 -c max_connections=300{sync}",
            socket = dir.display()
        );
        let started = run(server_command(&bin, "pg_ctl", as_root)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]));
        match started {
            Ok(()) => {
                reap_on_exit(&dir, &data)?;
                return Ok(TestPostgres { dir, port });
            }
            Err(e) => {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                last_error = format!("{e}\nserver log:\n{log}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Err(last_error)
}

/// The directory holding `initdb` and `pg_ctl`.
fn bin_dir() -> Result<PathBuf, String> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("HERALD_PG_BINDIR").map(PathBuf::from) {
        return if has_initdb(&dir) {
            Ok(dir)
        } else {
            Err(format!("HERALD_PG_BINDIR={} has no initdb", dir.display()))
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_initdb(&dir) {
            return Ok(dir);
        }
    }
    // Debian's layout: /usr/lib/postgresql/<major>/bin; the newest major wins.
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_initdb(&bin).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, dir)| dir).ok_or_else(|| {
        "no initdb found (HERALD_PG_BINDIR, pg_config, /usr/lib/postgresql/*/bin)".into()
    })
}

/// Whether this process runs as root (PostgreSQL refuses to).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A command for the server binary `name`, run as `SERVER_USER` when we are root.
fn server_command(bin: &Path, name: &str, as_root: bool) -> Command {
    let program = bin.join(name);
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", SERVER_USER, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Runs `command` to its end; its output is the error when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A port of 127.0.0.1 free at the time of asking.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Starts the reaper: once this process is gone, it stops the server (fast
/// shutdown, SIGINT to the postmaster) and removes `dir`.
fn reap_on_exit(dir: &Path, data: &Path) -> Result<(), String> {
    let pid_file = data.join("postmaster.pid");
    let postmaster = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok())
        .ok_or_else(|| format!("no pid in {}", pid_file.display()))?;
    let script = r#"
        while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
        kill -INT "$2" 2>/dev/null
        n=0
        while kill -0 "$2" 2>/dev/null && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n+1)); done
        kill -KILL "$2" 2>/dev/null
        rm -rf "$3"
    "#;
    Command::new("sh")
        .args(["-c", script, "herald-pg-reaper"])
        .arg(std::process::id().to_string())
        .arg(postmaster.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| format!("starting the reaper: {e}"))?;
    Ok(())
}
