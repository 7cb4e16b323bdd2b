"""Runs schemathesis against a real `tunery serve` and its served OpenAPI document.

Usage: run.py TUNERY_BINARY SCHEMATHESIS_BINARY [extra `st run` arguments]

Starts the server on a fresh data directory (SQLite, port 0), signs up the first user (the
instance's administrator), creates an API key and runs every phase of schemathesis with every
check (all are on by default; `schemathesis.toml` turns a few off where it says why), authenticated with that key. The server is stopped whatever happens; the exit status is
schemathesis's. The training runtime, the SmolLM2 tokenizer and GGUF are passed when the
environment names them (`scripts/test.sh` does), so the operations that need them answer for
real rather than with 503.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ADMIN = {"email": "admin@example.com", "name": "Admin", "password": "correct horse battery staple"}

# The run probes thousands of requests from one address, many of them with bad credentials on
# purpose: the per-address throttle of failed attempts (tested on its own elsewhere) would turn
# them all into 429. The per-caller rate limit likewise.
SERVER_CONFIG = """
[auth]
login_failures_per_ip = 1000000
login_failure_window_s = 1
"""


UPSTREAM = "http://127.0.0.1:9/v1"


def start_server(binary, data_dir):
    config = os.path.join(data_dir, "tunery.toml")
    with open(config, "w") as f:
        f.write(SERVER_CONFIG)
    args = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(data_dir, "data"), "--config", config,
            "--rate-limit-per-second", "100000", "--rate-limit-burst", "100000",
            # Imports of Hub repositories and external deployments go nowhere (nothing listens on
            # port 9) and fail fast.
            "--hub-url", "http://127.0.0.1:9", "--external-endpoint", UPSTREAM,
            "--runtime-dir", os.path.join(ROOT, "runtime")]
    for flag, variable in [("--runtime-python", "TUNERY_RUNTIME_PYTHON"), ("--tokenizer-file", "TUNERY_SMOLLM2_TOKENIZER")]:
        if os.environ.get(variable):
            args += [flag, os.environ[variable]]
    log_path = os.path.join(data_dir, "server.log")
    log = open(log_path, "w")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            break
        with open(log_path) as f:
            found = re.search(r"http://127\.0\.0\.1:\d+", f.read())
        if found:
            return server, found.group(0), log_path
        time.sleep(0.1)
    server.kill()
    with open(log_path) as f:
        sys.exit(f"the server did not start; its log:\n{f.read()[-4000:]}")


def call(url, path, body, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def wait_for(url, key, path, done, timeout_s=120):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        request = urllib.request.Request(url + path, headers={"authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            value = json.load(answer)
        if done(value):
            return value
        time.sleep(0.2)
    sys.exit(f"{path} did not finish in {timeout_s} s")


def post_form(url, key, path, fields, filename, content):
    """A multipart form (text fields, then the file) posted; the answer's JSON."""
    boundary = "tunery-conformance-boundary"
    body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode() for k, v in fields.items())
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + path, data=body, headers={
        "authorization": f"Bearer {key}", "content-type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def upload_dataset(url, key, name, path):
    """A dataset from a file of the repository, through the multipart upload; its id."""
    with open(path, "rb") as f:
        content = f.read()
    return post_form(url, key, "/api/v1/datasets", {"name": name}, os.path.basename(path), content)["dataset"]["id"]


def scored_evaluation(url, key, name, right):
    """A predictions file of four greetings scored (right or wrong answers), waited for; its id."""
    lines = "".join(json.dumps({"prediction": f"Hello, {n}!" if right else "Go away.", "reference": f"Hello, {n}!"}) + "\n"
                    for n in ("Ada", "Bo", "Cy", "Di"))
    fields = {"name": name, "metrics": "bleu,exact_match"}
    evaluation = post_form(url, key, "/api/v1/evaluations", fields, "predictions.jsonl", lines.encode())["id"]
    wait_for(url, key, f"/api/v1/evaluations/{evaluation}", lambda e: e["state"] not in ("queued", "running"))
    return evaluation


def seeded_config(url, key, data_dir):
    """The checked-in configuration plus real ids: the operations on a dataset, its operations,
    a project or an upload run against ones that exist (the example dataset, version 1, and a
    preprocess of it; a pending upload), so they get past 404 to their real work; deleting one
    takes a throwaway twin; two external deployments (their upstream does not answer, so they
    fail to start: the gateway answers 503 for them) and a traffic split over them. Jobs and
    fine-tuned models are not seeded (a job needs an imported base model and minutes of
    training). Two scored predictions evaluations, an A/B test and a human evaluation of them
    (rated by administrators: the key's owner), with twins to delete."""
    examples = os.path.join(ROOT, "examples", "greetings.jsonl")
    dataset = upload_dataset(url, key, "conformance", examples)
    throwaway = upload_dataset(url, key, "conformance-throwaway", examples)
    # A finished operation that made version 2, so a diff and an operation have something to show.
    recipe = {"version": 1, "steps": [{"step": "dedup_exact"}]}
    operation = call(url, f"/api/v1/datasets/{dataset}/versions/1/preprocess", {"recipe": recipe}, key)["id"]
    wait_for(url, key, f"/api/v1/datasets/{dataset}/operations/{operation}", lambda o: o["status"] != "running")
    upload = call(url, "/api/v1/uploads", {"filename": "parts.jsonl", "bytes": 4096}, key)["id"]
    project = call(url, "/api/v1/projects", {"name": "conformance"}, key)["id"]
    spare_project = call(url, "/api/v1/projects", {"name": "conformance-throwaway"}, key)["id"]
    external = {"backend": "external", "endpoint": {"url": UPSTREAM, "model": "x"}}
    deployment = call(url, "/api/v1/deployments", {"name": "conformance", **external}, key)["id"]
    spare_deployment = call(url, "/api/v1/deployments", {"name": "conformance-throwaway", **external}, key)["id"]
    variants = [{"deployment_id": deployment, "weight": 1}, {"deployment_id": spare_deployment, "weight": 1}]
    split = call(url, "/api/v1/traffic-splits", {"name": "conformance-split", "variants": variants}, key)["id"]
    spare_split = call(url, "/api/v1/traffic-splits", {"name": "conformance-split-throwaway", "variants": variants}, key)["id"]
    right, wrong = scored_evaluation(url, key, "right", True), scored_evaluation(url, key, "wrong", False)
    ab = {"evaluation_a": wrong, "evaluation_b": right, "metric": "exact_match", "resamples": 100}
    ab_test, spare_ab_test = call(url, "/api/v1/ab-tests", ab, key)["id"], call(url, "/api/v1/ab-tests", ab, key)["id"]
    task = {"evaluation_ids": [wrong, right], "raters": {"roles": ["admin"]}}
    human_eval, spare_human_eval = call(url, "/api/v1/human-evals", task, key)["id"], call(url, "/api/v1/human-evals", task, key)["id"]
    with open(os.path.join(HERE, "schemathesis.toml")) as f:
        text = f.read()
    text += f"""
# Written by run.py: ids that exist in the server under test.
[parameters]
"path.dataset_id" = "{dataset}"
"path.version" = 1
"path.project_id" = "{project}"
"path.operation_id" = "{operation}"
"path.upload_id" = "{upload}"
"path.deployment_id" = "{deployment}"
"path.split_id" = "{split}"
"path.evaluation_id" = "{right}"
"path.ab_test_id" = "{ab_test}"
"path.human_eval_id" = "{human_eval}"
"path.item" = 0

# The deletes are pinned to a throwaway twin: after the first one, a 404 there says nothing
# about the resource the stateful phase just created.
[[operations]]
include-operation-id = "delete_dataset"
parameters = {{ "path.dataset_id" = "{throwaway}" }}
checks.ensure_resource_availability.enabled = false

[[operations]]
include-operation-id = "delete_ab_test"
parameters = {{ "path.ab_test_id" = "{spare_ab_test}" }}
checks.ensure_resource_availability.enabled = false

[[operations]]
include-operation-id = "delete_human_eval"
parameters = {{ "path.human_eval_id" = "{spare_human_eval}" }}
checks.ensure_resource_availability.enabled = false

[[operations]]
include-operation-id = "delete_project"
parameters = {{ "path.project_id" = "{spare_project}" }}
checks.ensure_resource_availability.enabled = false

[[operations]]
include-operation-id = "delete_split"
parameters = {{ "path.split_id" = "{spare_split}" }}
checks.ensure_resource_availability.enabled = false

# A deployment in a split cannot be deleted (409); this one is in none once its split is gone.
[[operations]]
include-operation-id = "delete_deployment"
parameters = {{ "path.deployment_id" = "{spare_deployment}" }}
checks.ensure_resource_availability.enabled = false
"""
    path = os.path.join(data_dir, "schemathesis.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    binary, st = sys.argv[1], sys.argv[2]
    extra = sys.argv[3:]
    with tempfile.TemporaryDirectory(prefix="tunery-conformance-") as data_dir:
        server, url, log_path = start_server(binary, data_dir)
        try:
            call(url, "/api/v1/auth/register", ADMIN)
            session = call(url, "/api/v1/auth/login", {"email": ADMIN["email"], "password": ADMIN["password"]})
            key = call(url, "/api/v1/api-keys", {"name": "conformance"}, session["access_token"])["key"]
            config = seeded_config(url, key, data_dir)
            command = [st, "--config-file", config, "run", f"{url}/openapi.json",
                       "--header", f"Authorization: Bearer {key}",
                       # The key revoking itself would leave the rest of the run unauthenticated;
                       # revocation has its own tests.
                       "--exclude-operation-id", "revoke_api_key",
                       # A generated content policy (say, two input characters at most) would make
                       # every later gateway request a refused one: it runs last, on its own.
                       "--exclude-operation-id", "put_content_policy", *extra]
            # Schemathesis keeps a cache in its working directory: the temporary one.
            status = subprocess.call(command, cwd=data_dir)
            if status == 0:
                policy = [st, "--config-file", config, "run", f"{url}/openapi.json",
                          "--header", f"Authorization: Bearer {key}", "--include-operation-id", "put_content_policy", *extra]
                status = subprocess.call(policy, cwd=data_dir)
            if status != 0:
                with open(log_path) as f:
                    print(f"== the server's log (last lines)\n{f.read()[-6000:]}", file=sys.stderr)
            return status
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    sys.exit(main())
