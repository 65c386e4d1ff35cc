//! `dslc serve`: trained models behind the Open Inference Protocol's REST
//! API (KServe v2, what Triton, KServe and Seldon speak), with Triton-style
//! dynamic batching, Prometheus metrics, checkpoint reloads and graceful
//! shutdown. docs/serve.md is the user's guide.
//!
//! - [`protocol`]: the JSON, and checking a request;
//! - [`batcher`]: the bounded queue and the thread that runs batches;
//! - [`registry`]: the served models and reloading their checkpoints;
//! - [`metrics`]: the Prometheus text;
//! - [`routes`]: the HTTP endpoints;
//! - this file: the command, signals and shutdown.

mod batcher;
mod metrics;
mod protocol;
mod registry;
mod routes;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use registry::{Registry, Spec};

#[derive(clap::Args)]
#[command(
    after_help = "Endpoints: GET /v2, /v2/health/live, /v2/health/ready, /v2/models/NAME[/ready], \
POST /v2/models/NAME/infer, POST /v2/repository/models/NAME/load (reload the checkpoint), GET /metrics. \
SIGHUP reloads every model's checkpoint; SIGTERM and Ctrl-C stop accepting, finish in-flight requests and exit. \
Inputs are the network's, scaled as training scaled them (as the ONNX export takes them); an int8 \
checkpoint from `dslc quantize` serves through the int8 plan. See docs/serve.md."
)]
pub struct Args {
    /// The model file (or serve models with --serve)
    file: Option<PathBuf>,
    /// The checkpoint (model.safetensors) to serve FILE with
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Which model of FILE (default: the only one, or the only one with a train block)
    #[arg(long)]
    model: Option<String>,
    /// The name clients use for FILE's model (default: the model's name)
    #[arg(long)]
    name: Option<String>,
    /// Another model to serve, as NAME=FILE:CKPT (repeatable); NAME is its URL name
    #[arg(long = "serve", value_name = "NAME=FILE:CKPT", value_parser = parse_serve)]
    serve: Vec<(String, PathBuf, PathBuf)>,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port; the first stdout line says which)
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Most samples in one forward pass (and in one request)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65536))]
    max_batch: u64,
    /// Longest a request waits for others to join its batch, in microseconds
    /// (default 0, Triton's: a batch holds what queued while the last one ran)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    max_delay_us: u64,
    /// Requests waiting per model (queued or gathered into a batch not yet run) before new
    /// ones get 503 with Retry-After
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    queue: u64,
    /// Largest request body in bytes (larger ones get 413)
    #[arg(long, default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(1..=1 << 32))]
    max_body: u64,
    /// Longest a request waits for its answer, in milliseconds (then 504)
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    timeout_ms: u64,
    /// Kernel threads per model's forward pass (default: half the cores, at
    /// least one: the other half parses requests and answers them)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
}

fn parse_serve(text: &str) -> Result<(String, PathBuf, PathBuf), String> {
    let shape = || format!("`{text}` is not NAME=FILE:CKPT");
    let (name, rest) = text.split_once('=').ok_or_else(shape)?;
    let (file, weights) = rest.rsplit_once(':').ok_or_else(shape)?;
    if name.is_empty() || file.is_empty() || weights.is_empty() {
        return Err(shape());
    }
    Ok((name.to_string(), file.into(), weights.into()))
}

fn specs(args: &Args) -> Result<Vec<Spec>, String> {
    let mut specs = Vec::new();
    match (&args.file, &args.weights) {
        (Some(file), Some(weights)) => {
            specs.push(Spec {
                name: args.name.clone(),
                file: file.clone(),
                model: args.model.clone(),
                weights: weights.clone(),
            });
        }
        (Some(_), None) => return Err("serving FILE needs --weights CKPT".to_string()),
        (None, Some(_)) => return Err("--weights needs a model FILE".to_string()),
        (None, None) => {}
    }
    for (name, file, weights) in &args.serve {
        specs.push(Spec {
            name: Some(name.clone()),
            file: file.clone(),
            model: None,
            weights: weights.clone(),
        });
    }
    if specs.is_empty() {
        return Err(
            "nothing to serve: give FILE --weights CKPT or --serve NAME=FILE:CKPT".to_string(),
        );
    }
    Ok(specs)
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    let specs = specs(args)?;
    let settings = batcher::Settings {
        max_batch: args.max_batch as usize,
        max_delay: Duration::from_micros(args.max_delay_us),
        queue: args.queue as usize,
    };
    // A server's cores also accept, parse and answer requests: kernel
    // threads on every core would spin against them (on 2 cores the
    // tutorial MLP's p99 at 16 clients went from about 2 to 1.5 ms with one
    // kernel thread, bench/README.md).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = crate::session::threads(Some(
        args.threads.map_or((cores / 2).max(1), |t| t as usize),
    ));
    let metrics = Arc::new(metrics::Metrics::default());
    let (registry, batchers) = registry::build(&specs, &settings, threads, metrics)?;
    let registry = Arc::new(registry);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("serve-io")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let state = routes::AppState {
        registry: registry.clone(),
        timeout: Duration::from_millis(args.timeout_ms),
    };
    let app = routes::router(state, args.max_body as usize);
    let result = runtime.block_on(serve(args, app, registry.clone()));
    drop(registry);
    runtime.shutdown_timeout(Duration::from_secs(5));
    // With the routes and the registry gone, each batcher's queue closes
    // once empty and its thread ends.
    for batcher in batchers {
        let _ = batcher.join();
    }
    result.map(|()| ExitCode::SUCCESS)
}

async fn serve(args: &Args, app: axum::Router, registry: Arc<Registry>) -> Result<(), String> {
    let address = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    // The first stdout line, which scripts and tests read for the port.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on http://{local}");
    let _ = stdout.flush();
    let models: Vec<&String> = registry.models.keys().collect();
    tracing::info!(%local, ?models, "serving");
    let reloader = tokio::spawn(reload_on_hangup(registry.clone()));
    drop(registry);
    let (signalled, mut signal_seen) = tokio::sync::watch::channel(false);
    let served = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = signalled.send(true);
    });
    // Draining waits for every open connection; a client that never reads
    // its answer must not keep the process alive, so the drain is bounded
    // by the request timeout plus a margin.
    let grace = Duration::from_millis(args.timeout_ms) + Duration::from_secs(5);
    let drain_limit = async move {
        let _ = signal_seen.wait_for(|&seen| seen).await;
        tokio::time::sleep(grace).await;
    };
    let served = tokio::select! {
        result = std::future::IntoFuture::into_future(served) => {
            result.map_err(|e| format!("server error: {e}"))
        }
        () = drain_limit => {
            tracing::warn!(?grace, "connections still open after the drain limit; exiting");
            Ok(())
        }
    };
    reloader.abort();
    tracing::info!("stopped");
    served
}

/// Resolves on SIGTERM or Ctrl-C: the server then stops accepting and
/// finishes the requests it has.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: draining"),
        _ = terminate => tracing::info!("SIGTERM: draining"),
    }
}

/// Reloads every model's checkpoint on each SIGHUP.
async fn reload_on_hangup(registry: Arc<Registry>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; reload with the load endpoint");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading checkpoints");
        let names: Vec<String> = registry.models.keys().cloned().collect();
        for name in names {
            // Errors are logged and counted by reload; the old weights serve on.
            let _ = registry.reload(&name).await;
        }
    }
}
