// The browser journey against a real server: first-run administrator, dashboard in both
// languages (a reload keeps the session and the language), the server's UI serving rules, a
// dataset uploaded with a bad line and cleaned, fine-tuning, evaluation, deployment and the
// playground, the monitor's measurements, checkpoints and event search, two runs' curves overlaid, a blind human rating with its results, two evaluations compared with an A/B test, a traffic split over two deployments, a content policy set on the organization page and enforced, an API key that calls the deployment and shows in its usage per key, a monthly
// budget set beside the cluster and queue and seen on the dashboard and in the audit log, the
// models (catalog, comparison, hardware fit, a fine-tune's experiment record), sign-out and a refused sign-in, a viewer invited from the People page and their
// first visit, a project with its members (the viewer added by email, read-only, then a researcher), a configuration
// template saved from the wizard and used from the project page, a model archive uploaded and a model file downloaded,
// records annotated into a new version, tablet width. Every page
// visited is scanned with axe-core (no serious or critical violation) and photographed in
// test-output/screenshots/<language>/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accessibilityProblems, launch, newPage, OUT, screenshot } from './browser.mjs';
import { call, runtimeArgs, startServer } from './server.mjs';

const ADMIN = { name: 'Ada Admin', email: 'ada@example.com', password: 'correct horse battery' };
const VIEWER = { name: 'Vera Viewer', email: 'vera@example.com', password: 'viewer password 1' };
const problems = [];
/** The main page, photographed when a step fails. */
let failurePage = null;
/** A second person's page, photographed too when a step fails. */
let otherPage = null;

/** A JSONL chat dataset of about 2.2 MB (three parts of 1 MiB) whose line 7 is broken JSON. */
function datasetWithABadLine() {
  const lines = [];
  for (let i = 1; lines.join('\n').length < 2_200_000; i++) {
    lines.push(
      i === 7
        ? '{"messages": [{"role": "user", "content": "unfinished"'
        : JSON.stringify({ messages: [{ role: 'user', content: `Greet person number ${i}, please, in a friendly way.` }, { role: 'assistant', content: `Hello, person ${i}! It is good to see you today.` }] }),
    );
  }
  const path = join(mkdtempSync(join(tmpdir(), 'tunery-web-e2e-data-')), 'greetings.jsonl');
  writeFileSync(path, lines.join('\n') + '\n');
  return { path, records: lines.length };
}

/** A tiny real model directory (the runtime's test model) packed as tar.gz, as a user would. */
function tinyModelArchive() {
  const dir = mkdtempSync(join(tmpdir(), 'tunery-web-e2e-model-'));
  const runtimeTests = join(dirname(fileURLToPath(import.meta.url)), '../../runtime/tests');
  execFileSync(process.env.TUNERY_RUNTIME_PYTHON, [join(runtimeTests, 'tiny_model.py'), join(dir, 'tiny-model')], { stdio: 'inherit' });
  execFileSync('tar', ['-czf', join(dir, 'tiny-model.tar.gz'), '-C', join(dir, 'tiny-model'), '.']);
  return join(dir, 'tiny-model.tar.gz');
}

async function step(name, f) {
  const started = Date.now();
  try {
    await f();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    console.log(`FAIL ${name}`);
    // What the page showed when the step failed, beside the other screenshots.
    const shot = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
    if (failurePage) await screenshot(failurePage, 'failed', shot).catch(() => undefined);
    if (otherPage) await screenshot(otherPage, 'failed', `${shot}-other`).catch(() => undefined);
    throw e;
  }
}

/** After a page has settled: its accessibility scan and its screenshot. */
async function visited(page, language, name) {
  await page.waitForLoadState('networkidle');
  for (const p of await accessibilityProblems(page)) problems.push(`${language}/${name}: ${p}`);
  await screenshot(page, language, name);
}

const server = await startServer();
const browser = await launch();
try {
  const base = server.url;
  const page = await newPage(browser, { locale: 'en-US' });
  failurePage = page;

  await step('a fresh install sends the first visitor to set up the administrator', async () => {
    await page.goto(base + '/');
    await page.waitForURL(base + '/sign-up');
    await page.getByRole('heading', { name: 'Set up Tunery' }).waitFor();
    await visited(page, 'en', 'first-run');
  });

  await step('the form says what is wrong before anything is sent', async () => {
    await page.getByLabel('Name').fill(ADMIN.name);
    await page.getByLabel('Email').fill('ada-at-example');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByLabel('Confirm password').fill('different');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.getByText('Enter a valid email address, such as you@example.com.').waitFor();
    await page.getByText('Use at least 8 characters.').waitFor();
    await page.getByText('The two passwords differ.').waitFor();
    const registration = await call(base, 'GET', '/api/v1/auth/registration');
    assert.equal(registration.json.first_run, true, 'nothing was registered');
  });

  await step('the first account becomes the administrator and lands on the dashboard', async () => {
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByLabel('Confirm password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.getByRole('heading', { name: `Welcome, ${ADMIN.name}` }).waitFor();
    await page.getByText('Role: Administrator').waitFor();
    await page.getByText('auth.register').first().waitFor(); // the audit log's latest events
    await visited(page, 'en', 'dashboard');
  });

  await step('the server serves the UI with its security headers and keeps API errors JSON', async () => {
    const index = await fetch(base + '/datasets/ds_1');
    assert.equal(index.status, 200);
    assert.match(await index.text(), /<div id="root">/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const api = await call(base, 'GET', '/api/v1/no-such-thing', { expect: [404] });
    assert.equal(api.json.error.code, 'not_found');
    await call(base, 'GET', '/assets/no-such-file.js', { expect: [404] });
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await (await fetch(base + '/')).text())[1];
    const js = await fetch(base + asset, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
  });

  await step('an unknown page says so and leads back', async () => {
    await page.goto(base + '/no/such/page');
    await page.getByText('This page does not exist.').waitFor();
    await visited(page, 'en', 'not-found');
    await page.getByRole('button', { name: 'Back to the dashboard' }).click();
    await page.getByRole('heading', { name: `Welcome, ${ADMIN.name}` }).waitFor();
  });

  let datasetUrl;
  let uploaded;
  await step('a dataset with a bad line uploads in parts through a dropped connection, and the line is reported', async () => {
    const file = datasetWithABadLine();
    uploaded = file;
    await page.getByRole('menuitem', { name: 'Datasets' }).click();
    await page.getByRole('heading', { name: 'Datasets' }).waitFor();
    await page.getByText('No datasets yet.', { exact: false }).waitFor();
    await visited(page, 'en', 'datasets-empty');
    let part2Attempts = 0;
    await page.route('**/api/v1/uploads/*/parts/2', (route) => (part2Attempts++ === 0 ? route.abort('internetdisconnected') : route.continue()));
    await page.getByRole('button', { name: 'Upload dataset' }).click();
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.getByText('Choose a file to upload.').waitFor();
    await page.locator('input[type=file]').setInputFiles(file.path);
    assert.equal(await page.getByLabel('Name').inputValue(), 'greetings', 'the name comes from the file');
    await visited(page, 'en', 'datasets-upload');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.waitForURL(/\/datasets\/ds_/, { timeout: 120_000 });
    datasetUrl = page.url();
    assert.equal(part2Attempts, 2, 'part 2 was lost once and sent again');
    await page.getByRole('heading', { name: 'greetings' }).waitFor();
    const row = page.getByRole('row').filter({ hasText: 'invalid_json' });
    await row.waitFor();
    assert.match(await row.innerText(), /^7\s/, 'the error names line 7');
    const validation = page.locator('.ant-card').filter({ has: page.getByText('Validation', { exact: true }) });
    assert.equal(await validation.getByText(`${(file.records - 1).toLocaleString('en')}`, { exact: true }).count(), 1, 'valid records counted');
    await visited(page, 'en', 'dataset');
    await page.unroute('**/api/v1/uploads/*/parts/2');
    await page.goto(base + '/');
  });

  await step('cleaning it makes a new version without the bad line, with what each step did', async () => {
    await page.getByRole('menuitem', { name: 'Datasets' }).click();
    await page.getByRole('link', { name: 'greetings', exact: true }).click();
    await page.getByRole('button', { name: 'Clean' }).click();
    await page.getByText('Clean version 1').waitFor();
    assert.equal(await page.getByLabel('Remove exact duplicates').isChecked(), true, 'exact duplicates are removed by default');
    await page.getByLabel('Mask personal data').check();
    await page.getByText('Kinds to mask').waitFor();
    await visited(page, 'en', 'dataset-clean');
    await page.getByRole('button', { name: 'Make the new version' }).click();
    const records = uploaded.records;
    await page.getByText(`Done: the new version keeps ${(records - 1).toLocaleString('en')} of ${records.toLocaleString('en')} records.`).waitFor({ timeout: 120_000 });
    await page.getByText('Records left out as invalid: 1.').waitFor();
    for (const name of ['Exact duplicates', 'Personal data']) await page.getByRole('cell', { name, exact: true }).waitFor();
    await visited(page, 'en', 'dataset-cleaned');
    await page.keyboard.press('Escape');
    await page.getByText('Every record is valid.').waitFor();
    const chosen = page.getByLabel('Versions', { exact: true }).locator('.ant-segmented-item-selected');
    assert.equal((await chosen.innerText()).trim(), 'Version 2', 'the new version is shown');
    await page.getByText('Made from version 1').waitFor();
    // Its history: cleaned from the upload, and against version 1 every valid record kept.
    const history = page.locator('.ant-card').filter({ has: page.getByText('History and changes', { exact: true }) });
    await history.getByTestId('lineage-ancestors').getByText(/cleaned: .*dedup/).waitFor();
    await history.getByTestId('lineage-ancestors').getByText(/uploaded as greetings/).waitFor();
    await history.locator('.ant-statistic').filter({ hasText: 'Unchanged' }).getByText((records - 1).toLocaleString('en')).waitFor();
    await history.locator('.ant-statistic').filter({ hasText: 'Removed' }).getByText('0', { exact: true }).waitFor();
    await page.getByRole('img', { name: 'Characters per record' }).waitFor();
    await page.getByRole('img', { name: 'Languages' }).waitFor();
    await page.getByText(`${(records - 1).toLocaleString('en')} conversations`).waitFor();
    await page.getByText('Record 1 (line 1)').waitFor();
    await page.getByText('As trained').click();
    await page.locator('mark.trained').first().waitFor();
    assert.match(await page.locator('mark.trained').first().innerText(), /^Hello, person 1!/);
    await visited(page, 'en', 'dataset-records');
    await page.goto(base + '/');
  });

  let jobUrl = null;
  let deploymentUrl = null;
  let evaluationUrl = null;
  if (runtimeArgs() === null) {
    if (process.env.CI === 'true') throw new Error('TUNERY_RUNTIME_PYTHON and TUNERY_SMOLLM2_GGUF must be set under CI (scripts/test.sh exports them)');
    console.log('skip the fine-tuning steps: set TUNERY_RUNTIME_PYTHON and TUNERY_SMOLLM2_GGUF (scripts/runtime-env.sh, scripts/fetch-smollm2-tokenizer.sh)');
  } else {
    await step('a fine-tune of the built-in model, estimated, submitted and watched until its curves move and it succeeds', async () => {
      const login = await call(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN.email, password: ADMIN.password } });
      for (let waited = 0; ; waited += 2) {
        const models = await call(base, 'GET', '/api/v1/base-models', { token: login.json.access_token });
        const builtin = models.json.data[0];
        if (builtin?.status === 'ready') break;
        if (builtin?.status === 'failed' || waited > 600) throw new Error(`the built-in model is not ready: ${JSON.stringify(builtin)}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
      await page.getByRole('menuitem', { name: 'Fine-tuning' }).click();
      await page.getByText('No fine-tuning jobs yet.').waitFor();
      await page.getByRole('button', { name: 'New fine-tune' }).click();
      await page.getByRole('heading', { name: 'New fine-tune' }).waitFor();
      await page.getByLabel('Dataset').click();
      await page.locator('.ant-select-item-option', { hasText: 'greetings' }).click();
      await page.getByLabel('Base model').click();
      await page.locator('.ant-select-item-option', { hasText: 'SmolLM2-135M-Instruct' }).click();
      await page.getByLabel('Optimizer steps').fill('6');
      await page.getByText(/^Fits /).waitFor();
      // The resources asked for, and this month's quotas against the estimate (none set yet).
      await page.getByLabel('Device type').click();
      await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: 'CPU slots' }).click();
      await page.getByText('No quota limits you this month.').waitFor();
      await visited(page, 'en', 'fine-tune-new');
      await page.getByRole('button', { name: 'Start fine-tuning' }).click();
      await page.waitForURL(/\/jobs\/job_/);
      jobUrl = page.url();
      const chart = page.getByRole('img', { name: 'Loss and evaluation loss by step' });
      await chart.waitFor({ timeout: 300_000 });
      const first = Number(await chart.getAttribute('data-points'));
      await page.getByText('Succeeded').waitFor({ timeout: 600_000 });
      await page.waitForFunction(
        (n) => Number(document.querySelector('[aria-label="Loss and evaluation loss by step"]')?.getAttribute('data-points')) > n,
        first,
        { timeout: 30_000 },
      );
      await page.getByText('Step 6 of 6').waitFor();
      await page.getByText('The fine-tuned model:', { exact: false }).waitFor();
      // The run's CPU and memory, its estimate beside what it measured, its last checkpoint.
      await page.getByRole('img', { name: 'Resident memory (GiB) over time' }).waitFor();
      await page.getByRole('img', { name: 'Gradient norm by step' }).waitFor();
      await page.getByRole('row').filter({ hasText: 'Peak memory of one device' }).filter({ hasText: '×' }).waitFor();
      await page.getByRole('row').filter({ hasText: 'Tokens per second' }).filter({ hasText: 'tok/s' }).waitFor();
      const checkpoints = page.locator('.ant-card').filter({ has: page.getByText('Checkpoints', { exact: true }) });
      await checkpoints.getByRole('row').filter({ hasText: /^6/ }).waitFor();
      assert.equal(await checkpoints.getByRole('button', { name: /Resume/ }).count(), 0, 'a job that succeeded is not resumed');
      // The events searched: only those that name a checkpoint stay.
      await page.getByLabel('Search the events').fill('checkpoint');
      await page.getByTestId('log-count').filter({ hasText: /^Showing [1-9]/ }).waitFor();
      const lines = await page.locator('.ant-list-item').allInnerTexts();
      assert.ok(lines.length > 0 && lines.every((l) => l.toLowerCase().includes('checkpoint')), lines.join('\n'));
      await visited(page, 'en', 'fine-tune-job');
      await page.getByRole('menuitem', { name: 'Fine-tuning' }).click();
      await page.getByRole('link', { name: /.+/ }).filter({ hasText: /./ }).first().waitFor();
      await visited(page, 'en', 'fine-tunes');
      await page.goto(base + '/');
    });

    await step('a second run started from code overlays its curves on the first', async () => {
      const token = (await call(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN.email, password: ADMIN.password } })).json.access_token;
      const first = (await call(base, 'GET', `/api/v1/jobs/${jobUrl.split('/jobs/')[1]}`, { token })).json;
      const datasets = (await call(base, 'GET', '/api/v1/datasets', { token })).json.data;
      const greetings = datasets.find((d) => d.name === 'greetings');
      const config = { objective: 'sft', method: { kind: 'lora' }, hyperparameters: { max_steps: 2, learning_rate: 0.001 } };
      const second = await call(base, 'POST', '/api/v1/jobs', { token, expect: [202], body: { name: 'higher learning rate', dataset_id: greetings.id, base_model_id: first.base_model_id, config } });
      for (let waited = 0; ; waited += 2) {
        const j = (await call(base, 'GET', `/api/v1/jobs/${second.json.id}`, { token })).json;
        if (j.state === 'succeeded') break;
        if (['failed', 'cancelled'].includes(j.state) || waited > 600) throw new Error(`the second run did not succeed: ${JSON.stringify(j)}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
      await page.getByRole('menuitem', { name: 'Fine-tuning' }).click();
      await page.getByRole('link', { name: 'higher learning rate' }).waitFor();
      assert.ok(await page.getByRole('button', { name: 'Compare curves' }).isDisabled(), 'one job is nothing to compare');
      await page.getByLabel('Compare higher learning rate').check();
      await page.getByLabel(`Compare ${first.name}`).check();
      await page.getByRole('button', { name: 'Compare curves' }).click();
      await page.getByRole('heading', { name: 'Curves of 2 jobs' }).waitFor();
      const loss = page.getByRole('img', { name: 'Loss by step' });
      await loss.waitFor();
      // 6 + 2 steps, one line per job.
      assert.equal(Number(await loss.getAttribute('data-points')), 8);
      await visited(page, 'en', 'fine-tunes-compare');
      await page.goto(base + '/');
    });

    await step('the fine-tune deployed, answering in the playground as it streams, and its usage counted', async () => {
      await page.getByRole('menuitem', { name: 'Deployments' }).click();
      await page.getByText('Nothing is deployed yet.', { exact: false }).waitFor();
      await visited(page, 'en', 'deployments-empty');
      await page.getByRole('button', { name: 'Deploy a model' }).click();
      await page.getByRole('combobox', { name: 'Model' }).click();
      await page.locator('.ant-select-item-option', { hasText: 'mdl_' }).first().click();
      await page.getByLabel('Name', { exact: true }).fill('greeter');
      await page.getByRole('button', { name: 'Deploy', exact: true }).click();
      await page.waitForURL(/\/deployments\/dep/);
      deploymentUrl = page.url();
      await page.getByRole('heading', { name: 'greeter' }).waitFor();
      await page.getByText('Ready', { exact: true }).waitFor({ timeout: 300_000 });
      await page.getByLabel('Message').fill('Greet Olga.');
      await page.getByLabel('Message').press('Enter');
      const answer = page.locator('[data-role=assistant]');
      await answer.waitFor();
      await page.waitForFunction(() => (document.querySelector('[data-role=assistant] .ant-typography:not(strong)')?.textContent ?? '').trim().length > 0, null, {
        timeout: 120_000,
      });
      await page.getByRole('button', { name: 'Send' }).waitFor();
      const requests = page.locator('.ant-statistic').filter({ hasText: 'Requests' }).locator('.ant-statistic-content');
      await page.waitForFunction((el) => Number(el.textContent) >= 1, await requests.elementHandle(), { timeout: 60_000 });
      await visited(page, 'en', 'deployment');
      await page.goto(base + '/');
    });

    await step('an API key made in the browser calls the deployment from code, shows in its usage per key, and stops working once revoked', async () => {
      await page.getByRole('menuitem', { name: 'API keys' }).click();
      await page.getByText('You have no API keys yet.', { exact: false }).waitFor();
      await page.getByRole('button', { name: 'Create an API key' }).click();
      await page.getByRole('button', { name: 'Create the key' }).click();
      await page.getByText('Give the key a name.').waitFor();
      await page.getByLabel('Name', { exact: true }).fill('greeter-app');
      await page.getByRole('combobox', { name: 'Permissions' }).click();
      await page.locator('.ant-select-item-option', { hasText: 'Deploy models' }).click();
      await page.keyboard.press('Escape');
      await page.getByLabel('Requests per minute').fill('60');
      await visited(page, 'en', 'api-key-new');
      await page.getByRole('button', { name: 'Create the key' }).click();
      const secret = (await page.getByTestId('api-key-secret').innerText()).trim();
      assert.match(secret, /^tk_/);
      const row = page.getByRole('row').filter({ hasText: 'greeter-app' });
      await row.filter({ hasText: 'Active' }).filter({ hasText: '60 requests/min' }).waitFor();
      await visited(page, 'en', 'api-keys');

      const chat = { model: 'greeter', messages: [{ role: 'user', content: 'Greet Ada.' }], max_tokens: 8 };
      const answer = await call(base, 'POST', '/v1/chat/completions', { token: secret, body: chat, expect: [200] });
      assert.equal(answer.json.object, 'chat.completion');

      await page.getByRole('menuitem', { name: 'Deployments' }).click();
      await page.getByRole('link', { name: 'greeter', exact: true }).click();
      const keyRow = page.getByRole('row').filter({ hasText: 'greeter-app' });
      await keyRow.waitFor({ timeout: 60_000 });
      await page.getByRole('row').filter({ hasText: 'Signed-in sessions (playground)' }).waitFor();
      await page.getByRole('combobox', { name: 'Show requests of' }).click();
      await page.locator('.ant-select-item-option', { hasText: 'greeter-app' }).click();
      const requests = page.locator('.ant-statistic').filter({ hasText: 'Requests' }).locator('.ant-statistic-content');
      await page.waitForFunction((el) => el.textContent === '1', await requests.elementHandle(), { timeout: 30_000 });
      await page.locator('.ant-statistic').filter({ hasText: 'Latency p95' }).filter({ hasText: 'ms' }).waitFor();
      await visited(page, 'en', 'deployment-usage');

      await page.getByRole('menuitem', { name: 'API keys' }).click();
      await row.getByRole('button', { name: 'Revoke' }).click();
      await page.locator('.ant-popconfirm').getByRole('button', { name: 'Revoke' }).click();
      await row.filter({ hasText: 'Revoked' }).waitFor();
      await call(base, 'POST', '/v1/chat/completions', { token: secret, body: chat, expect: [401] });
      await page.goto(base + '/');
    });

    await step('the fine-tune evaluated on a held-out test set: scores with intervals and examples side by side', async () => {
      await page.getByRole('menuitem', { name: 'Datasets' }).click();
      await page.getByRole('button', { name: 'Upload dataset' }).click();
      await page.locator('input[type=file]').setInputFiles(new URL('../../examples/greetings-test.jsonl', import.meta.url).pathname);
      await page.getByRole('button', { name: 'Upload', exact: true }).click();
      await page.getByRole('heading', { name: 'greetings-test' }).waitFor({ timeout: 60_000 });
      await page.getByText('Every record is valid.').waitFor();
      await page.getByRole('menuitem', { name: 'Evaluations' }).click();
      await page.getByText('No evaluations yet.', { exact: false }).waitFor();
      await page.getByRole('button', { name: 'New evaluation' }).click();
      await page.getByRole('combobox', { name: 'Model' }).click();
      await page.locator('.ant-select-item-option', { hasText: 'mdl_' }).first().click();
      await page.getByRole('combobox', { name: 'Test set' }).click();
      await page.locator('.ant-select-item-option', { hasText: 'greetings-test' }).click();
      await page.getByLabel('Most tokens per answer').fill('24');
      await visited(page, 'en', 'evaluation-new');
      await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
      await page.waitForURL(/\/evaluations\/eval_/);
      evaluationUrl = page.url();
      await page.getByText('Succeeded').waitFor({ timeout: 600_000 });
      await page.getByRole('row').filter({ hasText: 'exact_match' }).first().waitFor();
      await page.getByText('Answered 20 of 20').waitFor();
      await page.getByRole('cell', { name: 'Greet Olga.' }).first().waitFor();
      await visited(page, 'en', 'evaluation');
      await page.goto(base + '/');
    });

    await step("people rate the fine-tune's answers blind with sliders and the keyboard, then the closed task reports scores and each rater", async () => {
      await page.getByRole('menuitem', { name: 'Human ratings' }).click();
      await page.getByText('No human ratings yet.', { exact: false }).waitFor();
      await page.getByRole('button', { name: 'New human rating' }).click();
      const drawer = page.locator('.ant-drawer-open');
      await drawer.getByLabel('Name', { exact: true }).fill('Greeting quality');
      await drawer.getByLabel('Evaluations rated').click();
      await page.locator('.ant-select-dropdown:visible .ant-select-item-option').first().click();
      await drawer.getByLabel('Sample size').fill('3');
      await drawer.getByRole('button', { name: 'Create', exact: true }).click();
      await page.getByRole('heading', { name: 'Greeting quality' }).waitFor();
      await page.getByText('0 of 3 done', { exact: false }).waitFor();
      await page.getByRole('button', { name: 'Rate' }).click();
      await page.getByRole('heading', { name: 'Rating: Greeting quality' }).waitFor();
      await page.getByText('Item 1 of 3').waitFor();
      // Sending before every criterion is scored says what is missing.
      await page.getByRole('button', { name: 'Send and next (Enter)' }).click();
      await page.getByText('Still to score: A: relevance, A: fluency, A: factual_accuracy').waitFor();
      await visited(page, 'en', 'human-rating');
      for (const [criterion, key] of [['Relevance', 'End'], ['Fluency', 'End'], ['Factual accuracy', 'ArrowRight']]) {
        await page.getByRole('slider', { name: `${criterion} of answer A` }).focus();
        await page.keyboard.press(key);
      }
      await page.getByLabel('Error tags of answer A').getByText('Formatting').click();
      await page.getByRole('slider', { name: 'Relevance of answer A' }).focus();
      await page.keyboard.press('Enter');
      await page.getByText('Item 2 of 3').waitFor();
      await page.getByText('1 of 3 done', { exact: false }).waitFor();
      // The item just rated opens again with its scores, then the next one.
      await page.getByRole('button', { name: 'Previous item' }).click();
      await page.getByText('Item 1 of 3').waitFor();
      assert.equal(await page.getByRole('slider', { name: 'Relevance of answer A' }).getAttribute('aria-valuenow'), '5');
      await page.getByRole('button', { name: 'Back to the next item' }).click();
      await page.getByText('Item 2 of 3').waitFor();
      await page.locator('body').press('s');
      await page.getByText('Item 3 of 3').waitFor();
      for (const criterion of ['Relevance', 'Fluency', 'Factual accuracy']) {
        await page.getByRole('slider', { name: `${criterion} of answer A` }).focus();
        await page.keyboard.press('ArrowRight');
      }
      await page.getByText('Flag this item', { exact: false }).click();
      await page.getByLabel('Why it is flagged').fill('the reference greets someone else');
      await page.getByRole('button', { name: 'Send and next (Enter)' }).click();
      await page.getByText('Every item is rated or skipped.', { exact: false }).waitFor();
      await page.getByText('3 of 3 done (1 skipped, 1 flagged)').waitFor();
      await page.getByRole('link', { name: '← Greeting quality' }).first().click();
      await page.getByRole('button', { name: 'Close', exact: true }).click();
      await page.locator('.ant-popconfirm').getByRole('button', { name: 'OK' }).click();
      await page.getByText('Closed', { exact: true }).first().waitFor();
      // Relevance: 5 and 1 on the two rated items, mean 3; the rater's tally; the tag and the flag.
      const relevance = page.locator('.ant-card').filter({ has: page.getByText('Relevance (0–5)', { exact: true }) });
      await relevance.getByRole('row').filter({ hasText: '3.00' }).filter({ hasText: '5: 1' }).waitFor();
      await page.getByRole('row').filter({ hasText: ADMIN.name }).filter({ hasText: /2\s*1\s*1\s*0/ }).waitFor();
      await page.getByRole('row').filter({ hasText: 'Formatting' }).filter({ hasText: '1' }).waitFor();
      await page.getByText('the reference greets someone else').waitFor();
      await visited(page, 'en', 'human-rating-results');
      await page.goto(base + '/');
    });

    await step("the two fine-tunes compared on the test set: scores, per-example wins, word diffs, and an A/B test's verdict", async () => {
      const token = (await call(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN.email, password: ADMIN.password } })).json.access_token;
      const first = (await call(base, 'GET', `/api/v1/evaluations/${evaluationUrl.split('/evaluations/')[1]}`, { token })).json;
      const models = (await call(base, 'GET', '/api/v1/models', { token })).json.data;
      const other = models.find((m) => m.id !== first.model);
      const testSet = (await call(base, 'GET', '/api/v1/datasets', { token })).json.data.find((d) => d.name === 'greetings-test');
      const body = { name: 'higher learning rate on the test set', model: other.id, dataset_id: testSet.id, metrics: Object.keys(first.results.metrics), generation: { max_tokens: 24 } };
      const second = (await call(base, 'POST', '/api/v1/evaluations', { token, expect: [202], body })).json;
      for (let waited = 0; ; waited += 2) {
        const e = (await call(base, 'GET', `/api/v1/evaluations/${second.id}`, { token })).json;
        if (e.state === 'succeeded') break;
        if (['failed', 'cancelled'].includes(e.state) || waited > 600) throw new Error(`the second evaluation did not succeed: ${JSON.stringify(e)}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
      await page.getByRole('menuitem', { name: 'Evaluations' }).click();
      await page.getByRole('link', { name: 'higher learning rate on the test set' }).waitFor();
      await page.getByLabel(`Compare ${first.name}`).check();
      await page.getByLabel('Compare higher learning rate on the test set').check();
      await page.getByRole('button', { name: 'Compare', exact: true }).click();
      await page.getByRole('heading', { name: '2 evaluations compared' }).waitFor();
      await page.getByText(`Baseline: ${first.name}`, { exact: false }).waitFor();
      await page.getByRole('row').filter({ hasText: 'exact_match' }).first().waitFor();
      await page.getByRole('img', { name: /^Per-example .* scores$/ }).waitFor();
      await page.getByText('Examples 1–10 of 20, side by side').waitFor();
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByText('Examples 11–20 of 20, side by side').waitFor();
      await page.getByRole('button', { name: 'Run the test' }).click();
      await page.getByText(/^(No significant difference|A significant difference)$/).waitFor({ timeout: 60_000 });
      await page.getByText('p-value').waitFor();
      await visited(page, 'en', 'evaluations-compare');
      await page.goto(base + '/');
    });

    await step('a traffic split sends one name to both fine-tunes, counts each variant and takes new weights', async () => {
      const token = (await call(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN.email, password: ADMIN.password } })).json.access_token;
      const deployments = (await call(base, 'GET', '/api/v1/deployments', { token })).json.data;
      const greeter = deployments.find((d) => d.name === 'greeter');
      const other = (await call(base, 'GET', '/api/v1/models', { token })).json.data.find((m) => m.id !== greeter.model);
      const second = (await call(base, 'POST', '/api/v1/deployments', { token, expect: [201, 202], body: { model: other.id, name: 'greeter-b' } })).json;
      for (let waited = 0; ; waited += 2) {
        const d = (await call(base, 'GET', `/api/v1/deployments/${second.id}`, { token })).json;
        if (d.state === 'ready') break;
        if (d.state === 'failed' || waited > 300) throw new Error(`the second deployment is not ready: ${JSON.stringify(d)}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
      await page.getByRole('menuitem', { name: 'Deployments' }).click();
      await page.getByText('No traffic splits yet.').waitFor();
      await page.getByRole('button', { name: 'Split traffic' }).click();
      const drawer = page.locator('.ant-drawer-open');
      await drawer.getByLabel('Name').fill('greeter-ab');
      await drawer.getByLabel('Deployment of variant 1').click();
      await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: /^greeter$/ }).click();
      await drawer.getByLabel('Deployment of variant 2').click();
      await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: 'greeter-b' }).click();
      await drawer.getByRole('button', { name: 'Create split' }).click();
      await page.getByRole('heading', { name: 'greeter-ab' }).waitFor();
      for (let i = 0; i < 4; i++) {
        const chat = { model: 'greeter-ab', messages: [{ role: 'user', content: `Greet person ${i}.` }], max_tokens: 4 };
        await call(base, 'POST', '/v1/chat/completions', { token, body: chat, expect: [200] });
      }
      await page.reload();
      await page.getByRole('heading', { name: 'greeter-ab' }).waitFor();
      const counts = await page.locator('.ant-table-tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.querySelectorAll('td')[2]?.textContent)));
      assert.equal(counts.reduce((a, b) => a + b, 0), 4, `requests per variant: ${counts}`);
      await page.getByLabel('Weight of variant 2').fill('150');
      await page.getByRole('button', { name: 'Save weights' }).click();
      await page.getByRole('row').filter({ hasText: 'greeter-b' }).filter({ hasText: '75%' }).waitFor();
      await visited(page, 'en', 'traffic-split');
      await page.getByRole('link', { name: '← All deployments' }).click();
      await page.getByRole('row').filter({ hasText: 'greeter-ab' }).filter({ hasText: 'greeter-b ×150' }).waitFor();
      await visited(page, 'en', 'deployments');
      await page.goto(base + '/');
    });

    await step("the organization's content policy blocks a codename at the gateway, and its event names the rule", async () => {
      await page.getByRole('menuitem', { name: 'Organization' }).click();
      await page.getByRole('heading', { name: 'Organization' }).waitFor();
      const editor = page.getByLabel('Content policy (JSON)');
      await editor.fill('{ not json');
      await page.getByRole('button', { name: 'Save the policy' }).click();
      await page.getByText('This is not JSON', { exact: false }).waitFor();
      await editor.fill(JSON.stringify({ max_input_chars: 8000, rules: [{ name: 'codename', words: ['Project Phoenix'], action: 'block' }] }));
      await page.getByRole('button', { name: 'Save the policy' }).click();
      await page.getByText('Content policy saved', { exact: false }).waitFor();
      await page.getByTestId('policy-summary').getByText('codename: block').waitFor();
      const token = (await call(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN.email, password: ADMIN.password } })).json.access_token;
      const chat = { model: 'greeter', messages: [{ role: 'user', content: 'What is Project Phoenix?' }], max_tokens: 4 };
      const refused = await call(base, 'POST', '/v1/chat/completions', { token, body: chat, expect: [400] });
      assert.equal(refused.json.error.code, 'content_filter', JSON.stringify(refused.json));
      await page.reload();
      await page.getByRole('row').filter({ hasText: 'codename' }).filter({ hasText: 'block' }).waitFor();
      await visited(page, 'en', 'organization');
      // The empty policy again, for the rest of the journey.
      await page.getByLabel('Content policy (JSON)').fill('{}');
      await page.getByRole('button', { name: 'Save the policy' }).click();
      await page.getByText('Content policy saved', { exact: false }).waitFor();
      await page.goto(base + '/');
    });
  }

  await step('models: the built-in base model ready, the catalog searched, two models side by side and where each method fits; a fine-tune opens its experiment record', async () => {
    await page.getByRole('menuitem', { name: 'Models' }).click();
    await page.getByRole('heading', { name: 'Models' }).waitFor();
    if (jobUrl) {
      await page.getByRole('tabpanel', { name: 'Fine-tuned' }).getByRole('link').first().waitFor();
      await visited(page, 'en', 'models');
    }
    await page.getByRole('tab', { name: 'Base models' }).click();
    await page.getByRole('row').filter({ hasText: 'SmolLM2' }).filter({ hasText: 'Ready' }).waitFor();
    if (jobUrl) {
      // A model directory packed on this computer, uploaded with its progress, imports and is ready.
      await page.getByRole('button', { name: 'Import a base model' }).click();
      const importing = page.locator('.ant-drawer-open');
      await importing.getByLabel('Source').click();
      await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: 'Archive from this computer' }).click();
      await importing.locator('input[type=file]').setInputFiles(tinyModelArchive());
      assert.equal(await importing.getByLabel('Name', { exact: true }).inputValue(), 'tiny-model', 'the name comes from the file');
      await visited(page, 'en', 'models-import-archive');
      await importing.getByRole('button', { name: 'Import', exact: true }).click();
      await importing.waitFor({ state: 'detached' });
      await page.getByRole('row').filter({ hasText: 'tiny-model' }).filter({ hasText: 'Ready' }).waitFor({ timeout: 180_000 });
    }
    await page.getByRole('tab', { name: 'Catalog' }).click();
    await page.getByLabel('Search by name or family').fill('Qwen2.5');
    await page.getByLabel('Search by name or family').press('Enter');
    await page.getByRole('row').filter({ hasText: 'Qwen/Qwen2.5-14B-Instruct' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'meta-llama' }).first().waitFor({ state: 'detached' });
    await page.getByLabel('Select Qwen/Qwen2.5-0.5B-Instruct to compare').check();
    await page.getByLabel('Select Qwen/Qwen2.5-7B-Instruct to compare').check();
    await visited(page, 'en', 'models-catalog');
    await page.getByRole('button', { name: 'Compare (2)' }).click();
    const compared = page.locator('.ant-drawer-open');
    await compared.getByRole('row').filter({ hasText: 'Layers' }).filter({ hasText: '24' }).filter({ hasText: '28' }).waitFor();
    await visited(page, 'en', 'models-compare');
    await page.keyboard.press('Escape');
    await page.getByRole('row').filter({ hasText: 'Qwen/Qwen2.5-7B-Instruct' }).getByRole('button', { name: 'Hardware fit' }).click();
    const fit = page.locator('.ant-drawer-open');
    const cpuRow = fit.getByRole('row').filter({ hasText: 'This machine (CPU)' });
    await cpuRow.getByRole('img', { name: /^Does not fit/ }).first().waitFor();
    await fit.getByRole('row').filter({ hasText: 'H100-80GB' }).getByRole('img', { name: /^Fits: needs/ }).first().waitFor();
    await fit.getByRole('columnheader', { name: 'QLoRA' }).waitFor();
    await visited(page, 'en', 'models-fit');
    await page.keyboard.press('Escape');
    if (jobUrl) {
      await page.getByRole('tab', { name: 'Fine-tuned' }).click();
      await page.getByRole('tabpanel', { name: 'Fine-tuned' }).getByRole('link').first().click();
      await page.getByText('Experiment record').waitFor();
      await page.getByText('Trained on').waitFor();
      await page.getByRole('row').filter({ hasText: 'Succeeded' }).filter({ hasText: 'exact_match' }).waitFor();
      await page.getByRole('cell', { name: 'adapter_config.json', exact: true }).waitFor();
      await visited(page, 'en', 'model-record');
      // A file of the fine-tune, downloaded and whole.
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download adapter_config.json' }).click()]);
      assert.equal(download.suggestedFilename(), 'adapter_config.json');
      const adapter = JSON.parse(readFileSync(await download.path(), 'utf8'));
      assert.equal(adapter.peft_type, 'LORA', JSON.stringify(adapter));
    }
    await page.getByRole('menuitem', { name: 'Dashboard' }).click();
  });

  await step('the administrator sets a monthly budget beside the cluster, its queue and its prices, sees the spend against it on the dashboard, and finds the change in the audit log', async () => {
    await page.getByRole('menuitem', { name: 'Resources' }).click();
    await page.getByRole('heading', { name: 'Resources and quotas' }).waitFor();
    await page.getByText('No quotas: jobs are limited only by the cluster.', { exact: false }).waitFor();
    await page.getByRole('row').filter({ hasText: 'CPU training slots' }).waitFor();
    await page.getByRole('button', { name: 'Set a quota' }).click();
    await page.getByLabel('Budget per month').fill('100');
    await page.getByLabel('GPU-hours per month').fill('50');
    await page.getByLabel('Alert at (%)').fill('90');
    await visited(page, 'en', 'quota-new');
    await page.getByRole('button', { name: 'Save the quota' }).click();
    const quotaRow = page.getByRole('row').filter({ hasText: 'The organization' });
    await quotaRow.filter({ hasText: 'Within limits' }).filter({ hasText: 'of 100' }).waitFor();
    // The price of this cluster's CPU slots, changed by the instance administrator, then reset.
    const cpuPrice = page.getByRole('row').filter({ hasText: 'in this cluster' });
    await cpuPrice.filter({ hasText: 'List price' }).waitFor();
    await page.getByRole('button', { name: 'Change the price of cpu' }).click();
    const priceDialog = page.getByRole('dialog');
    await priceDialog.getByLabel('On demand').fill('0.5');
    await priceDialog.getByRole('button', { name: 'Save price' }).click();
    await cpuPrice.filter({ hasText: 'An administrator, here' }).filter({ hasText: '0.50' }).waitFor();
    await visited(page, 'en', 'resources');
    await page.getByRole('button', { name: 'Reset the price of cpu' }).click();
    await page.locator('.ant-popconfirm').getByRole('button', { name: 'OK' }).click();
    await cpuPrice.filter({ hasText: 'List price' }).waitFor();

    await page.getByRole('menuitem', { name: 'Dashboard' }).click();
    await page.locator('.ant-statistic').filter({ hasText: 'Compute spend' }).filter({ hasText: '/ 100.00' }).waitFor();
    await page.getByRole('progressbar', { name: 'Share of the monthly budget used' }).waitFor();
    await visited(page, 'en', 'dashboard-month');

    await page.getByRole('menuitem', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'auth.register' }).first().waitFor();
    await page.getByLabel('Action').fill('quota');
    await page.getByRole('button', { name: 'Filter' }).click();
    const setRow = page.getByRole('row').filter({ hasText: 'quota.set' });
    await setRow.waitFor();
    await page.getByRole('row').filter({ hasText: 'auth.register' }).waitFor({ state: 'detached' });
    await setRow.getByRole('button', { name: /expand/i }).click();
    await page.getByText('"budget_per_month": 100', { exact: false }).waitFor();
    await visited(page, 'en', 'audit');
    await page.getByRole('menuitem', { name: 'Dashboard' }).click();
  });

  await step('switching to Chinese changes the whole page, and a reload keeps it and the session', async () => {
    await page.getByText('中文').click();
    await page.getByRole('heading', { name: `欢迎，${ADMIN.name}` }).waitFor();
    await page.getByText('角色：管理员').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    await visited(page, 'zh-CN', 'dashboard');
    await page.reload();
    await page.getByRole('heading', { name: `欢迎，${ADMIN.name}` }).waitFor();
    await page.getByRole('menuitem', { name: '数据集' }).click();
    await page.getByRole('link', { name: 'greetings', exact: true }).waitFor();
    await visited(page, 'zh-CN', 'datasets');
    await page.goto(datasetUrl);
    await page.getByText('校验').first().waitFor();
    await page.getByText('所有记录都有效。').waitFor();
    await visited(page, 'zh-CN', 'dataset');
    await page.getByRole('button', { name: '清洗' }).click();
    await page.getByText('清洗版本 2').waitFor();
    await visited(page, 'zh-CN', 'dataset-clean');
    await page.keyboard.press('Escape');
    await page.getByRole('menuitem', { name: 'API 密钥' }).click();
    await page.getByRole('heading', { name: 'API 密钥' }).waitFor();
    await visited(page, 'zh-CN', 'api-keys');
    await page.getByRole('menuitem', { name: '模型' }).click();
    await page.getByRole('tab', { name: '模型目录' }).click();
    await page.getByRole('row').filter({ hasText: 'Qwen/Qwen2.5-0.5B-Instruct' }).waitFor();
    await visited(page, 'zh-CN', 'models-catalog');
    await page.getByRole('menuitem', { name: '资源' }).click();
    await page.getByRole('heading', { name: '资源与配额' }).waitFor();
    await page.getByRole('row').filter({ hasText: '整个组织' }).waitFor();
    await visited(page, 'zh-CN', 'resources');
    await page.getByRole('menuitem', { name: '审计日志' }).click();
    await page.getByRole('row').filter({ hasText: 'quota.set' }).waitFor();
    await visited(page, 'zh-CN', 'audit');
    if (jobUrl) {
      await page.goto(jobUrl);
      await page.getByText('已完成').waitFor();
      await visited(page, 'zh-CN', 'fine-tune-job');
      await page.goto(base + '/jobs/new');
      await page.getByRole('heading', { name: '新建微调' }).waitFor();
      await visited(page, 'zh-CN', 'fine-tune-new');
      await page.goto(deploymentUrl);
      await page.getByText('在线试用').waitFor();
      await visited(page, 'zh-CN', 'deployment');
      await page.goto(evaluationUrl);
      await page.getByText('样例').waitFor();
      await visited(page, 'zh-CN', 'evaluation');
    }
    await page.goto(base + '/');
  });

  await step('the dashboard fits a tablet', async () => {
    await page.setViewportSize({ width: 768, height: 1024 });
    await page.getByRole('heading', { name: `欢迎，${ADMIN.name}` }).waitFor();
    await visited(page, 'zh-CN', 'dashboard-tablet');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step('signing out ends the session on the server too', async () => {
    const refreshToken = await page.evaluate(() => localStorage.getItem('tunery.refresh_token'));
    await page.getByTestId('user-menu').click();
    await page.getByText('退出登录').click();
    await page.waitForURL(/\/sign-in/);
    await page.getByRole('heading', { name: '登录' }).waitFor();
    await visited(page, 'zh-CN', 'sign-in');
    await call(base, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken }, expect: [401] });
  });

  await step("a wrong password shows the server's answer; the right one signs in", async () => {
    await page.getByText('English').click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await visited(page, 'en', 'sign-in');
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Something went wrong' }).waitFor();
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: `Welcome, ${ADMIN.name}` }).waitFor();
  });

  let invitationLink;
  await step('the administrator invites a viewer and gets the link to send', async () => {
    await page.getByRole('menuitem', { name: 'People' }).click();
    await page.getByRole('heading', { name: 'People' }).waitFor();
    await page.getByRole('button', { name: 'Invite' }).click();
    await page.getByText('Enter a valid email address', { exact: false }).waitFor();
    await page.getByLabel('Email').fill(VIEWER.email);
    await page.getByLabel('Role', { exact: true }).click();
    await page.locator('.ant-select-item-option', { hasText: 'Viewer' }).click();
    await page.getByRole('button', { name: 'Invite' }).click();
    await page.getByText(`Invitation for ${VIEWER.email} created.`, { exact: false }).waitFor();
    invitationLink = (await page.getByTestId('invitation-link').innerText()).trim();
    assert.ok(invitationLink.startsWith(`${base}/sign-up?invitation=`), invitationLink);
    await page.getByRole('row').filter({ hasText: VIEWER.email }).filter({ hasText: 'Waiting' }).waitFor();
    await visited(page, 'en', 'people');
  });

  let viewer = null;
  await step('the invited viewer registers from the link and sees no administration', async () => {
    viewer = await newPage(browser, { locale: 'zh-CN' });
    otherPage = viewer;
    await viewer.goto(invitationLink);
    await viewer.getByRole('heading', { name: '接受邀请' }).waitFor();
    await visited(viewer, 'zh-CN', 'sign-up-invited');
    await viewer.getByLabel('姓名').fill(VIEWER.name);
    await viewer.getByLabel('密码', { exact: true }).fill(VIEWER.password);
    await viewer.getByLabel('确认密码').fill(VIEWER.password);
    await viewer.getByRole('button', { name: '注册账号' }).click();
    await viewer.getByRole('heading', { name: `欢迎，${VIEWER.name}` }).waitFor();
    await viewer.getByText('角色：访客').waitFor();
    assert.equal(await viewer.getByText('最近动态').count(), 0, 'a viewer does not see the audit log');
    assert.equal(await viewer.getByRole('menuitem', { name: '成员' }).count(), 0, 'a viewer does not see the people page');
    await page.reload();
    await page.getByRole('row').filter({ hasText: VIEWER.email }).filter({ hasText: 'Accepted' }).waitFor();
    await page.getByRole('row').filter({ hasText: VIEWER.name }).waitFor();
  });

  await step('the administrator makes a project and adds the viewer by email; the viewer sees it read-only, and a new role at once', async () => {
    await page.getByRole('menuitem', { name: 'Projects' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    const drawer = page.locator('.ant-drawer-open');
    // A project made and deleted again (confirmed), back on the list without it.
    await page.getByRole('button', { name: 'New project' }).click();
    await drawer.getByRole('button', { name: 'Create project' }).click();
    await drawer.getByText('Give the project a name.').waitFor();
    await drawer.getByLabel('Name').fill('Scratch');
    await drawer.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Scratch' }).waitFor();
    await page.getByRole('button', { name: 'Delete project' }).click();
    await page.locator('.ant-popconfirm').getByRole('button', { name: 'OK' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await page.locator('.ant-table-tbody').waitFor();
    await page.getByRole('link', { name: 'Scratch' }).waitFor({ state: 'detached' });
    // The project the viewer joins.
    await page.getByRole('button', { name: 'New project' }).click();
    await drawer.getByLabel('Name').fill('Support bot');
    await drawer.getByLabel('Description').fill('Answers for the help desk');
    await drawer.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Support bot' }).waitFor();
    await page.getByRole('row').filter({ hasText: `${ADMIN.name} (you)` }).filter({ hasText: ADMIN.email }).waitFor();
    // Someone who is not in the organization is not found; the viewer is, by email.
    await page.getByLabel('Email').fill('nobody@example.com');
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.getByRole('alert').filter({ hasText: 'user not found' }).waitFor();
    await page.getByLabel('Email').fill(VIEWER.email);
    await page.getByLabel('Project role', { exact: true }).click();
    await page.locator('.ant-select-item-option', { hasText: 'Viewer' }).click();
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.getByRole('row').filter({ hasText: VIEWER.name }).filter({ hasText: VIEWER.email }).waitFor();
    await visited(page, 'en', 'project');
    // The viewer, in Chinese: the project with their role, its members, nothing to change.
    await viewer.getByRole('menuitem', { name: '项目' }).click();
    await viewer.getByRole('heading', { name: '项目' }).waitFor();
    assert.equal(await viewer.getByRole('button', { name: '新建项目' }).count(), 0, 'a viewer creates no projects');
    await viewer.getByRole('link', { name: 'Support bot' }).click();
    await viewer.getByRole('heading', { name: 'Support bot' }).waitFor();
    await viewer.getByRole('row').filter({ hasText: ADMIN.name }).filter({ hasText: '管理员' }).waitFor();
    await viewer.getByText('只有项目管理者可以添加或移除成员。').waitFor();
    assert.equal(await viewer.getByRole('button', { name: '设置' }).count(), 0, 'a project viewer changes no settings');
    await viewer.locator('.ant-descriptions').getByText('访客').waitFor();
    await visited(viewer, 'zh-CN', 'project');
    // Made a project researcher, the viewer may train there: seen on their next look.
    await page.getByLabel(`Project role of ${VIEWER.name}`).click();
    await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: 'Researcher' }).click();
    await page.getByRole('row').filter({ hasText: VIEWER.name }).filter({ hasText: 'Researcher' }).waitFor();
    await viewer.reload();
    await viewer.locator('.ant-descriptions').getByText('研究员').waitFor();
    await viewer.locator('.ant-descriptions').getByText('训练模型').waitFor();
  });

  await step("the wizard's settings saved as a template of the project, then used by a colleague from the project page", async () => {
    await page.goto(base + '/jobs/new');
    await page.getByRole('heading', { name: 'New fine-tune' }).waitFor();
    assert.ok(await page.getByRole('button', { name: 'Save as template' }).isDisabled(), 'a template belongs to a project');
    await page.getByLabel('Project', { exact: true }).click();
    await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: 'Support bot' }).click();
    await page.getByLabel('Optimizer steps').fill('12');
    await page.getByLabel('Learning rate').fill('0.0005');
    await page.locator('label.ant-radio-button-wrapper', { hasText: 'DoRA' }).click();
    await page.getByRole('button', { name: 'Save as template' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Save template' }).click();
    await dialog.getByText('Give the template a name.').waitFor();
    await dialog.getByLabel('Name').fill('Short DoRA');
    await dialog.getByLabel('Description').fill('Twelve steps for a quick look');
    await visited(page, 'en', 'template-save');
    await dialog.getByRole('button', { name: 'Save template' }).click();
    await page.getByText('Saved as the template "Short DoRA".').waitFor();
    // The same name again is refused with the server's reason.
    await page.getByRole('button', { name: 'Save as template' }).click();
    await dialog.getByLabel('Name').fill('Short DoRA');
    await dialog.getByRole('button', { name: 'Save template' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'already exists in the project' }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    // The colleague (a researcher in the project) opens it from the project page, in Chinese.
    await viewer.getByRole('menuitem', { name: '项目' }).click();
    await viewer.getByRole('link', { name: 'Support bot' }).click();
    const row = viewer.getByRole('row').filter({ hasText: 'Short DoRA' });
    await row.filter({ hasText: 'Twelve steps for a quick look' }).filter({ hasText: 'dora' }).waitFor();
    await visited(viewer, 'zh-CN', 'project-templates');
    await row.getByRole('link', { name: '使用模板 Short DoRA' }).click();
    await viewer.getByText('已套用模板“Short DoRA”').waitFor();
    assert.equal(await viewer.getByLabel('优化步数').inputValue(), '12');
    assert.ok(await viewer.getByRole('radio', { name: 'DoRA' }).isChecked(), 'the method comes from the template');
    await visited(viewer, 'zh-CN', 'fine-tune-from-template');
    // Deleted from the project page (confirmed).
    await page.goto(base + '/projects');
    await page.getByRole('link', { name: 'Support bot' }).click();
    await page.getByRole('button', { name: 'Delete the template Short DoRA' }).click();
    await page.locator('.ant-popconfirm').getByRole('button', { name: 'OK' }).click();
    await page.getByText('No templates in this project yet.', { exact: false }).waitFor();
  });

  await step('records annotated in the browser by a task of two annotators — an answer rewritten, one flagged — make a new version with the task in its lineage', async () => {
    await page.getByRole('menuitem', { name: 'Datasets' }).click();
    await page.getByRole('link', { name: 'greetings', exact: true }).click();
    const annotate = page.getByRole('button', { name: /Annotate version \d+/ });
    const annotated = Number((await annotate.innerText()).match(/\d+/)[0]);
    await annotate.click();
    const drawer = page.locator('.ant-drawer-open');
    await drawer.getByLabel('Name').fill('Tone check');
    await drawer.getByLabel('Instructions').fill('Make the greeting warmer.');
    await drawer.getByLabel('Annotators').click();
    await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: VIEWER.email }).click();
    await drawer.getByText('Instructions', { exact: true }).click();
    await drawer.getByRole('button', { name: 'Start annotating' }).click();
    await page.waitForURL(/\/annotation-tasks\/ann_/);
    // The administrator's share: every other record, from the first.
    await page.getByText('Record 1 (line 1)').waitFor();
    await page.getByText('Make the greeting warmer.').waitFor();
    await page.getByLabel('Conversation: answer 2').fill('Hello, person 1! Welcome, it is wonderful to see you.');
    await page.getByRole('checkbox', { name: 'needs fixing' }).click();
    await visited(page, 'en', 'annotate');
    await page.getByRole('button', { name: 'Save and next' }).click();
    await page.getByText('Record 3 (line 3)').waitFor();
    await page.getByRole('checkbox', { name: /Flag/ }).check();
    await page.keyboard.press('Control+Enter');
    await page.getByText('Record 5 (line 5)').waitFor();
    await page.getByRole('progressbar', { name: `Progress of ${VIEWER.name}` }).waitFor();
    await page.locator('.ant-descriptions-item').filter({ hasText: 'Corrected' }).filter({ hasText: '1' }).waitFor();
    await page.getByRole('button', { name: 'Make the new version' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Make the version' }).click();
    await page.waitForURL(/\/datasets\/ds_/);
    await page.getByText('annotated in the task "Tone check" (1 records corrected)').first().waitFor();
    await page.getByText('Hello, person 1! Welcome, it is wonderful to see you.').first().waitFor();
    await page.locator('.ant-table-row').filter({ hasText: 'Tone check' }).filter({ hasText: `Version ${annotated + 1}` }).waitFor();
    await visited(page, 'en', 'dataset-annotated');
  });

  problems.push(...page.problems, ...(viewer?.problems ?? []));
  assert.deepEqual(problems, [], 'accessibility violations, script errors or CSP refusals');
  console.log(`web e2e: all steps passed; screenshots in ${OUT}screenshots/`);
} catch (e) {
  console.error(e);
  console.error(`--- server log ---\n${server.log().slice(-4000)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  await server.stop();
}
