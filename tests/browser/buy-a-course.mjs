// The browser test: headless Chromium walks the storefront as a buyer would.
//   open the shop → dev login → "Buy now" → the sandbox cashier → pay → the pay-success page,
//   which must show the paid order (order number, trade number, time).
//
// Needs the whole system running (tests/browser/run.sh starts it). Settings:
//   STOREFRONT_URL  default http://127.0.0.1:8080
//   CHROMIUM        default /usr/bin/chromium (Debian's package)
//   SCREENSHOT      default target/browser/pay-success.png (relative to the repository)
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const storefront = process.env.STOREFRONT_URL ?? "http://127.0.0.1:8080";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const screenshot = resolve(here, "../..", process.env.SCREENSHOT ?? "target/browser/pay-success.png");
const STEP_TIMEOUT_MS = 30_000;

function check(condition, message) {
  if (!condition) throw new Error(`browser test: ${message}`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // CI runs as root in a container-like sandbox, where Chromium's own sandbox cannot start.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let page;
try {
  page = await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("console", (message) => {
    if (message.type() === "error") console.error(`[page] ${message.text()}`);
  });

  // 1. The shop, logged in as user 7.
  await page.goto(storefront);
  await page.fill("#user-id", "7");
  await page.click("#dev-login");
  await page.waitForSelector("text=user 7");
  const buy = page.locator("button[data-course]").first();
  await buy.waitFor();

  // 2. "Buy now": the order service answers with the pay link, the browser goes to the cashier.
  await buy.click();
  await page.waitForURL(/\/cashier\/|gateway\.do/);
  const amount = await page.locator("button.pay").textContent();
  console.log(`cashier: ${page.url()} (${amount.trim()})`);

  // 3. Pay. The sandbox notifies the receiver and redirects the browser to the return URL.
  await page.click("button.pay");
  await page.waitForURL(/\/pay\/success/);

  // 4. The success page shows the paid order once the order service knows it is paid.
  await page.waitForSelector("body[data-paid=true]");
  const outTradeNo = (await page.textContent("#out-trade-no")).trim();
  const tradeNo = (await page.textContent("#trade-no")).trim();
  const payTime = (await page.textContent("#pay-time")).trim();
  check(outTradeNo.length > 0, "no order number shown");
  check(tradeNo.length > 0, "no trade number shown");
  check(payTime.length > 0, "no payment time shown");

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });

  // 5. "My orders" lists it as paid.
  await page.goto(`${storefront}/orders`);
  const row = page.locator("tr", { hasText: outTradeNo });
  await row.locator(".status-paid").waitFor();

  console.log(`paid: order ${outTradeNo}, trade ${tradeNo}, at ${payTime}`);
  console.log(`screenshot: ${screenshot}`);
} catch (error) {
  if (page) {
    const failed = screenshot.replace(/\.png$/, "-failed.png");
    mkdirSync(dirname(failed), { recursive: true });
    await page.screenshot({ path: failed, fullPage: true }).catch(() => {});
    console.error(`screenshot of the failure: ${failed} (at ${page.url()})`);
  }
  throw error;
} finally {
  await browser.close();
}
