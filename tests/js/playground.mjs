// Drives Tributary's playground in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core) with the network cut off from anything but Tributary:
//
//   node playground.mjs <tributary base url> <screenshot path>
//
// It opens the page, types a query into the operation editor and runs it, sets a header in
// the headers editor and runs `{ echo { header } }` (a field whose upstream echoes that
// header), runs a `reviewAdded` subscription and posts `addReview` mutations from Node until
// the event shows in the result pane, and saves a screenshot. It reads every result from the
// result pane, as a user would. Exits 0 and prints one JSON line on success; exits 1 with
// the reason (and a screenshot, when it got that far) on any failure; 2 on a usage error.
//
// Besides the route that aborts every request to another host, the browser's proxy is a
// closed loopback port, so even a request that escaped the route could not leave the machine.
import { chromium } from 'playwright-core';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node playground.mjs <tributary base url> <screenshot path>');
  process.exit(2);
}
const origin = new URL(base);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT = 20_000;
const EDIT_SETTLE_MS = 750;

/** Requests and WebSockets to anything but Tributary, and other problems seen in the page. */
const blocked = [];
const problems = [];
const log = [];

function isTributary(url) {
  try {
    const u = new URL(url);
    if (u.protocol === 'data:' || u.protocol === 'blob:') return true;
    return u.host === origin.host;
  } catch {
    return false;
  }
}

/** The text of an editor's visible lines (Monaco renders spaces as U+00A0). */
async function editorText(page, container) {
  const text = await lines(page, container).innerText({ timeout: TIMEOUT });
  return text.replace(/\u00a0/g, ' ');
}

/** The visible editor inside `container` (the variables and headers editors share one). */
function lines(page, container) {
  return page.locator(`${container} .monaco-editor .view-lines`).filter({ visible: true }).first();
}

/** Replaces an editor's whole content by keyboard, as a user would. */
async function setEditor(page, container, text) {
  await lines(page, container).click({ timeout: TIMEOUT });
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.insertText(text);
  const squash = (s) => s.replace(/\s+/g, '');
  const shown = await editorText(page, container);
  if (squash(shown) !== squash(text)) {
    throw new Error(`the editor ${container} shows ${JSON.stringify(shown)}, not ${JSON.stringify(text)}`);
  }
  // GraphiQL parses the operation (its name, for the request) after a short debounce.
  await page.waitForTimeout(EDIT_SETTLE_MS);
}

/** Waits until the result pane contains `needle`; returns its text. */
async function waitForResult(page, needle, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let text = '';
  while (Date.now() < deadline) {
    text = await lines(page, '.graphiql-response')
      .innerText({ timeout: 1000 })
      .then((t) => t.replace(/\u00a0/g, ' '))
      .catch(() => '');
    if (text.includes(needle)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`the result pane never showed ${JSON.stringify(needle)}; it shows:\n${text}`);
}

async function run(page) {
  await page.click('.graphiql-execute-button');
}

async function postGraphql(query, variables) {
  const res = await fetch(new URL('/graphql', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (res.status !== 200 || body.errors) {
    throw new Error(`mutation failed: ${res.status} ${JSON.stringify(body)}`);
  }
  return body;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  // Nothing listens on port 9: whatever is not Tributary cannot connect anywhere.
  proxy: { server: 'http://127.0.0.1:9', bypass: origin.hostname },
});
let page;
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isTributary(url)) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  context.on('request', (req) => {
    if (!isTributary(req.url()) && !blocked.includes(req.url())) blocked.push(req.url());
  });
  page = await context.newPage();
  page.on('websocket', (ws) => {
    log.push(`websocket ${ws.url()}`);
    if (!isTributary(ws.url())) blocked.push(ws.url());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`console: ${text}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });

  // The page loads, and GraphiQL fetches the schema (introspection) from Tributary.
  const introspection = page.waitForResponse(
    (r) => r.url() === new URL('/graphql', base).href && r.request().method() === 'POST',
    { timeout: TIMEOUT },
  );
  await page.goto(new URL('/', base).href, { timeout: TIMEOUT });
  await page.waitForSelector('.graphiql-query-editor .monaco-editor .view-lines', { timeout: TIMEOUT });
  const schemaResponse = await introspection;
  if (schemaResponse.status() !== 200) throw new Error(`introspection answered ${schemaResponse.status()}`);
  const opening = await editorText(page, '.graphiql-query-editor');
  if (!opening.includes('products')) throw new Error(`the playground does not open with the examples:\n${opening}`);

  // 1. A query.
  await setEditor(page, '.graphiql-query-editor', 'query PlaygroundProducts { products(first: 2) { id name category { name } } }');
  await run(page);
  const queryResult = await waitForResult(page, 'Ethiopia Yirgacheffe');
  if (!queryResult.includes('"category"') || queryResult.includes('"errors"')) {
    throw new Error(`unexpected query result:\n${queryResult}`);
  }

  // 2. A header from the headers editor reaches the server.
  await page.click('.graphiql-editor-tools button[data-name="headers"]');
  await lines(page, '.graphiql-editor-tool').waitFor({ state: 'visible', timeout: TIMEOUT });
  await setEditor(page, '.graphiql-editor-tool', '{"x-playground-test": "abc"}');
  await setEditor(page, '.graphiql-query-editor', 'query PlaygroundHeader { echo { header } }');
  await run(page);
  const headerResult = await waitForResult(page, '"abc"');
  if (!headerResult.includes('"header"')) throw new Error(`unexpected header result:\n${headerResult}`);

  // 3. A subscription over graphql-transport-ws: post reviews until one shows up.
  await setEditor(
    page,
    '.graphiql-query-editor',
    'subscription PlaygroundReviews { reviewAdded(productId: "1") { rating body author product { name } } }',
  );
  // The prettify button, so that the screenshot shows the operation whole.
  await page.getByRole('button', { name: /prettify/i }).click({ timeout: TIMEOUT });
  await page.waitForTimeout(EDIT_SETTLE_MS);
  const socket = page.waitForEvent('websocket', { timeout: TIMEOUT });
  await run(page);
  const ws = await socket;
  const marker = `seen-in-the-playground-${Date.now()}`;
  let eventText = '';
  const deadline = Date.now() + TIMEOUT;
  let sent = 0;
  while (!eventText && Date.now() < deadline) {
    await postGraphql(
      'mutation($input: ReviewInput!) { addReview(input: $input) { id } }',
      { input: { productId: '1', rating: 4, body: marker, author: 'playwright' } },
    );
    sent += 1;
    eventText = await waitForResult(page, marker, 1000).catch(() => '');
  }
  if (!eventText) {
    throw new Error(`no reviewAdded event reached the result pane after ${sent} mutations:\n${await editorText(page, '.graphiql-response')}`);
  }
  if (!eventText.includes('Ethiopia Yirgacheffe')) {
    throw new Error(`the event's nested product did not resolve:\n${eventText}`);
  }
  const wsUrl = ws.url();
  if (new URL(wsUrl).host !== origin.host || new URL(wsUrl).pathname !== '/graphql') {
    throw new Error(`the subscription used ${wsUrl}`);
  }

  await page.screenshot({ path: screenshot });

  if (blocked.length) throw new Error(`the page tried to reach other hosts: ${blocked.join(', ')}`);
  if (problems.length) throw new Error(`problems in the page:\n${problems.join('\n')}`);
  console.log(JSON.stringify({ ok: true, query: 'ok', header: 'abc', subscription: marker, mutations: sent, websocket: wsUrl, log }));
} catch (e) {
  exitCode = 1;
  console.error(`playground test failed: ${e && e.stack ? e.stack : e}`);
  if (blocked.length) console.error(`requests to other hosts: ${blocked.join(', ')}`);
  if (problems.length) console.error(`problems in the page:\n${problems.join('\n')}`);
  if (page) await page.screenshot({ path: screenshot }).catch(() => {});
} finally {
  await browser.close();
}
process.exit(exitCode);
