//! The function process: its environment, its CPU time, its deployable zip.

use std::path::Path;
use std::process::Command;

use chat_shared::routes::Function;

use crate::Error;

/// The configuration variables of the functions (README, "Configuration") that the benchmark
/// passes through from its own environment when they are set (`.local-state/env` sets the
/// local ones), plus the AWS SDK's.
pub const PASSED_THROUGH: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_SECRET_ARN",
    "DATABASE_POOL_SIZE",
    "DATABASE_TLS",
    "DATABASE_CA_FILE",
    "CONNECTIONS_TABLE",
    "CONNECTION_TTL_SECONDS",
    "OUTBOUND_TIMEOUT_MS",
    "JWT_ALGORITHM",
    "JWT_SECRET",
    "JWT_SECRET_ARN",
    "JWT_PUBLIC_KEY_PEM",
    "JWT_JWKS",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_LEEWAY_SECONDS",
    "REDIS_URL",
    "REDIS_CA_FILE",
    "REDIS_KEY_PREFIX",
    "RATE_LIMIT_ON_REDIS_FAILURE",
    "TYPING_TTL_MS",
    "TYPING_PUSH_INTERVAL_MS",
    "PUSH_MAX_ATTEMPTS",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The rate limits, raised so that hundreds of invocations by one user in a few seconds are
/// never throttled (a throttled answer would time the error path).
pub const RATE_LIMITS_RAISED: &[(&str, &str)] = &[
    ("RATE_LIMIT_MESSAGES_PER_MINUTE", "1000000"),
    ("RATE_LIMIT_TYPING_PER_MINUTE", "1000000"),
    ("RATE_LIMIT_CONNECTS_PER_MINUTE", "1000000"),
    ("RATE_LIMIT_REST_PER_MINUTE", "1000000"),
];

/// What the Lambda service sets in a `provided.al2023` function's environment (the
/// benchmark starts the process with an empty environment, then these).
#[derive(Debug, Clone)]
pub struct LambdaEnv<'a> {
    pub function: Function,
    /// `127.0.0.1:PORT` of the fake Runtime API.
    pub runtime_api: &'a str,
    pub memory_mb: u32,
    pub region: &'a str,
}

impl LambdaEnv<'_> {
    /// The variables, in a stable order.
    pub fn vars(&self) -> Vec<(String, String)> {
        let name = self.function.package();
        [
            ("AWS_LAMBDA_RUNTIME_API", self.runtime_api.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", self.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/24/[$LATEST]00000000000000000000000000000000".to_owned()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
            ("AWS_REGION", self.region.to_owned()),
            ("AWS_DEFAULT_REGION", self.region.to_owned()),
            ("_HANDLER", "bootstrap".to_owned()),
            ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".to_owned()),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()),
            (
                "LD_LIBRARY_PATH",
                "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib".to_owned(),
            ),
            ("LANG", "en_US.UTF-8".to_owned()),
            ("TZ", ":UTC".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// `utime + stime` (clock ticks) from the text of `/proc/<pid>/stat`. The command name (field
/// 2) may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    // After the name: state is field 3, utime field 14, stime field 15.
    let fields = stat_fields_after_name(stat)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The parent's pid (field 4) from the text of `/proc/<pid>/stat`.
pub fn stat_ppid(stat: &str) -> Option<u32> {
    stat_fields_after_name(stat)?.get(1)?.parse().ok()
}

/// The fields of `/proc/<pid>/stat` after the command name (from field 3, the state).
fn stat_fields_after_name(stat: &str) -> Option<Vec<&str>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().collect())
}

/// The CPU time of a process in clock ticks, every thread included (also threads that ended).
///
/// # Errors
/// The process is gone or the file cannot be parsed.
pub fn process_cpu_ticks(pid: u32) -> Result<u64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat_cpu_ticks(&stat).ok_or_else(|| format!("cannot parse /proc/{pid}/stat").into())
}

/// Nanoseconds on CPU, the first field of `/proc/<pid>/task/<tid>/schedstat`.
pub fn schedstat_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// The CPU time of a process's live threads in nanoseconds (`schedstat`, exact, unlike the
/// clock ticks of `stat`; a thread that ended is no longer counted, so callers compare two
/// readings only when no thread ended in between).
///
/// # Errors
/// The process is gone.
pub fn threads_cpu_ns(pid: u32) -> Result<u64, Error> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may end between the listing and the read.
        if let Ok(text) = std::fs::read_to_string(&path) {
            total += schedstat_ns(&text).ok_or_else(|| format!("cannot parse {}", path.display()))?;
        }
    }
    Ok(total)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when that fails).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(100)
}

/// Python that writes the deployable zip: one entry `bootstrap` (mode 0755), deflated at level
/// 9, with a fixed timestamp so that the same binary gives the same zip.
const ZIP_SCRIPT: &str = r#"
import sys, zipfile
binary, out = sys.argv[1], sys.argv[2]
entry = zipfile.ZipInfo("bootstrap", date_time=(2026, 11, 24, 0, 0, 0))
entry.external_attr = 0o100755 << 16
entry.create_system = 3
entry.compress_type = zipfile.ZIP_DEFLATED
with open(binary, "rb") as f:
    data = f.read()
with zipfile.ZipFile(out, "w") as z:
    z.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
"#;

/// Writes `zip` (the binary as `bootstrap`, deflate level 9, what `cargo lambda build
/// --output-format zip` and the SAM `provided.al2023` packaging produce) and returns its size.
///
/// # Errors
/// `python3` is missing or fails.
pub fn zip_bootstrap(binary: &Path, zip: &Path) -> Result<u64, Error> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(ZIP_SCRIPT)
        .arg(binary)
        .arg(zip)
        .output()
        .map_err(|e| format!("python3 (to build the zip): {e}"))?;
    if !out.status.success() {
        return Err(format!("zipping {}: {}", binary.display(), String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    Ok(std::fs::metadata(zip)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat = "4242 (ws (send) x) S 1 4242 4242 0 -1 4194560 1490 0 0 0 17 5 0 0 20 0 4 0 123 1 2 3";
        assert_eq!(stat_cpu_ticks(stat), Some(22));
        assert_eq!(stat_cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(stat_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn schedstat_gives_nanoseconds_on_cpu() {
        assert_eq!(schedstat_ns("180425526 14087704 408\n"), Some(180_425_526));
        assert_eq!(schedstat_ns(""), None);
    }

    #[test]
    fn this_process_has_cpu_time() {
        let pid = std::process::id();
        assert!(threads_cpu_ns(pid).expect("schedstat") > 0);
        process_cpu_ticks(pid).expect("stat");
    }

    #[test]
    fn the_lambda_environment_names_the_function_and_the_runtime_api() {
        let env = LambdaEnv {
            function: Function::WsSendMessage,
            runtime_api: "127.0.0.1:9001",
            memory_mb: 256,
            region: "us-east-1",
        };
        let vars = env.vars();
        let get = |k: &str| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
        assert_eq!(get("AWS_LAMBDA_RUNTIME_API"), Some("127.0.0.1:9001"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), Some("ws-send-message"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Some("256"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_VERSION"), Some("$LATEST"));
        assert_eq!(get("_HANDLER"), Some("bootstrap"));
        assert_eq!(get("AWS_REGION"), Some("us-east-1"));
        // The Lambda variables never collide with the configuration passed through.
        for (name, _) in &vars {
            assert!(!PASSED_THROUGH.contains(&name.as_str()) || name == "AWS_REGION", "{name}");
        }
    }

    #[test]
    fn the_zip_holds_an_executable_bootstrap() {
        let dir = std::env::temp_dir().join(format!("chat-coldstart-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let binary = dir.join("fn");
        std::fs::write(&binary, vec![b'x'; 100_000]).expect("write");
        let zip = dir.join("fn.zip");
        let size = zip_bootstrap(&binary, &zip).expect("zip");
        assert!(size > 0 && size < 2_000, "{size}");
        let listing = Command::new("python3")
            .args(["-c", "import sys,zipfile; i=zipfile.ZipFile(sys.argv[1]).infolist()[0]; print(i.filename, oct(i.external_attr >> 16), i.compress_type, i.file_size)"])
            .arg(&zip)
            .output()
            .expect("python3");
        assert_eq!(String::from_utf8_lossy(&listing.stdout).trim(), "bootstrap 0o100755 8 100000");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
