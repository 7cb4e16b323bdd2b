"""The README's "OpenAI-compatible fine-tuning" snippet, run as written: the Python block is
read from README.md, only its base_url and api_key are replaced, and its "…follow" comment
becomes the loop it describes. Run from the repository root (the snippet's example file path is
relative to it) by crates/tunery/tests/cli_training.rs:

    python readme_openai.py README_PATH BASE_URL   (the API key in TUNERY_TEST_API_KEY)

Prints one JSON line: the job's status, the fine-tuned model and its answer.
"""

import json
import os
import re
import sys
import time

readme, base_url = sys.argv[1], sys.argv[2]
section = open(readme).read().split("## OpenAI-compatible fine-tuning", 1)[1]
code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
for documented, here in (
    ('base_url="http://127.0.0.1:8080/v1"', f'base_url="{base_url}"'),
    ('api_key="tk_…"', f'api_key="{os.environ["TUNERY_TEST_API_KEY"]}"'),
    (
        '# …follow client.fine_tuning.jobs.list_events(job.id) until client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"',
        "while client.fine_tuning.jobs.retrieve(job.id).status not in ('succeeded', 'failed', 'cancelled'):\n"
        "    list(client.fine_tuning.jobs.list_events(job.id))\n"
        "    time.sleep(2)",
    ),
    ("\nclient.chat.completions.create(", "\nanswer = client.chat.completions.create("),
):
    assert documented in code, f"the README's snippet no longer has {documented!r}:\n{code}"
    code = code.replace(documented, here)
scope = {"time": time}
exec(compile(code, "README.md", "exec"), scope)
done, answer = scope["done"], scope["answer"]
print(json.dumps({"status": done.status, "fine_tuned_model": done.fine_tuned_model, "answer": answer.choices[0].message.content}))
