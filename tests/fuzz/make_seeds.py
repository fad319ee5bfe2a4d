#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz drivers (tests/fuzz/corpus/<driver>/seed-*): small valid
and nearly valid inputs of each format, so that fuzzing starts from the interesting paths.
Deterministic; rerun after changing it and commit the result. Regression inputs (crashes that
were found and fixed) live beside the seeds as regress-* and are never rewritten."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(driver, name, data):
    d = os.path.join(HERE, "corpus", driver)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# base64 (Python's non-validating b64decode)
for i, s in enumerate(["aGVsbG8gd29ybGQ=", "aGVsbG8", "aGV sbG8=\n", "////", "=", "a===", "YQ==YQ==", "!!aGk="]):
    put("fuzz_base64", str(i), s)

# CSV and labels
csvs = [
    "ID,Label,Value\na,ham,1.5\nb,spam,\nc,,2\n",
    '\ufeffID,Label,Value\r\n"a,1",ham,1e3\r\n"b""x",spam,-0.5\r\n',
    "ID,Label,Value\na,ham,nan\na,spam,1\n",
    'ID,Label\n"unterminated,ham\n',
    "Value,ID,Label\n1,x,\n2,y,spam\n\n\n",
]
for i, s in enumerate(csvs):
    put("fuzz_csv", str(i), s)
    put("fuzz_labels", str(i), s)

# configs: global \0 input \0 output \0 overrides
g = """basic_experiment:
  output_folder: run
  n_epochs: 3
  batch_size: 16
  valid_size: 0.2
evaluation_checkpoint:
  sample_interval: 10
optimization:
  lr: 0.001
lr_schedule:
  warmup_steps: auto
training_control:
  mixing_alpha: 0.5
"""
i = """input_info:
  input_source: data/files
  input_name: txt
  input_type: bytes
input_type_info:
  max_length: 64
model_config:
  window_size: 16
  embedding_dim: 16
  position: embed
  pool: avg
  model_init_config:
    num_heads: 2
    num_layers: 2
    dim_feedforward: auto
"""
o = """output_info:
  output_name: out
  output_source: data/labels.csv
  output_type: tabular
output_type_info:
  target_cat_columns:
    - Label
model_config:
  model_type: mlp_residual
"""
put("fuzz_config", "tutorial", "\0".join([g, i, o, "g.basic_experiment.batch_size=8\ni.model_config.embedding_dim=32"]))
put("fuzz_config", "flow", "\0".join(["basic_experiment: {output_folder: r, batch_size: 4}\n", "- " + i.replace("\n", "\n  ") + "\n", o, ""]))
put("fuzz_config", "anchors", "\0".join(["a: &x {n_epochs: 1}\nbasic_experiment: *x\n", i, o, "g.nope=1"]))

# safetensors: 8-byte little-endian header length, JSON header, data
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data

f32 = lambda *v: struct.pack("<%df" % len(v), *v)
put("fuzz_safetensors", "two", safetensors({"a": ("F32", [2, 2], f32(1, 2, 3, 4)), "b": ("I32", [1], struct.pack("<i", 7))},
                                            {"format": "pt"}))
put("fuzz_safetensors", "scalar", safetensors({"s": ("F64", [], struct.pack("<d", 1.5))}))
put("fuzz_safetensors", "empty", safetensors({}))
put("fuzz_safetensors", "overlap", safetensors({"a": ("F32", [1], f32(1))}).replace(b"[0,4]", b"[0,9]"))

# model files: model_config JSON \0 targets JSON
mc = {"inputs": [{"name": "txt", "vocab": 261, "max_length": 64, "embedding_dim": 16, "num_heads": 2, "num_layers": 2,
                  "dim_feedforward": 64, "window_size": 16, "position": "embed", "pool": "avg", "masked": False,
                  "position_dropout": 0.1, "dropout": 0.1}],
      "fusion": {"layers": 2, "fc_task_dim": 256, "rb_do": 0.1, "stochastic_depth_p": 0.1},
      "targets": [{"output_name": "out", "column": "Label", "continuous": False, "n_classes": 2, "label_smoothing": 0.0,
                   "layers": 1, "fc_task_dim": 256, "rb_do": 0.1, "fc_do": 0.1, "stochastic_depth_p": 0.1}]}
tg = [{"output": "out", "column": "Label", "kind": "categorical", "classes": ["ham", "spam"]}]
put("fuzz_model_file", "tutorial", json.dumps(mc) + "\0" + json.dumps(tg))
mc2 = json.loads(json.dumps(mc))
mc2["inputs"][0].update(max_length=100000000, position="encode", pool="max")
put("fuzz_model_file", "huge", json.dumps(mc2) + "\0" + json.dumps(tg))

# POST /predict bodies (inputs txt and bin of the driver's model)
bodies = ['[{"txt":"aGVsbG8=","bin":"AAE="}]', '[{"txt":"aGVsbG8="}]', '[{"txt":"!!","bin":"AA=="},{"txt":"","bin":""}]',
          '{"txt":"aGk="}', '[' + ','.join(['{"txt":"YQ==","bin":"Yg=="}'] * 9) + ']', '[{"txt":"YQ==","bin":"Yg==","x":1}]']
for k, b in enumerate(bodies):
    put("fuzz_predict_request", str(k), b)

# the serving node: raw bytes on a connection (its model has one input, txt)
def http1(method, path, body=b"", extra=""):
    h = "%s %s HTTP/1.1\r\nHost: x\r\n%s" % (method, path, extra)
    if body or method == "POST":
        h += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return h.encode() + b"\r\n" + body

put("fuzz_serve", "predict", http1("POST", "/predict", b'[{"txt":"aGVsbG8gd29ybGQ="}]'))
put("fuzz_serve", "info", http1("GET", "/info"))
put("fuzz_serve", "metrics-health", http1("GET", "/metrics") + http1("HEAD", "/health"))
put("fuzz_serve", "bad-json", http1("POST", "/predict", b'[{"txt":1}]'))
put("fuzz_serve", "chunked", b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"8\r\n[{\"txt\":\r\n11\r\n\"aGVsbG8=\"}]     \r\n0\r\n\r\n")
put("fuzz_serve", "404-405", http1("DELETE", "/predict") + http1("GET", "/nope"))

def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload

def literal(name, value):  # literal header field without indexing, new name, no Huffman
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
settings = frame(4, 0, 0, b"")
body = b'[{"txt":"aGVsbG8="}]'
hdrs = literal(b":method", b"POST") + literal(b":scheme", b"http") + literal(b":path", b"/predict") + \
    literal(b":authority", b"x") + literal(b"content-type", b"application/json")
put("fuzz_serve", "h2-predict", preface + settings + frame(1, 4, 1, hdrs) + frame(0, 1, 1, body))
get = literal(b":method", b"GET") + literal(b":scheme", b"http") + literal(b":path", b"/info") + literal(b":authority", b"x")
put("fuzz_serve", "h2-get-rst", preface + settings + frame(1, 5, 1, get) + frame(3, 0, 1, b"\x00\x00\x00\x08") +
    frame(1, 5, 3, get) + frame(8, 0, 0, b"\x7f\xff\xff\xff"))
# over the driver's --max-body-bytes 4096: the HTTP/2 body guard answers 413 and drops the rest
big = frame(0, 0, 1, b"A" * 3000) + frame(0, 0, 1, b"A" * 3000) + frame(0, 1, 1, b"A" * 10)
put("fuzz_serve", "h2-oversize", preface + settings + frame(1, 4, 1, hdrs) + big + frame(1, 5, 3, get))
put("fuzz_serve", "h2-oversize-rst", preface + settings + frame(1, 4, 1, hdrs) + frame(0, 0, 1, b"B" * 5000) +
    frame(3, 0, 1, b"\x00\x00\x00\x08") + frame(0, 0, 1, b"C" * 100))
put("fuzz_serve", "h1-chunked-oversize", b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
    b"".join(b"1000\r\n" + b"D" * 4096 + b"\r\n" for _ in range(3)) + b"0\r\n\r\n")
