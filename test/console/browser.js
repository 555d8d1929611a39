// test/console/browser.js - pgbroker-console in a real browser: Debian's
// chromium, headless, driven by puppeteer-core.  Run by
// test/scripts/console.sh, which starts the cluster and the consoles and
// checks the database afterwards.
//
//   CONSOLE_URL     the console (acting as a role that may manage)
//   READONLY_URL    a console started with --read-only
//   EXPECTED        JSON {queue: {messages, ready, dead}} from the SQL views
//   XSS_QUEUE       the name of a queue made of markup
//   SHOTS           directory for screenshots (optional)
//
// Prints one line per check ("ok - ..." / "not ok - ...") and exits 1 if
// any failed.
"use strict";
const puppeteer = require("puppeteer-core");

const url = process.env.CONSOLE_URL;
const roUrl = process.env.READONLY_URL;
const expected = JSON.parse(process.env.EXPECTED || "{}");
const xss = process.env.XSS_QUEUE;
const shots = process.env.SHOTS;
let failed = 0;

function check(what, ok, detail) {
  console.log((ok ? "ok - " : "not ok - ") + what + (ok || detail === undefined ? "" : ": " + detail));
  if (!ok) failed++;
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: shots + "/" + name, fullPage: true });
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const alerts = [];
    const pageErrors = [];
    page.on("dialog", async (d) => {
      if (d.type() === "confirm") await d.accept();
      else { alerts.push(d.message()); await d.dismiss(); }
    });
    page.on("pageerror", (e) => pageErrors.push(String(e)));

    // the overview: every queue with the numbers of the SQL views
    await page.goto(url + "/#/", { waitUntil: "networkidle0" });
    await page.waitForSelector("#queues tr[data-queue]");
    const rows = await page.$$eval("#queues tr[data-queue]", (trs) => trs.map((tr) => {
      const cell = (f) => tr.querySelector('[data-field="' + f + '"]').textContent.replace(/,/g, "");
      return { queue: tr.getAttribute("data-queue"), messages: cell("messages"), ready: cell("ready"), dead: cell("dead") };
    }));
    for (const [q, want] of Object.entries(expected)) {
      const got = rows.find((r) => r.queue === q);
      check("overview shows queue " + JSON.stringify(q) + " as the SQL views do",
        got && String(want.messages) === got.messages && String(want.ready) === got.ready && String(want.dead) === got.dead,
        JSON.stringify({ want, got }));
    }
    const topics = await page.$$eval("#topics tr[data-topic]", (trs) => trs.map((tr) => tr.getAttribute("data-topic")));
    check("overview lists the topics", topics.includes("events"), JSON.stringify(topics));
    const trouble = await page.$eval('#queues tr[data-queue="orders"]', (tr) => tr.className);
    check("a queue with dead letters is coloured", trouble === "warn" || trouble === "bad", trouble);

    // a queue named with markup shows as text, and nothing runs
    const xssRow = await page.$$eval("#queues tr[data-queue]", (trs, name) => {
      const tr = trs.find((t) => t.getAttribute("data-queue") === name);
      return tr ? { text: tr.querySelector("td.name").textContent, imgs: document.querySelectorAll("img").length } : null;
    }, xss);
    check("a queue named " + xss + " renders as text", xssRow && xssRow.text.endsWith(xss) && xssRow.imgs === 0,
      JSON.stringify(xssRow));
    await shot(page, "console-overview.png");

    // its own page too
    await page.goto(url + "/#/queue/" + encodeURIComponent(xss), { waitUntil: "networkidle0" });
    await page.waitForSelector("#states");
    const title = await page.$eval(".qname", (e) => ({ text: e.textContent, children: e.children.length }));
    check("the queue page of " + xss + " shows its name as text", title.text === xss && title.children === 0, JSON.stringify(title));

    // a queue page: dead letters with their error, redrive one
    await page.goto(url + "/#/queue/orders", { waitUntil: "networkidle0" });
    await page.waitForSelector("[data-dead-letter]");
    const before = await page.$$eval("[data-dead-letter]", (trs) => trs.map((t) => t.getAttribute("data-dead-letter")));
    const errText = await page.$eval("[data-dead-letter] td:nth-child(5)", (td) => td.textContent);
    check("dead letters show their last error as text", errText.includes("boom <b>"), errText);
    await page.waitForSelector("#depth-chart .uplot");
    check("the queue page draws its charts", (await page.$$(".uplot")).length === 2);
    if (process.env.PRODUCING) await new Promise((r) => setTimeout(r, 9000));	/* a few samples for the charts */
    await shot(page, "console-queue.png");
    const target = before[0];
    await page.click('[data-redrive="' + target + '"]');
    await page.waitForFunction((id) => !document.querySelector('[data-dead-letter="' + id + '"]'), { timeout: 10000 }, target);
    const after = await page.$$eval("[data-dead-letter]", (trs) => trs.map((t) => t.getAttribute("data-dead-letter")));
    check("redrive of dead letter " + target + " takes it off the page", after.length === before.length - 1 && !after.includes(target),
      JSON.stringify({ before, after }));
    console.log("redriven " + target);

    // a topic page: partitions, groups, a dry run of a reset
    await page.goto(url + "/#/topic/events", { waitUntil: "networkidle0" });
    await page.waitForSelector("#groups tr[data-group]");
    const parts = await page.$$eval("#partitions tr[data-partition]", (trs) => trs.length);
    check("the topic page lists its partitions", parts === 2, String(parts));
    await page.select("#reset-group", "billing");
    await page.$eval("#reset-to", (e) => { e.value = "earliest"; });
    await page.click("#reset-dry-run");
    await page.waitForSelector("#reset-result table");
    const dry = await page.$$eval("#reset-result tr", (trs) => trs.length - 1);
    check("a dry run of a reset shows every partition", dry === 2, String(dry));
    await shot(page, "console-topic.png");

    // read-only: no action anywhere
    await page.goto(roUrl + "/#/queue/orders", { waitUntil: "networkidle0" });
    await page.waitForSelector("#states");
    await page.waitForSelector("[data-dead-letter]");
    const buttons = await page.$$eval("button", (bs) => bs.length);
    const mode = await page.$eval("#mode", (e) => e.textContent);
    check("read-only: no button on the queue page, and it says so", buttons === 0 && mode === "read-only",
      JSON.stringify({ buttons, mode }));
    await page.goto(roUrl + "/#/topic/events", { waitUntil: "networkidle0" });
    await page.waitForSelector("#groups tr[data-group]");
    check("read-only: no reset form", (await page.$$("#reset-apply")).length === 0);

    check("no alert ran", alerts.length === 0, JSON.stringify(alerts));
    check("no script error on the page", pageErrors.length === 0, JSON.stringify(pageErrors));
  } catch (e) {
    check("the browser test ran to its end", false, e.stack || String(e));
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
