/**
 * The collector's web UI in a real browser (Debian's Chromium through playwright-core): finding
 * traces, opening one, collapsing and expanding spans, the details panel, skewed clocks, a trace of
 * 5,000 spans, the dependency graph; then the same pages on traces from the real landscape.
 * Screenshots land in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { startCollector, type RunningCollector, type Span } from '../tools/collector/index.ts';
import { shapeTrace, traceRows } from '../tools/trace-tree.ts';
import { launchBrowser, screenshot, skipWithoutChromium, type TestBrowser } from './browser.ts';
import { isCompleteAccountTrace, startTestLandscape, traceIdOf, waitForTrace, type TestLandscape } from './support.ts';

const NOW = Date.now() * 1000;
const web = { serviceName: 'web', ipv4: '10.0.0.1' };
const accounts = { serviceName: 'accounts', ipv4: '10.0.0.2' };
const mailer = { serviceName: 'mailer', ipv4: '10.0.0.3' };

const CHECKOUT = '4e441824ec2b6a44ffdc9bb9a6453df3';
const FAILED = '5af7183fb1d4cf5f'; // 64-bit, from an older tracer
const LARGE = '6b221d5bc9e6496c6b221d5bc9e6496c';
const id = (n: number) => n.toString(16).padStart(16, '0');

/**
 * web → accounts over HTTP (accounts' clock 30 ms behind: its server span starts before the call),
 * accounts → mailer through RabbitMQ.
 */
const checkout: Span[] = [
  { traceId: CHECKOUT, id: id(1), kind: 'SERVER', name: 'post /checkout', timestamp: NOW - 5_000_000, duration: 60_000, localEndpoint: web, tags: { 'http.path': '/checkout', 'http.method': 'POST' } },
  { traceId: CHECKOUT, parentId: id(1), id: id(2), kind: 'CLIENT', name: 'get /accounts/10000', timestamp: NOW - 5_000_000 + 5_000, duration: 40_000, localEndpoint: web, remoteEndpoint: { serviceName: 'accounts' } },
  {
    traceId: CHECKOUT,
    parentId: id(1),
    id: id(2),
    kind: 'SERVER',
    name: 'get /accounts/:id',
    timestamp: NOW - 5_000_000 + 5_000 + 4_000 - 30_000,
    duration: 32_000,
    localEndpoint: accounts,
    remoteEndpoint: { ipv4: '10.0.0.1', port: 50_123 },
    annotations: [{ timestamp: NOW - 5_000_000 + 5_000 + 4_000 - 30_000 + 31_000, value: 'vip message sent' }],
    tags: { 'http.path': '/accounts/10000', 'http.status_code': '200' },
    shared: true,
  },
  { traceId: CHECKOUT, parentId: id(2), id: id(3), name: 'queryaccount', timestamp: NOW - 5_000_000 + 5_000 + 4_000 - 30_000 + 1_000, duration: 2_000, localEndpoint: accounts, tags: { 'account.id': '10000' } },
  { traceId: CHECKOUT, parentId: id(2), id: id(4), kind: 'PRODUCER', name: 'publish vip_queue', timestamp: NOW - 5_000_000 + 5_000 + 4_000 - 30_000 + 20_000, duration: 1_000, localEndpoint: accounts, remoteEndpoint: { serviceName: 'rabbitmq' } },
  { traceId: CHECKOUT, parentId: id(4), id: id(5), kind: 'CONSUMER', name: 'consume vip_queue', timestamp: NOW - 5_000_000 + 50_000, duration: 3_000, localEndpoint: mailer, remoteEndpoint: { serviceName: 'rabbitmq' } },
];

/** A failed call to a server that traced nothing, and a span without a service name, as some tracers leave it. */
const failed: Span[] = [
  { traceId: FAILED, id: id(0x11), kind: 'SERVER', name: 'get /accounts/99', timestamp: NOW - 2_000_000, duration: 12_000, localEndpoint: web, tags: { error: '503', 'http.path': '/accounts/99' } },
  { traceId: FAILED, parentId: id(0x11), id: id(0x12), kind: 'CLIENT', name: 'get /accounts/99', timestamp: NOW - 2_000_000 + 1_000, duration: 10_000, localEndpoint: web, remoteEndpoint: { serviceName: 'accounts' }, tags: { error: 'timeout' } },
  { traceId: FAILED, parentId: id(0x11), id: id(0x13), name: 'lookup', timestamp: NOW - 2_000_000 + 2_000, duration: 5_000, localEndpoint: { ipv4: '10.0.0.9' } },
];

/** 5,000 spans: a 4-ary tree over six services, a few annotations. */
const large: Span[] = Array.from({ length: 5_000 }, (_, i) => ({
  traceId: LARGE,
  ...(i > 0 ? { parentId: id(Math.floor((i - 1) / 4) + 1) } : {}),
  id: id(i + 1),
  name: `step ${i}`,
  timestamp: NOW - 10_000_000 + i * 20,
  duration: Math.max(1, 200_000 - i * 39),
  localEndpoint: { serviceName: `service-${i % 6}` },
  ...(i % 500 === 0 ? { annotations: [{ timestamp: NOW - 10_000_000 + i * 20 + 5, value: 'checkpoint' }] } : {}),
}));

async function post(url: string, spans: Span[]): Promise<void> {
  const response = await fetch(`${url}/api/v2/spans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spans) });
  assert.equal(response.status, 202, await response.text());
}

/** Opens a path and waits until the page's script has run; fails on any script error. */
async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
}

function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}

const rowNames = (page: Page) => page.locator('.span-row .span-name').allTextContents();
const rowByName = (page: Page, name: string) => page.locator('.span-row', { has: page.locator('.span-name', { hasText: name }) });

describe('the web UI in Chromium', { skip: skipWithoutChromium }, () => {
  let collector: RunningCollector;
  let browser: TestBrowser;
  let page: Page;
  let errors: string[];

  before(async () => {
    collector = await startCollector({ port: 0 });
    await post(collector.url, [...checkout, ...failed]);
    await post(collector.url, large);
    browser = await launchBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    errors = watchErrors(page);
  });
  after(async () => {
    await browser?.close();
    await collector?.close();
  });

  test('finds traces: newest first, by service, by tag and annotation query, and by a pasted traceresponse', async () => {
    await open(page, `${collector.url}/zipkin/`);
    const listed = () => page.locator('.trace-result').evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.traceId));
    assert.deepEqual(await listed(), [FAILED, CHECKOUT, LARGE]);
    const first = page.locator('.trace-result').first();
    assert.match((await first.textContent()) ?? '', /get \/accounts\/99.*12ms.*3 spans.*2 errors/s);
    await screenshot(page, 'ui-search');

    await page.selectOption('#serviceName', 'mailer');
    await page.click('button:has-text("Find traces")');
    await page.waitForURL(/serviceName=mailer/);
    assert.deepEqual(await listed(), [CHECKOUT]);

    await page.selectOption('#serviceName', '');
    await page.fill('input[name="annotationQuery"]', 'error');
    await page.click('button:has-text("Find traces")');
    await page.waitForURL(/annotationQuery=error/);
    assert.deepEqual(await listed(), [FAILED]);

    await page.fill('input[name="annotationQuery"]', 'http.path=/accounts/10000 and vip message sent');
    await page.click('button:has-text("Find traces")');
    await page.waitForURL(/vip\+message/);
    assert.deepEqual(await listed(), [CHECKOUT]);

    await page.fill('input[name="minDuration"]', '100ms');
    await page.fill('input[name="annotationQuery"]', '');
    await page.click('button:has-text("Find traces")');
    await page.waitForURL(/minDuration=100ms/);
    assert.deepEqual(await listed(), [LARGE]);

    await page.fill('input[name="traceId"]', `00-${CHECKOUT}-${id(1)}-01`);
    await page.press('input[name="traceId"]', 'Enter');
    await page.waitForURL(`**/zipkin/traces/${CHECKOUT}`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.locator('h1').textContent(), 'web: post /checkout');
    assert.deepEqual(errors, []);
  });

  test('opens a trace from the list: nesting, kinds, services, errors in red', async () => {
    await open(page, `${collector.url}/zipkin/`);
    await page.click(`.trace-result[data-trace-id="${FAILED}"] a`);
    await page.waitForURL(`**/zipkin/traces/${FAILED}`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.deepEqual(await rowNames(page), ['get /accounts/99', 'get /accounts/99', 'lookup']);
    const levels = await page.locator('.span-row').evaluateAll((rows) => rows.map((row) => row.getAttribute('aria-level')));
    assert.deepEqual(levels, ['1', '2', '2']);
    assert.equal(await page.locator('.span-row.error').count(), 2);
    assert.deepEqual(await page.locator('.span-row .kind').allTextContents(), ['SERVER', 'CLIENT']);
    assert.equal(await page.locator('.span-row').nth(2).locator('.service').textContent(), 'unknown', 'a span without a service name');
    const red = await page.locator('.span-row.error .bar').first().evaluate((bar) => getComputedStyle(bar).backgroundColor);
    assert.equal(red, 'rgb(211, 47, 47)');
    assert.deepEqual(errors, []);
  });

  test('collapses and expands a subtree, and shows a span\'s details', async () => {
    await open(page, `${collector.url}/zipkin/traces/${CHECKOUT}`);
    assert.equal(await page.locator('.span-row').count(), 6);
    const server = rowByName(page, 'get /accounts/:id');
    assert.equal(await server.getAttribute('aria-expanded'), 'true');
    await server.locator('.toggle').click();
    assert.deepEqual(await rowNames(page), ['post /checkout', 'get /accounts/10000', 'get /accounts/:id']);
    assert.equal(await rowByName(page, 'get /accounts/:id').getAttribute('aria-expanded'), 'false');
    await screenshot(page, 'ui-trace-collapsed');
    await rowByName(page, 'get /accounts/:id').locator('.toggle').click();
    assert.equal(await page.locator('.span-row').count(), 6);

    await rowByName(page, 'get /accounts/:id').click();
    const details = page.locator('#span-details');
    await details.locator('h2').waitFor();
    const text = (await details.textContent()) ?? '';
    for (const expected of [`Span ID${id(2)}`, `Parent ID${id(1)}`, `Trace ID${CHECKOUT}`, 'KindSERVER', 'Local endpointaccounts · 10.0.0.2', 'Remote endpoint10.0.0.1:50123', 'vip message sent', 'http.status_code200']) {
      assert.ok(text.includes(expected), `details show ${expected}: ${text}`);
    }
    await page.keyboard.press('ArrowDown');
    assert.match((await details.locator('h2').textContent()) ?? '', /accounts queryaccount/);
    await screenshot(page, 'ui-trace-details');
    assert.deepEqual(errors, []);
  });

  test('shows a server recorded on a skewed clock after its client, and keeps markers inside the timeline', async () => {
    await open(page, `${collector.url}/zipkin/traces/${CHECKOUT}`);
    const box = async (name: string, nth = 0) => (await rowByName(page, name).nth(nth).locator('.bar').boundingBox())!;
    const client = await box('get /accounts/10000');
    const server = await box('get /accounts/:id');
    const root = await box('post /checkout');
    assert.ok(server.x > client.x, `server starts after its client (${server.x} > ${client.x})`);
    assert.ok(server.x + server.width < client.x + client.width, 'and ends before it');
    assert.ok(server.x >= root.x);
    const markers = await page.locator('.annotation').evaluateAll((items) =>
      items.map((item) => {
        const marker = item.getBoundingClientRect();
        const column = item.parentElement!.getBoundingClientRect();
        return { inside: marker.left >= column.left && marker.right <= column.right };
      }));
    assert.ok(markers.length > 0);
    assert.ok(markers.every((marker) => marker.inside));
    assert.deepEqual(errors, []);
  });

  test('opens a trace of 5,000 spans drawing only the rows in view, and stays usable', async () => {
    await open(page, `${collector.url}/zipkin/traces/${LARGE}`);
    assert.match((await page.locator('.trace-facts').textContent()) ?? '', /Spans5000/);
    const drawn = await page.locator('.span-row').count();
    assert.ok(drawn > 10 && drawn < 200, `rows in the document: ${drawn}`);
    const lastRow = traceRows(shapeTrace(large)).at(-1)!.span.name!;
    await page.locator('.waterfall-body').evaluate((body) => (body.scrollTop = body.scrollHeight));
    await rowByName(page, lastRow).waitFor();
    await rowByName(page, lastRow).click();
    await page.locator('#span-details h2', { hasText: lastRow }).waitFor();
    assert.ok((await page.locator('.span-row').count()) < 200);

    await page.locator('.waterfall-body').evaluate((body) => (body.scrollTop = 0));
    await page.click('[data-action="collapse-all"]');
    assert.deepEqual(await rowNames(page), ['step 0', 'step 1', 'step 2', 'step 3', 'step 4']);
    await page.click('[data-action="expand-all"]');
    await rowByName(page, 'step 5').waitFor();
    await screenshot(page, 'ui-trace-large');
    assert.deepEqual(errors, []);
  });

  test('draws the dependency graph: services, calls over HTTP and through RabbitMQ, errors', async () => {
    await open(page, `${collector.url}/zipkin/dependency`);
    const nodes = await page.locator('.dependency-graph .node').evaluateAll((items) => items.map((item) => (item as SVGElement).dataset.service));
    assert.deepEqual(nodes.sort(), ['accounts', 'mailer', 'rabbitmq', 'web']);
    const links = await page.locator('.dependency-links tbody tr').evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent).join(' ')));
    assert.deepEqual(links.sort(), ['accounts rabbitmq 1 0', 'rabbitmq mailer 1 0', 'web accounts 2 1']);
    assert.equal(await page.locator('.edge.has-error').count(), 1);
    assert.match((await page.locator('.edge.has-error .edge-label').textContent()) ?? '', /2 calls · 1 error/);

    await page.click('.node[data-service="accounts"]');
    const details = (await page.locator('.dependency-details').textContent()) ?? '';
    assert.match(details, /Callsrabbitmq: 1 call, 0 errors/);
    assert.match(details, /Called byweb: 2 calls, 1 error/);
    assert.equal(await page.locator('.edge.active').count(), 2);
    await screenshot(page, 'ui-dependency');
    assert.deepEqual(errors, []);
  });
});

describe('the web UI on traces from the real landscape', { skip: skipWithoutChromium }, () => {
  let landscape: TestLandscape;
  let browser: TestBrowser;

  before(async () => {
    landscape = await startTestLandscape('node');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await landscape?.close();
  });

  test('a request through the edge opens as its trace, and the services it touched appear as the dependency graph', async () => {
    const { accountservice } = landscape.services;
    const traceIds: string[] = [];
    for (const account of ['10000', '10001']) {
      const response = await fetch(`${accountservice.url}/accounts/${account}`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      traceIds.push(traceIdOf(response));
    }
    const spans = await waitForTrace(landscape.collector.url, traceIds[0]!, (trace) => isCompleteAccountTrace(trace, true));
    await waitForTrace(landscape.collector.url, traceIds[1]!, (trace) => isCompleteAccountTrace(trace, false));

    // The size of the README's screenshots.
    const page = await browser.newPage({ width: 1280, height: 620 });
    page.setDefaultTimeout(20_000);
    const errors = watchErrors(page);
    await open(page, `${landscape.collector.url}/zipkin/?serviceName=vipservice`);
    assert.deepEqual(await page.locator('.trace-result').evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.traceId)), [traceIds[0]]);
    await page.click('.trace-result a');
    await page.waitForURL(`**/zipkin/traces/${traceIds[0]}`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.locator('.span-row').count(), spans.length);
    const services = new Set(await page.locator('.span-row .service').allTextContents());
    assert.deepEqual([...services].sort(), ['accountservice', 'imageservice', 'quotes-service', 'vipservice']);
    await rowByName(page, 'get /api/quote').click();
    await page.locator('#span-details h2', { hasText: 'get /api/quote' }).waitFor();
    await screenshot(page, 'landscape-trace');

    await open(page, `${landscape.collector.url}/zipkin/dependency`);
    const links = await page.locator('.dependency-links tbody tr').evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '')));
    // Retries may add calls over HTTP; each request made at least one, and one VIP message went out.
    assert.deepEqual(links.map(([parent, child]) => `${parent} ${child}`).sort(), [
      'accountservice imageservice',
      'accountservice quotes-service',
      'accountservice rabbitmq',
      'rabbitmq vipservice',
    ]);
    for (const [parent, child, calls] of links) {
      assert.ok(Number(calls) >= (parent === 'accountservice' && child !== 'rabbitmq' ? 2 : 1), `${parent} → ${child}: ${calls}`);
    }
    await screenshot(page, 'landscape-dependency');
    assert.deepEqual(errors, []);
  });
});
