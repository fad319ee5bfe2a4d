#!/usr/bin/python3
"""serve_fastapi.py: the reference model served the way EIR serves it (FastAPI + uvicorn), as a
baseline for eir-dist's server benchmarks (spec §6). Not part of the product.

  /usr/bin/python3 tools/reference/serve_fastapi.py [--checkpoint model.safetensors]
      [--config model_config.json] [--classes Sentiment=Negative,Positive] [--port 8000]

POST /predict: JSON array of {<input_name>: base64 of the raw file bytes}; response
  {"result": [{<output_name>: {<column>: {<class>: prob, ...}}}, ...]} in request order.
GET /info: {"inputs": {}, "outputs": {}} (what EIR answers for bytes inputs + tabular outputs).

As in EIR: the request model is a pydantic model with one required string field per input (so a
missing key or non-string value is a 422 from FastAPI), base64 is decoded non-validating
(base64.b64decode), bytes are cut "from_start" to max_length and right-padded with <pad> (259),
all objects of one request form one batch (no cross-request batching), the endpoint is `async`
and runs the model on the event loop (requests are served one at a time), probabilities are a
float32 softmax emitted as Python floats. Weights: a .safetensors file with EIR state-dict keys
(eir-dist checkpoints, tests/fixtures/golden/*.safetensors); without one, a seeded random init.
Config: --config (the JSON of eir_model.ModelConfig, e.g. a golden fixture's "config"
metadata), else the checkpoint's "config" metadata if it has that form, else the tutorial.

Needs fastapi + uvicorn: on Debian `apt-get install python3-fastapi python3-uvicorn`
(bookworm ships fastapi 0.92 with pydantic 1.10, so 422 bodies use pydantic-v1 wording where
EIR, on pydantic 2, says e.g. "type": "missing").
"""
import argparse
import base64
import json
import os
import sys
from typing import Any, Dict, List

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eir_model as em  # noqa: E402
from st_io import read_safetensors  # noqa: E402


def load_model(args):
    cfg = None
    tensors, meta = (None, {})
    if args.checkpoint:
        tensors, meta = read_safetensors(args.checkpoint)
    if args.config:
        with open(args.config) as f:
            cfg = em.ModelConfig.from_json_dict(json.load(f))
    elif "config" in meta:
        try:
            cfg = em.ModelConfig.from_json_dict(json.loads(meta["config"]))
        except (KeyError, TypeError, ValueError):
            cfg = None
    if cfg is None:
        cfg = em.tutorial_config()
    model = em.build_model(cfg, seed=args.seed)
    if tensors is not None:
        sd = {k: torch.from_numpy(v) for k, v in tensors.items() if k in model.state_dict()}
        missing = [k for k in model.state_dict() if k not in sd]
        missing_params = [k for k in missing if k in dict(model.named_parameters())]
        if missing_params:
            raise SystemExit(f"{args.checkpoint}: missing parameters {missing_params[:5]}...")
        model.load_state_dict(sd, strict=False)  # buffers absent from a file keep their init
    model.eval()
    return cfg, model


def parse_classes(cfg: em.ModelConfig, specs: List[str]) -> Dict[str, List[str]]:
    given = {}
    for s in specs:
        col, _, names = s.partition("=")
        given[col] = names.split(",")
    classes = {}
    for o in cfg.outputs:
        for col, k in zip(o.target_cat_columns, o.num_classes):
            if col in given:
                if len(given[col]) != k:
                    raise SystemExit(f"--classes {col}: {len(given[col])} names for {k} classes")
                classes[col] = given[col]
            elif col == "Sentiment" and k == 2:
                classes[col] = ["Negative", "Positive"]  # the tutorial's LabelEncoder order
            else:
                classes[col] = [str(i) for i in range(k)]
    return classes


def make_app(cfg: em.ModelConfig, model: em.MetaModel, classes: Dict[str, List[str]]):
    from fastapi import FastAPI
    from pydantic import BaseModel, create_model

    fields: Dict[str, Any] = {s.input_name: (str, ...) for s in cfg.inputs}
    InputModel = create_model("DynamicInputModel", **fields)

    class ResponseModel(BaseModel):
        result: List[Dict[str, Any]]

    app = FastAPI()

    def prepare(b64: str, max_length: int) -> np.ndarray:
        raw = np.frombuffer(base64.b64decode(b64), dtype=np.uint8).astype(np.int64)
        out = np.full(max_length, em.PAD_TOKEN, dtype=np.int64)
        n = min(len(raw), max_length)
        out[:n] = raw[:n]
        return out

    @app.post("/predict", response_model=ResponseModel)
    async def predict(requests: List[InputModel]) -> ResponseModel:  # type: ignore
        data = [r.dict() for r in requests]
        tokens = {s.input_name: torch.from_numpy(np.stack([prepare(d[s.input_name], s.max_length)
                                                           for d in data]))
                  for s in cfg.inputs}
        with torch.no_grad():
            outs = model(model.embed(tokens))
        result = [{} for _ in data]
        for oname, cols in outs.items():
            for col, logits in cols.items():
                lg = logits.float()
                probs = torch.sigmoid(lg) if lg.shape[1] == 1 else torch.softmax(lg, dim=1)
                for i in range(len(data)):
                    result[i].setdefault(oname, {})[col] = {
                        name: float(p) for name, p in zip(classes[col], probs[i].tolist())}
        return ResponseModel(result=result)

    @app.get("/info")
    def info() -> Dict[str, Any]:
        return {"inputs": {}, "outputs": {}}

    return app


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", help=".safetensors with EIR state-dict keys")
    ap.add_argument("--config", help="ModelConfig JSON (see make_golden.py / README)")
    ap.add_argument("--classes", action="append", default=[], metavar="COL=a,b,...",
                    help="class names of a categorical column, in LabelEncoder (sorted) order")
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import uvicorn
    except ImportError:
        raise SystemExit("fastapi/uvicorn missing: apt-get install python3-fastapi python3-uvicorn")
    cfg, model = load_model(args)
    app = make_app(cfg, model, parse_classes(cfg, args.classes))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
