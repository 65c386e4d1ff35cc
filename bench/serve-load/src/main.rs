//! `load`: drives an Open Inference Protocol (KServe v2 REST JSON) infer
//! endpoint with concurrent keep-alive clients and reports throughput,
//! latency percentiles and errors. Any server speaking the protocol can be
//! measured with it, so `dslc serve` and a FastAPI + onnxruntime server
//! are compared under the same client.

mod args;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use args::{Args, Target};
use stats::{Record, Summary};

/// Distinct request bodies the clients rotate through, so a server cannot
/// answer every request from one cached result.
const DISTINCT_BODIES: usize = 8;

/// How late a fixed-rate request may start through timer resolution alone.
const TIMER_SLACK: Duration = Duration::from_millis(2);

struct Shared {
    target: Target,
    bodies: Vec<Bytes>,
    timeout: Duration,
}

/// One measurement (or warm-up) window all clients share.
struct Phase {
    start: Instant,
    end: Option<Instant>,
    request_limit: Option<u64>,
    /// With a fixed rate, request `i` is due at `start + i * interval`.
    interval: Option<Duration>,
    issued: AtomicU64,
}

/// A KServe v2 infer request: one FP32 tensor `[batch, features]` of
/// pixel-like values in [0, 1], from a fixed-seed generator so runs repeat.
fn request_body(input_name: &str, batch: usize, features: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<String> = (0..batch * features)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("{:.4}", (state >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect();
    let body = format!(
        r#"{{"inputs":[{{"name":{},"shape":[{batch},{features}],"datatype":"FP32","data":[{}]}}]}}"#,
        serde_json::Value::String(input_name.to_string()),
        data.join(",")
    );
    Bytes::from(body)
}

async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| e.to_string())?;
    // Small requests and answers: without NODELAY, Nagle's algorithm and
    // delayed ACKs add tens of milliseconds to some round trips.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        // The connection ends when the server closes it or the sender is
        // dropped; either is noticed by the next request.
        let _ = connection.await;
    });
    Ok(sender)
}

enum Outcome {
    Ok,
    Failed(String),
    /// Failed and the connection cannot be reused.
    Broken(String),
}

async fn send_one(shared: &Shared, sender: &mut SendRequest<Full<Bytes>>, body: Bytes) -> Outcome {
    let request = match hyper::Request::post(shared.target.path.as_str())
        .header(hyper::header::HOST, shared.target.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
    {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("request: {e}")),
    };
    let exchange = async {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>((status, bytes))
    };
    match tokio::time::timeout(shared.timeout, exchange).await {
        Err(_) => Outcome::Broken("timeout".into()),
        Ok(Err(_)) => Outcome::Broken("io".into()),
        Ok(Ok((status, bytes))) => {
            if status != hyper::StatusCode::OK {
                Outcome::Failed(status.as_u16().to_string())
            } else if !contains(&bytes, b"\"outputs\"") {
                Outcome::Failed("bad_body".into())
            } else {
                Outcome::Ok
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One client: a single keep-alive connection (re-opened if it breaks),
/// sending requests until the phase ends.
async fn client(
    shared: Arc<Shared>,
    phase: Arc<Phase>,
    index: usize,
    mut sender: Option<SendRequest<Full<Bytes>>>,
) -> (Record, Option<SendRequest<Full<Bytes>>>) {
    let mut record = Record::new();
    let mut sent = index;
    loop {
        let i = phase.issued.fetch_add(1, Ordering::Relaxed);
        if phase.request_limit.is_some_and(|limit| i >= limit) {
            break;
        }
        let due = match phase.interval {
            Some(interval) => phase.start + interval.mul_f64(i as f64),
            None => Instant::now(),
        };
        if phase
            .end
            .is_some_and(|end| due >= end || Instant::now() >= end)
        {
            break;
        }
        if phase.interval.is_some() {
            tokio::time::sleep_until(due.into()).await;
        }
        let send_start = Instant::now();
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            match connect(&shared.target.authority).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    record.error("connect");
                    // A refused connection returns at once; back off so a
                    // down server is not spun against.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let body = shared.bodies[sent % shared.bodies.len()].clone();
        sent += 1;
        let live = sender.as_mut().expect("connected above");
        // With a fixed rate, a request sent late because every client was
        // still waiting on the server counts its latency from when it was
        // due, so a server that falls behind cannot hide its queueing by
        // slowing the generator down (coordinated omission). Lateness
        // within the timer's resolution (tokio's is 1 ms) is the
        // generator's own and is not charged to the server.
        let clock_start = if send_start.saturating_duration_since(due) > TIMER_SLACK {
            due
        } else {
            send_start
        };
        match send_one(&shared, live, body).await {
            Outcome::Ok => record.success(clock_start.elapsed()),
            Outcome::Failed(cause) => record.error(cause),
            Outcome::Broken(cause) => {
                record.error(cause);
                sender = None;
            }
        }
    }
    (record, sender)
}

async fn run_phase(
    shared: &Arc<Shared>,
    args: &Args,
    duration: Option<Duration>,
    request_limit: Option<u64>,
    senders: Vec<Option<SendRequest<Full<Bytes>>>>,
) -> (Record, Duration, Vec<Option<SendRequest<Full<Bytes>>>>) {
    let start = Instant::now();
    let phase = Arc::new(Phase {
        start,
        end: duration.map(|d| start + d),
        request_limit,
        interval: args.rate.map(|r| Duration::from_secs_f64(1.0 / r)),
        issued: AtomicU64::new(0),
    });
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(index, sender)| tokio::spawn(client(shared.clone(), phase.clone(), index, sender)))
        .collect();
    let mut merged = Record::new();
    let mut kept = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok((record, sender)) => {
                merged.merge(&record);
                kept.push(sender);
            }
            Err(_) => {
                merged.error("client_task");
                kept.push(None);
            }
        }
    }
    (merged, start.elapsed(), kept)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match args::parse(&argv) {
        Ok(a) => a,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}\n");
            }
            eprint!("{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let target = match args::target(&args.url) {
        Ok(t) => t,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let bodies = (0..DISTINCT_BODIES)
        .map(|seed| request_body(&args.input_name, args.batch, args.features, seed as u64 + 1))
        .collect();
    let shared = Arc::new(Shared {
        target,
        bodies,
        timeout: args.timeout,
    });

    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    let (record, elapsed, cpu) = runtime.block_on(async {
        let mut senders: Vec<_> = (0..args.concurrency).map(|_| None).collect();
        if !args.warmup.is_zero() {
            senders = run_phase(&shared, &args, Some(args.warmup), None, senders)
                .await
                .2;
        }
        let cpu_before = stats::process_cpu_time();
        let (record, elapsed, _) =
            run_phase(&shared, &args, args.duration, args.requests, senders).await;
        let cpu = stats::process_cpu_time()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        (record, elapsed, cpu)
    });

    let summary = Summary {
        record: &record,
        elapsed,
        concurrency: args.concurrency,
        batch: args.batch,
        rate: args.rate,
        cpu,
    };
    if args.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
    }
    if record.ok == 0 {
        eprintln!("error: no request succeeded");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
