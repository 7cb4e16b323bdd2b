"""The fine-tuning API as the official OpenAI Python client sees it: OpenAI's fine-tuning
quickstart with only base_url and api_key changed — upload, create a job, follow its events to
success, list checkpoints, call the fine-tuned model and a checkpoint — and the cases around it:
a file sent in parts through Uploads (MD5 checked, a wrong one refused, one cancelled), the
estimate before a job against what the job trained, a DPO job on a preference file, a job paused
and resumed from its checkpoint, files listed, read and deleted, jobs listed and paged (also by
metadata), a cancelled job, a file with a bad line failing its job with the line named, typed
errors for an unknown model, invalid hyperparameters and a wrong OpenAI-Organization, and the
fine-tuned model deleted. Run by crates/tunery/tests/openai_fine_tuning.rs:

    python openai_fine_tuning.py BASE_URL BASE_MODEL WORK_DIR   (the API key in TUNERY_TEST_API_KEY)

Prints one JSON line of what it saw for the Rust test.
"""

import hashlib
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

# The estimate of the job below, before creating it: what it would train, and that it may go ahead.
quickstart_method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 5}}}
estimate = client.post(
    "/fine_tuning/estimate", body={"model": base_model, "training_file": uploaded.id, "method": quickstart_method}, cast_to=object
)
assert estimate["object"] == "fine_tuning.estimate" and estimate["allowed_to_proceed"] and estimate["reasons"] == [], estimate
assert estimate["training_examples"] == 24 and estimate["hyperparameters"]["n_epochs"] == 2, estimate
figures = estimate["estimate"]
assert figures["fits"] and figures["seconds"] > 0 and figures["memory_bytes"] > 0, figures
assert figures["trained_tokens"] == 2 * figures["training_tokens_per_epoch"], figures

# The job: supervised, two epochs of batches of 4 (12 steps), a seed, a suffix and metadata.
job = client.fine_tuning.jobs.create(
    model=base_model,
    training_file=uploaded.id,
    suffix="sdk",
    seed=7,
    metadata={"team": "qa"},
    method=quickstart_method,
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
# The estimate against the measurement: the tokens the job trained on.
report["estimated_trained_tokens"], report["trained_tokens"] = figures["trained_tokens"], job.trained_tokens
assert figures["trained_tokens"] == job.trained_tokens, (figures, job.trained_tokens)

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

# Uploads: a preference file in two parts, sent last part first, completed with the part ids in
# file order and the file's MD5; it becomes a file like any other.
preferences = b"".join(
    (json.dumps({
        "input": {"messages": [{"role": "user", "content": f"{i}?"}]},
        "preferred_output": [{"role": "assistant", "content": f"{i}!"}],
        "non_preferred_output": [{"role": "assistant", "content": "no"}],
    }) + "\n").encode()
    for i in range(8)
)
upload = client.uploads.create(bytes=len(preferences), filename="dpo.jsonl", mime_type="application/jsonl", purpose="fine-tune")
assert upload.object == "upload" and upload.status == "pending" and upload.file is None, upload
half = len(preferences) // 2
second_part = client.uploads.parts.create(upload.id, data=preferences[half:])
first_part = client.uploads.parts.create(upload.id, data=preferences[:half])
assert first_part.object == "upload.part" and first_part.upload_id == upload.id and first_part.id != second_part.id
try:
    client.uploads.complete(upload.id, part_ids=[first_part.id, second_part.id], md5="0" * 32)
    raise AssertionError("a wrong MD5 was accepted")
except openai.UnprocessableEntityError as e:
    assert "MD5" in e.body["message"], e.body
done = client.uploads.complete(upload.id, part_ids=[first_part.id, second_part.id], md5=hashlib.md5(preferences).hexdigest())
assert done.status == "completed" and done.file.filename == "dpo.jsonl" and done.file.bytes == len(preferences), done
assert client.files.content(done.file.id).read() == preferences
abandoned = client.uploads.create(bytes=10, filename="never.jsonl", mime_type="application/jsonl", purpose="fine-tune")
client.uploads.parts.create(abandoned.id, data=b"0123")
assert client.uploads.cancel(abandoned.id).status == "cancelled"

# DPO on the preference file, beta set.
dpo_method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 1, "batch_size": 2}}}
dpo_estimate = client.post(
    "/fine_tuning/estimate", body={"model": base_model, "training_file": done.file.id, "method": dpo_method}, cast_to=object
)
assert dpo_estimate["allowed_to_proceed"] and dpo_estimate["method"] == "dpo", dpo_estimate
dpo = client.fine_tuning.jobs.create(model=base_model, training_file=done.file.id, suffix="dpo", method=dpo_method)
dpo = wait(dpo.id)
assert dpo.status == "succeeded" and dpo.method.type == "dpo" and dpo.hyperparameters.beta == 0.2, dpo
assert ":dpo:" in dpo.fine_tuned_model and dpo.trained_tokens > 0, dpo
# Both sequences of each pair are trained on, and estimated so.
report["dpo_estimated_trained_tokens"], report["dpo_trained_tokens"] = dpo_estimate["estimate"]["trained_tokens"], dpo.trained_tokens
assert dpo_estimate["estimate"]["trained_tokens"] == dpo.trained_tokens, (dpo_estimate, dpo.trained_tokens)

# A file with invalid lines: the estimate says it may not go ahead, and why.
refused = client.post("/fine_tuning/estimate", body={"model": base_model, "training_file": bad_file.id}, cast_to=object)
assert not refused["allowed_to_proceed"] and "line 2" in refused["reasons"][0], refused

# Paused while running: training stops with a checkpoint; resumed, it continues after it.
long = client.fine_tuning.jobs.create(
    model=base_model, training_file=uploaded.id, suffix="paused",
    method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 50, "batch_size": 1}}},
)


def metric_steps(job_id):
    return [e.data["step"] for e in client.fine_tuning.jobs.list_events(job_id, limit=100).data if e.type == "metrics"]


deadline = time.time() + 300
while not metric_steps(long.id):
    assert time.time() < deadline, client.fine_tuning.jobs.retrieve(long.id)
    time.sleep(0.5)
paused = client.fine_tuning.jobs.pause(long.id)
assert paused.status == "paused", paused
try:
    client.fine_tuning.jobs.pause(long.id)
    raise AssertionError("a paused job was paused again")
except openai.ConflictError:
    pass
# Resuming waits for the checkpoint the pause is saving.
resumed = client.fine_tuning.jobs.resume(long.id)
assert resumed.status in ("queued", "running") and resumed.finished_at is None, resumed
saved = client.fine_tuning.jobs.checkpoints.list(long.id).data
assert saved, resumed
deadline = time.time() + 300
while max(metric_steps(long.id)) <= saved[0].step_number:
    assert time.time() < deadline, client.fine_tuning.jobs.retrieve(long.id)
    time.sleep(0.5)
report["paused_at_step"] = saved[0].step_number
assert client.fine_tuning.jobs.cancel(long.id).status == "cancelled"
try:
    client.fine_tuning.jobs.resume(long.id)
    raise AssertionError("a cancelled job was resumed")
except openai.ConflictError:
    pass

# Cancelled: at once, whatever it was doing.
cancelled = client.fine_tuning.jobs.create(model=base_model, training_file=uploaded.id, suffix="cancel-me", metadata={"team": "other"})
cancelled = client.fine_tuning.jobs.cancel(cancelled.id)
assert cancelled.status == "cancelled", cancelled
assert wait(cancelled.id).status == "cancelled"

# Jobs, newest first, paged and filtered by metadata.
jobs = list(client.fine_tuning.jobs.list(limit=100))
assert [j.id for j in jobs[:5]] == [cancelled.id, long.id, dpo.id, failed.id, job.id], [j.id for j in jobs]
page = client.fine_tuning.jobs.list(limit=1)
assert len(page.data) == 1 and page.has_more and page.data[0].id == cancelled.id
assert client.fine_tuning.jobs.list(limit=1, after=page.data[0].id).data[0].id == long.id
assert [j.id for j in client.fine_tuning.jobs.list(metadata={"team": "qa"})] == [job.id]

# Deleting a file: gone for the API.
assert client.files.delete(bad_file.id).deleted
try:
    client.files.retrieve(bad_file.id)
    raise AssertionError("a deleted file is still there")
except openai.NotFoundError:
    pass

# The fine-tuned model deleted: no longer listed or callable; its job still names it.
deleted = client.models.delete(job.fine_tuned_model)
assert deleted.deleted and deleted.id == job.fine_tuned_model, deleted
assert job.fine_tuned_model not in {m.id for m in client.models.list()}
try:
    client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "3?"}], max_tokens=2)
    raise AssertionError("a deleted model answered")
except openai.NotFoundError:
    pass
assert client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model == job.fine_tuned_model
try:
    client.models.delete(job.fine_tuned_model)
    raise AssertionError("a deleted model was deleted again")
except openai.NotFoundError:
    pass

report["events"] = len(events)
report["checkpoints"] = [c.fine_tuned_model_checkpoint for c in checkpoints]
print(json.dumps(report))
