//! A headless Chromium driven over WebDriver, for tests of pages a browser shows.
//!
//! `Browser::start` runs `chromedriver` on a free port of 127.0.0.1 and opens a
//! session in a headless Chromium with a fresh profile in a temporary directory, so
//! tests share nothing (cookies, storage, cache) and run in parallel. The helpers
//! (`goto`, `fill`, `click`, `wait_for_text`, `screenshot`, ...) bound every wait and
//! name what they were doing in their errors; `client()` gives fantoccini's full API
//! for the rest.
//!
//! Two checks cover what a page owes keyboard and screen-reader users:
//! `accessibility_problems` audits the page's markup (names of controls, links and
//! buttons, `alt`, tab order, `lang`, `<title>`, one `<h1>`), and
//! `keyboard_reachable` presses Tab through the page and lists the controls it never
//! reached.
//!
//! The binaries come from Debian's `chromium` and `chromium-driver` packages. When
//! either is missing, `start` fails naming the package (`.ci/run` installs both):
//! a browser test fails, never skips.
//!
//! Cleanup: killing chromedriver does not end the Chromium it started (Chromium
//! outlives it), so chromedriver runs in a process group of its own, which its
//! Chromium processes join, and `close` or the drop kills the whole group. A test
//! process that ends without the drop (an interrupt, a kill) is covered by a small
//! reaper (`sh`, in a group of its own too, so Ctrl-C spares it): it reads a pipe
//! whose other end only the test process holds, and at its end of file, which
//! comes however that process ended, kills the group and removes the temporary
//! directory.

use std::fmt::Display;
use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::process::{Child, ChildStdin, Command};

/// The bound on chromedriver starting to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The bound on opening the session (Chromium starting) and on closing it.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// The bound on any one WebDriver command: a hung browser fails the test instead of
/// hanging it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How often bounded waits look again.
const POLL: Duration = Duration::from_millis(100);

/// Chromium's flags. `--no-sandbox`: its sandbox cannot start as root or in most
/// containers. `--disable-dev-shm-usage`: containers' `/dev/shm` is often too small.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1280,900",
];

/// A headless Chromium session and the chromedriver that runs it; both end when
/// this is closed or dropped.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    /// Declared after `client` and before `dir`: dropped (killed) after the
    /// session's handle and before the profile is removed.
    processes: Processes,
    /// `driver.log` (chromedriver's output) and `profile/` (Chromium's
    /// `--user-data-dir`).
    dir: TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a session in a headless Chromium.
    ///
    /// # Errors
    /// When `chromedriver` or `chromium` is not installed (the error names the
    /// package), when chromedriver does not answer within 20 s, or when the session
    /// cannot open; the error carries chromedriver's log.
    pub async fn start() -> anyhow::Result<Browser> {
        let driver = locate(
            &["chromedriver"],
            &["/usr/bin/chromedriver"],
            "chromium-driver",
        )?;
        let chromium = locate(
            &["chromium", "chromium-browser"],
            &["/usr/bin/chromium"],
            "chromium",
        )?;
        let dir = tempfile::Builder::new()
            .prefix("herald-browser-")
            .tempdir()
            .context("creating the browser's temporary directory")?;
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).with_context(|| format!("creating {}", profile.display()))?;

        // A port found free may be taken before chromedriver binds it: try a few.
        let mut last_error = anyhow!("chromedriver was not started");
        for _ in 0..3 {
            let (mut processes, port) = Processes::start(&driver, dir.path())?;
            let url = format!("http://127.0.0.1:{port}");
            if let Err(e) = wait_until_ready(&url, &mut processes.driver).await {
                // chromedriver exits at once when its port was taken: try another.
                let exited = matches!(processes.driver.try_wait(), Ok(Some(_)));
                processes.kill();
                last_error = anyhow!("{e:#}\nchromedriver log:\n{}", read_log(dir.path()));
                if exited {
                    continue;
                }
                return Err(last_error);
            }
            return match open_session(&url, &chromium, &profile).await {
                Ok(client) => Ok(Browser {
                    client,
                    processes,
                    dir,
                }),
                Err(e) => {
                    processes.kill();
                    Err(anyhow!(
                        "opening a session of {}: {e:#}\nchromedriver log:\n{}",
                        chromium.display(),
                        read_log(dir.path())
                    ))
                }
            };
        }
        Err(last_error)
    }

    /// fantoccini's client of the session, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The pid of Chromium's main process (as chromedriver reports it), for tests
    /// of this harness's cleanup.
    pub fn chromium_pid(&self) -> Option<u32> {
        let pid = self
            .client
            .capabilities()?
            .get("goog:processID")?
            .as_u64()?;
        u32::try_from(pid).ok()
    }

    /// chromedriver's output so far (with Chromium's own log lines), for failure
    /// messages.
    pub fn driver_log(&self) -> String {
        read_log(self.dir.path())
    }

    /// Opens `url` and waits for it to load (bounded by the session's 30 s page
    /// load timeout).
    ///
    /// # Errors
    /// When the page does not load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        within(format!("opening {url}"), self.client.goto(url)).await
    }

    /// The address of the page shown.
    ///
    /// # Errors
    /// When the browser does not answer.
    pub async fn current_url(&self) -> anyhow::Result<url::Url> {
        within("reading the current URL", self.client.current_url()).await
    }

    /// Resizes the window (the page's viewport follows), e.g. to a phone's width.
    ///
    /// # Errors
    /// When the browser refuses the size.
    pub async fn set_window_size(&self, width: u32, height: u32) -> anyhow::Result<()> {
        within(
            format!("resizing the window to {width}x{height}"),
            self.client.set_window_size(width, height),
        )
        .await
    }

    /// Saves a PNG of the viewport as `dir/name.png` (`.png` is not doubled) and
    /// returns its path; `dir` is created if needed.
    ///
    /// # Errors
    /// When the browser cannot take it or the file cannot be written.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let png = within("taking a screenshot", self.client.screenshot()).await?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = if name.ends_with(".png") {
            dir.join(name)
        } else {
            dir.join(format!("{name}.png"))
        };
        std::fs::write(&file, png).with_context(|| format!("writing {}", file.display()))?;
        Ok(file)
    }

    /// The text of the page as a reader sees it (`document.body.innerText`: hidden
    /// elements left out).
    ///
    /// # Errors
    /// When the script cannot run (e.g. in the middle of a navigation).
    pub async fn page_text(&self) -> anyhow::Result<String> {
        let text = self
            .script(
                "reading the page's text",
                "return document.body ? document.body.innerText : '';",
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Replaces the value of the field `css` with `value`, typed as keys (so the
    /// page's input handlers see it).
    ///
    /// # Errors
    /// When no element matches `css` or it takes no input.
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let field = self.find(css).await?;
        within(format!("clearing {css}"), field.clear()).await?;
        within(format!("typing into {css}"), field.send_keys(value)).await
    }

    /// Clicks the element `css` as a user would (it must be shown and not
    /// covered).
    ///
    /// # Errors
    /// When no element matches `css` or it cannot be clicked.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        within(format!("clicking {css}"), element.click()).await
    }

    /// Chooses the option whose value is `value` in the `<select>` `css`.
    ///
    /// # Errors
    /// When no element matches `css` or it has no such option.
    pub async fn select_by_value(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let select = self.find(css).await?;
        within(
            format!("choosing {value:?} in {css}"),
            select.select_by_value(value),
        )
        .await
    }

    /// Waits until the page's text contains `text`, looking every 100 ms for at
    /// most `timeout`. An error while a navigation replaces the page counts as
    /// "not yet".
    ///
    /// # Errors
    /// When `timeout` passes first; the error carries the last text seen.
    pub async fn wait_for_text(&self, text: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.page_text().await;
            if seen.as_ref().is_ok_and(|page| page.contains(text)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let seen = match seen {
                    Ok(page) => format!("the page's text:\n{page}"),
                    Err(e) => format!("the last error: {e:#}"),
                };
                bail!("{text:?} did not appear within {timeout:?}; {seen}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Audits the page for what keyboard and screen-reader users need, and returns
    /// each problem as `element: what is wrong` (empty: none found):
    /// - every input (but `type=hidden`), select and textarea has a name: a
    ///   `<label for>` or wrapping `<label>` with text, `aria-label` or
    ///   `aria-labelledby`;
    /// - every button and link (`a[href]`) has a name: its text (an image's `alt`
    ///   counts), `aria-label`, `aria-labelledby` or `title`; an `<input
    ///   type=submit>` (or `button`, `reset`) its `value`; an `<input type=image>`
    ///   its `alt`;
    /// - every image has `alt` (`alt=""` marks it decorative);
    /// - no positive `tabindex` (it reorders the keyboard's path);
    /// - no form control or link has `tabindex=-1` unless it is `aria-hidden`;
    /// - the page has `<html lang>`, a `<title>` and exactly one `<h1>`.
    ///
    /// # Errors
    /// When the script cannot run.
    pub async fn accessibility_problems(&self) -> anyhow::Result<Vec<String>> {
        let found = self
            .script(
                "auditing the page's accessibility",
                &format!("{COMMON_JS}{AUDIT_JS}"),
            )
            .await?;
        serde_json::from_value(found).context("reading the audit's result")
    }

    /// Presses Tab through the page from its top and returns the controls that
    /// never got the focus, each as `tag#id[name=..] "text"`: empty when the
    /// keyboard reaches them all. Controls are links with `href`, buttons, inputs,
    /// selects and textareas that are shown, enabled and not `inert` (a
    /// `tabindex=-1` one inside `aria-hidden` is left out on purpose). Tab is
    /// pressed once per control (seven times per date or time input, whose parts
    /// each take one), plus 5. A radio group counts as reached when one of its
    /// radios is, since Tab stops once per group.
    ///
    /// # Errors
    /// When the scripts or the key presses fail.
    pub async fn keyboard_reachable(&self) -> anyhow::Result<Vec<String>> {
        let stops = self
            .script(
                "preparing the keyboard walk",
                &format!("{COMMON_JS}{KEYBOARD_START_JS}"),
            )
            .await?
            .as_u64()
            .unwrap_or_default();
        let tab: char = Key::Tab.into();
        let mut keys = KeyActions::new("keyboard".to_owned());
        for _ in 0..stops + 5 {
            keys = keys
                .then(KeyAction::Down { value: tab })
                .then(KeyAction::Up { value: tab });
        }
        within("pressing Tab", self.client.perform_actions(keys)).await?;
        let missed = self
            .script(
                "reading the keyboard walk",
                &format!("{COMMON_JS}{KEYBOARD_END_JS}"),
            )
            .await?;
        serde_json::from_value(missed).context("reading the keyboard walk's result")
    }

    /// Ends the session (chromedriver closes Chromium) and stops chromedriver,
    /// waiting for both; dropping the `Browser` kills them without waiting.
    ///
    /// # Errors
    /// When the session does not end cleanly; the processes are killed anyway.
    pub async fn close(self) -> anyhow::Result<()> {
        let Browser {
            client,
            mut processes,
            dir,
        } = self;
        let ended = within("ending the session", client.close()).await;
        processes.kill();
        processes.wait().await;
        drop(dir);
        ended
    }

    /// The element `css` (the first one matching).
    async fn find(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        within(
            format!("finding {css}"),
            self.client.find(Locator::Css(css)),
        )
        .await
    }

    /// Runs `script` in the page and returns its value.
    async fn script(&self, what: &str, script: &str) -> anyhow::Result<Value> {
        within(what, self.client.execute(script, Vec::new())).await
    }
}

/// chromedriver, in a process group of its own that Chromium joins, and its
/// reaper; dropping this kills the group and the reaper.
#[derive(Debug)]
struct Processes {
    driver: Child,
    /// Killed on drop (before `_reaper_pipe` closes, which would wake it).
    reaper: Child,
    /// The reaper's stdin: it acts when this closes without the reaper killed.
    _reaper_pipe: ChildStdin,
    /// The group (chromedriver's pid); `None` once killed.
    group: Option<u32>,
}

impl Processes {
    /// Starts chromedriver on a free port, writing to `dir/driver.log`, and the
    /// reaper (which removes `dir` if it acts); returns them and the port.
    fn start(driver: &Path, dir: &Path) -> anyhow::Result<(Processes, u16)> {
        let port = free_port()?;
        let log_path = dir.join("driver.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .with_context(|| format!("opening {}", log_path.display()))?;
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            // Chromium's own stderr into the log too: why it did not start.
            .arg("--enable-chrome-logs")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let group = driver
            .id()
            .context("chromedriver ended before its pid was read")?;
        let reaper = Command::new("sh")
            .args(["-c", REAPER_SH, "herald-browser-reaper"])
            .arg(group.to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .and_then(|mut reaper| {
                let pipe = reaper.stdin.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
                Ok((reaper, pipe))
            });
        match reaper {
            Ok((reaper, _reaper_pipe)) => Ok((
                Processes {
                    driver,
                    reaper,
                    _reaper_pipe,
                    group: Some(group),
                },
                port,
            )),
            Err(e) => {
                kill_group(group);
                Err(e).context("starting the browser's reaper (sh)")
            }
        }
    }

    /// Kills the group (chromedriver, Chromium) and the reaper, once.
    fn kill(&mut self) {
        let _ = self.reaper.start_kill();
        if let Some(group) = self.group.take() {
            kill_group(group);
        }
    }

    /// Waits (bounded) for chromedriver and the reaper to be gone.
    async fn wait(&mut self) {
        let _ = tokio::time::timeout(SESSION_TIMEOUT, self.driver.wait()).await;
        let _ = tokio::time::timeout(SESSION_TIMEOUT, self.reaper.wait()).await;
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The reaper: at the end of its stdin (the test process is gone), kills the
/// group `$1` and, once its processes have let go of it, removes the directory `$2`.
const REAPER_SH: &str = r#"
    read -r _
    kill -s KILL -- "-$1" 2>/dev/null
    sleep 1
    rm -rf -- "$2"
"#;

/// Kills process group `group` (`SIGKILL`): what runs a browser for a test owes
/// nothing to a graceful end. Through `sh`'s `kill`, as this crate has no unsafe.
fn kill_group(group: u32) {
    let _ = std::process::Command::new("sh")
        .args([
            "-c",
            r#"kill -s KILL -- "-$1" 2>/dev/null"#,
            "herald-browser-kill",
        ])
        .arg(group.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The first of `names` on `PATH`, else the first of `fallbacks` that exists, as
/// an executable file.
fn locate(names: &[&str], fallbacks: &[&str], package: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)));
    let fallback = fallbacks.iter().map(PathBuf::from);
    on_path
        .chain(fallback)
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            anyhow!(
                "{} not found (PATH, {}): install Debian's `{package}` package \
             (`apt-get install {package}`; `.ci/run` installs it)",
                names.join(" or "),
                fallbacks.join(", "),
            )
        })
}

/// Whether `path` is a file someone may execute.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A port of 127.0.0.1 free at the time of asking.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("finding a free port")?.port())
}

/// Polls `url/status` until chromedriver answers 200, for at most `START_TIMEOUT`.
async fn wait_until_ready(url: &str, driver: &mut Child) -> anyhow::Result<()> {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, Empty<Bytes>>(HttpConnector::new());
    let status: http::Uri = format!("{url}/status").parse().context("the status URL")?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(exit) = driver.try_wait().context("checking on chromedriver")? {
            bail!("chromedriver exited ({exit}) before answering");
        }
        let last =
            match tokio::time::timeout(Duration::from_secs(2), client.get(status.clone())).await {
                Ok(Ok(response)) if response.status().is_success() => return Ok(()),
                Ok(Ok(response)) => format!("GET /status answered {}", response.status()),
                Ok(Err(e)) => format!("GET /status: {e}"),
                Err(_) => "GET /status: no answer within 2 s".to_owned(),
            };
        if Instant::now() >= deadline {
            bail!("chromedriver did not answer within {START_TIMEOUT:?} ({last})");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Opens the WebDriver session: headless Chromium at `chromium` with its profile
/// in `profile`, page loads bounded to 30 s and scripts to 10 s.
async fn open_session(url: &str, chromium: &Path, profile: &Path) -> anyhow::Result<Client> {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.display().to_string(),
            "args": args,
        },
        "timeouts": { "pageLoad": 30_000, "script": 10_000, "implicit": 0 },
    });
    let Value::Object(capabilities) = capabilities else {
        bail!("capabilities are a JSON object");
    };
    let connect = async {
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(url)
            .await
    };
    match tokio::time::timeout(SESSION_TIMEOUT, connect).await {
        Ok(client) => client.context("chromedriver refused the session"),
        Err(_) => bail!("no session within {SESSION_TIMEOUT:?}"),
    }
}

/// `command`, bounded by `COMMAND_TIMEOUT`, its error saying it was `what`.
async fn within<T, E>(
    what: impl Display,
    command: impl Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(done) => done.with_context(|| what.to_string()),
        Err(_) => bail!("{what}: no answer from the browser within {COMMAND_TIMEOUT:?}"),
    }
}

/// chromedriver's log in `dir`, or why it cannot be read.
fn read_log(dir: &Path) -> String {
    let path = dir.join("driver.log");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// Functions the page scripts share: `heraldDescribe(el)` names an element for a
/// message, `heraldControls()` lists the controls a keyboard must reach.
const COMMON_JS: &str = r#"
const heraldDescribe = (el) => {
  let d = el.tagName.toLowerCase();
  if (el.id) d += '#' + el.id;
  for (const name of ['name', 'type', 'href', 'src']) {
    if (el.hasAttribute(name)) d += '[' + name + '=' + el.getAttribute(name) + ']';
  }
  const text = (el.textContent || '').trim().replace(/\s+/g, ' ');
  if (text) d += ' "' + (text.length > 40 ? text.slice(0, 40) + '...' : text) + '"';
  return d;
};
const heraldControls = () =>
  Array.from(document.querySelectorAll('a[href], button, input, select, textarea')).filter((el) => {
    if (el.matches(':disabled')) return false;
    if (el.tagName === 'INPUT' && el.type === 'hidden') return false;
    if (el.closest('[inert]')) return false;
    if (el.getClientRects().length === 0) return false;
    if (getComputedStyle(el).visibility === 'hidden') return false;
    if (el.getAttribute('tabindex') === '-1' && el.closest('[aria-hidden="true"]')) return false;
    return true;
  });
"#;

/// The audit of `Browser::accessibility_problems`; returns the problems.
const AUDIT_JS: &str = r#"
const problems = [];
const attr = (el, name) => (el.getAttribute(name) || '').trim();
// The text an element gives as a name: its text and its images' alt, leaving out
// aria-hidden parts and the content of controls (a select's options are not a label).
const textOf = (el) => {
  let out = '';
  for (const node of el.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      out += node.textContent;
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      if (node.getAttribute('aria-hidden') === 'true') continue;
      if (['SELECT', 'TEXTAREA', 'SCRIPT', 'STYLE'].includes(node.tagName)) continue;
      out += ' ' + (node.tagName === 'IMG' ? attr(node, 'alt') : textOf(node)) + ' ';
    }
  }
  return out.trim();
};
const labelledBy = (el) => attr(el, 'aria-labelledby').split(/\s+/).filter(Boolean)
  .map((id) => document.getElementById(id)).filter(Boolean)
  .map(textOf).join(' ').trim();
const ariaName = (el) => attr(el, 'aria-label') || labelledBy(el);
const ariaNameWhy = 'aria-label or aria-labelledby';

for (const el of document.querySelectorAll('input, select, textarea')) {
  const type = el.tagName === 'INPUT' ? (el.getAttribute('type') || 'text').toLowerCase() : '';
  if (type === 'hidden') continue;
  if (['submit', 'button', 'reset'].includes(type)) {
    if (!(attr(el, 'value') || ariaName(el) || attr(el, 'title'))) {
      problems.push(`${heraldDescribe(el)}: button with no accessible name (no value, ${ariaNameWhy}, or title)`);
    }
  } else if (type === 'image') {
    if (!(attr(el, 'alt') || ariaName(el) || attr(el, 'title'))) {
      problems.push(`${heraldDescribe(el)}: image button with no accessible name (no alt, ${ariaNameWhy}, or title)`);
    }
  } else {
    const labels = Array.from(el.labels || []).map(textOf).join(' ').trim();
    if (!(labels || ariaName(el))) {
      problems.push(`${heraldDescribe(el)}: form control with no accessible name (no <label>, ${ariaNameWhy})`);
    }
  }
}
for (const el of document.querySelectorAll('button')) {
  if (!(textOf(el) || ariaName(el) || attr(el, 'title'))) {
    problems.push(`${heraldDescribe(el)}: button with no accessible name (no text, ${ariaNameWhy}, or title)`);
  }
}
for (const el of document.querySelectorAll('a[href]')) {
  if (!(textOf(el) || ariaName(el) || attr(el, 'title'))) {
    problems.push(`${heraldDescribe(el)}: link with no accessible name (no text, ${ariaNameWhy}, or title)`);
  }
}
for (const el of document.querySelectorAll('img')) {
  if (!el.hasAttribute('alt')) {
    problems.push(`${heraldDescribe(el)}: image with no alt (alt="" marks a decorative one)`);
  }
}
for (const el of document.querySelectorAll('[tabindex]')) {
  const tabindex = parseInt(el.getAttribute('tabindex'), 10);
  if (tabindex > 0) {
    problems.push(`${heraldDescribe(el)}: positive tabindex=${tabindex} reorders the keyboard's path`);
  }
}
for (const el of document.querySelectorAll('a[href], button, input, select, textarea')) {
  if (el.tagName === 'INPUT' && el.type === 'hidden') continue;
  if (parseInt(el.getAttribute('tabindex'), 10) === -1 && !el.closest('[aria-hidden="true"]')) {
    problems.push(`${heraldDescribe(el)}: tabindex=-1 takes it off the keyboard's path (and it is not aria-hidden)`);
  }
}
if (!attr(document.documentElement, 'lang')) problems.push('<html>: no lang attribute');
if (!document.title.trim()) problems.push('<title>: missing or empty');
const h1s = document.querySelectorAll('h1').length;
if (h1s !== 1) problems.push(`<h1>: the page has ${h1s}, not exactly one`);
return problems;
"#;

/// The start of `Browser::keyboard_reachable`: records every focus from now on,
/// puts the focus at the top of the page (on a marker outside the tab order) and
/// returns how many controls there are.
const KEYBOARD_START_JS: &str = r#"
if (window.__heraldOnFocus) document.removeEventListener('focusin', window.__heraldOnFocus, true);
window.__heraldFocused = new Set();
window.__heraldOnFocus = (event) => window.__heraldFocused.add(event.target);
document.addEventListener('focusin', window.__heraldOnFocus, true);
document.getElementById('__herald-keyboard-start')?.remove();
const start = document.createElement('span');
start.id = '__herald-keyboard-start';
start.tabIndex = -1;
document.body.prepend(start);
start.focus();
window.scrollTo(0, 0);
// A date or time input takes a Tab per part (month, day, year, hour, minute, AM/PM).
const stops = (el) => el.tagName === 'INPUT' &&
  /^(date|time|datetime-local|month|week)$/.test(el.type) ? 7 : 1;
return heraldControls().reduce((n, el) => n + stops(el), 0);
"#;

/// The end of `Browser::keyboard_reachable`: stops recording, removes the marker
/// and returns the controls never focused.
const KEYBOARD_END_JS: &str = r#"
document.removeEventListener('focusin', window.__heraldOnFocus, true);
const focused = Array.from(window.__heraldFocused || []);
delete window.__heraldOnFocus;
delete window.__heraldFocused;
document.getElementById('__herald-keyboard-start')?.remove();
const isRadio = (el) => el.tagName === 'INPUT' && el.type === 'radio';
const groupReached = (el) => isRadio(el) && el.name !== '' &&
  focused.some((f) => isRadio(f) && f.name === el.name && f.form === el.form);
return heraldControls()
  .filter((el) => !focused.includes(el) && !groupReached(el))
  .map(heraldDescribe);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_its_package_and_ci_run() {
        let error = locate(
            &["herald-no-such-chromedriver"],
            &["/nonexistent/chromedriver"],
            "chromium-driver",
        )
        .expect_err("no such binary");
        let message = error.to_string();
        assert!(message.contains("`chromium-driver`"), "{message}");
        assert!(message.contains(".ci/run"), "{message}");
    }
}
