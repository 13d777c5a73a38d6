'use strict';
// Loads the /docs portal of a running Somnium in headless Chromium and checks it against the spec
// that the same server serves at /openapi.json. check.sh starts the server and runs this file
// with node --test.
//
// Environment:
//   SOMNIUM_BASE_URL            the server, e.g. http://127.0.0.1:8080 (must be on 127.0.0.1)
//   SOMNIUM_PORTAL_SCREENSHOT   where to save the full-page PNG screenshot
//   CHROMIUM_PATH               the Chromium binary (default /usr/bin/chromium)

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

const baseUrl = new URL(requiredEnv('SOMNIUM_BASE_URL'));
const screenshotPath = requiredEnv('SOMNIUM_PORTAL_SCREENSHOT');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// How long Redoc may take to render the whole spec, in milliseconds. Starting Chromium 156 and
// rendering the 35 operations of Somnium 0.1.0 took about 1.2 s on a 2-core machine. The
// margin is for a machine that is compiling at the same time.
const RENDER_TIMEOUT_MS = 60_000;

// Redoc's menu: an entry `li[data-item-id="tag/<tag>"]` per tag, containing an entry
// `li[data-item-id="tag/<tag>/operation/<operationId>"]` per operation, whose label contains the
// method (`span.operation-type` with a `type` attribute) and the summary. Seen in Redoc
// 2.0.0-rc.72, the version that poem-openapi 5.1.16 embeds.
const TAG_LABEL_SELECTOR = 'li[data-item-id^="tag/"] > label[type="tag"]';
const OPERATION_ENTRY_SELECTOR = 'li[data-item-id*="/operation/"]';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

if (baseUrl.hostname !== '127.0.0.1') {
  throw new Error(`SOMNIUM_BASE_URL must be on 127.0.0.1, got ${baseUrl.href}`);
}

let spec;
let browser;
let page;
let docsResponse;
// The error of waiting for Redoc to render every operation, if it did not.
let renderError;
// Requests for another origin, each blocked before it left the browser.
const offHostRequests = [];
// Content-Security-Policy violations, from securitypolicyviolation events and console messages.
const cspViolations = [];
// Uncaught exceptions and console errors of the page that are not CSP violations.
const pageErrors = [];

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set; run this file through openapi/portal/check.sh`);
  }
  return value;
}

function isSameOrigin(url) {
  const parsed = new URL(url);
  if (parsed.protocol === 'data:' || parsed.protocol === 'blob:') {
    return true;
  }
  return parsed.origin === baseUrl.origin;
}

/** Lists every operation of the spec as { method, path, tags, summary }. */
function specOperations() {
  const operations = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of HTTP_METHODS) {
      if (item[method]) {
        const { tags = [], summary } = item[method];
        operations.push({ method, path, tags, summary });
      }
    }
  }
  return operations;
}

/** Counts the operation entries Redoc's menu should have: one under each tag of an operation. */
function expectedMenuEntries() {
  return specOperations().reduce((count, operation) => count + Math.max(1, operation.tags.length), 0);
}

/**
 * Tells whether a console error is Chromium's own request for /favicon.ico failing. Somnium
 * serves no favicon, and Chromium requests one on every page load; the portal does not use it.
 */
function isMissingFavicon(message) {
  const location = message.location().url;
  return location !== '' && new URL(location).pathname === '/favicon.ico';
}

before(async () => {
  const specResponse = await fetch(new URL('/openapi.json', baseUrl));
  assert.equal(specResponse.status, 200, 'GET /openapi.json failed, so there is no spec to check against');
  spec = await specResponse.json();

  browser = await chromium.launch({
    executablePath: chromiumPath,
    // Chromium as root needs --no-sandbox: with the sandbox on, the launch fails with
    // "Chromium sandboxing failed" (seen with Chromium 156 as root, as in CI). The only page it
    // loads is the project's own, from 127.0.0.1.
    chromiumSandbox: process.getuid() !== 0,
    args: [
      // A second guard behind the request interception below: no host name but 127.0.0.1
      // resolves, which also stops DNS prefetches that never show up as requests.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--no-proxy-server',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });

  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isSameOrigin(url)) {
      return route.continue();
    }
    offHostRequests.push(`${route.request().method()} ${url}`);
    return route.abort('blockedbyclient');
  });

  await context.exposeBinding('reportCspViolation', (_source, violation) => {
    cspViolations.push(violation);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.reportCspViolation(
        `${event.effectiveDirective} blocked ${event.blockedURI || '(inline)'} ` +
          `at ${event.sourceFile}:${event.lineNumber} ${event.sample}`,
      );
    });
  });

  page = await context.newPage();
  page.on('console', (message) => {
    const text = message.text();
    if (/Content[ -]Security[ -]Policy/i.test(text)) {
      cspViolations.push(`console ${message.type()}: ${text}`);
    } else if (message.type() === 'error' && !isMissingFavicon(message)) {
      pageErrors.push(`console error: ${text} (${message.location().url})`);
    }
  });
  page.on('pageerror', (error) => pageErrors.push(`uncaught: ${error.message}`));

  docsResponse = await page.goto(new URL('/docs', baseUrl).href, { waitUntil: 'load' });
  // Redoc renders after the load event, so wait until its menu has an entry for every
  // operation. A timeout is kept for its own test, so that the other tests still report what
  // they saw, such as the CSP violation that stopped Redoc.
  try {
    await page.waitForFunction(
      ([selector, count]) => document.querySelectorAll(selector).length >= count,
      [OPERATION_ENTRY_SELECTOR, expectedMenuEntries()],
      { timeout: RENDER_TIMEOUT_MS, polling: 250 },
    );
  } catch (error) {
    renderError = error;
  }
});

after(async () => {
  await browser?.close();
});

test('/openapi.json is JSON', async () => {
  const response = await fetch(new URL('/openapi.json', baseUrl));
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json(;|$)/);
  const body = await response.json();
  assert.match(body.openapi, /^3\./);
});

test('/openapi.yaml is YAML', async () => {
  const response = await fetch(new URL('/openapi.yaml', baseUrl));
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/yaml(;|$)/);
  const body = await response.text();
  assert.match(body, /^openapi: '?3\./m);
});

test('/docs is HTML under a CSP', () => {
  assert.equal(docsResponse.status(), 200);
  assert.match(docsResponse.headers()['content-type'] ?? '', /^text\/html(;|$)/);
  assert.match(docsResponse.headers()['content-security-policy'] ?? '', /default-src 'none'/);
});

test('Redoc renders every operation', () => {
  assert.equal(renderError, undefined, `Redoc did not render every operation: ${renderError?.message}`);
});

test('portal lists every tag', async () => {
  const menuTags = await page.$$eval(TAG_LABEL_SELECTOR, (labels) =>
    labels.map((label) => label.textContent.trim()),
  );
  const headings = await page.$$eval('h1', (elements) => elements.map((element) => element.textContent.trim()));

  assert.ok(spec.tags?.length > 0, 'the spec has no tags');
  for (const tag of spec.tags) {
    const title = tag['x-displayName'] ?? tag.name;
    assert.ok(menuTags.includes(title), `tag ${title} is missing from the menu ${JSON.stringify(menuTags)}`);
    assert.ok(headings.includes(title), `tag ${title} has no heading in the content`);
  }
});

test('portal lists every operation', async () => {
  const menuEntries = await page.$$eval(OPERATION_ENTRY_SELECTOR, (entries) =>
    entries.map((entry) => ({
      id: entry.getAttribute('data-item-id'),
      method: entry.querySelector('.operation-type')?.getAttribute('type') ?? '',
      summary: entry.querySelector('label > span:not(.operation-type)')?.textContent.trim() ?? '',
    })),
  );
  const headings = await page.$$eval('h2', (elements) => elements.map((element) => element.textContent.trim()));
  const operations = specOperations();

  assert.ok(operations.length > 0, 'the spec has no operations');
  assert.equal(menuEntries.length, expectedMenuEntries(), 'the menu lists a different number of operations');
  for (const operation of operations) {
    const name = `${operation.method.toUpperCase()} ${operation.path}`;
    assert.ok(operation.summary, `${name} has no summary in the spec`);
    const tagPrefixes = operation.tags.length > 0 ? operation.tags.map((tag) => `tag/${tag}/`) : [''];
    for (const prefix of tagPrefixes) {
      assert.ok(
        menuEntries.some(
          (entry) =>
            entry.id.startsWith(prefix) && entry.method === operation.method && entry.summary === operation.summary,
        ),
        `${name} "${operation.summary}" is missing from the menu under "${prefix}"`,
      );
    }
    assert.ok(headings.includes(operation.summary), `${name} "${operation.summary}" has no heading in the content`);
  }
});

test('no CSP violation', () => {
  assert.deepEqual(cspViolations, []);
});

test('no page error', () => {
  assert.deepEqual(pageErrors, []);
});

test('no request left 127.0.0.1', () => {
  assert.deepEqual(offHostRequests, []);
});

test('full-page screenshot', async () => {
  await page.screenshot({ path: screenshotPath, fullPage: true });
  console.log(`screenshot: ${screenshotPath}`);
});
