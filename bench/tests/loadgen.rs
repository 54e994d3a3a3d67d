//! End to end: `chat-bench delivery` against an in-process chat-local over real PostgreSQL,
//! Redis and the DynamoDB emulator (a fresh database and table, from `chat_tests`).

use chat_bench::loadgen::{self, cli::Cli};
use chat_shared::auth::KeySource;
use chat_tests::TestWorld;
use chat_tests::client::start_gateway;
use clap::Parser;

const RAISED: [(&str, &str); 4] = [
    ("RATE_LIMIT_MESSAGES_PER_MINUTE", "1000000000"),
    ("RATE_LIMIT_TYPING_PER_MINUTE", "1000000000"),
    ("RATE_LIMIT_CONNECTS_PER_MINUTE", "1000000000"),
    ("RATE_LIMIT_REST_PER_MINUTE", "1000000000"),
];

/// A small delivery run loses nothing, duplicates nothing, and PostgreSQL holds exactly what
/// was acknowledged; the JSON and both plots are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_delivery_run_is_lossless_and_matches_postgresql() {
    let world = TestWorld::with_env(&RAISED).await;
    let gateway = start_gateway(&world).await;
    let KeySource::Secret(secret) = &world.config.jwt.key else { panic!("the test world signs with HS256") };
    let out = std::env::temp_dir().join(format!("chat-bench-test-{}", uuid::Uuid::new_v4().simple()));
    let (ws_url, http_url, out_dir) = (gateway.ws_url(), gateway.http_url(), out.display().to_string());
    let cli = Cli::try_parse_from([
        "chat-bench",
        "delivery",
        "--users",
        "4",
        "--rate",
        "20",
        "--duration",
        "2",
        "--warmup",
        "0.5",
        "--drain",
        "3",
        "--quiet",
        "--ws-url",
        &ws_url,
        "--http-url",
        &http_url,
        "--jwt-secret",
        secret,
        "--database-url",
        &world.config.database_url,
        "--out",
        &out_dir,
    ])
    .expect("the command line parses");

    let outcome = loadgen::run(&cli).await.expect("the run completes");

    let report = &outcome.report;
    let delivery = report.phases.iter().find(|p| p.name == "delivery").expect("a delivery phase");
    let counts = &delivery.counts;
    assert!(counts.sent > 20, "about 50 messages are scheduled: {counts:?}");
    assert_eq!((counts.lost, counts.duplicated, counts.stray, counts.unanswered), (0, 0, 0, 0), "{counts:?}");
    assert!(counts.errors.is_empty(), "{counts:?}");
    assert_eq!(counts.answered_ok, counts.sent);
    assert_eq!(counts.received, counts.expected_deliveries);
    let check = report.cross_check.as_ref().expect("a PostgreSQL cross-check");
    assert!(check.passed(), "{check:?}");
    assert_eq!(check.rows, counts.answered_ok);
    assert_eq!((check.acked_stored, check.unsettled, check.refused_stored), (counts.answered_ok, 0, 0), "{check:?}");
    let p95 = delivery.metric("delivery").p95_ms;
    assert!(p95 > 0.0 && p95 < 1000.0, "delivery p95 {p95} ms");
    assert!(report.markdown().contains("PostgreSQL cross-check"));

    let written = report.write(&out, outcome.plot_phase.as_deref()).expect("results written");
    assert_eq!(written.len(), 3, "{written:?}");
    for path in &written {
        assert!(std::fs::metadata(path).is_ok_and(|m| m.len() > 0), "{}", path.display());
    }
    let _ = std::fs::remove_dir_all(&out);
    gateway.shutdown().await;
}
