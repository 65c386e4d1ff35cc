//! Helpers for the `dslc serve` tests: trained checkpoints, a running
//! server, a minimal HTTP/1.1 client and the in-process executor as the
//! oracle.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::{both, dslc, root, scratch};

pub const MODEL: &str = "DigitsMlp";

/// Two checkpoints of the digits MLP with different weights (1 epoch, and
/// 2 epochs from another seed), trained once per test binary.
pub fn weights() -> &'static (PathBuf, PathBuf) {
    static WEIGHTS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    WEIGHTS.get_or_init(|| {
        let train = |name: &str, extra: &[&str]| {
            let dir = scratch(name);
            let mut args = vec![
                "train",
                "examples/digits_mlp.nn",
                "--out",
                dir.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            let out = dslc(&args);
            assert!(out.status.success(), "{}", both(&out));
            dir.join("model.safetensors")
        };
        (
            train("serve-weights-a", &["--epochs", "1"]),
            train("serve-weights-b", &["--epochs", "2", "--seed", "7"]),
        )
    })
}

/// `count` digits from `first`, scaled to [0, 1] as training scales them.
pub fn digits(first: usize, count: usize) -> Vec<f32> {
    let data = nnspec_runtime::data::digits();
    data.features[first * 64..(first + count) * 64]
        .iter()
        .map(|x| x / 16.0)
        .collect()
}

/// The executor's logits for `rows` with the weights in `weights`.
pub fn oracle(weights: &Path, rows: &[f32]) -> Vec<f32> {
    oracle_for(&root().join("examples/digits_mlp.nn"), weights, rows)
}

/// The executor's first output for `rows`, for the model in `file`.
pub fn oracle_for(file: &Path, weights: &Path, rows: &[f32]) -> Vec<f32> {
    let source = std::fs::read(file).unwrap();
    let compiled = nnspec_dsl::compile_bytes(&source);
    let plan = nnspec_codegen::lower_inference(&compiled.models[0]);
    let n = rows.len() / 64;
    let mut exec = nnspec_runtime::exec::Executor::new(plan, n, 1).unwrap();
    let checkpoint = nnspec_runtime::safetensors_file::Checkpoint::load(weights).unwrap();
    nnspec_runtime::checkpoint::load_state_dict(&mut exec, &checkpoint).unwrap();
    exec.input_mut(n).copy_from_slice(rows);
    exec.forward(n, false);
    exec.output(0, n).to_vec()
}

pub fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
}

/// A running `dslc serve`, killed if a test fails before it stops.
pub struct Server {
    pub child: Child,
    pub address: String,
}

impl Server {
    /// Serves `weights` as the digits MLP with `extra` flags on port 0.
    pub fn start(weights: &Path, extra: &[&str]) -> Server {
        Server::start_file(&root().join("examples/digits_mlp.nn"), weights, extra)
    }

    /// Serves the model in `file` with `weights`.
    pub fn start_file(file: &Path, weights: &Path, extra: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dslc"));
        command
            .arg("serve")
            .arg(file)
            .arg("--weights")
            .arg(weights)
            .args(["--port", "0", "--threads", "1"])
            .args(extra)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("dslc serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                let _ = child.kill();
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("first line `{line}`; stderr:\n{err}")
            })
            .to_string();
        Server { child, address }
    }

    pub fn get(&self, path: &str) -> Response {
        request(&self.address, "GET", path, b"")
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        request(&self.address, "POST", path, body)
    }

    pub fn infer(&self, rows: &[f32], id: Option<&str>) -> Response {
        let n = rows.len() / 64;
        let mut body = serde_json::json!({"inputs": [{
            "name": "x", "shape": [n, 64], "datatype": "FP32", "data": rows,
        }]});
        if let Some(id) = id {
            body["id"] = id.into();
        }
        self.post(
            &format!("/v2/models/{MODEL}/infer"),
            body.to_string().as_bytes(),
        )
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid with a valid signal number.
        let done = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(done, 0, "kill({signal})");
    }

    /// Waits for the process to exit; its status and stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
        (status, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{e}: body `{}` (status {})", self.body, self.status))
    }

    /// The first output's data.
    pub fn logits(&self) -> Vec<f32> {
        assert_eq!(self.status, 200, "{}", self.body);
        self.json()["outputs"][0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    }

    /// The `error` message of a JSON error.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`, so the
/// body is what comes before the server closes).
pub fn request(address: &str, method: &str, path: &str, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and close before reading a large body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response in `{text}`"));
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in `{headers}`"));
    Response {
        status,
        headers: headers.to_string(),
        body: body.to_string(),
    }
}

/// A metric's value in the Prometheus text, if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// Polls `done` until it holds; fails after a minute rather than hanging.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
