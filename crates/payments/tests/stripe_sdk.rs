//! The check against code we did not write: Stripe's official Python SDK
//! drives the sandbox (`tests/stripe_sdk.py`) and accepts its webhooks.
//!
//! Needs `python3` with the `stripe` package
//! (`python3 -m pip install -r requirements-test.txt`);
//! without it this test fails and says so.

#[path = "sandbox/harness.rs"]
mod harness;

use std::fs::File;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use harness::{Setup, World, SECRET_KEY, WEBHOOK_SECRET};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stripe_sdk.py");
const REQUIREMENTS: &str = "requirements-test.txt";

/// The script's whole run, webhook waits included, is bounded by this.
const SCRIPT_TIME_MAX: Duration = Duration::from_secs(120);

#[actix_rt::test]
async fn stripe_s_python_sdk_drives_the_sandbox_and_accepts_its_webhooks() {
    require_the_stripe_package();
    let world = World::start(Setup::system_clock()).await;

    let args = vec![
        SCRIPT.to_owned(),
        format!("--api-base={}", world.api_base),
        format!("--secret-key={SECRET_KEY}"),
        format!("--webhook-secret={WEBHOOK_SECRET}"),
        format!("--recorded-url={}", world.recorded_url),
    ];
    let run = tokio::task::spawn_blocking(move || run_bounded(&args)).await;
    let (status, output) = run.expect("the script's runner does not panic");

    assert!(status.success(), "tests/stripe_sdk.py failed ({status}):\n{output}");
    eprintln!("{output}");
    let accepted = world.receiver.accepted();
    assert!(!accepted.is_empty());
    assert!(accepted.iter().all(|received| received.verified.is_ok()), "{accepted:?}");
    world.stop().await;
}

/// Fails the test, saying what to install, unless `python3` can import `stripe`.
fn require_the_stripe_package() {
    let probe =
        Command::new("python3").args(["-c", "import stripe; print(stripe.VERSION)"]).output();
    match probe {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout);
            eprintln!("the Python stripe package is version {}", version.trim());
        }
        Ok(output) => panic!(
            "the Python package `stripe` is missing, which this test needs: \
             python3 -m pip install -r {REQUIREMENTS}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("python3 cannot be run ({error}); this test needs it with `stripe`"),
    }
}

/// Runs `python3 args…`, killing it past [`SCRIPT_TIME_MAX`]; answers how it
/// ended and everything it printed. Output goes to files, not pipes, so a
/// talkative script never blocks on a full pipe.
fn run_bounded(args: &[String]) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out_path = dir.path().join("output");
    let out = File::create(&out_path).expect("an output file");
    let err = out.try_clone().expect("the output file, twice");
    let mut child = Command::new("python3")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("python3 starts");

    let deadline = Instant::now() + SCRIPT_TIME_MAX;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the script can be waited for") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().expect("the killed script can be waited for");
            let output = std::fs::read_to_string(&out_path).unwrap_or_default();
            panic!(
                "tests/stripe_sdk.py was killed after {SCRIPT_TIME_MAX:?} ({status}):\n{output}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, std::fs::read_to_string(&out_path).unwrap_or_default())
}
