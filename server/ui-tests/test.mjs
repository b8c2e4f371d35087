// End-to-end tests of labreg's web UI in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core). server/tests/ui.rs starts a
// real labreg with htpasswd users, access rules and images pushed by skopeo,
// then runs this script with:
//   LABREG_URL   http://127.0.0.1:PORT
//   UI_USERS     {"admin": "...", "alice": "...", "bob": "..."}
//   UI_DIGESTS   {"app": "sha256:...", "arm64": "sha256:..."}
//   SHOTS_DIR    where the screenshots go (docs/ui)
// It prints one JSON line {"passed": N, "failed": [...]} and exits 1 on any
// failed check.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const base = process.env.LABREG_URL;
const users = JSON.parse(process.env.UI_USERS);
const digests = JSON.parse(process.env.UI_DIGESTS);
const shots = process.env.SHOTS_DIR;
const host = new URL(base).host;
mkdirSync(shots, { recursive: true });

const passed = [];
const failed = [];
function check(name, ok, detail) {
  (ok ? passed : failed).push(ok ? name : { name, detail });
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  // No --user-data-dir here: Playwright refuses it with launch() and gives
  // every run a fresh temporary profile of its own.
});

async function as(user, options = {}) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    httpCredentials: user ? { username: user, password: users[user], origin: base } : undefined,
    ...options,
  });
  return { context, page: await context.newPage() };
}

async function rows(page, table) {
  return page.locator(`#${table} tbody tr`).allInnerTexts();
}

try {
  // Anonymous: the login prompt (401 with a Basic challenge).
  {
    // Headless Chromium has no prompt to show: a navigation that meets the
    // challenge without credentials fails with this error.
    const { context, page } = await as(null);
    const error = await page.goto(base + "/").then(() => "loaded", (e) => e.message);
    check("anonymous browser is asked to log in", error.includes("ERR_INVALID_AUTH_CREDENTIALS"), error);
    const resp = await context.request.get(base + "/ui/repo?name=team/app");
    check("anonymous gets 401", resp.status() === 401, resp.status());
    const challenge = resp.headers()["www-authenticate"] || "";
    check("anonymous gets a Basic challenge", challenge === 'Basic realm="homelab"', challenge);
    await context.close();
  }

  // bob may pull team/*: sees only those, no delete buttons anywhere.
  {
    const { context, page } = await as("bob");
    const resp = await page.goto(base + "/");
    check("bob logs in", resp.status() === 200 && (await page.textContent("header")).includes("bob"), resp.status());
    const repos = await rows(page, "repos");
    check("bob sees only allowed repositories", repos.some((r) => r.includes("team/app")) && !repos.some((r) => r.includes("other/secret")), repos);
    await page.goto(base + "/ui/repo?name=team/app");
    check("bob sees no delete button on tags", (await page.locator("text=Delete").count()) === 0, await page.content());
    await page.goto(base + "/ui/image?name=team/app&ref=v1");
    check("bob sees no delete button on an image", (await page.locator("a.danger").count()) === 0, "");
    const denied = await page.goto(base + "/ui/delete?name=team/app&ref=v1");
    check("bob may not open a delete page", denied.status() === 403, denied.status());
    const hidden = await page.goto(base + "/ui/repo?name=other/secret");
    check("bob may not open another team's repository", hidden.status() === 403, hidden.status());
    await context.close();
  }

  // admin sees everything.
  {
    const { context, page } = await as("admin");
    await page.goto(base + "/");
    const repos = await rows(page, "repos");
    check("admin sees every repository", ["team/app", "team/tool", "other/secret"].every((n) => repos.some((r) => r.includes(n))), repos);
    await page.screenshot({ path: join(shots, "repositories.png"), fullPage: true });
    await page.goto(base + "/ui/health");
    const health = await page.textContent("#health");
    check("health names version and storage", health.includes("labreg") && health.includes("filesystem") && health.includes("reachable"), health);
    await page.screenshot({ path: join(shots, "health.png"), fullPage: true });
    await context.close();
  }

  // alice may pull and delete team/*.
  {
    const { context, page } = await as("alice");
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    await page.goto(base + "/");
    await page.fill("input[name=q]", "tool");
    await page.press("input[name=q]", "Enter");
    await page.waitForURL(/q=tool/);
    const found = await rows(page, "repos");
    check("search finds the repository", found.length === 1 && found[0].includes("team/tool"), found);

    // A multi-arch index, then one platform's layers.
    await page.goto(base + "/");
    await page.click("text=team/app");
    await page.waitForURL(/\/ui\/repo/);
    const tags = await rows(page, "tags");
    check("tags list shows platforms", tags.some((t) => t.includes("v1") && t.includes("linux/amd64") && t.includes("linux/arm64")), tags);
    await page.screenshot({ path: join(shots, "tags.png"), fullPage: true });
    await page.click("#tags >> text=v1");
    await page.waitForURL(/\/ui\/image/);
    const platforms = await rows(page, "platforms");
    check("an index shows each platform", platforms.length === 2 && platforms.some((p) => p.includes("linux/arm64")), platforms);
    check("the index's digest is shown", (await page.textContent("#digest")).trim() === digests.app, await page.textContent("#digest"));
    const pull = (await page.textContent("#pull")).trim();
    check("pull command names this registry", pull === `docker pull ${host}/team/app:v1`, pull);
    await page.click("button[data-copy=pull]");
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    check("copy button puts the pull command on the clipboard", copied === pull, copied);
    const referrers = await rows(page, "referrers");
    check("referrers show their artifact type", referrers.some((r) => r.includes("application/spdx+json")), referrers);
    await page.screenshot({ path: join(shots, "image-index.png"), fullPage: true });

    await page.click("#platforms >> text=linux/arm64");
    await page.waitForURL(/sha256/);
    const layers = await rows(page, "layers");
    check("a platform's layers with sizes", layers.length === 1 && /\d+(\.\d)? (B|KiB)/.test(layers[0]), layers);
    check("a platform's digest", (await page.textContent("#digest")).trim() === digests.arm64, "");
    const env = await page.textContent("#env");
    check("config env is shown", env.includes("PATH=/usr/local/bin"), env);
    check("config labels are shown", (await rows(page, "labels")).some((l) => l.includes("org.opencontainers.image.title")), "");
    check("history is shown", (await rows(page, "history")).length >= 1, "");
    await page.screenshot({ path: join(shots, "image-platform.png"), fullPage: true });

    // A forged cross-site delete: a page on another origin posts the form,
    // first without a token, then with alice's real one (a leaked token).
    await page.goto(base + "/ui/delete?name=team/app&ref=v1");
    const token = await page.getAttribute("input[name=token]", "value");
    for (const [label, t] of [["without a token", ""], ["with a leaked token", token]]) {
      await page.route("http://evil.test/**", (route) =>
        route.fulfill({
          contentType: "text/html",
          body: `<form id="f" method="post" action="${base}/ui/delete">
                 <input name="name" value="team/app"><input name="ref" value="v1"><input name="token" value="${t}">
                 </form>`,
        }),
      );
      await page.goto("http://evil.test/forge");
      const [resp] = await Promise.all([
        page.waitForNavigation(),
        page.evaluate(() => document.getElementById("f").submit()),
      ]);
      check(`forged cross-site delete ${label} is refused`, resp.status() === 403, `${resp.status()} ${await page.textContent("body")}`);
      await page.unroute("http://evil.test/**");
    }
    const still = await page.goto(base + "/ui/image?name=team/app&ref=v1");
    check("v1 survives the forged deletes", still.status() === 200, still.status());

    // A real delete: the tag latest, which shares v1's digest.
    await page.goto(base + "/ui/repo?name=team/app");
    await page.click("a[aria-label='Delete tag latest']");
    await page.waitForURL(/\/ui\/delete/);
    const goes = await page.textContent("main");
    check("confirmation names what goes and what stays", goes.includes("the tag latest") && goes.includes("still tagged v1"), goes);
    await page.screenshot({ path: join(shots, "delete-confirm.png"), fullPage: true });
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    check("the delete is done", (await page.locator("#deleted").count()) === 1, await page.textContent("main"));
    await page.goto(base + "/ui/repo?name=team/app");
    const after = await rows(page, "tags");
    check("the deleted tag is gone, v1 stays", !after.some((t) => t.startsWith("latest")) && after.some((t) => t.startsWith("v1")), after);
    await context.close();
  }

  // A phone-sized screen and the dark scheme.
  {
    const { context, page } = await as("alice", { viewport: { width: 360, height: 740 }, colorScheme: "dark" });
    await page.goto(base + "/ui/image?name=team/app&ref=v1");
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check("readable at 360 px without sideways scrolling", width <= 360, width);
    await page.screenshot({ path: join(shots, "image-360-dark.png"), fullPage: true });
    await context.close();
  }
} catch (e) {
  failed.push({ name: "script", detail: String(e.stack || e) });
} finally {
  await browser.close();
}
console.log(JSON.stringify({ passed: passed.length, checks: passed, failed }));
process.exit(failed.length === 0 ? 0 : 1);
