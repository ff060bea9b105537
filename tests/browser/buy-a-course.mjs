// The browser test: headless Chromium walks the storefront as a buyer would.
//   1. open the shop → dev login → "Buy now" → the sandbox cashier → Cancel → back on the shop's
//      return page, which says the payment was cancelled and links back to the shop;
//   2. My orders lists that order as cancelled, its time in the browser's locale;
//   3. "Buy now" again → leave the cashier → My orders → "Pay now" → the cashier → pay → the
//      pay-success page, which must show the paid order (the course bought, total, order number,
//      trade number, time); My orders lists it as paid;
//   4. the paid order's pay link again → the sandbox's bilingual "already paid" page, which links
//      back to the shop;
//   5. on a phone-width screen (375x740): the cashier and My orders fit the screen; cancelling
//      an order in My orders asks first (dismissed: nothing happens; accepted: cancelled);
//   6. a token the order service refuses (expired, garbage): My orders asks to log in again
//      instead of "Loading…" forever; the return page without a token still shows the payment.
//
// Needs the whole system running (tests/browser/run.sh starts it). Settings:
//   STOREFRONT_URL  default http://127.0.0.1:8080
//   CHROMIUM        default /usr/bin/chromium (Debian's package)
//   SCREENSHOT      default target/browser/pay-success.png (relative to the repository); the other
//                   screenshots go beside it (cancelled, already-paid, cashier-phone, orders-phone,
//                   session-expired .png)
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const storefront = process.env.STOREFRONT_URL ?? "http://127.0.0.1:8080";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const screenshot = resolve(here, "../..", process.env.SCREENSHOT ?? "target/browser/pay-success.png");
const screenshotNamed = (name) => resolve(dirname(screenshot), `${name}.png`);
const STEP_TIMEOUT_MS = 30_000;
const PHONE = { width: 375, height: 740 };
const CASHIER_URL = /\/cashier\/|gateway\.do/;
const ISO_TIMESTAMP = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

function check(condition, message) {
  if (!condition) throw new Error(`browser test: ${message}`);
}

async function shoot(page, path) {
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

function watchConsole(page) {
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("console", (message) => {
    if (message.type() === "error") console.error(`[page] ${message.text()}`);
  });
}

// The shop's first course: its name and its "Buy now" button.
async function firstCourse(page) {
  await page.goto(storefront);
  const card = page.locator(".card", { has: page.locator("button[data-course]") }).first();
  await card.waitFor();
  return { name: (await card.locator("h2").textContent()).trim(), buy: card.locator("button[data-course]") };
}

// "Buy now" on the first course: the order service answers with the pay link, the browser goes
// to the cashier. Returns the pay link and the order number the cashier shows.
async function buyFirstCourse(page) {
  const { buy } = await firstCourse(page);
  await buy.click();
  await page.waitForURL(CASHIER_URL);
  const outTradeNo = (await page.textContent("#out_trade_no")).trim();
  check(outTradeNo.length > 0, "the cashier shows no order number");
  return { payLink: page.url(), outTradeNo };
}

// The local-time text of an order's "Created" cell, checked against the browser's own
// toLocaleString of the timestamp the API sent (kept in the <time>'s datetime).
async function checkLocalTime(row) {
  const time = row.locator("td.created time");
  const iso = await time.getAttribute("datetime");
  const shown = (await time.textContent()).trim();
  const expected = await time.evaluate((_, at) => new Date(at).toLocaleString(), iso);
  check(iso && ISO_TIMESTAMP.test(iso), `no API timestamp behind the created time (${iso})`);
  check(shown === expected, `created time "${shown}" is not the local "${expected}"`);
  check(!ISO_TIMESTAMP.test(shown), `created time "${shown}" is a raw ISO timestamp`);
  return shown;
}

// Nothing on the page is wider than the screen: no sideways scrolling.
async function checkFitsTheScreen(page, what) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  check(scrollWidth <= clientWidth, `${what} is ${scrollWidth}px wide on a ${clientWidth}px screen`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // CI runs as root in a container-like sandbox, where Chromium's own sandbox cannot start.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let page;
try {
  const desk = await browser.newContext();
  page = await desk.newPage();
  watchConsole(page);

  // 1. The shop, logged in as user 7. Buy, then cancel on the cashier.
  await page.goto(storefront);
  await page.fill("#user-id", "7");
  await page.click("#dev-login");
  await page.waitForSelector("text=user 7");
  const course = await firstCourse(page);

  const cancelled = await buyFirstCourse(page);
  console.log(`cashier: ${cancelled.payLink} (order ${cancelled.outTradeNo})`);
  await page.click("form[action$='/cancel'] button");
  // The sandbox closes the trade and sends the browser back to return_url with out_trade_no
  // alone (unsigned: the shop asks Alipay itself).
  await page.waitForURL(/\/pay\/success\?/);
  const back = new URL(page.url());
  check(back.origin === new URL(storefront).origin, `cancel went to ${page.url()}, not the shop`);
  check(
    [...back.searchParams.keys()].join() === "out_trade_no"
      && back.searchParams.get("out_trade_no") === cancelled.outTradeNo,
    `cancel came back with ${back.search}, not out_trade_no=${cancelled.outTradeNo} alone`,
  );
  await page.waitForSelector("body[data-cancelled=true]");
  check(
    (await page.textContent("#cancelled h2")).includes("Payment cancelled"),
    "the return page does not say the payment was cancelled",
  );
  check((await page.textContent("#cancelled-no")).trim() === cancelled.outTradeNo, "wrong order cancelled");
  check(await page.locator("#receipt").isHidden(), "a receipt is shown for a cancelled payment");
  check(await page.locator("#cancelled a[href='/']").isVisible(), "no link back to the shop");
  check(await page.locator("#cancelled a[href='/orders']").isVisible(), "no link to My orders");
  await shoot(page, screenshotNamed("cancelled"));

  // 2. My orders: cancelled, created at a local time; nothing to pay or cancel.
  await page.goto(`${storefront}/orders`);
  const cancelledRow = page.locator("tr", { hasText: cancelled.outTradeNo });
  await cancelledRow.locator(".status-cancelled").waitFor();
  const createdAt = await checkLocalTime(cancelledRow);
  check((await cancelledRow.locator("button").count()) === 0, "a cancelled order offers buttons");
  console.log(`cancelled: order ${cancelled.outTradeNo}, created ${createdAt}`);

  // 3. Buy again, leave the cashier, and come back through My orders' "Pay now".
  const paying = await buyFirstCourse(page);
  check(paying.outTradeNo !== cancelled.outTradeNo, "the second purchase reused the cancelled order");
  await page.goto(`${storefront}/orders`);
  const payingRow = page.locator("tr", { hasText: paying.outTradeNo });
  await payingRow.locator(".status-unpaid").waitFor();
  await payingRow.locator("button.pay-now").click();
  await page.waitForURL(CASHIER_URL);
  check(
    (await page.textContent("#out_trade_no")).trim() === paying.outTradeNo,
    "Pay now opened the cashier for another order",
  );
  const amount = await page.locator("button.pay").textContent();
  console.log(`cashier again: ${page.url()} (${amount.trim()})`);

  // Pay. The sandbox notifies the receiver and redirects the browser to the return URL.
  await page.click("button.pay");
  await page.waitForURL(/\/pay\/success/);

  // The success page shows the paid order once the order service knows it is paid: what was
  // bought, the total, the numbers and the time.
  await page.waitForSelector("body[data-paid=true]");
  const outTradeNo = (await page.textContent("#out-trade-no")).trim();
  const tradeNo = (await page.textContent("#trade-no")).trim();
  const payTime = (await page.textContent("#pay-time")).trim();
  const items = (await page.locator("#items li").allTextContents()).map((t) => t.trim());
  const total = (await page.textContent("#amount")).trim();
  check(outTradeNo === paying.outTradeNo, `the receipt shows order ${outTradeNo}, not ${paying.outTradeNo}`);
  check(tradeNo.length > 0, "no trade number shown");
  check(payTime.length > 0, "no payment time shown");
  check(items.includes(course.name), `the receipt names ${JSON.stringify(items)}, not "${course.name}"`);
  check(/^¥\d+\.\d{2}$/.test(total), `the receipt's total is "${total}"`);
  await shoot(page, screenshot);

  // "My orders" lists it as paid.
  await page.goto(`${storefront}/orders`);
  const paidRow = page.locator("tr", { hasText: outTradeNo });
  await paidRow.locator(".status-paid").waitFor();
  console.log(`paid: order ${outTradeNo} (${items.join(", ")}, ${total}), trade ${tradeNo}, at ${payTime}`);

  // 4. The paid order's pay link again: the sandbox says, in Chinese and English, that it is
  // paid, and links back to the shop.
  await page.goto(paying.payLink);
  const result = await page.textContent("main");
  check(result.includes("This order has already been paid"), `the pay link again shows: ${result}`);
  check(result.includes("已支付"), "the already-paid page has no Chinese");
  const backLink = await page.getAttribute("#back", "href");
  check(backLink === new URL(storefront).origin, `the already-paid page links to ${backLink}`);
  await shoot(page, screenshotNamed("already-paid"));
  await page.click("#back");
  await page.waitForURL(`${new URL(storefront).origin}/`);

  // 5. A phone (same buyer): the cashier's order number fits, so does My orders; Cancel asks.
  const phone = await browser.newContext({ viewport: PHONE, storageState: await desk.storageState() });
  page = await phone.newPage();
  watchConsole(page);
  const onPhone = await buyFirstCourse(page);
  const number = await page.$eval("#out_trade_no", (element) => ({
    scrollWidth: element.scrollWidth,
    clientWidth: element.clientWidth,
    right: element.getBoundingClientRect().right,
  }));
  check(
    number.scrollWidth <= number.clientWidth && number.right <= PHONE.width,
    `the order number overflows the cashier on a phone: ${JSON.stringify(number)}`,
  );
  await checkFitsTheScreen(page, "the cashier");
  await shoot(page, screenshotNamed("cashier-phone"));

  await page.goto(`${storefront}/orders`);
  const phoneRow = page.locator("tr", { hasText: onPhone.outTradeNo });
  await phoneRow.locator(".status-unpaid").waitFor();
  await checkFitsTheScreen(page, "My orders");
  await shoot(page, screenshotNamed("orders-phone"));
  const dialogs = [];
  let acceptDialog = false;
  page.on("dialog", async (dialog) => {
    dialogs.push(dialog.message());
    await (acceptDialog ? dialog.accept() : dialog.dismiss());
  });
  await phoneRow.locator("button.cancel").click();
  check(dialogs.length === 1, "Cancel did not ask for confirmation");
  check(dialogs[0].includes(onPhone.outTradeNo), `the confirmation does not name the order: ${dialogs[0]}`);
  await page.waitForTimeout(500);
  check(
    (await phoneRow.locator(".status-unpaid").count()) === 1,
    "the order was cancelled although the buyer said no",
  );
  acceptDialog = true;
  await phoneRow.locator("button.cancel").click();
  await phoneRow.locator(".status-cancelled").waitFor();
  check(dialogs.length === 2, "the second Cancel did not ask");
  await checkLocalTime(phoneRow);
  console.log(`cancelled in My orders: order ${onPhone.outTradeNo}`);

  // 6. A token the order service refuses: My orders says so and shows the login form.
  await page.evaluate(() => localStorage.setItem("coursepay.token", "not-a-valid.jwt.token"));
  await page.goto(`${storefront}/orders`);
  await page.waitForSelector("text=Your session has expired — please log in again");
  await page.locator("#dev-login").waitFor({ state: "visible" });
  check((await page.locator("text=Loading…").count()) === 0, "My orders still says Loading…");
  await shoot(page, screenshotNamed("session-expired"));
  // Logging in again brings the orders back.
  await page.fill("#user-id", "7");
  await page.click("#dev-login");
  await page.locator("tr", { hasText: outTradeNo }).locator(".status-paid").waitFor();

  // The return page without any token (another browser): the payment is still confirmed.
  const stranger = await browser.newContext();
  page = await stranger.newPage();
  watchConsole(page);
  await page.goto(`${storefront}/pay/success?out_trade_no=${encodeURIComponent(outTradeNo)}`);
  await page.waitForSelector("body[data-paid=true]");
  check((await page.textContent("#out-trade-no")).trim() === outTradeNo, "no order number without a token");
  check(await page.locator("#receipt-login").isVisible(), "no hint to log in for the details");
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
