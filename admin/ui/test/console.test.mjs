// Browser test of the postbox console, driven by admin/browser_test.go:
//
//   node console.test.mjs <admin URL>
//
// It launches Debian's chromium through playwright-core and talks to the Go
// test over stdio: it prints a line when a step is done ("ready",
// "replayed", ...) and reads a line when it needs the Go side to act
// ("live <id> <marker>", "finished"). Environment: POSTBOX_ADMIN_TOKEN (the
// token to sign in with), POSTBOX_REPLAY_ID (a finished delivery to
// replay), POSTBOX_SCREENSHOTS (a directory for screenshots).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';

const url = process.argv[2];
const token = process.env.POSTBOX_ADMIN_TOKEN || '';
const replayID = process.env.POSTBOX_REPLAY_ID || '';
const shots = process.env.POSTBOX_SCREENSHOTS || '';
const timeout = 15000;

const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (...words) => console.log(words.join(' '));

// hear waits for the Go side's next line, which must start with word.
async function hear(word) {
  const { value, done } = await input.next();
  if (done) throw new Error(`stdin closed while waiting for "${word}"`);
  const [first, ...rest] = value.trim().split(' ');
  if (first !== word) throw new Error(`expected "${word}" from the Go test, got "${value}"`);
  return rest;
}

async function shot(page, name) {
  if (!shots) return;
  const path = join(shots, name + '.png');
  await page.screenshot({ path });
  say('screenshot', path);
}

async function main() {
  if (!url) throw new Error('usage: node console.test.mjs <admin URL>');
  const profile = mkdtempSync(join(tmpdir(), 'postbox-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  const errors = [];
  const page = context.pages()[0] || await context.newPage();
  try {
    page.setDefaultTimeout(timeout);
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

    // Sign in: the console is behind the admin token.
    await page.goto(url);
    if (token) {
      await page.fill('#token', token);
      await Promise.all([page.waitForURL(url + '/'), page.click('#login button[type=submit]')]);
    }
    await page.waitForSelector('#deliveries tbody tr');
    await page.waitForSelector('#live.on');
    errors.length = 0; // the sign-in page itself is a 401
    const rows = await page.locator('#deliveries tbody tr').count();
    if (rows < 1 || rows > 50) throw new Error(`${rows} rows on the first page`);
    say('ready', rows);

    // A delivery published by the Go side appears live.
    const [liveID, marker] = await hear('live');
    const row = page.locator(`#deliveries tbody tr[data-id="${liveID}"]`);
    await row.waitFor();
    say('live-row', liveID);

    // Its detail shows the body, pretty and raw, and a curl command.
    await row.click();
    await page.waitForFunction((m) => (document.querySelector('#body') || {}).textContent?.includes(m), marker);
    await page.click('#detail .tabs button:text("Raw")');
    const raw = await page.textContent('#body');
    if (!raw.includes(marker)) throw new Error('the raw body lacks the marker: ' + raw);
    await page.click('#copy-curl');
    const curl = await page.textContent('#curl');
    if (!curl.startsWith('curl -X POST') || !curl.includes(marker)) throw new Error('curl command: ' + curl);
    say('detail', liveID);
    await shot(page, 'deliveries');

    // Replay a finished delivery; the new attempt shows once the Go side ran it.
    if (replayID) {
      await page.goto(url + '/#/deliveries/' + replayID);
      // The Go side relayed it to a listener (postbox listen): the view names it.
      await page.waitForSelector('#detail dd:has-text("alice-laptop (")');
      say('relayed-to', replayID);
      await page.click('#replay');
      await page.waitForFunction(() => document.querySelector('#detail-msg')?.textContent.startsWith('replayed'));
      say('replayed', replayID);
      await hear('finished');
      await page.waitForSelector('#attempts [data-series="1"]');
      say('new-attempt', replayID);
    }

    // The rejected request published with the live one shows its reason.
    await page.click('nav a[data-tab=rejected]');
    await page.waitForSelector('#rejections tbody tr:has-text("signature mismatch")');
    await page.click('#rejections tbody tr:has-text("signature mismatch")');
    await page.waitForSelector('#rej-sample:not([hidden])');
    say('rejected');
    await shot(page, 'rejected');

    // The destinations page shows the open breaker and the backlog;
    // Resume closes it (the Go side checks the call arrived).
    await page.click('nav a[data-tab=delivery]');
    const dest = page.locator('#destinations tbody tr[data-destination="http://api.example.com:443"]');
    await dest.filter({ hasText: 'open until' }).waitFor();
    await page.waitForFunction(() => document.querySelector('#backlog')?.textContent.startsWith('Backlog:'));
    // The instance serving the console lists itself.
    await page.waitForFunction(() => /^Instances: 1 running \(.* pid \d+, this one: \d+ jobs?\)/.test(document.querySelector('#instances-line')?.textContent || ''));
    await shot(page, 'destinations');
    await dest.locator('button:text("Resume")').click();
    await dest.filter({ hasText: 'closed' }).waitFor();
    say('destinations');

    await page.click('nav a[data-tab=hooks]');
    await page.waitForSelector('#hooks tbody tr[data-hook="lamp"] svg.spark polyline');
    await page.waitForFunction(() => /^Store: .* deliveries .*Retention keeps settled deliveries/.test(document.querySelector('#store-line')?.textContent || ''));
    say('hooks');
    await shot(page, 'hooks');

    // Load time: a fresh navigation to the console, signed in, measured by
    // the page's own performance timing (reported, not asserted).
    // Each in a new tab, as a person opening the console would.
    for (let i = 0; i < 5; i++) {
      const tab = await context.newPage();
      await tab.goto(url + '/', { waitUntil: 'load' });
      await tab.waitForSelector('#deliveries tbody tr');
      const t = await tab.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        const rows = performance.getEntriesByName('postbox:rows')[0];
        const res = Object.fromEntries(performance.getEntriesByType('resource').map((r) => [r.name.replace(/^.*\//, '/'), r.responseEnd]));
        return { load: n.loadEventEnd, dcl: n.domContentLoadedEventEnd, rows: rows ? rows.startTime : -1,
          req: n.requestStart, resp: n.responseEnd, interactive: n.domInteractive, res };
      });
      const f = (x) => x.toFixed(1);
      say('timing', `load_ms=${f(t.load)}`, `dom_ms=${f(t.dcl)}`, `rows_ms=${f(t.rows)}`,
        `html_request_ms=${f(t.req)}`, `html_done_ms=${f(t.resp)}`, `interactive_ms=${f(t.interactive)}`, JSON.stringify(t.res));
      await tab.close();
    }
    // Baseline: the same browser loading a plain text file from the same
    // server, to tell the browser's own overhead on this machine from the
    // console's.
    for (let i = 0; i < 3; i++) {
      const tab = await context.newPage();
      await tab.goto(url + '/app.css', { waitUntil: 'load' });
      const t = await tab.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { load: n.loadEventEnd, interactive: n.domInteractive };
      });
      say('baseline', `load_ms=${t.load.toFixed(1)}`, `interactive_ms=${t.interactive.toFixed(1)}`);
      await tab.close();
    }
    if (errors.length) throw new Error('errors in the page: ' + errors.join('; '));
    // Sign out: the console asks for the token again, in this tab and in a
    // new one. (admin/security_test.go shows the session also ends on the
    // server, for a copy of the cookie.)
    if (token) {
      await Promise.all([page.waitForURL(url + '/'), page.click('#logout button[type=submit]')]);
      await page.waitForSelector('#token');
      const tab = await context.newPage();
      const res = await tab.goto(url + '/');
      if (res.status() !== 401 || !(await tab.locator('#token').count())) throw new Error(`after signing out, / answers ${res.status()} without the sign-in form`);
      await tab.close();
      errors.length = 0; // the sign-in page is a 401
      say('signed-out');
      await shot(page, 'signed-out');
    }
    if (errors.length) throw new Error('errors in the page: ' + errors.join('; '));
    say('ok');
  } catch (err) {
    if (errors.length) err.message += '; errors in the page: ' + errors.join('; ');
    await shot(page, 'failure').catch(() => {});
    throw err;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err) => {
  say('FAIL', err && err.stack ? err.stack : String(err));
  process.exit(1);
});
