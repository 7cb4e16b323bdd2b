"""The fine-tuning API as the official OpenAI Python client sees it: OpenAI's fine-tuning
quickstart with only base_url and api_key changed — upload, create a job, follow its events to
success, list checkpoints, call the fine-tuned model and a checkpoint — and the cases around it:
files listed, read and deleted, jobs listed and paged (also by metadata), a cancelled job, a file
with a bad line failing its job with the line named, and typed errors for an unknown model,
invalid hyperparameters and a wrong OpenAI-Organization. Run by crates/tunery/tests/openai_fine_tuning.rs:

    python openai_fine_tuning.py BASE_URL BASE_MODEL WORK_DIR   (the API key in TUNERY_TEST_API_KEY)

Prints one JSON line of what it saw for the Rust test.
"""

import json
import os
import sys
import time

import openai

base_url, base_model, work = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=base_url, api_key=os.environ["TUNERY_TEST_API_KEY"], max_retries=0, timeout=120)
report = {}


def wait(job_id, done=("succeeded", "failed", "cancelled"), seconds=600):
    deadline = time.time() + seconds
    while time.time() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in done:
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not end: {job}")


# The quickstart: upload the training file.
train = os.path.join(work, "train.jsonl")
with open(train, "w") as f:
    for i in range(24):
        f.write(json.dumps({"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": f"{i}!"}]}) + "\n")
uploaded = client.files.create(file=open(train, "rb"), purpose="fine-tune")
assert uploaded.object == "file" and uploaded.purpose == "fine-tune" and uploaded.filename == "train.jsonl", uploaded
assert uploaded.bytes == os.path.getsize(train) and uploaded.status == "processed", uploaded
assert client.files.retrieve(uploaded.id).id == uploaded.id
assert client.files.content(uploaded.id).read() == open(train, "rb").read()
assert uploaded.id in {f.id for f in client.files.list(purpose="fine-tune")}
# The same file name again is another file.
again = client.files.create(file=open(train, "rb"), purpose="fine-tune")
assert again.id != uploaded.id and again.filename == "train.jsonl", again

# Typed errors, with the field named: 400 for what the request's schema rules out, 422 for what
# does not exist.
try:
    client.fine_tuning.jobs.create(model="no-such-model", training_file=uploaded.id)
    raise AssertionError("an unknown model was accepted")
except openai.UnprocessableEntityError as e:
    assert e.body["param"] == "model" and "no-such-model" in e.body["message"], e.body
try:
    client.fine_tuning.jobs.create(
        model=base_model, training_file=uploaded.id, method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}
    )
    raise AssertionError("n_epochs 0 was accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "method.supervised.hyperparameters.n_epochs", e.body
try:
    client.fine_tuning.jobs.create(model=base_model, training_file="file_missing")
    raise AssertionError("a missing file was accepted")
except openai.UnprocessableEntityError as e:
    assert e.body["param"] == "training_file", e.body
try:
    openai.OpenAI(base_url=base_url, api_key=os.environ["TUNERY_TEST_API_KEY"], organization="org_other", max_retries=0).files.list()
    raise AssertionError("another organization was accepted")
except openai.AuthenticationError as e:
    assert "OpenAI-Organization" in str(e), e

# The job: supervised, two epochs of batches of 4 (12 steps), a seed, a suffix and metadata.
job = client.fine_tuning.jobs.create(
    model=base_model,
    training_file=uploaded.id,
    suffix="sdk",
    seed=7,
    metadata={"team": "qa"},
    method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 5}}},
    integrations=[{"type": "wandb", "wandb": {"project": "ignored"}}],
)
assert job.object == "fine_tuning.job" and job.status == "validating_files" and job.model == base_model, job
assert job.seed == 7 and job.suffix == "sdk" and job.metadata == {"team": "qa"}, job
job = wait(job.id)
assert job.status == "succeeded", job
assert job.fine_tuned_model.startswith("ft:") and ":sdk:" in job.fine_tuned_model, job.fine_tuned_model
assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == 4, job.hyperparameters
assert job.method.type == "supervised" and job.trained_tokens > 0 and job.finished_at >= job.created_at, job
report["fine_tuned_model"] = job.fine_tuned_model

# Events, newest first, paged; metrics events carry the step and the training loss; the
# ignored integration was said.
events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True), events
metrics = [e for e in events if e.type == "metrics"]
assert len(metrics) >= 6 and all("train_loss" in e.data and "step" in e.data for e in metrics), metrics
assert any(e.level == "warn" and "integrations" in e.message for e in events), events
first = client.fine_tuning.jobs.list_events(job.id, limit=2)
assert len(first.data) == 2 and first.has_more
second = client.fine_tuning.jobs.list_events(job.id, limit=2, after=first.data[-1].id)
assert second.data[0].id == events[2].id, (second.data, events[:3])

# Checkpoints (one per epoch), newest first, each callable by its name.
checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
assert [c.step_number for c in checkpoints] == [12, 6], checkpoints
for c in checkpoints:
    name = c.fine_tuned_model_checkpoint
    assert name.startswith("ft:") and ":sdk:" in name and name.endswith(f":ckpt-step-{c.step_number}"), name
    assert c.fine_tuning_job_id == job.id and c.metrics.train_loss is not None, c

# The results file: step metrics as CSV.
results = client.files.retrieve(job.result_files[0])
assert results.purpose == "fine-tune-results", results
csv = client.files.content(results.id).read().decode()
assert csv.startswith("step,train_loss") and len(csv.strip().splitlines()) == 13, csv

# The models the key may call: the fine-tuned model and the base model, by the names to use.
listed = {m.id for m in client.models.list()}
assert {job.fine_tuned_model, base_model} <= listed, listed

# The fine-tuned model and a checkpoint answer through chat completions (deployed on demand).
for model in (job.fine_tuned_model, checkpoints[-1].fine_tuned_model_checkpoint):
    chat = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "3?"}], max_tokens=4, temperature=0)
    assert chat.model == model and chat.choices[0].message.content is not None, chat

# A file with a bad line: the job fails after validating_files, naming the file and the line.
bad = os.path.join(work, "bad.jsonl")
with open(bad, "w") as f:
    f.write(json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}) + "\n")
    f.write(json.dumps({"messages": [{"role": "wizard", "content": "a"}]}) + "\n")
bad_file = client.files.create(file=open(bad, "rb"), purpose="fine-tune")
failed = client.fine_tuning.jobs.create(model=base_model, training_file=bad_file.id)
assert failed.status == "validating_files", failed
failed = wait(failed.id)
assert failed.status == "failed" and failed.error.param == "training_file", failed
assert failed.error.code == "invalid_training_file" and "line 2" in failed.error.message, failed.error

# Cancelled: at once, whatever it was doing.
cancelled = client.fine_tuning.jobs.create(model=base_model, training_file=uploaded.id, suffix="cancel-me", metadata={"team": "other"})
cancelled = client.fine_tuning.jobs.cancel(cancelled.id)
assert cancelled.status == "cancelled", cancelled
assert wait(cancelled.id).status == "cancelled"

# Jobs, newest first, paged and filtered by metadata.
jobs = list(client.fine_tuning.jobs.list(limit=100))
assert [j.id for j in jobs[:3]] == [cancelled.id, failed.id, job.id], [j.id for j in jobs]
page = client.fine_tuning.jobs.list(limit=1)
assert len(page.data) == 1 and page.has_more and page.data[0].id == cancelled.id
assert client.fine_tuning.jobs.list(limit=1, after=page.data[0].id).data[0].id == failed.id
assert [j.id for j in client.fine_tuning.jobs.list(metadata={"team": "qa"})] == [job.id]

# Deleting a file: gone for the API.
assert client.files.delete(bad_file.id).deleted
try:
    client.files.retrieve(bad_file.id)
    raise AssertionError("a deleted file is still there")
except openai.NotFoundError:
    pass

report["events"] = len(events)
report["checkpoints"] = [c.fine_tuned_model_checkpoint for c in checkpoints]
print(json.dumps(report))
