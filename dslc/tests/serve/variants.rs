//! Served models other than the f32 digits MLP: int8 checkpoints and
//! models reading token ids.

use crate::common;
use crate::support::{MODEL, Server, close, digits, oracle, weights};

#[test]
fn an_int8_checkpoint_serves_through_the_int8_plan() {
    let (a, b) = weights();
    let dir = common::scratch("serve-int8");
    let quantized = |from: &std::path::Path, out: &str| {
        let out = dir.join(out);
        let args = [
            "quantize",
            "examples/digits_mlp.nn",
            "--weights",
            from.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        let run = common::dslc(&args);
        assert!(run.status.success(), "{}", common::both(&run));
        out.join("model.int8.safetensors")
    };
    let (int8_a, int8_b) = (quantized(a, "a"), quantized(b, "b"));
    let served = dir.join("served.int8.safetensors");
    std::fs::copy(&int8_a, &served).unwrap();
    let server = Server::start(&served, &[]);
    let rows = digits(40, 4);
    let int8_oracle = |path: &std::path::Path| {
        let source = std::fs::read(common::root().join("examples/digits_mlp.nn")).unwrap();
        let compiled = nnspec_dsl::compile_bytes(&source);
        let plan = nnspec_codegen::lower_inference(&compiled.models[0]);
        let checkpoint = nnspec_runtime::safetensors_file::Checkpoint::load(path).unwrap();
        let q = nnspec_runtime::quantize::load(&plan, &checkpoint).unwrap();
        nnspec_runtime::quantize::run_int8(&q, &rows).unwrap()
    };
    let expected = int8_oracle(&int8_a);
    assert!(
        !close(&expected, &oracle(a, &rows)),
        "int8 outputs differ from f32 ones"
    );
    assert!(close(&server.infer(&rows, None).logits(), &expected));

    // Reload: another int8 checkpoint swaps in; an f32 one is refused.
    std::fs::copy(&int8_b, &served).unwrap();
    let load = format!("/v2/repository/models/{MODEL}/load");
    assert_eq!(server.post(&load, b"").status, 200);
    assert!(close(
        &server.infer(&rows, None).logits(),
        &int8_oracle(&int8_b)
    ));
    std::fs::copy(a, &served).unwrap();
    let response = server.post(&load, b"");
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.error().contains("int8"), "{}", response.body);
    assert!(close(
        &server.infer(&rows, None).logits(),
        &int8_oracle(&int8_b)
    ));
}

/// A bag of embeddings over six token ids in 0..10.
const TOKENS_MODEL: &str = "
model Bag {
    input tokens: i64[6];
    let e = tokens -> embedding(10, 4) as emb;
    output logits = e -> flatten -> dense(2) as head;
}

train Bag {
    loss: cross_entropy,
    optimizer: adam(lr: 0.05),
    batch: 16,
    epochs: 1,
}
";

#[test]
fn token_ids_are_int64_and_checked_against_the_table() {
    let dir = common::scratch("serve-tokens");
    let model = dir.join("bag.nn");
    std::fs::write(&model, TOKENS_MODEL).unwrap();
    let mut csv = String::from("t0,t1,t2,t3,t4,t5,label\n");
    for i in 0..60usize {
        let ids: Vec<String> = (0..6).map(|j| ((i * 7 + j * 3) % 10).to_string()).collect();
        csv += &format!("{},{}\n", ids.join(","), usize::from(i % 10 < 5));
    }
    let data = dir.join("ids.csv");
    std::fs::write(&data, csv).unwrap();
    let run = dir.join("run");
    let args = [
        "train",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ];
    let out = common::dslc(&args);
    assert!(out.status.success(), "{}", common::both(&out));
    let weights = run.join("model.safetensors");

    let server = Server::start_file(&model, &weights, &[]);
    let meta = server.get("/v2/models/Bag").json();
    assert_eq!(meta["inputs"][0]["datatype"], "INT64");
    assert_eq!(meta["inputs"][0]["shape"], serde_json::json!([-1, 6]));

    let ids: Vec<i64> = vec![0, 1, 2, 3, 4, 5, 9, 8, 7, 6, 5, 4];
    let body = |data: serde_json::Value, datatype: &str| {
        serde_json::json!({"inputs": [{"name": "tokens", "shape": [2, 6], "datatype": datatype, "data": data}]})
            .to_string()
    };
    let response = server.post(
        "/v2/models/Bag/infer",
        body(ids.clone().into(), "INT64").as_bytes(),
    );
    let source = std::fs::read(&model).unwrap();
    let compiled = nnspec_dsl::compile_bytes(&source);
    let plan = nnspec_codegen::lower_inference(&compiled.models[0]);
    let mut exec = nnspec_runtime::exec::Executor::new(plan, 2, 1).unwrap();
    let checkpoint = nnspec_runtime::safetensors_file::Checkpoint::load(&weights).unwrap();
    nnspec_runtime::checkpoint::load_state_dict(&mut exec, &checkpoint).unwrap();
    exec.set_tokens(2, &ids).unwrap();
    exec.forward(2, false);
    assert!(
        close(&response.logits(), exec.output(0, 2)),
        "{}",
        response.body
    );

    let mut out_of_range = ids.clone();
    out_of_range[7] = 10;
    for (request, wanted) in [
        (
            body(out_of_range.into(), "INT64"),
            "data[7] = 10 is not a token id in 0..10",
        ),
        (
            body(vec![1.5; 12].into(), "INT64"),
            "data[0] is 1.5, not an INT64 token id",
        ),
        (
            body(ids.into(), "FP32"),
            "datatype FP32; the model takes INT64",
        ),
    ] {
        let response = server.post("/v2/models/Bag/infer", request.as_bytes());
        assert_eq!(response.status, 400, "{request}: {}", response.body);
        assert!(
            response.error().contains(wanted),
            "`{}` lacks `{wanted}`",
            response.error()
        );
    }
}
