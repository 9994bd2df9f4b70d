// The drawing page and the report in a real Chromium (Debian's, driven by
// playwright-core): real MNIST test digits are drawn stroke by stroke with
// the mouse, and once with touch, and the page must show the label the
// model gives; the report must open with its charts. Screenshots go to the
// artifacts folder.
//
//   node page_and_report.mjs BASE_URL REPORT_HTML MNIST_T10K_DIR ARTIFACTS_DIR
import {chromium} from 'playwright-core';
import {mkdtempSync, mkdirSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {gunzipSync} from 'node:zlib';

const [base, reportPath, mnistDir, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, {recursive: true});
const results = [];

// MNIST test images and labels (IDX, gzipped).
const images = gunzipSync(readFileSync(join(mnistDir, 't10k-images-idx3-ubyte.gz'))).subarray(16);
const labels = gunzipSync(readFileSync(join(mnistDir, 't10k-labels-idx1-ubyte.gz'))).subarray(8);

// A digit as strokes: every run of ink along a row, in canvas coordinates
// (the 280x280 pad is the 28x28 image ten times larger).
function strokes(index) {
  const img = images.subarray(784 * index, 784 * (index + 1));
  const out = [];
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (img[y * 28 + x] < 128) continue;
      const start = x;
      while (x + 1 < 28 && img[y * 28 + x + 1] >= 128) x++;
      out.push([[start * 10 + 5, y * 10 + 5], [x * 10 + 5, y * 10 + 5]]);
    }
  }
  return out;
}

async function check(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok - ${name}`);
  } catch (err) {
    results.push([name, false]);
    console.log(`not ok - ${name}: ${err.message}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// The label shown once the page has the answer for the drawing as it is.
async function shownLabel(page) {
  await page.waitForSelector('#label[data-state="done"]', {timeout: 20000});
  return page.textContent('#label');
}

async function drawWithMouse(page, index) {
  const box = await page.locator('#pad').boundingBox();
  for (const [[x0, y0], [x1, y1]] of strokes(index)) {
    await page.mouse.move(box.x + x0 * box.width / 280, box.y + y0 * box.height / 280);
    await page.mouse.down();
    await page.mouse.move(box.x + x1 * box.width / 280, box.y + y1 * box.height / 280,
                          {steps: Math.max(1, Math.round((x1 - x0) / 20))});
    await page.mouse.up();
  }
}

async function drawWithTouch(page, cdp, index) {
  const box = await page.locator('#pad').boundingBox();
  const at = (x, y) => [{x: box.x + x * box.width / 280, y: box.y + y * box.height / 280}];
  for (const [[x0, y0], [x1, y1]] of strokes(index)) {
    await cdp.send('Input.dispatchTouchEvent', {type: 'touchStart', touchPoints: at(x0, y0)});
    await cdp.send('Input.dispatchTouchEvent', {type: 'touchMove', touchPoints: at((x0 + x1) / 2, y0)});
    await cdp.send('Input.dispatchTouchEvent', {type: 'touchMove', touchPoints: at(x1, y1)});
    await cdp.send('Input.dispatchTouchEvent', {type: 'touchEnd', touchPoints: []});
  }
}

const profile = mkdtempSync(join(tmpdir(), 'cassnn-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  hasTouch: true,
  viewport: {width: 820, height: 720},
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = context.pages()[0] || await context.newPage();
  const failedRequests = [];
  page.on('requestfailed', (r) => failedRequests.push(r.url()));
  page.on('pageerror', (e) => failedRequests.push('page error: ' + e.message));
  await page.goto(base + '/');

  await check('the page shows the model and its accuracy', async () => {
    await page.waitForFunction(() => /^[0-9a-f-]{36}$/.test(document.getElementById('model').textContent),
                               null, {timeout: 20000});
    const acc = await page.textContent('#accuracy');
    assert(/^\d+\.\d\d%$/.test(acc), `accuracy shown as '${acc}'`);
    assert((await page.locator('#bars .bar').count()) === 10, 'ten bars');
  });

  // test images 0, 1, 2: a 7, a 2 and a 1
  for (const index of [0, 1]) {
    await check(`mouse: MNIST test digit #${index} (a ${labels[index]}) is read as ${labels[index]}`, async () => {
      await page.click('#clear');
      await drawWithMouse(page, index);
      const label = await shownLabel(page);
      await page.screenshot({path: join(artifacts, `page-mouse-${index}.png`)});
      assert(label === String(labels[index]), `the page shows ${label}`);
      // the tallest bar is the label's
      const best = await page.textContent('#bars .bar.best .digit');
      assert(best === label, `tallest bar ${best}`);
    });
  }

  await check('clear empties the pad and the answer', async () => {
    await page.click('#clear');
    assert((await page.textContent('#label')) === '\u2013', 'label after clear');
    const blank = await page.evaluate(() => {
      const c = document.getElementById('pad');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) if (d[i] !== 0) return false;
      return true;
    });
    assert(blank, 'the canvas is black again');
  });

  await check(`touch: MNIST test digit #2 (a ${labels[2]}) is read as ${labels[2]}`, async () => {
    const cdp = await context.newCDPSession(page);
    await drawWithTouch(page, cdp, 2);
    const label = await shownLabel(page);
    await page.screenshot({path: join(artifacts, 'page-touch-2.png')});
    assert(label === String(labels[2]), `the page shows ${label}`);
  });

  await check('no request of the page failed', async () => {
    assert(failedRequests.length === 0, failedRequests.join(', '));
  });

  await check('the report opens with its charts and tables', async () => {
    const report = await context.newPage();
    const external = [];
    report.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) external.push(r.url()); });
    await report.goto('file://' + reportPath);
    const sections = await report.locator('section.ks').count();
    assert(sections === 2, `${sections} keyspace columns`);
    assert((await report.locator('section.ks svg polyline').count()) >= 2, 'loss lines');
    assert((await report.locator('svg.confusion').count()) === 2, 'confusion matrices');
    assert((await report.locator('svg.wrong image').count()) > 0, 'wrong images');
    const loaded = await report.evaluate(() => [...document.querySelectorAll('svg.wrong image')].length);
    assert(loaded > 0, 'images');
    await report.screenshot({path: join(artifacts, 'report.png'), fullPage: true});
    assert(external.length === 0, 'fetched ' + external.join(', '));
  });
} finally {
  await context.close();
  rmSync(profile, {recursive: true, force: true});
}

const failed = results.filter(([, ok]) => !ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
