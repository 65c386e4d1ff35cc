//! Command-line arguments, parsed by hand: a dozen flags do not justify
//! compiling clap into a bench tool.

use std::time::Duration;

pub const USAGE: &str = "\
load: an Open Inference Protocol (KServe v2 REST JSON) load generator

USAGE: load --url http://HOST:PORT/v2/models/NAME/infer [options]

  --url URL           the infer endpoint (http only)
  --concurrency N     concurrent clients, one keep-alive connection each [1]
  --duration-s S      measure for S seconds (default 10 unless --requests)
  --requests N        stop after N requests instead of a duration
  --rate R            fixed total request rate per second (open loop, for soaks);
                      without it every client sends as soon as its answer arrives
  --warmup-s S        send (and discard) requests for S seconds first [0]
  --input-name NAME   the input tensor's name [x]
  --features F        values per sample [784]
  --batch B           samples per request (the tensor's first dimension) [1]
  --threads T         the generator's own threads [1]
  --timeout-ms MS     a request slower than this counts as an error [10000]
  --json              print the result as one JSON object
";

#[derive(Debug, Clone)]
pub struct Args {
    pub url: String,
    pub concurrency: usize,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub input_name: String,
    pub features: usize,
    pub batch: usize,
    pub threads: usize,
    pub timeout: Duration,
    pub json: bool,
}

fn value<'a>(flag: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<&'a String, String> {
    it.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: '{text}' is not a valid number"))
}

fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    let s: f64 = number(flag, text)?;
    if !(s.is_finite() && s >= 0.0) {
        return Err(format!(
            "{flag}: '{text}' must be a non-negative number of seconds"
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        concurrency: 1,
        duration: None,
        requests: None,
        rate: None,
        warmup: Duration::ZERO,
        input_name: "x".into(),
        features: 784,
        batch: 1,
        threads: 1,
        timeout: Duration::from_secs(10),
        json: false,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--url" => args.url = value(flag, &mut it)?.clone(),
            "--concurrency" => args.concurrency = number(flag, value(flag, &mut it)?)?,
            "--duration-s" => args.duration = Some(seconds(flag, value(flag, &mut it)?)?),
            "--requests" => args.requests = Some(number(flag, value(flag, &mut it)?)?),
            "--rate" => args.rate = Some(number(flag, value(flag, &mut it)?)?),
            "--warmup-s" => args.warmup = seconds(flag, value(flag, &mut it)?)?,
            "--input-name" => args.input_name = value(flag, &mut it)?.clone(),
            "--features" => args.features = number(flag, value(flag, &mut it)?)?,
            "--batch" => args.batch = number(flag, value(flag, &mut it)?)?,
            "--threads" => args.threads = number(flag, value(flag, &mut it)?)?,
            "--timeout-ms" => {
                args.timeout = Duration::from_millis(number(flag, value(flag, &mut it)?)?)
            }
            "--json" => args.json = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if args.url.is_empty() {
        return Err("--url is required".into());
    }
    for (flag, n) in [
        ("--concurrency", args.concurrency),
        ("--features", args.features),
        ("--batch", args.batch),
        ("--threads", args.threads),
    ] {
        if n == 0 {
            return Err(format!("{flag} must be at least 1"));
        }
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err("--rate must be a positive number of requests per second".into());
    }
    if args.requests == Some(0) {
        return Err("--requests must be at least 1".into());
    }
    if args.duration.is_none() && args.requests.is_none() {
        args.duration = Some(Duration::from_secs(10));
    }
    Ok(args)
}

/// The parts of an `http://host:port/path` URL the client needs.
pub struct Target {
    /// `host:port`, for connecting and for the Host header.
    pub authority: String,
    pub path: String,
}

pub fn target(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url '{url}': only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("--url '{url}' has no host"));
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(Target {
        authority,
        path: path.to_string(),
    })
}
