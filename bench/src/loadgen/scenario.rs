//! The scenarios: each sets up what it needs, runs its phases and judges them against the
//! targets (the bounds, and the rows of the specification's R10 table). Each returns
//! the name of the phase whose plots are written.

use std::time::Duration;

use uuid::Uuid;

use super::cli::{
    BurstArgs, ConnectionsArgs, ConversationListArgs, DeliveryArgs, Fill, HistoryArgs, IdleArgs, KneeArgs, Population,
    R10Args, RequestPace, SearchArgs, TypingArgs,
};
use super::fleet::Fleet;
use super::report::{Knee, KneeStep, PhaseReport, ServerMemory, TargetCheck, ms};
use super::rest::{self, Call, Pace};
use super::schedule::{self, Stream};
use super::{Context, pg, procfs};
use crate::Error;

/// How long closing waits for the connections to end.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The R10 row names, as in the specification's table.
const R10_DELIVERY: &str = "Message delivery latency < 1 s (p95)";
const R10_CONNECTIONS: &str = "Concurrent connections 1,000/instance";
const R10_SUCCESS: &str = "Message delivery success 99.9 %";
const R10_HISTORY: &str = "History load time < 2 s (50 msgs)";
const R10_TYPING: &str = "Typing indicator latency < 500 ms";
const R10_LIST: &str = "Conversation list load < 1 s (100 convos)";
const R10_SEARCH: &str = "Message search < 3 s (10k msgs)";
const R10_BURST: &str = "Message burst handling 100 msg/s";

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn check(source: &str, target: impl Into<String>, measured: impl Into<String>, met: bool) -> TargetCheck {
    TargetCheck::new(source, target, measured, Some(met))
}

/// Loss, duplicates and errors of a phase as one check.
fn clean_check(source: &str, target: &str, phase: &PhaseReport) -> TargetCheck {
    let c = &phase.counts;
    check(
        source,
        target,
        format!(
            "{} lost, {} duplicated, {} stray, {} unanswered, errors {:?} ({} of {} pushes)",
            c.lost, c.duplicated, c.stray, c.unanswered, c.errors, c.received, c.expected_deliveries
        ),
        c.clean(),
    )
}

/// Open-loop messages over `fleet` at `rate` for `warmup + duration` seconds.
async fn deliver(
    context: &mut Context,
    fleet: &mut Fleet,
    name: &str,
    rate: f64,
    duration: f64,
    warmup: f64,
) -> PhaseReport {
    let seed = context.common.seed;
    let offsets = schedule::poisson(rate, secs(warmup + duration), &mut schedule::rng(seed, Stream::Arrivals));
    let senders = schedule::uniform_senders(
        offsets.len(),
        fleet.topology().connections(),
        &mut schedule::rng(seed, Stream::Senders),
    );
    context.say(&format!("{name}: {} messages at {rate}/s for {warmup} + {duration} s", offsets.len()));
    let bar = context.bar(name);
    let cpu = context.cpu();
    let run = fleet.send_messages(&offsets, &senders, secs(warmup), None, context.drain(), &bar).await;
    bar.finish_and_clear();
    context.message_phase(name, rate, warmup + duration, &run, &cpu)
}

/// The delivery checks of a message phase.
fn delivery_checks(phase: &PhaseReport, p99_ms: f64) -> Vec<TargetCheck> {
    let (delivery, ack) = (phase.metric("delivery"), phase.metric("ack"));
    vec![
        check(
            "issue",
            format!("delivery p99 ≤ {p99_ms} ms"),
            ms(delivery.p99_ms),
            delivery.count > 0 && delivery.p99_ms <= p99_ms,
        ),
        check("issue", format!("ack p99 ≤ {p99_ms} ms"), ms(ack.p99_ms), ack.count > 0 && ack.p99_ms <= p99_ms),
        clean_check("issue", "0 lost, 0 duplicated, no errors", phase),
        check(
            "R10",
            R10_DELIVERY,
            format!("p95 {}", ms(delivery.p95_ms)),
            delivery.count > 0 && delivery.p95_ms < 1000.0,
        ),
        check(
            "R10",
            R10_SUCCESS,
            format!(
                "{:.3} % ({} of {} pushes)",
                100.0 * phase.counts.delivery_ratio(),
                phase.counts.received,
                phase.counts.expected_deliveries
            ),
            phase.counts.delivery_ratio() >= 0.999 && phase.counts.expected_deliveries > 0,
        ),
    ]
}

/// `delivery`: the headline.
///
/// # Errors
/// Set-up failed (connections, conversations).
pub async fn delivery(context: &mut Context, args: &DeliveryArgs) -> Result<Option<String>, Error> {
    let mut fleet = context.fleet(args.population, true, true).await?;
    let phase = deliver(context, &mut fleet, "delivery", args.rate, args.duration, args.warmup).await;
    context.report.targets.extend(delivery_checks(&phase, args.p99_ms));
    fleet.close(CLOSE_WAIT).await;
    Ok(Some("delivery".to_owned()))
}

/// Pings every connection of `fleet` and checks the answers.
async fn ping_round(context: &mut Context, fleet: &Fleet) -> PhaseReport {
    let bar = context.bar("ping");
    let cpu = context.cpu();
    let run = fleet.ping_all(Duration::from_secs(1), context.drain(), &bar).await;
    bar.finish_and_clear();
    let connections = f64::from(fleet.topology().connections());
    context.phase("ping", "ping", connections, 1.0, &run, &cpu)
}

/// The connection checks: all connected, all answered a ping, all still open.
fn connection_checks(context: &Context, fleet: &Fleet, ping: &PhaseReport) -> Vec<TargetCheck> {
    let connect =
        context.report.phases.iter().find(|p| p.operation == "connect").map(|p| p.counts.clone()).unwrap_or_default();
    let open = fleet.open_connections() as u64;
    let all = connect.scheduled;
    let mut checks = vec![
        check(
            "issue",
            format!("all {all} connections open"),
            format!("{} connected, {:?}", connect.answered_ok, connect.errors),
            connect.answered_ok == all,
        ),
        clean_check("issue", "every connection answers a ping", ping),
        check("issue", "all still open at the end", format!("{open} open, ended: {:?}", fleet.closes()), open == all),
    ];
    checks.push(TargetCheck::new(
        "R10",
        R10_CONNECTIONS,
        format!(
            "{open} open at once, {} answered a ping, p99 connect {}",
            ping.counts.answered_ok,
            ms(context.report.phases[0].metric("connect").p99_ms)
        ),
        (all >= 1000).then_some(open >= 1000 && ping.counts.clean()),
    ));
    checks
}

/// `connections`: open, ping, hold.
///
/// # Errors
/// Set-up failed.
pub async fn connections(context: &mut Context, args: &ConnectionsArgs) -> Result<Option<String>, Error> {
    let fleet = context.fleet(args.population, false, false).await?;
    let ping = ping_round(context, &fleet).await;
    context.say(&format!("holding {} connections for {} s", fleet.open_connections(), args.hold));
    tokio::time::sleep(secs(args.hold)).await;
    let checks = connection_checks(context, &fleet, &ping);
    context.report.targets.extend(checks);
    fleet.close(CLOSE_WAIT).await;
    Ok(Some("connect".to_owned()))
}

/// Typing events over `fleet`.
///
/// # Errors
/// Too few users for the rate (see [`schedule::typists`]).
async fn type_(
    context: &mut Context,
    fleet: &Fleet,
    rate: f64,
    duration: f64,
    warmup: f64,
    push_interval_ms: u64,
) -> Result<PhaseReport, Error> {
    let seed = context.common.seed;
    let offsets = schedule::poisson(rate, secs(warmup + duration), &mut schedule::rng(seed, Stream::TypingArrivals));
    let min_gap = Duration::from_millis(push_interval_ms + 500);
    let typists =
        schedule::typists(&offsets, fleet.topology().users(), min_gap, &mut schedule::rng(seed, Stream::Typists))?;
    context.say(&format!("typing: {} events at {rate}/s for {warmup} + {duration} s", offsets.len()));
    let bar = context.bar("typing");
    let cpu = context.cpu();
    let run = fleet.send_typing(&offsets, &typists, secs(warmup), context.drain(), &bar).await;
    bar.finish_and_clear();
    Ok(context.phase("typing", "typing:start", rate, warmup + duration, &run, &cpu))
}

/// `typing`.
///
/// # Errors
/// Set-up failed, or too few users for the rate.
pub async fn typing(context: &mut Context, args: &TypingArgs) -> Result<Option<String>, Error> {
    let fleet = context.fleet(args.population, true, true).await?;
    let phase = type_(context, &fleet, args.rate, args.duration, args.warmup, args.push_interval_ms).await?;
    let typing = phase.metric("typing");
    context.report.targets.extend([
        check(
            "issue",
            format!("typing p99 ≤ {} ms", args.p99_ms),
            ms(typing.p99_ms),
            typing.count > 0 && typing.p99_ms <= args.p99_ms,
        ),
        clean_check("issue", "every typing:start pushed once, no errors", &phase),
        check("R10", R10_TYPING, format!("p99 {}", ms(typing.p99_ms)), typing.count > 0 && typing.p99_ms < 500.0),
    ]);
    fleet.close(CLOSE_WAIT).await;
    Ok(Some("typing".to_owned()))
}

/// Bursts over `fleet`.
async fn bursts(context: &mut Context, fleet: &mut Fleet, size: u32, every: f64, duration: f64) -> PhaseReport {
    let offsets = schedule::bursts(size, secs(every), secs(duration));
    let senders = schedule::uniform_senders(
        offsets.len(),
        fleet.topology().connections(),
        &mut schedule::rng(context.common.seed, Stream::Senders),
    );
    context.say(&format!("burst: {size} messages every {every} s for {duration} s"));
    let bar = context.bar("burst");
    let cpu = context.cpu();
    let run = fleet.send_messages(&offsets, &senders, Duration::ZERO, None, context.drain(), &bar).await;
    bar.finish_and_clear();
    let rate = f64::from(size) / every;
    context.message_phase("burst", rate, duration, &run, &cpu)
}

fn burst_check(phase: &PhaseReport, size: u32, every: f64) -> TargetCheck {
    let delivery = phase.metric("delivery");
    let rate = f64::from(size) / every;
    check(
        "R10",
        R10_BURST,
        format!(
            "{size} every {every} s ({rate:.0} msg/s): {} of {} pushes, {} lost, errors {}, delivery p95 {} / max {}",
            phase.counts.received,
            phase.counts.expected_deliveries,
            phase.counts.lost,
            phase.counts.error_total(),
            ms(delivery.p95_ms),
            ms(delivery.max_ms)
        ),
        rate >= 100.0 && phase.counts.clean() && delivery.p95_ms < 1000.0,
    )
}

/// `burst`.
///
/// # Errors
/// Set-up failed.
pub async fn burst(context: &mut Context, args: &BurstArgs) -> Result<Option<String>, Error> {
    let mut fleet = context.fleet(args.population, true, true).await?;
    let phase = bursts(context, &mut fleet, args.size, args.every, args.duration).await;
    context.report.targets.extend([
        clean_check("issue", "0 lost, 0 duplicated, no errors", &phase),
        burst_check(&phase, args.size, args.every),
    ]);
    fleet.close(CLOSE_WAIT).await;
    Ok(Some("burst".to_owned()))
}

/// `knee`: rising rates until a step is not good.
///
/// # Errors
/// Set-up failed.
pub async fn knee(context: &mut Context, args: &KneeArgs) -> Result<Option<String>, Error> {
    let mut fleet = context.fleet(args.population, true, true).await?;
    let mut knee =
        Knee { p99_limit_ms: args.p99_ms, steps: Vec::new(), last_good_rate: None, busiest: None, machine: None };
    let mut plot = None;
    for (step, &rate) in args.rates.iter().enumerate() {
        let name = format!("knee {rate:.0}/s");
        let seed = context.common.seed.wrapping_add(step as u64);
        let offsets =
            schedule::poisson(rate, secs(args.warmup + args.duration), &mut schedule::rng(seed, Stream::Arrivals));
        let senders = schedule::uniform_senders(
            offsets.len(),
            fleet.topology().connections(),
            &mut schedule::rng(seed, Stream::Senders),
        );
        let bar = context.bar(&name);
        let cpu = context.cpu();
        let run = fleet.send_messages(&offsets, &senders, secs(args.warmup), None, context.drain(), &bar).await;
        bar.finish_and_clear();
        let phase = context.message_phase(&name, rate, args.warmup + args.duration, &run, &cpu);
        let (delivery, ack) = (phase.metric("delivery"), phase.metric("ack"));
        let reason = if !phase.counts.clean() {
            Some(format!(
                "{} lost, {} duplicated, {} unanswered, errors {:?}",
                phase.counts.lost, phase.counts.duplicated, phase.counts.unanswered, phase.counts.errors
            ))
        } else if delivery.p99_ms > args.p99_ms || ack.p99_ms > args.p99_ms {
            Some(format!("p99 over {} ms", args.p99_ms))
        } else if phase.achieved_rate < 0.9 * rate {
            Some(format!("the generator sent only {:.0}/s", phase.achieved_rate))
        } else {
            None
        };
        let good = reason.is_none();
        knee.steps.push(KneeStep {
            rate,
            achieved_rate: phase.achieved_rate,
            delivery_p99_ms: delivery.p99_ms,
            ack_p99_ms: ack.p99_ms,
            lost: phase.counts.lost,
            errors: phase.counts.error_total(),
            good,
            reason,
        });
        knee.busiest = phase.cpu.iter().max_by(|a, b| a.percent_of_a_core.total_cmp(&b.percent_of_a_core)).cloned();
        knee.machine = phase.machine;
        // Plot the last good step, or the first step when none was good.
        if good || plot.is_none() {
            plot = Some(name);
        }
        if !good {
            break;
        }
        knee.last_good_rate = Some(rate);
    }
    context.report.targets.push(check(
        "issue",
        format!("knee (p99 ≤ {} ms, nothing lost) ≥ {:.0} msg/s", args.p99_ms, args.target),
        knee.last_good_rate.map_or_else(|| "no good step".to_owned(), |r| format!("{r:.0} msg/s")),
        knee.last_good_rate.is_some_and(|r| r >= args.target),
    ));
    context.report.knee = Some(knee);
    fleet.close(CLOSE_WAIT).await;
    Ok(plot)
}

/// `idle`: hold connections, measure connect rate and server memory.
///
/// # Errors
/// Set-up failed.
pub async fn idle(context: &mut Context, args: &IdleArgs) -> Result<Option<String>, Error> {
    let pid = context.common.server_pid;
    let rss = |pid: Option<u32>| pid.and_then(procfs::rss_kb);
    let before = rss(pid);
    let population = Population { users: args.connections, devices: 1 };
    let fleet = context.fleet(population, false, false).await?;
    let connected_rss = rss(pid);
    context.say(&format!("holding {} idle connections for {} s", fleet.open_connections(), args.hold));
    tokio::time::sleep(secs(args.hold)).await;
    let after = rss(pid);
    let open = fleet.open_connections() as u64;
    let connect = context.report.phases[0].clone();
    let rate = connect.achieved_rate;
    let connected = connect.counts.answered_ok;
    context.report.targets.push(check(
        "issue",
        format!("all {} connections open and still open after {} s", args.connections, args.hold),
        format!(
            "{connected} connected, {open} open at the end, failures {:?}, ended {:?}",
            connect.counts.errors,
            fleet.closes()
        ),
        connected == u64::from(args.connections) && open == connected,
    ));
    context.report.targets.push(check(
        "issue",
        format!("≥ {:.0} connects/s", args.connect_rate_target),
        format!("{rate:.0}/s over {:.2} s (connect p99 {})", connect.elapsed_s, ms(connect.metric("connect").p99_ms)),
        rate >= args.connect_rate_target,
    ));
    match (pid, before, connected_rss, after) {
        (Some(pid), Some(before), Some(connected_rss), Some(after)) => {
            // The larger of the two: what an idle connection costs while it is held.
            let held = connected_rss.max(after);
            let per = held.saturating_sub(before) as f64 / connected.max(1) as f64;
            context.report.targets.push(check(
                "issue",
                format!("≤ {} KB server RSS per idle connection", args.rss_target_kb),
                format!("{per:.2} kB ({before} → {connected_rss} kB for {connected}, {after} kB after the hold; from the larger)"),
                per <= args.rss_target_kb,
            ));
            context.report.server_memory = Some(ServerMemory {
                pid,
                rss_before_kb: before,
                rss_connected_kb: connected_rss,
                rss_after_hold_kb: after,
                connections: connected,
                per_connection_kb: per,
            });
        }
        _ => context.report.targets.push(TargetCheck::new(
            "issue",
            format!("≤ {} KB server RSS per idle connection", args.rss_target_kb),
            "no --server-pid (or its /proc is unreadable)",
            None,
        )),
    }
    fleet.close(CLOSE_WAIT).await;
    Ok(Some("connect".to_owned()))
}

/// Two connected users in one conversation, for the history and search rows.
async fn pair_of_users(context: &mut Context) -> Result<Fleet, Error> {
    context.fleet(Population { users: 2, devices: 1 }, true, true).await
}

/// Fills `conversation` with `contents`, through the API (as `token`'s user) or PostgreSQL.
async fn fill(
    context: &mut Context,
    how: Fill,
    conversation: Uuid,
    token: &str,
    contents: Vec<String>,
) -> Result<(), Error> {
    let count = contents.len();
    match how {
        Fill::Api => {
            let bar = context.bar("fill");
            let messages: Vec<(Uuid, String)> = contents.into_iter().map(|c| (conversation, c)).collect();
            let took = rest::fill_through_api(&context.endpoint, token, &messages, &bar).await?;
            bar.finish_and_clear();
            context.note(format!(
                "{count} messages sent through the WebSocket API in {:.1} s ({:.0} msg/s, 64 in flight)",
                took.as_secs_f64(),
                count as f64 / took.as_secs_f64().max(1e-9)
            ));
        }
        Fill::Sql => {
            let url = context.common.database_url.clone().ok_or("--fill sql needs --database-url (DATABASE_URL)")?;
            pg::insert_messages(&url, conversation, &contents).await?;
            context
                .note(format!("{count} messages inserted into PostgreSQL directly (--fill sql), not through the API"));
        }
    }
    Ok(())
}

fn pace(p: &RequestPace, seed: u64) -> Pace {
    Pace { rate: p.rate, duration: secs(p.duration), warmup: secs(p.warmup), seed }
}

/// The history row: pages of 50 at random depths of a conversation of `messages`.
async fn history_row(context: &mut Context, messages: u32, how: Fill, pace: Pace) -> Result<PhaseReport, Error> {
    let fleet = pair_of_users(context).await?;
    let (conversation, token) = (fleet.conversation_of(0), fleet.users()[0].token.clone());
    let contents =
        (0..messages).map(|i| format!("history message {i}: the quick brown fox jumps over the lazy dog")).collect();
    fill(context, how, conversation, &token, contents).await?;
    let bar = context.bar("history");
    let cpu = context.cpu();
    let call = |i: usize, rng: &mut rand_chacha::ChaCha8Rng| {
        // A quarter newest pages, the rest at random depths (keyset: any depth costs the same).
        let path = if i.is_multiple_of(4) {
            format!("/conversations/{conversation}/messages?limit=50")
        } else {
            let before = 51 + schedule::below(rng, messages - 49);
            format!("/conversations/{conversation}/messages?limit=50&before={before}")
        };
        Call { path, token: token.clone() }
    };
    let run = rest::run_requests(&context.api, pace, call, |a| rest::items_exactly(a, 50), &bar).await;
    bar.finish_and_clear();
    let phase = PhaseReport::from_requests("history", "GET /conversations/{id}/messages?limit=50", &pace, &run);
    fleet.close(CLOSE_WAIT).await;
    Ok(context.request_phase(phase, &cpu))
}

fn request_check(phase: &PhaseReport, row: &str, bound_ms: f64, what: &str) -> TargetCheck {
    let request = phase.metric("request");
    check(
        "R10",
        row,
        format!(
            "p99 {} (p50 {}, max {}), {what}, {} of {} as expected",
            ms(request.p99_ms),
            ms(request.p50_ms),
            ms(request.max_ms),
            phase.counts.answered_ok,
            phase.counts.scheduled
        ),
        request.count > 0 && request.p99_ms < bound_ms && phase.counts.errors.is_empty(),
    )
}

/// `history`.
///
/// # Errors
/// Set-up failed.
pub async fn history(context: &mut Context, args: &HistoryArgs) -> Result<Option<String>, Error> {
    let phase = history_row(context, args.messages, args.fill, pace(&args.pace, context.common.seed)).await?;
    let what = format!("pages of 50 in {} messages", args.messages);
    context.report.targets.push(request_check(&phase, R10_HISTORY, 2000.0, &what));
    Ok(Some("history".to_owned()))
}

/// The conversation-list row: a user with `n` conversations, each with one message.
async fn list_row(context: &mut Context, n: u32, pace: Pace) -> Result<PhaseReport, Error> {
    // The lister connects first ($connect records them), so the others can start conversations with them.
    let fleet = context.fleet(Population { users: 1, devices: 1 }, false, true).await?;
    let lister = fleet.users()[0].clone();
    let partners = context.users(n as usize)?;
    let bar = context.bar("conversations");
    bar.set_length(u64::from(n));
    let mut conversations = Vec::with_capacity(n as usize);
    for partner in &partners {
        conversations.push(context.api.conversation_with(&partner.token, lister.id).await?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let messages: Vec<(Uuid, String)> = conversations
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, format!("hello {i}, this is the conversation list row")))
        .collect();
    let bar = context.bar("fill");
    rest::fill_through_api(&context.endpoint, &lister.token, &messages, &bar).await?;
    bar.finish_and_clear();
    context.note(format!("conversation list: {} conversations made through POST /conversations, one message each through the WebSocket API", n));
    let bar = context.bar("conversation-list");
    let cpu = context.cpu();
    let call = |_: usize, _: &mut rand_chacha::ChaCha8Rng| Call {
        path: "/conversations?limit=100".to_owned(),
        token: lister.token.clone(),
    };
    let check = match n {
        100 => |a: &super::api::Answer| rest::items_exactly(a, 100),
        _ => rest::some_items,
    };
    let run = rest::run_requests(&context.api, pace, call, check, &bar).await;
    bar.finish_and_clear();
    let phase = PhaseReport::from_requests("conversation-list", "GET /conversations?limit=100", &pace, &run);
    fleet.close(CLOSE_WAIT).await;
    Ok(context.request_phase(phase, &cpu))
}

/// `conversation-list`.
///
/// # Errors
/// Set-up failed.
pub async fn conversation_list(context: &mut Context, args: &ConversationListArgs) -> Result<Option<String>, Error> {
    let phase = list_row(context, args.conversations, pace(&args.pace, context.common.seed)).await?;
    let what = format!("{} conversations", args.conversations);
    let mut row = request_check(&phase, R10_LIST, 1000.0, &what);
    if args.conversations < 100 {
        row.met = None;
    }
    context.report.targets.push(row);
    Ok(Some("conversation-list".to_owned()))
}

/// Pseudo-words for the search corpus: three syllables each, not English, not stop words.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 8] = ["ka", "lo", "mi", "ru", "te", "vo", "zi", "ne"];
    (0..64).map(|i| format!("{}{}{}", SYLLABLES[i % 8], SYLLABLES[(i / 8) % 8], SYLLABLES[(i * 5 + 3) % 8])).collect()
}

/// The search corpus: every message has "benchmark" and ten words of the vocabulary; one in a
/// hundred has "quokka". Deterministic in `seed`.
fn search_corpus(messages: u32, seed: u64) -> Vec<String> {
    let words = vocabulary();
    let mut rng = schedule::rng(seed, Stream::Content);
    (0..messages)
        .map(|i| {
            let mut text = format!("benchmark note {i}:");
            for _ in 0..10 {
                text.push(' ');
                text.push_str(&words[schedule::below(&mut rng, words.len() as u32) as usize]);
            }
            if i % 100 == 7 {
                text.push_str(" quokka");
            }
            text
        })
        .collect()
}

/// The queries: a word in every message, a rare word, two words, a phrase, an exclusion.
fn search_queries() -> Vec<String> {
    let words = vocabulary();
    vec![
        "benchmark".to_owned(),
        "quokka".to_owned(),
        format!("{} {}", words[3], words[17]),
        format!("\"{} {}\"", words[5], words[40]),
        format!("{} -{}", words[9], words[22]),
    ]
}

/// The search row.
async fn search_row(context: &mut Context, messages: u32, how: Fill, pace: Pace) -> Result<PhaseReport, Error> {
    let fleet = pair_of_users(context).await?;
    let (conversation, token) = (fleet.conversation_of(0), fleet.users()[0].token.clone());
    fill(context, how, conversation, &token, search_corpus(messages, context.common.seed)).await?;
    let queries = search_queries();
    let bar = context.bar("search");
    let cpu = context.cpu();
    let call = |i: usize, _: &mut rand_chacha::ChaCha8Rng| {
        let q: String = url_encode(&queries[i % queries.len()]);
        Call { path: format!("/messages/search?q={q}"), token: token.clone() }
    };
    let run = rest::run_requests(&context.api, pace, call, rest::some_items, &bar).await;
    bar.finish_and_clear();
    let phase = PhaseReport::from_requests("search", "GET /messages/search?q=", &pace, &run);
    fleet.close(CLOSE_WAIT).await;
    Ok(context.request_phase(phase, &cpu))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `search`.
///
/// # Errors
/// Set-up failed.
pub async fn search(context: &mut Context, args: &SearchArgs) -> Result<Option<String>, Error> {
    let phase = search_row(context, args.messages, args.fill, pace(&args.pace, context.common.seed)).await?;
    let what = format!("{} messages searched", args.messages);
    let mut row = request_check(&phase, R10_SEARCH, 3000.0, &what);
    if args.messages < 10_000 {
        row.met = None;
    }
    context.report.targets.push(row);
    Ok(Some("search".to_owned()))
}

/// `r10`: every row of the table.
///
/// # Errors
/// Set-up failed.
pub async fn r10(context: &mut Context, args: &R10Args) -> Result<Option<String>, Error> {
    let mut fleet = context.fleet(args.population, true, true).await?;
    let ping = ping_round(context, &fleet).await;
    let connection_rows = connection_checks(context, &fleet, &ping);
    let delivery = deliver(context, &mut fleet, "delivery", args.rate, args.duration, args.warmup).await;
    let burst = bursts(context, &mut fleet, 100, 1.0, args.duration).await;
    let typing = type_(context, &fleet, args.typing_rate, args.duration, 0.0, args.push_interval_ms).await?;
    fleet.close(CLOSE_WAIT).await;

    let seed = context.common.seed;
    let request_pace = Pace { rate: args.request_rate, duration: secs(args.duration), warmup: secs(2.0), seed };
    let history = history_row(context, 1000, args.fill, request_pace).await?;
    let list = list_row(context, 100, request_pace).await?;
    let search = search_row(context, args.search_messages, args.fill, request_pace).await?;

    let checks = delivery_checks(&delivery, f64::INFINITY);
    let find = |row: &str| checks.iter().find(|c| c.target == row).cloned();
    let typing_latency = typing.metric("typing");
    let mut rows: Vec<TargetCheck> = Vec::new();
    rows.extend(find(R10_DELIVERY));
    rows.extend(connection_rows.iter().filter(|c| c.source == "R10").cloned());
    rows.extend(find(R10_SUCCESS));
    rows.push(request_check(&history, R10_HISTORY, 2000.0, "pages of 50 in 1,000 messages"));
    rows.push(check(
        "R10",
        R10_TYPING,
        format!(
            "p99 {} (p50 {}), {} of {} pushes",
            ms(typing_latency.p99_ms),
            ms(typing_latency.p50_ms),
            typing.counts.received,
            typing.counts.expected_deliveries
        ),
        typing_latency.count > 0 && typing_latency.p99_ms < 500.0 && typing.counts.clean(),
    ));
    rows.push(request_check(&list, R10_LIST, 1000.0, "100 conversations"));
    let mut search_row =
        request_check(&search, R10_SEARCH, 3000.0, &format!("{} messages searched", args.search_messages));
    if args.search_messages < 10_000 {
        search_row.met = None;
    }
    rows.push(search_row);
    rows.push(burst_check(&burst, 100, 1.0));
    context.report.targets.extend(rows);
    Ok(Some("delivery".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_corpus_is_deterministic_and_has_rare_words() {
        let corpus = search_corpus(1000, 3);
        assert_eq!(corpus, search_corpus(1000, 3));
        assert_eq!(corpus.iter().filter(|m| m.contains("quokka")).count(), 10);
        assert!(corpus.iter().all(|m| m.starts_with("benchmark note") && m.chars().count() <= 5000));
        let words = vocabulary();
        assert_eq!(words.len(), words.iter().collect::<std::collections::HashSet<_>>().len(), "distinct words");
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(url_encode("\"kalo mi\" -x"), "%22kalo%20mi%22%20-x");
    }
}
