//! `dslc serve` run as a user runs it: on 127.0.0.1 with an ephemeral port,
//! spoken to over HTTP. Outputs are checked against the in-process executor
//! with the same checkpoint.

mod common;
#[path = "serve/support.rs"]
mod support;
#[path = "serve/variants.rs"]
mod variants;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::{MODEL, Server, close, digits, metric, oracle, wait_until, weights};

#[test]
fn endpoints_answer_and_infer_matches_the_executor() {
    let (a, _) = weights();
    let server = Server::start(a, &[]);
    for path in ["/v2/health/live", "/v2/health/ready", "/v2"] {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}: {}", response.body);
    }
    assert_eq!(server.get("/v2/health/ready").json()["ready"], true);
    assert_eq!(server.get("/v2").json()["name"], "nnspec");

    let meta = server.get(&format!("/v2/models/{MODEL}")).json();
    assert_eq!(meta["name"], MODEL);
    assert_eq!(meta["inputs"][0]["name"], "x");
    assert_eq!(meta["inputs"][0]["datatype"], "FP32");
    assert_eq!(meta["inputs"][0]["shape"], serde_json::json!([-1, 64]));
    assert_eq!(meta["outputs"][0]["name"], "logits");
    assert_eq!(meta["outputs"][0]["shape"], serde_json::json!([-1, 10]));
    let ready = server.get(&format!("/v2/models/{MODEL}/ready"));
    assert_eq!(
        (ready.status, ready.json()["ready"].clone()),
        (200, true.into())
    );

    for path in ["/v2/models/Nope", "/v2/models/Nope/ready"] {
        let response = server.get(path);
        assert_eq!(response.status, 404, "{path}");
        assert!(
            response.error().contains("unknown model `Nope`"),
            "{}",
            response.body
        );
    }
    let response = server.post("/v2/models/Nope/infer", b"{}");
    assert_eq!(response.status, 404);
    assert!(
        response.error().contains("unknown model"),
        "{}",
        response.body
    );

    // Five samples at once, flat data, with an id echoed.
    let rows = digits(0, 5);
    let response = server.infer(&rows, Some("req-7"));
    let json = response.json();
    assert_eq!(json["id"], "req-7");
    assert_eq!(json["model_name"], MODEL);
    assert_eq!(json["outputs"][0]["name"], "logits");
    assert_eq!(json["outputs"][0]["datatype"], "FP32");
    assert_eq!(json["outputs"][0]["shape"], serde_json::json!([5, 10]));
    let expected = oracle(a, &rows);
    assert!(
        close(&response.logits(), &expected),
        "{} vs {expected:?}",
        response.body
    );

    // The same samples nested as [5][64] give the same answer.
    let nested: Vec<Vec<f32>> = rows.chunks(64).map(<[f32]>::to_vec).collect();
    let body = serde_json::json!({"inputs": [{"name": "x", "shape": [5, 64], "datatype": "FP32", "data": nested}]});
    let response = server.post(
        &format!("/v2/models/{MODEL}/infer"),
        body.to_string().as_bytes(),
    );
    assert!(close(&response.logits(), &expected), "{}", response.body);

    // Concurrent clients with distinct samples each get their own rows back.
    let server = Arc::new(server);
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let server = server.clone();
            let a = a.clone();
            std::thread::spawn(move || {
                for round in 0..10 {
                    let rows = digits(client * 10 + round, 1 + round % 3);
                    let got = server.infer(&rows, None).logits();
                    assert!(
                        close(&got, &oracle(&a, &rows)),
                        "client {client} round {round}"
                    );
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client thread failed");
    }

    let text = server.get("/metrics").body;
    let ok = metric(
        &text,
        &format!("nnspec_requests_total{{model=\"{MODEL}\",code=\"200\"}}"),
    );
    assert_eq!(ok, Some(82.0), "{text}");
    assert_eq!(
        metric(&text, "nnspec_requests_total{model=\"\",code=\"404\"}"),
        Some(1.0),
        "{text}"
    );
    let batches = metric(
        &text,
        &format!("nnspec_batch_size_count{{model=\"{MODEL}\"}}"),
    )
    .unwrap();
    assert!((1.0..=82.0).contains(&batches), "{text}");
    assert!(
        text.contains("nnspec_request_duration_seconds_bucket{model=\"DigitsMlp\",le=\"+Inf\"} 82"),
        "{text}"
    );
    assert_eq!(
        metric(&text, &format!("nnspec_queue_depth{{model=\"{MODEL}\"}}")),
        Some(0.0),
        "{text}"
    );
}

#[test]
fn bad_requests_get_400_naming_the_problem() {
    let (a, _) = weights();
    let server = Server::start(a, &["--max-body", "4000", "--max-batch", "8"]);
    let infer = format!("/v2/models/{MODEL}/infer");
    let tensor = |name: &str, shape: &[usize], datatype: &str, data: serde_json::Value| {
        serde_json::json!({"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]})
            .to_string()
    };
    let ones = |n: usize| serde_json::json!(vec![1.0; n]);
    let cases: Vec<(String, &str)> = vec![
        ("{\"inputs\": [".to_string(), "malformed JSON"),
        ("[1, 2]".to_string(), "JSON object"),
        (
            tensor("x", &[1, 63], "FP32", ones(63)),
            "has shape [1, 63]; the model expects [N, 64]",
        ),
        (
            tensor("x", &[64], "FP32", ones(64)),
            "the model expects [N, 64]",
        ),
        (
            tensor("x", &[1, 64], "INT64", ones(64)),
            "datatype INT64; the model takes FP32",
        ),
        (
            tensor("x", &[2, 64], "FP32", ones(64)),
            "64 values in \"data\"; its shape [2, 64] needs 128",
        ),
        (
            tensor("x", &[1, 64], "FP32", serde_json::json!(vec![1e39; 64])),
            "not a finite FP32 value",
        ),
        (
            tensor("x", &[1, 64], "FP32", serde_json::json!(vec!["NaN"; 64])),
            "data[0] is \"NaN\", not a number",
        ),
        (
            tensor("pixels", &[1, 64], "FP32", ones(64)),
            "unknown input `pixels`; the model's input is `x`",
        ),
        (
            tensor("x", &[9, 64], "FP32", serde_json::json!(vec![0; 576])),
            "at most 8 per request",
        ),
    ];
    for (body, wanted) in &cases {
        let response = server.post(&infer, body.as_bytes());
        assert_eq!(response.status, 400, "{body}: {}", response.body);
        assert!(
            response.error().contains(wanted),
            "{body}: `{}` lacks `{wanted}`",
            response.error()
        );
    }
    let too_large = tensor(
        "x",
        &[1, 64],
        "FP32",
        serde_json::json!(vec![0.123456789; 400]),
    );
    let response = server.post(&infer, too_large.as_bytes());
    assert_eq!(response.status, 413, "{}", response.body);
    assert!(!response.error().is_empty(), "{}", response.body);
    // The server still answers correctly afterwards.
    let rows = digits(3, 1);
    assert!(close(
        &server.infer(&rows, None).logits(),
        &oracle(a, &rows)
    ));
    let text = server.get("/metrics").body;
    assert_eq!(
        metric(
            &text,
            &format!("nnspec_request_errors_total{{model=\"{MODEL}\",code=\"400\"}}")
        ),
        Some(cases.len() as f64),
        "{text}"
    );
}

#[test]
fn a_full_queue_answers_503_with_retry_after_and_a_slow_answer_504() {
    let (a, _) = weights();
    // Two requests wait out the 4 s gathering delay; a third finds the queue full.
    let server = Arc::new(Server::start(
        a,
        &["--queue", "2", "--max-delay-us", "4000000"],
    ));
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let server = server.clone();
            std::thread::spawn(move || server.infer(&digits(i, 1), None).status)
        })
        .collect();
    let queued = |server: &Server| {
        metric(
            &server.get("/metrics").body,
            &format!("nnspec_queue_depth{{model=\"{MODEL}\"}}"),
        )
    };
    wait_until("two requests queued", || queued(&server) == Some(2.0));
    let response = server.infer(&digits(5, 1), None);
    assert_eq!(response.status, 503, "{}", response.body);
    assert!(
        response
            .headers
            .to_ascii_lowercase()
            .contains("retry-after: 1"),
        "{}",
        response.headers
    );
    assert!(response.error().contains("queue"), "{}", response.body);
    for request in waiting {
        assert_eq!(request.join().unwrap(), 200);
    }

    let server = Server::start(a, &["--timeout-ms", "50", "--max-delay-us", "1000000"]);
    let response = server.infer(&digits(0, 1), None);
    assert_eq!(response.status, 504, "{}", response.body);
    assert!(response.error().contains("50 ms"), "{}", response.body);
}

#[test]
fn reload_under_load_swaps_weights_without_failing_a_request() {
    let (a, b) = weights();
    let dir = common::scratch("serve-reload");
    let served = dir.join("model.safetensors");
    let replace = |from: &std::path::Path| {
        let temporary = dir.join("incoming.tmp");
        std::fs::copy(from, &temporary).unwrap();
        std::fs::rename(&temporary, &served).unwrap();
    };
    replace(a);
    let server = Arc::new(Server::start(&served, &["--max-delay-us", "200"]));
    let rows = digits(10, 2);
    let (old, new) = (oracle(a, &rows), oracle(b, &rows));
    assert!(!close(&old, &new), "the two checkpoints must differ");

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, rows) = (server.clone(), stop.clone(), rows.clone());
            let (old, new) = (old.clone(), new.clone());
            std::thread::spawn(move || {
                let (mut saw_old, mut saw_new) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    let response = server.infer(&rows, None);
                    assert_eq!(response.status, 200, "{}", response.body);
                    let got = response.logits();
                    if close(&got, &old) {
                        saw_old += 1;
                    } else if close(&got, &new) {
                        saw_new += 1;
                    } else {
                        panic!("outputs of neither checkpoint: {got:?}");
                    }
                }
                (saw_old, saw_new)
            })
        })
        .collect();
    let answers = |server: &Server| server.infer(&rows, None).logits();
    std::thread::sleep(Duration::from_millis(200));

    // SIGHUP: the new weights serve from some batch on.
    replace(b);
    server.signal(libc::SIGHUP);
    wait_until("the new weights after SIGHUP", || {
        close(&answers(&server), &new)
    });
    std::thread::sleep(Duration::from_millis(200));

    // A corrupt file is refused; the weights in use keep serving.
    std::fs::write(dir.join("incoming.tmp"), b"not a safetensors file").unwrap();
    std::fs::rename(dir.join("incoming.tmp"), &served).unwrap();
    let load = format!("/v2/repository/models/{MODEL}/load");
    let response = server.post(&load, b"");
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(
        response.error().contains("model.safetensors"),
        "{}",
        response.body
    );
    assert!(close(&answers(&server), &new));
    // And through SIGHUP, which logs the error and counts it.
    server.signal(libc::SIGHUP);
    let failed_reloads = format!("nnspec_reloads_total{{model=\"{MODEL}\",outcome=\"error\"}}");
    wait_until("the refused SIGHUP reload", || {
        metric(&server.get("/metrics").body, &failed_reloads) == Some(2.0)
    });
    assert!(close(&answers(&server), &new));

    // Back to the first weights through the load endpoint.
    replace(a);
    let response = server.post(&load, b"");
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(close(&answers(&server), &old));
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let (mut saw_old, mut saw_new) = (0, 0);
    for client in clients {
        let (o, n) = client.join().expect("a client saw a failed request");
        saw_old += o;
        saw_new += n;
    }
    assert!(saw_old > 0 && saw_new > 0, "old {saw_old}, new {saw_new}");
    let text = server.get("/metrics").body;
    assert_eq!(
        metric(
            &text,
            &format!("nnspec_reloads_total{{model=\"{MODEL}\",outcome=\"error\"}}")
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("nnspec_reloads_total{{model=\"{MODEL}\",outcome=\"ok\"}}")
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("nnspec_requests_total{{model=\"{MODEL}\",code=\"503\"}}")
        ),
        None
    );
}

#[test]
fn sigterm_finishes_requests_in_flight_then_exits_0() {
    let (a, _) = weights();
    let server = Arc::new(Server::start(a, &["--max-delay-us", "3000000"]));
    let in_flight: Vec<_> = (0..3)
        .map(|i| {
            let server = server.clone();
            std::thread::spawn(move || {
                let rows = digits(20 + i, 1);
                (server.infer(&rows, None), rows)
            })
        })
        .collect();
    let depth = format!("nnspec_queue_depth{{model=\"{MODEL}\"}}");
    wait_until("three requests in flight", || {
        metric(&server.get("/metrics").body, &depth) == Some(3.0)
    });
    server.signal(libc::SIGTERM);
    for request in in_flight {
        let (response, rows) = request.join().unwrap();
        assert!(close(&response.logits(), &oracle(a, &rows)));
    }
    let server = Arc::into_inner(server).expect("client threads are done");
    let (status, stderr) = server.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM: draining"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn several_models_answer_each_with_its_own_weights_and_a_wrong_checkpoint_is_refused() {
    let (a, _) = weights();
    // The same model name with a narrower hidden layer: its checkpoint has
    // the right names but the wrong shapes for the served DigitsMlp.
    let dir = common::scratch("serve-several");
    let narrow = dir.join("narrow.nn");
    let source = std::fs::read_to_string(common::root().join("examples/digits_mlp.nn")).unwrap();
    std::fs::write(&narrow, source.replace("dense(64)", "dense(32)")).unwrap();
    let out = common::dslc(&[
        "train",
        narrow.to_str().unwrap(),
        "--epochs",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::both(&out));
    let narrow_weights = dir.join("model.safetensors");
    let served = dir.join("served.safetensors");
    std::fs::copy(a, &served).unwrap();

    let also = format!("Narrow={}:{}", narrow.display(), narrow_weights.display());
    let server = Server::start(&served, &["--serve", &also]);
    let meta = server.get("/v2/models/Narrow").json();
    assert_eq!(meta["outputs"][0]["shape"], serde_json::json!([-1, 10]));
    let rows = digits(30, 3);
    let narrow_body = serde_json::json!({"inputs": [{"name": "x", "shape": [3, 64], "datatype": "FP32", "data": rows}]});
    let narrow_answer = server.post(
        "/v2/models/Narrow/infer",
        narrow_body.to_string().as_bytes(),
    );
    assert_eq!(narrow_answer.json()["model_name"], "Narrow");
    assert!(close(
        &narrow_answer.logits(),
        &support::oracle_for(&narrow, &narrow_weights, &rows)
    ));
    assert!(close(
        &server.infer(&rows, None).logits(),
        &oracle(a, &rows)
    ));

    // The narrow checkpoint over DigitsMlp's path: refused, naming the mismatch.
    std::fs::copy(&narrow_weights, &served).unwrap();
    let response = server.post(&format!("/v2/repository/models/{MODEL}/load"), b"");
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.error().contains("fc1"), "{}", response.body);
    assert!(close(
        &server.infer(&rows, None).logits(),
        &oracle(a, &rows)
    ));
    let response = server.post("/v2/repository/models/Nope/load", b"");
    assert_eq!(response.status, 404, "{}", response.body);
}

#[test]
fn command_line_mistakes_are_clear_errors() {
    let (a, _) = weights();
    let a = a.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["serve"], "nothing to serve"),
        (&["serve", "examples/digits_mlp.nn"], "needs --weights"),
        (
            &[
                "serve",
                "examples/digits_mlp.nn",
                "--weights",
                "no/such.safetensors",
            ],
            "no/such.safetensors",
        ),
        (
            &["serve", "--serve", "Second=examples/digits_mlp.nn"],
            "is not NAME=FILE:CKPT",
        ),
        (
            &[
                "serve",
                "examples/digits_mlp.nn",
                "--weights",
                a,
                "--serve",
                &format!("{MODEL}=examples/digits_mlp.nn:{a}"),
            ],
            "two models are served as `DigitsMlp`",
        ),
    ];
    for (args, wanted) in cases {
        let out = common::dslc(args);
        common::assert_no_panic(&out, &args.join(" "));
        assert!(!out.status.success(), "{args:?}");
        assert!(
            common::text(&out.stderr).contains(wanted),
            "{args:?}: {}",
            common::both(&out)
        );
    }
}
